#!/usr/bin/env bash
# Modelbay.app in dist/Modelbay-<version>.dmg (PyInstaller BUNDLE + hdiutil).
# NOT RUN on the project's Debian machines (no macOS there): .github/workflows/installers.yml
# runs it on a hosted macos runner. Unsigned unless MODELBAY_CODESIGN_IDENTITY is set
# (notarisation is not scripted: it needs an Apple developer account).
set -euo pipefail

root_dir=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root_dir"
python=${PYTHON:-python3}
version=$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')

# The app icon: resources/icons/modelbay.svg -> modelbay.icns (Qt renders the SVG; iconutil packs)
iconset=build/modelbay.iconset
rm -rf "$iconset" && mkdir -p "$iconset"
"$python" - "$iconset" <<'PY'
import sys
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
app = QGuiApplication(["icons", "-platform", "offscreen"])
renderer = QSvgRenderer("resources/icons/modelbay.svg")
for size in (16, 32, 128, 256, 512):
    for scale in (1, 2):
        px = size * scale
        image = QImage(px, px, QImage.Format.Format_ARGB32)
        image.fill(0)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        suffix = "" if scale == 1 else "@2x"
        image.save(f"{sys.argv[1]}/icon_{size}x{size}{suffix}.png")
PY
iconutil -c icns "$iconset" -o packaging/macos/modelbay.icns

MODELBAY_BUNDLE=1 "$python" -m PyInstaller --noconfirm --distpath build/pyinstaller/dist \
  --workpath build/pyinstaller/work packaging/modelbay.spec
app=build/pyinstaller/dist/Modelbay.app
"$app/Contents/MacOS/modelbay" --version | grep -qx "modelbay $version"

if [ -n "${MODELBAY_CODESIGN_IDENTITY:-}" ]; then
  codesign --deep --force --options runtime --sign "$MODELBAY_CODESIGN_IDENTITY" "$app"
fi

mkdir -p dist
staging=build/dmg
rm -rf "$staging" && mkdir -p "$staging"
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
dmg="dist/Modelbay-$version.dmg"
rm -f "$dmg"
hdiutil create -volname "Modelbay $version" -srcfolder "$staging" -ov -format UDZO "$dmg"
echo "built $dmg ($(du -h "$dmg" | cut -f1))"
