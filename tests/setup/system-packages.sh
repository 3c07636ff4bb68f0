#!/usr/bin/env bash
# Install the Debian packages the app and its tests need, only if some are missing.
#
#   tests/setup/system-packages.sh run    what the desktop app needs to start (Qt's libraries)
#   tests/setup/system-packages.sh test   that, plus the real services the tests use
#
# Installing needs root (CI runs as root). Without root, the missing packages
# are listed with the command to install them, and the script fails.
set -euo pipefail

run_packages=(
  libgl1 libegl1 libfontconfig1 libglib2.0-0 libdbus-1-3 libxkbcommon0
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0
  libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libx11-xcb1 fonts-dejavu-core
)
test_packages=(
  postgresql            # the registry's PostgreSQL path runs against a real server
  xvfb x11-utils        # a real X display for screenshots of real windows
  # the remote host the tests make (tests/remote_host.py): a network namespace with its
  # own dockerd (docker.io and util-linux's nsenter/unshare come with tests/setup/docker.sh
  # and the base system)
  iproute2              # `ip netns`, veth pairs and addresses
  openssh-server        # sshd inside the namespace (9.2: SetEnv needs 8.7+)
  openssh-client        # ssh, ssh-keygen, ssh-keyscan: the test plumbing and host keys
  # a real OS keyring for secrets, headless (the secret_service fixture)
  dbus                  # dbus-daemon (a private session bus) and dbus-send
  gnome-keyring         # the Secret Service the keyring package talks to
  libsecret-tools       # secret-tool: reads what keyring stored, from outside Python
)

case "${1:-test}" in
  run) wanted=("${run_packages[@]}") ;;
  test) wanted=("${run_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
