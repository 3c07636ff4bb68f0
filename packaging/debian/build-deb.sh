#!/usr/bin/env bash
# Builds dist/modelbay_<version>_amd64.deb: PyInstaller one-folder app under /opt/modelbay,
# a /usr/bin/modelbay launcher, a .desktop entry and its icon, Depends worked out from what
# the frozen app links against. `make package` runs it; docs/packaging.md explains it.
#
#   bash packaging/debian/build-deb.sh            # zstd (fast)
#   MODELBAY_DEB_COMPRESS=xz bash packaging/debian/build-deb.sh   # smaller, ~40 s slower
#
# Needs: the project's .venv with Modelbay installed (make run / make test made it),
# dpkg-deb, readelf (binutils), ldconfig. PyInstaller is installed into .venv if missing.
# The .deb is built with --root-owner-group, so no root is needed to build it.
set -euo pipefail

root_dir=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root_dir"
venv=${MODELBAY_VENV:-$root_dir/.venv}
python="$venv/bin/python"
out_dir=${MODELBAY_DIST:-$root_dir/dist}
work=$root_dir/build/pyinstaller
compress=${MODELBAY_DEB_COMPRESS:-zstd}
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

[ -x "$python" ] || { echo "no $python: run 'make run' (or 'make test') first" >&2; exit 1; }
for tool in dpkg-deb readelf ldconfig dpkg-query; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install dpkg binutils)" >&2; exit 1; }
done

version=$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
installed=$("$python" -c 'from importlib.metadata import version; print(version("modelbay"))' 2>/dev/null || true)
if [ "$installed" != "$version" ]; then
  echo "modelbay metadata says '$installed', pyproject says $version: reinstalling (no deps)"
  "$python" -m pip install -q --no-deps -e .
fi
# The spec trains the demo models the app ships (app/demo.py: make_premade) with
# scikit-learn, a dev extra; the app itself does not carry scikit-learn.
if ! "$python" -c 'import sklearn, joblib' 2>/dev/null; then
  echo "scikit-learn is not in $venv (the demo models are made with it): pip install -e '.[dev]'" >&2
  exit 1
fi
if ! "$python" -c 'import PyInstaller' 2>/dev/null; then
  "$python" -m pip install -q 'pyinstaller>=6.10'
fi

# ---------------------------------------------------------------- 1. freeze
started=$(now)
mkdir -p "$work"  # a fresh clone has no build/ yet (PyInstaller's log goes next to it)
"$python" -m PyInstaller --noconfirm --log-level WARN --distpath "$work/dist" \
  --workpath "$work/work" packaging/modelbay.spec >"$work.log" 2>&1 ||
  { tail -n 40 "$work.log" >&2; exit 1; }
frozen="$work/dist/modelbay"
# Debug symbols of the interpreter (libpython, lib-dynload) go; nothing else is
# touched: a full strip breaks numpy's and scipy's bundled OpenBLAS.
find "$frozen/_internal" -maxdepth 1 -name 'libpython3*.so*' -exec strip --strip-debug {} +
find "$frozen/_internal/python3."*/lib-dynload -name '*.so' -exec strip --strip-debug {} +
# numpy and scipy each bundle the same libgfortran and libquadmath (same name, same bytes):
# scipy's become symlinks to numpy's (the loader maps one copy of a soname anyway).
for lib in "$frozen/_internal/scipy.libs"/*; do
  twin="$frozen/_internal/numpy.libs/$(basename "$lib")"
  if [ -f "$lib" ] && [ ! -L "$lib" ] && [ -f "$twin" ] && cmp -s "$lib" "$twin"; then
    ln -sf "../numpy.libs/$(basename "$lib")" "$lib"
  fi
done
freeze_time=$(took "$started")
said=$("$frozen/modelbay" --version)
[ "$said" = "modelbay $version" ] ||
  { echo "the frozen app says '$said', not 'modelbay $version'" >&2; exit 1; }

# ---------------------------------------------------------------- 2. lay out the package
started=$(now)
pkg="$work/deb/modelbay_${version}_amd64"
rm -rf "$pkg"
mkdir -p "$pkg/DEBIAN" "$pkg/opt" "$pkg/usr/bin" "$pkg/usr/share/applications" \
  "$pkg/usr/share/icons/hicolor/scalable/apps" "$pkg/usr/share/doc/modelbay"
cp -a "$frozen" "$pkg/opt/modelbay"
cat >"$pkg/usr/bin/modelbay" <<'LAUNCHER'
#!/bin/sh
# Modelbay's launcher: the app itself lives in /opt/modelbay (a PyInstaller folder).
exec /opt/modelbay/modelbay "$@"
LAUNCHER
chmod 0755 "$pkg/usr/bin/modelbay"
install -m 0644 resources/modelbay.desktop "$pkg/usr/share/applications/modelbay.desktop"
install -m 0644 resources/icons/modelbay.svg "$pkg/usr/share/icons/hicolor/scalable/apps/modelbay.svg"
cat >"$pkg/usr/share/doc/modelbay/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: modelbay
License: Apache-2.0
 Modelbay bundles Python, Qt (PySide6, LGPLv3) and the libraries in
 /opt/modelbay/_internal, each under its own licence (see their *.dist-info).
COPYRIGHT
find "$pkg" -type d -exec chmod 0755 {} +

# ---------------------------------------------------------------- 3. Depends
# Every library an ELF file in the bundle needs (DT_NEEDED) and the bundle does not carry
# is the system's: find the file (ldconfig) and its Debian package (dpkg -S). Qt loads a
# few more with dlopen (GL, EGL, xcb-cursor, dbus): those are the fixed list below.
declare -A bundled=() packages=()
while IFS= read -r -d '' f; do bundled[$(basename "$f")]=1; done < <(find "$frozen" -name '*.so*' -print0)
mapfile -t needed < <(find "$frozen" -type f \( -name '*.so*' -o -path "$frozen/modelbay" \) \
  -exec readelf -d {} + 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u)
unresolved=()
ld_cache=$(ldconfig -p)  # (no `ldconfig -p | awk ... exit`: SIGPIPE under pipefail)
for soname in "${needed[@]}"; do
  [ -n "${bundled[$soname]:-}" ] && continue
  path=$(awk -v s="$soname" '$1 == s && /x86-64/ && !found { print $NF; found = 1 }' <<<"$ld_cache")
  [ -n "$path" ] || { unresolved+=("$soname"); continue; }
  real=$(readlink -f "$path")
  owner=$(dpkg-query -S "$path" 2>/dev/null || dpkg-query -S "$real" 2>/dev/null ||
    dpkg-query -S "/usr$path" 2>/dev/null || dpkg-query -S "*/$soname" 2>/dev/null || true)
  owner=${owner%%:*}
  [ -n "$owner" ] && packages[$owner]=1 || unresolved+=("$soname")
done
if [ ${#unresolved[@]} -gt 0 ]; then
  echo "no Debian package found for: ${unresolved[*]}" >&2
  exit 1
fi
for p in libgl1 libegl1 libfontconfig1 libglib2.0-0 libdbus-1-3 libxkbcommon0 \
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 \
  libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libx11-xcb1; do
  packages[$p]=1
done
depends=$(printf '%s\n' "${!packages[@]}" | sort | paste -sd, | sed 's/,/, /g')
installed_kb=$(du -sk --apparent-size "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: modelbay
Version: $version
Architecture: amd64
Maintainer: Modelbay engineers <modelbay@localhost>
Installed-Size: $installed_kb
Depends: $depends
Recommends: docker.io | docker-ce, python3-pip, gnome-keyring
Section: science
Priority: optional
Description: desktop registry, builder and deployer for machine-learning models
 Modelbay takes a trained model from disk to a monitored production endpoint: a
 local registry of model versions, Docker images that serve them, shipping to
 your own hosts over SSH, deployments and drift monitoring. One window, and a
 'modelbay' command line that does everything the window does.
CONTROL

# ---------------------------------------------------------------- 4. build the .deb
mkdir -p "$out_dir"
deb="$out_dir/modelbay_${version}_amd64.deb"
case "$compress" in
  zstd) zflags=(-Zzstd -z3) ;;
  xz) zflags=(-Zxz -z6) ;;
  *) zflags=(-Z"$compress") ;;
esac
pack_started=$(now)
dpkg-deb --root-owner-group "${zflags[@]}" --build "$pkg" "$deb.partial" >/dev/null
mv "$deb.partial" "$deb"
pack_time=$(took "$pack_started")

# ---------------------------------------------------------------- 5. figures
echo "built $deb"
echo "  freeze (PyInstaller): $freeze_time; dpkg-deb ($compress): $pack_time"
echo "  .deb size: $(du -h --apparent-size "$deb" | cut -f1)  installed size: $((installed_kb / 1024)) MB"
echo "  Depends: $depends"
echo "  largest in /opt/modelbay/_internal:"
du -s --apparent-size -k "$frozen/_internal"/* | sort -rn |
  awk 'NR <= 10 { n = $2; sub(".*/_internal/", "", n); printf "    %6.1f MB  %s\n", $1 / 1024, n }'
