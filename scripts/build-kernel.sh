#!/usr/bin/env bash
# Builds a guest kernel for `holdscope vm` from Debian's own source (linux-source-6.12: the tarball under /usr/src),
# with kernels/config/holdscope.config on top of tinyconfig, a config fragment and patches of the caller's, and caches
# the result under $HOLDSCOPE_KERNEL_CACHE/NAME (vmlinuz, cmdline, key) by a hash of all that: a second build with the
# same inputs is instant, a changed patch rebuilds only what it touches (one object tree per name).
# Usage: scripts/build-kernel.sh NAME [--patch FILE]... [--config FRAGMENT] [--cmdline "ARGS"]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${HOLDSCOPE_KERNEL_CACHE:-/var/cache/holdscope/kernels}
name=${1:-}
[ -n "$name" ] && [[ $name =~ ^[A-Za-z0-9._-]+$ ]] && [ "$name" != 6.1 ] && [ "$name" != 6.12 ] ||
  { echo "build-kernel: a NAME of letters, digits, '.', '_' or '-' is needed (6.1 and 6.12 are the fetched ones)" >&2; exit 2; }
shift
patches=() fragment="" cmdline=""
while [ $# -gt 0 ]; do
  case $1 in
    --patch) [ -r "$2" ] || { echo "build-kernel: no patch at $2" >&2; exit 2; }; patches+=("$(readlink -f "$2")"); shift 2 ;;
    --config) [ -r "$2" ] || { echo "build-kernel: no config fragment at $2" >&2; exit 2; }; fragment=$(readlink -f "$2"); shift 2 ;;
    --cmdline) cmdline=$2; shift 2 ;;
    *) echo "build-kernel: unknown argument $1" >&2; exit 2 ;;
  esac
done
tarball=/usr/src/linux-source-6.12.tar.xz
[ -r "$tarball" ] || { echo "build-kernel: $tarball is missing (apt-get install linux-source-6.12)" >&2; exit 2; }
for tool in gcc make bc bison flex pahole cpio; do
  command -v $tool >/dev/null || { echo "build-kernel: $tool is not installed (scripts/setup-deps.sh installs it)" >&2; exit 2; }
done
version=$(dpkg-query -W -f '${Version}' linux-source-6.12 2>/dev/null || stat -c %s "$tarball")
base=$here/kernels/config/holdscope.config
key=$( { echo "$version"; cat "$base"; [ -z "$fragment" ] || cat "$fragment"; for p in "${patches[@]}"; do cat "$p"; done; } |
  sha256sum | cut -c1-16)
out=$cache/$name
# One build of a name at a time: a second caller (another test, another shell) waits, then finds it up to date.
mkdir -p "$cache/.build"
exec {lock}>"$cache/.build/$name.lock"
flock "$lock" || { echo "build-kernel: cannot lock $cache/.build/$name.lock" >&2; exit 1; }
if [ -r "$out/key" ] && [ "$(cat "$out/key")" = "$key" ] && [ -r "$out/vmlinuz" ]; then
  printf '%s\n' "$cmdline" > "$out/cmdline"
  echo "build-kernel: $name is up to date ($out/vmlinuz, key $key)"
  exit 0
fi

# One source tree per name (patched for it) and its object tree: a rebuild after a patch changes is incremental.
src=$cache/.build/$name/src obj=$cache/.build/$name/obj log=$cache/.build/$name/build.log
mkdir -p "$cache/.build/$name"
step() { echo "build-kernel: $name: $*"; }
fail() {
  echo "build-kernel: $name: $1 failed; the last lines of $log:" >&2
  tail -n 25 "$log" | sed 's/^/  | /' >&2
  exit 1
}
# Take back the patches of the previous build of this name (newest first); unpack afresh if that fails or the
# source version changed.
fresh=0
[ -r "$src/.holdscope-version" ] && [ "$(cat "$src/.holdscope-version")" = "$version" ] || fresh=1
if [ $fresh = 0 ]; then
  while read -r p; do
    [ -n "$p" ] || continue
    patch -d "$src" -p1 -R -s --no-backup-if-mismatch < "$src/.holdscope-applied/$p" >/dev/null 2>&1 || { fresh=1; break; }
  done < <(tac "$src/.holdscope-patches")
fi
if [ $fresh = 1 ]; then
  step "unpacking $tarball ($version)"
  rm -rf "$src" "$obj"
  mkdir -p "$src"
  tar -xf "$tarball" -C "$src" --strip-components=1
  echo "$version" > "$src/.holdscope-version"
fi
rm -rf "$src/.holdscope-applied"; mkdir -p "$src/.holdscope-applied"; : > "$src/.holdscope-patches"
: > "$log"
for p in "${patches[@]}"; do
  step "applying $(basename "$p")"
  patch -d "$src" -p1 -s --no-backup-if-mismatch < "$p" >>"$log" 2>&1 || fail "applying $(basename "$p")"
  cp "$p" "$src/.holdscope-applied/"
  basename "$p" >> "$src/.holdscope-patches"
done
step "configuring (tinyconfig + kernels/config/holdscope.config${fragment:+ + $(basename "$fragment")})"
mkdir -p "$obj"
{
  make -C "$src" O="$obj" tinyconfig &&
    "$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$base" ${fragment:+"$fragment"} &&
    make -C "$src" O="$obj" olddefconfig
} >>"$log" 2>&1 || fail "configuration"
# A requested option that Kconfig dropped (a missing dependency) would give a kernel holdscope cannot use.
# An option the caller's fragment sets itself (=y, =n or "is not set") is the fragment's to decide, not the base's.
missing=""
overridden=""
[ -n "$fragment" ] && overridden=$(grep -o -E '^(# )?CONFIG_[A-Za-z0-9_]+' "$fragment" | sed 's/^# //')
for f in "$base" ${fragment:+"$fragment"}; do
  while IFS= read -r line; do
    case $line in CONFIG_*=y)
      [ "$f" = "$base" ] && grep -qx "${line%%=*}" <<<"$overridden" && continue
      grep -qx "$line" "$obj/.config" || missing+=" ${line%%=*}" ;;
    esac
  done < "$f"
done
[ -z "$missing" ] || { echo "build-kernel: $name: Kconfig did not keep:$missing" >&2; exit 1; }
step "compiling with make -j$(nproc) bzImage (about 5 minutes on 2 cores the first time; log: $log)"
start=$(date +%s)
( make -C "$src" O="$obj" -j"$(nproc)" bzImage >>"$log" 2>&1 ) &
pid=$!
while kill -0 $pid 2>/dev/null; do
  sleep 30
  kill -0 $pid 2>/dev/null && step "compiling... $(( $(date +%s) - start )) s, $(grep -c '^  CC' "$log" || true) files"
done
wait $pid || fail "compiling"
mkdir -p "$out"
cp "$obj/arch/x86/boot/bzImage" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
printf '%s\n' "$cmdline" > "$out/cmdline"
echo "$key" > "$out/key"
step "built in $(( $(date +%s) - start )) s: $out/vmlinuz"
