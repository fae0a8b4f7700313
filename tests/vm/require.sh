# Sourced by the scripts that boot guests (scripts/vm-test.sh, tests/vm/*.sh): what each needs, checked the same way,
# and a skip (exit 77, which ctest reports as skipped) that names what is missing and how to get it.
# Needs $here, the repository's top directory.

skip() { echo "SKIPPED: $*"; exit 77; }

# The fetched Debian kernel of a series, into $kernel (not printed: a skip inside $(...) would not end the script).
require_kernel() {
  kernel=${HOLDSCOPE_KERNEL_CACHE:-/var/cache/holdscope/kernels}/$1/vmlinuz
  [ -r "$kernel" ] || skip "kernel $1 is not fetched (scripts/fetch-kernels.sh $1)"
}

# A file of the static build the guests run (build-static/, relative path).
require_static() {
  [ -x "$here/build-static/$1" ] || skip "no static build of $1 (scripts/build.sh --with-static)"
}

require_qemu() {
  command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (scripts/setup-deps.sh)"
}

# A command on the host; $2 says where it comes from.
require_command() {
  command -v "$1" >/dev/null || skip "$1 is not installed (${2:-scripts/setup-deps.sh})"
}
