#!/usr/bin/env bash
# Boots a kernel under QEMU with an initramfs holding the static holdscope build and the test fixtures, runs a shell
# script inside, and prints the guest's console. Files the script writes to /out are printed between markers.
# Usage: scripts/vm-run.sh VMLINUZ GUEST_SCRIPT [timeout_s]
# Prototype of the VM runner; see the project's issues for `holdscope vm`.
set -euo pipefail
cd "$(dirname "$0")/.."
kernel=$1
script=$2
timeout_s=${3:-300}
work=$(mktemp -d /tmp/holdscope-vm-XXXXXX)
trap 'rm -rf "$work"' EXIT

root=$work/root
mkdir -p "$root"/{bin,proc,sys,dev,tmp,out,var/tmp}
cp /bin/busybox "$root/bin/busybox"
cp build-static/holdscope "$root/bin/holdscope"
for f in build-static/tests/ka_*; do [ -x "$f" ] && cp "$f" "$root/bin/"; done
cp "$script" "$root/run.sh"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tracefs nodev /sys/kernel/tracing
mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
echo "HOLDSCOPE-GUEST: kernel $(uname -r), $(nproc) cpus"
sh /run.sh
rc=$?
for f in /out/*; do
  [ -f "$f" ] || continue
  echo "HOLDSCOPE-FILE-BEGIN $(basename "$f")"
  cat "$f"
  echo "HOLDSCOPE-FILE-END"
done
echo "HOLDSCOPE-GUEST-EXIT $rc"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

accel="tcg"
timeout "$timeout_s" qemu-system-x86_64 -accel "$accel" -cpu qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt \
  -smp 2 -m 2G -nographic -no-reboot -kernel "$kernel" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 panic=-1 quiet loglevel=3" </dev/null
