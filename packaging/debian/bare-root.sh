#!/usr/bin/env bash
# A bare Debian 12 root (debootstrap --variant=minbase: no Python, no Qt, no X), cached
# as a tarball, for proving the .deb's Depends list: tests/packaging/test_deb.py unpacks
# it, runs `apt-get install ./modelbay_*.deb` inside and starts Modelbay there.
#
#   bash packaging/debian/bare-root.sh      # prints the tarball's path; makes it once
#
# Needs root and debootstrap (apt-get install debootstrap) and the Debian mirror this
# machine's apt uses (MODELBAY_DEBIAN_MIRROR overrides). About 30-60 s the first time.
set -euo pipefail

cache_dir=${MODELBAY_TEST_CACHE:-/var/cache/modelbay-test}
tarball="$cache_dir/bookworm-minbase.tar"

if [ -s "$tarball" ]; then
  echo "$tarball"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "making the bare Debian root needs root: sudo bash $0" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }

# The mirror apt uses here (one-line .list or deb822 .sources), like tests/setup/docker.sh.
debian_mirror() {
  if [ -n "${MODELBAY_DEBIAN_MIRROR:-}" ]; then
    echo "$MODELBAY_DEBIAN_MIRROR"
    return
  fi
  local found=""
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    found=$(awk '$1 == "deb" { sub(/^deb +(\[[^]]*\] +)?/, ""); if ($2 == "bookworm") { print $1; exit } }' "$f" || true)
    [ -n "$found" ] && break
  done
  if [ -z "$found" ]; then
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      found=$(awk 'BEGIN { RS = ""; FS = "\n" }
        { uri = ""; deb = 0; suite = 0
          for (i = 1; i <= NF; i++) {
            if ($i ~ /^#/) continue
            if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
            if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) suite = 1
            if ($i ~ /^URIs:/) { split($i, words, /[ \t]+/); uri = words[2] }
          }
          if (deb && suite && uri != "") { print uri; exit } }' "$f")
      [ -n "$found" ] && break
    done
  fi
  echo "${found:-http://deb.debian.org/debian}"
}

mirror=$(debian_mirror)
mkdir -p "$cache_dir"
root=$(mktemp -d "$cache_dir/minbase.XXXXXX")
cleanup() {
  awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$root" "$tarball.partial"
}
trap cleanup EXIT
started=$(date +%s)
echo "debootstrap --variant=minbase bookworm from $mirror" >&2
if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache_dir/minbase.log" 2>&1; then
  echo "debootstrap failed; the end of $cache_dir/minbase.log:" >&2
  tail -n 30 "$cache_dir/minbase.log" >&2
  exit 1
fi
# apt inside the root fetches from the same mirror (and the security suite, as here).
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/debootstrap
tar --numeric-owner -C "$root" -cf "$tarball.partial" .
mv "$tarball.partial" "$tarball"
echo "bare Debian root cached as $tarball ($(du -h "$tarball" | cut -f1)) in $(( $(date +%s) - started )) s" >&2
echo "$tarball"
