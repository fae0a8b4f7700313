#!/usr/bin/env bash
# Boots a kernel under QEMU with a busybox initramfs holding the static build (build-static/: holdscope, the test
# fixtures, live_tests, at the same absolute paths as on the host), runs CMD inside, prints the guest console, and
# exits with CMD's status. --add FILE (repeatable) puts another program or file in at the same path, a dynamic
# executable with the libraries and loader ldd names. --append ARGS adds to the kernel command line. A panic, a hang
# past the timeout, or a guest that never reports gives exit 3 (or 124 for the timeout) and the last console lines.
# Files CMD writes to /out are printed base64-encoded between markers.
# Usage: scripts/vm-run.sh [--timeout S] [--numa N] [--mem MiB] [--cpus N] [--add FILE]... [--append ARGS] KERNEL(vmlinuz) -- CMD [ARGS...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
timeout_s=600 numa=2 mem=2048 cpus=2
adds=() append=""
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) timeout_s=$2; shift 2 ;;
    --numa) numa=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --add) adds+=("$2"); shift 2 ;;
    --append) append=$2; shift 2 ;;
    --) shift; break ;;
    *) kernel=$1; shift ;;
  esac
done
[ -n "${kernel:-}" ] && [ $# -gt 0 ] || { echo "usage: vm-run.sh [--timeout S] [--numa N] [--mem MiB] [--cpus N] [--add FILE]... [--append ARGS] KERNEL -- CMD..." >&2; exit 2; }
[ -r "$kernel" ] || { echo "vm-run: no kernel image at $kernel" >&2; exit 2; }
static=$here/build-static
[ -x "$static/holdscope" ] || { echo "vm-run: no static build at $static (cmake -B build-static -DHOLDSCOPE_STATIC=ON)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "vm-run: qemu-system-x86_64 is not installed" >&2; exit 2; }

work=$(mktemp -d /tmp/holdscope-vm-XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
# /tmp stays on the (writable) initramfs root: a tmpfs there would hide binaries of a checkout under /tmp.
mkdir -p "$root"/{bin,proc,sys,dev,tmp,out,var/tmp}
cp /bin/busybox "$root/bin/busybox"
for f in "$static/holdscope" "$static"/tests/ka_* "$static/tests/live_tests" "$static"/workloads/*; do
  [ -f "$f" ] && [ -x "$f" ] || continue
  mkdir -p "$root/$(dirname "$f")"
  cp "$f" "$root/$f"
  ln -sf "$f" "$root/bin/$(basename "$f")"
done
# A file and, for a dynamic executable, what ldd says it loads; the guest has no other libraries.
add_file() {
  local f
  f=$(readlink -f "$1")
  mkdir -p "$root/$(dirname "$f")"
  cp "$f" "$root/$f"
  if [ "$f" != "$1" ]; then mkdir -p "$root/$(dirname "$1")"; ln -sf "$f" "$root/$1"; fi
}
for f in "${adds[@]}"; do
  case $f in /*) ;; *) f=$(pwd)/$f ;; esac
  [ -f "$f" ] || { echo "vm-run: --add $f: no such file" >&2; exit 2; }
  add_file "$f"
  [ -x "$f" ] && ln -sf "$f" "$root/bin/$(basename "$f")"
  if ldd "$f" >/dev/null 2>&1; then
    for lib in $(ldd "$f" | grep -o '/[^ ]*'); do add_file "$lib"; done
  fi
done
# Modules the live tests need, where the kernel has them as modules beside it (an unpacked Debian package) rather
# than built in: FUSE, for the reader that sleeps under mmap_lock in the open-hold test. init loads them.
mkdir -p "$root/modules"
kdir=$(dirname "$kernel")
for m in fs/fuse/fuse.ko; do
  for f in "$kdir"/lib/modules/*/kernel/"$m" "$kdir"/lib/modules/*/kernel/"$m".xz; do
    case $f in
      *.xz) [ -f "$f" ] && xz -dc "$f" > "$root/modules/$(basename "$f" .xz)" ;;
      *) [ -f "$f" ] && cp "$f" "$root/modules/" ;;
    esac
  done
done
printf '%q ' "$@" > "$root/cmd.sh"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tracefs nodev /sys/kernel/tracing
for m in /modules/*.ko; do [ -f "$m" ] && insmod "$m"; done
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
# As systemd does on a cgroup v2 host: child cgroups get the memory controller, so each is a memory cgroup of its own.
echo +memory > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
echo "HOLDSCOPE-GUEST: kernel $(uname -r), $(nproc) cpus, $(ls -d /sys/devices/system/node/node* | wc -l) numa nodes"
cd /tmp
# Tests that drive the whole machine into memory pressure run only where this is set: in a throwaway guest.
export HOLDSCOPE_GUEST=1
sh /cmd.sh
rc=$?
for f in /out/*; do
  [ -f "$f" ] || continue
  echo "HOLDSCOPE-FILE-BEGIN $(basename "$f")"
  base64 "$f"
  echo "HOLDSCOPE-FILE-END"
done
echo "HOLDSCOPE-GUEST-EXIT $rc"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

numa_args=()
per=$((mem / numa))
if [ "$numa" -gt 1 ]; then
  [ "$numa" -le "$cpus" ] || { echo "vm-run: --numa $numa needs at least as many --cpus" >&2; exit 2; }
  for ((n = 0; n < numa; n++)); do
    numa_args+=(-object "memory-backend-ram,size=${per}M,id=m$n" -numa "node,nodeid=$n,memdev=m$n")
  done
  for ((c = 0; c < cpus; c++)); do numa_args+=(-numa "cpu,node-id=$((c % numa)),socket-id=$c"); done
fi
# The accelerator: KVM when it really boots a guest here, TCG otherwise. /dev/kvm existing proves little (nested KVM on
# these hosts stops with emulation failures), so a tiny guest is booted under KVM once per host kernel and QEMU
# version and the answer cached. HOLDSCOPE_VM_ACCEL=kvm|tcg overrides the probe.
kvm_probe() {
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "no usable /dev/kvm"; return 1; }
  local p=$work/kvm-probe
  mkdir -p "$p/root/bin"
  cp /bin/busybox "$p/root/bin/busybox"
  printf '#!/bin/busybox sh\n/bin/busybox echo HOLDSCOPE-KVM-OK\n/bin/busybox poweroff -f\n' > "$p/root/init"
  chmod +x "$p/root/init"
  (cd "$p/root" && find . | cpio -o -H newc --quiet | gzip -1) > "$p/initrd.gz"
  timeout 30 qemu-system-x86_64 -accel kvm -cpu host -smp 1 -m 256M -nographic -no-reboot -kernel "$kernel" \
    -initrd "$p/initrd.gz" -append "console=ttyS0 panic=-1 quiet" </dev/null >"$p/log" 2>&1
  if grep -q HOLDSCOPE-KVM-OK "$p/log"; then return 0; fi
  local last
  last=$(grep -a -o -i -m1 -E '(kvm|error|fail).*' "$p/log" | tr -d '\r' | cut -c1-100)
  echo "a KVM guest did not boot within 30 s${last:+: $last}"
  return 1
}
accel=${HOLDSCOPE_VM_ACCEL:-}
why="HOLDSCOPE_VM_ACCEL"
if [ -z "$accel" ]; then
  # One answer per key, each in its own file (a run alternating kernels keeps every answer), written whole by a
  # rename so that guests started side by side never read half of one.
  key="$(uname -r) $(qemu-system-x86_64 --version | head -n1) $kernel $(stat -c %s "$kernel")"
  cache=${HOLDSCOPE_KERNEL_CACHE:-/var/cache/holdscope/kernels}/../kvm-probe.d/$(printf '%s' "$key" | sha256sum | cut -c1-16)
  if [ -r "$cache" ] && [ "$(head -n1 "$cache")" = "$key" ]; then
    accel=$(sed -n 2p "$cache"); why="$(sed -n 3p "$cache") (cached probe)"
  else
    if why=$(kvm_probe); then accel=kvm; why="a KVM guest booted"; else accel=tcg; fi
    mkdir -p "$(dirname "$cache")" 2>/dev/null && printf '%s\n%s\n%s\n' "$key" "$accel" "$why" > "$cache.$$" 2>/dev/null &&
      mv -f "$cache.$$" "$cache" 2>/dev/null || rm -f "$cache.$$"
  fi
fi
case $accel in
  kvm) accel_args=(-accel kvm -cpu host) ;;
  # Single-threaded TCG: with one host thread per vCPU, the int3-based live patching that (un)registers tracepoints
  # (text_poke_bp) left both vCPUs spinning at the patched site of __mmap_lock_do_trace_acquire_returned on 6.1.
  # -cpu max crashed 6.12 once in early boot.
  *) accel=tcg; accel_args=(-accel tcg,thread=single -cpu qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt) ;;
esac
echo "vm-run: accelerator $accel ($why)" >&2

log=$work/console.log
set +e
timeout "$timeout_s" qemu-system-x86_64 "${accel_args[@]}" \
  -smp "cpus=$cpus,sockets=$cpus" -m "${mem}M" "${numa_args[@]}" -nographic -no-reboot -kernel "$kernel" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 panic=-1 quiet loglevel=${HOLDSCOPE_VM_LOGLEVEL:-3}${append:+ $append}" </dev/null 2>&1 | tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e
rc=$(sed -n 's/^HOLDSCOPE-GUEST-EXIT \([0-9]*\).*/\1/p' "$log" | tail -n1)
if [ -n "$rc" ]; then exit "$rc"; fi
if [ "$qemu_rc" = 124 ]; then
  echo "vm-run: the guest did not finish within ${timeout_s}s; its last console lines:" >&2
else
  echo "vm-run: the guest stopped without reporting (panic or crash, qemu exit $qemu_rc); its last console lines:" >&2
fi
tail -n 20 "$log" | sed 's/^/  | /' >&2
[ "$qemu_rc" = 124 ] && exit 124
exit 3
