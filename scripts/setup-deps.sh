#!/usr/bin/env bash
# Installs what a fresh Debian bookworm machine lacks to build and test holdscope.
# libbpf >= 1.4, bpftool >= 7.4 and Catch2 3 only exist in bookworm-backports; the rest comes from bookworm.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps: must run as root (apt-get install)" >&2
  exit 1
fi

# bookworm-backports is added with the same URIs and Signed-By as the machine's own Debian entry,
# so mirrors and keyrings configured by the host are respected.
add_backports() {
  if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
    return 0
  fi
  local src stanza
  src=$(grep -l -E '^Suites:.*\bbookworm\b' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
  if [ -n "$src" ]; then
    # deb822: pick the stanza whose Suites lists plain "bookworm" and keep its URIs and Signed-By.
    stanza=$(awk 'BEGIN{RS=""} /(^|\n)Suites:([^\n]* )?bookworm( |\n|$)/{print; exit}' "$src")
    {
      echo "Types: deb"
      echo "$stanza" | grep -m1 '^URIs:'
      echo "Suites: bookworm-backports"
      echo "Components: main"
      echo "$stanza" | grep -m1 '^Signed-By:' || true
    } > /etc/apt/sources.list.d/holdscope-bookworm-backports.sources
  else
    local line
    line=$(grep -h -E '^deb .* bookworm ' /etc/apt/sources.list 2>/dev/null | head -n1)
    [ -n "$line" ] || { echo "setup-deps: no bookworm apt source found to derive backports from" >&2; exit 1; }
    echo "$line" | sed -E 's/ bookworm / bookworm-backports /; s/ main.*$/ main/' \
      > /etc/apt/sources.list.d/holdscope-bookworm-backports.list
  fi
}

add_backports
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  cmake make g++ pkg-config clang-19 llvm-19 libelf-dev zlib1g-dev \
  libcli11-dev nlohmann-json3-dev libfmt-dev libzstd-dev bpftrace \
  qemu-system-x86 busybox-static cpio jq libclang-rt-19-dev libbpf-tools \
  linux-source-6.12 bc bison flex dwarves libssl-dev xz-utils patch prometheus-cpp-dev prometheus curl >/dev/null
apt-get install -y -qq --no-install-recommends -t bookworm-backports \
  libbpf-dev bpftool catch2 linux-perf >/dev/null

# The HTML report: Debian's chromium opens it headless in the tests (and, driven through python3-websocket,
# renders timelines for the documentation: scripts/timeline-screenshot.py); npm installs the pinned front-end packages
# (web/package-lock.json) that the build embeds into the page. A machine with its own Node.js keeps its npm.
apt-get install -y -qq --no-install-recommends chromium python3-websocket >/dev/null
command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
(cd "$(dirname "$0")/../web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

if ! mountpoint -q /sys/kernel/tracing 2>/dev/null; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
echo "setup-deps: ok (libbpf $(dpkg-query -W -f='${Version}' libbpf-dev), bpftool $(bpftool version 2>/dev/null | head -n1 | awk '{print $2}'))"
