#!/usr/bin/env bash
# Downloads Debian's cloud kernels (6.1 from bookworm, 6.12 from bookworm-backports) and unpacks them into
# /var/cache/holdscope/kernels/<series>/ without installing anything. Needs root (apt-get download) and the
# bookworm-backports source that setup-deps.sh adds.
# Usage: scripts/fetch-kernels.sh 6.1 6.12
set -euo pipefail
cache=${HOLDSCOPE_KERNEL_CACHE:-/var/cache/holdscope/kernels}
mkdir -p "$cache"
for series in "$@"; do
  case $series in
    6.1) pattern='^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' ;;
    6.12) pattern='^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$' ;;
    *) echo "fetch-kernels: unknown series $series (known: 6.1 6.12)" >&2; exit 2 ;;
  esac
  pkg=$(apt-cache pkgnames linux-image- | grep -E "$pattern" | sort -V | tail -n1)
  [ -n "$pkg" ] || { echo "fetch-kernels: no package for $series in the apt sources" >&2; exit 1; }
  dest=$cache/$series
  if [ -f "$dest/.package" ] && [ "$(cat "$dest/.package")" = "$pkg" ]; then
    echo "fetch-kernels: $series is $pkg (cached)"
    continue
  fi
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) || { rm -rf "$tmp"; echo "fetch-kernels: download of $pkg failed" >&2; exit 1; }
  rm -rf "$dest" && mkdir -p "$dest"
  dpkg-deb -x "$tmp"/*.deb "$dest"
  rm -rf "$tmp"
  ln -sf "$(ls "$dest"/boot/vmlinuz-* | head -n1)" "$dest/vmlinuz"
  echo "$pkg" > "$dest/.package"
  echo "fetch-kernels: $series is $pkg"
done
