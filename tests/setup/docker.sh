#!/usr/bin/env bash
# Give the tests a real Docker daemon and a local base image, doing only what is missing.
#
#   tests/setup/docker.sh    installs docker.io and debootstrap, starts dockerd, makes the image
#
# Nothing can be pulled from a container registry here, so the base image the tests
# build on (Debian 12 with its Python 3.11, pip and venv) is made locally with
# debootstrap and `docker import`. The root filesystem is cached as a tarball in
# /var/cache/modelbay-test, so on a machine that made it once only the import is left.
#
# A second call with the daemon up and the image present does nothing. The daemon is
# left running for the tests (its log: /var/log/modelbay-test-dockerd.log). Installing,
# starting the daemon and debootstrap need root (CI runs as root); without root, what
# is missing is printed with the command that would fix it, and the script fails.
set -euo pipefail

image="${MODELBAY_TEST_BASE_IMAGE:-modelbay-test/python:3.11-bookworm}"
cache_dir=/var/cache/modelbay-test
rootfs_tar="$cache_dir/bookworm-python311.tar"
dockerd_log=/var/log/modelbay-test-dockerd.log
socket=/var/run/docker.sock

# Debian's own client (Engine 20.10, API 1.41), not whatever `docker` comes first on
# PATH: a newer client (e.g. a 28.x one in /usr/local/bin) may ask for a newer API.
docker=/usr/bin/docker
dockerd=/usr/sbin/dockerd
export DOCKER_HOST="unix://$socket"
unset DOCKER_API_VERSION DOCKER_CONTEXT

is_root() { [ "$(id -u)" -eq 0 ]; }
now() { local t=${EPOCHREALTIME/[.,]/}; echo "${t:0:-5}"; }  # tenths of a second
took() { local d=$(($(now) - $1)); echo "$((d / 10)).$((d % 10)) s"; }
daemon_answers() { "$docker" version >/dev/null 2>&1; }

# ---------------------------------------------------------------- packages
missing=()
for pkg in docker.io debootstrap; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! is_root; then
    echo "missing system packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  started=$(now)
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Where apt may not start services (no init system, policy-rc.d) it leaves the
  # daemon stopped; this script starts it below either way.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "installed ${missing[*]} in $(took "$started")"
fi

# ---------------------------------------------------------------- the daemon
if ! daemon_answers; then
  if ! is_root; then
    echo "no Docker daemon answers on $socket (or this user may not use it);" \
      "start one as root: sudo bash $0" >&2
    exit 1
  fi
  started=$(now)
  echo "starting $dockerd (log: $dockerd_log)"
  # Detached from this shell's terminal and output: `make test` (and a CI runner
  # reading its output through a pipe) must not wait on the daemon.
  setsid "$dockerd" --host "unix://$socket" </dev/null >>"$dockerd_log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 60); do
    daemon_answers && break
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
      break  # it exited: no point waiting the full minute
    fi
    sleep 1
  done
  if ! daemon_answers; then
    echo "dockerd did not come up within 60 s; the end of $dockerd_log:" >&2
    tail -n 30 "$dockerd_log" >&2
    exit 1
  fi
  echo "dockerd $("$docker" version -f '{{.Server.Version}} (API {{.Server.APIVersion}})')" \
    "answers after $(took "$started")"
fi

# ---------------------------------------------------------------- the base image
# The Debian mirror this machine's apt uses (one-line .list or deb822 .sources files),
# so debootstrap fetches from the same place apt does; MODELBAY_DEBIAN_MIRROR overrides.
debian_mirror() {
  if [ -n "${MODELBAY_DEBIAN_MIRROR:-}" ]; then
    echo "$MODELBAY_DEBIAN_MIRROR"
    return
  fi
  local files=() found=""
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && files+=("$f")
  done
  if [ ${#files[@]} -gt 0 ]; then
    found=$(awk '$1 == "deb" { sub(/^deb +(\[[^]]*\] +)?/, ""); if ($2 == "bookworm") { print $1; exit } }' \
      "${files[@]}" 2>/dev/null || true)
  fi
  if [ -z "$found" ]; then
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      found=$(awk 'BEGIN { RS = ""; FS = "\n" }
        {
          uri = ""; deb = 0; suite = 0
          for (i = 1; i <= NF; i++) {
            if ($i ~ /^#/) continue
            if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
            if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) suite = 1
            if ($i ~ /^URIs:/) { split($i, words, /[ \t]+/); uri = words[2] }
          }
          if (deb && suite && uri != "") { print uri; exit }
        }' "$f")
      [ -n "$found" ] && break
    done
  fi
  echo "${found:-http://deb.debian.org/debian}"
}

if ! "$docker" image inspect "$image" >/dev/null 2>&1; then
  if [ ! -s "$rootfs_tar" ]; then
    if ! is_root; then
      echo "the base image $image is missing and making it needs root: sudo bash $0" >&2
      exit 1
    fi
    mirror=$(debian_mirror)
    started=$(now)
    echo "debootstrap bookworm (python3, pip, venv) from $mirror"
    mkdir -p "$cache_dir"
    rootfs=$(mktemp -d "$cache_dir/rootfs.XXXXXX")
    # A failed debootstrap can leave /proc or /sys mounted inside the root: unmount
    # before removing it.
    cleanup_rootfs() {
      awk -v root="$rootfs/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r |
        xargs -r umount -l
      rm -rf "$rootfs" "$rootfs_tar.partial"
    }
    trap cleanup_rootfs EXIT
    if ! debootstrap --variant=minbase --include=python3,python3-pip,python3-venv \
      bookworm "$rootfs" "$mirror" >"$cache_dir/debootstrap.log" 2>&1; then
      echo "debootstrap failed; the end of $cache_dir/debootstrap.log:" >&2
      tail -n 30 "$cache_dir/debootstrap.log" >&2
      exit 1
    fi
    echo "debootstrap done in $(took "$started")"
    started=$(now)
    # What an image needs no copy of: apt's downloaded packages and lists, docs, man
    # pages, translations, and debootstrap's own leftovers.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
      "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
      "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/* \
      "$rootfs"/debootstrap "$rootfs"/root/.cache
    find "$rootfs" -name __pycache__ -type d -prune -exec rm -rf {} +
    tar --numeric-owner -C "$rootfs" -cf "$rootfs_tar.partial" .
    mv "$rootfs_tar.partial" "$rootfs_tar"
    cleanup_rootfs
    trap - EXIT
    echo "rootfs cached as $rootfs_tar ($(du -h "$rootfs_tar" | cut -f1)) in $(took "$started")"
  fi
  started=$(now)
  "$docker" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$rootfs_tar" "$image" >/dev/null
  echo "imported $image in $(took "$started")"

  # Proof the image is what the tests expect: Debian's Python 3.11 with venv.
  version=$("$docker" run --rm "$image" python3 -c 'import sys, venv; print(sys.version)')
  case "$version" in
    3.11.*) echo "$image runs Python $version" ;;
    *) echo "$image runs Python '$version', expected 3.11" >&2; exit 1 ;;
  esac
fi

echo "docker test bed ready: base image $image"
