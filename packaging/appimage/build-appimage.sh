#!/usr/bin/env bash
# dist/Modelbay-<version>-x86_64.AppImage. NOT RUN on the project's Debian machines: no
# appimagetool can be fetched from the package registries reachable there. Hosted CI
# (.github/workflows/installers.yml, ubuntu runner) downloads appimagetool from its GitHub
# releases and runs this script.
#
# Unlike the .deb, an AppImage must carry the system libraries (X11/xcb, fontconfig, glib,
# dbus, OpenSSL...) itself: MODELBAY_BUNDLE_SYSTEM_LIBS=1 keeps them in the freeze.
# glibc, libGL and libEGL stay the host's (PyInstaller never bundles them).
set -euo pipefail

root_dir=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root_dir"
python=${PYTHON:-python3}
appimagetool=${APPIMAGETOOL:-appimagetool}
version=$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')

MODELBAY_BUNDLE_SYSTEM_LIBS=1 "$python" -m PyInstaller --noconfirm \
  --distpath build/appimage/dist --workpath build/appimage/work packaging/modelbay.spec

appdir=build/appimage/Modelbay.AppDir
rm -rf "$appdir"
mkdir -p "$appdir/usr/share/applications" "$appdir/usr/share/icons/hicolor/scalable/apps"
cp -a build/appimage/dist/modelbay "$appdir/opt-modelbay"
cat >"$appdir/AppRun" <<'RUN'
#!/bin/sh
here=$(dirname "$(readlink -f "$0")")
exec "$here/opt-modelbay/modelbay" "$@"
RUN
chmod 0755 "$appdir/AppRun"
cp resources/modelbay.desktop "$appdir/modelbay.desktop"
cp resources/modelbay.desktop "$appdir/usr/share/applications/modelbay.desktop"
cp resources/icons/modelbay.svg "$appdir/modelbay.svg"
cp resources/icons/modelbay.svg "$appdir/usr/share/icons/hicolor/scalable/apps/modelbay.svg"
"$appdir/AppRun" --version | grep -qx "modelbay $version"

mkdir -p dist
ARCH=x86_64 "$appimagetool" --no-appstream "$appdir" "dist/Modelbay-$version-x86_64.AppImage"
echo "built dist/Modelbay-$version-x86_64.AppImage"
