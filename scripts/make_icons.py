"""Generate the app icon: ``resources/icons/sinsr-gui.svg`` and PNGs from 16 to 512 px.

The icon is a photo (sky, sun, hills) split by a compare divider: the left half shows a coarse pixel grid
(the small original), the right half is smooth (the upscaled result). The SVG is the source; the PNGs are
rendered from it with Qt's SVG renderer so every size matches.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_icons.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
NAME = "sinsr-gui"


def svg_text() -> str:
    # Photo area 88..424 x 120..392; divider at x = 256.
    grid = "".join(
        f'<rect x="{x}" y="{y}" width="42" height="34" fill="none" stroke="#ffffff" stroke-opacity="0.55" '
        f'stroke-width="3"/>'
        for x in range(88, 256, 42) for y in range(120, 392, 34)
    )
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512" viewBox="0 0 512 512">
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#3d5bd9"/>
      <stop offset="1" stop-color="#14a38f"/>
    </linearGradient>
    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#bfe0ff"/>
      <stop offset="1" stop-color="#f4f9ff"/>
    </linearGradient>
    <clipPath id="photo"><rect x="88" y="120" width="336" height="272" rx="28"/></clipPath>
    <clipPath id="left"><rect x="88" y="120" width="168" height="272"/></clipPath>
  </defs>
  <rect x="16" y="16" width="480" height="480" rx="112" fill="url(#bg)"/>
  <g clip-path="url(#photo)">
    <rect x="88" y="120" width="336" height="272" fill="url(#sky)"/>
    <circle cx="338" cy="196" r="34" fill="#ffc640"/>
    <polygon points="60,392 190,236 262,318 326,262 460,392" fill="#2e8a5f"/>
    <polygon points="60,392 150,318 250,392" fill="#1f6b49"/>
    <polygon points="230,392 352,300 460,392" fill="#237553"/>
    <g clip-path="url(#left)">{grid}</g>
  </g>
  <rect x="88" y="120" width="336" height="272" rx="28" fill="none" stroke="#ffffff" stroke-width="10"/>
  <rect x="250" y="96" width="12" height="320" rx="6" fill="#ffffff"/>
  <circle cx="256" cy="256" r="34" fill="#ffffff"/>
  <path d="M244 240 L230 256 L244 272 M268 240 L282 256 L268 272" fill="none" stroke="#3d5bd9"
        stroke-width="9" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
"""


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QByteArray, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv)
    ICONS.mkdir(parents=True, exist_ok=True)
    text = svg_text()
    (ICONS / f"{NAME}.svg").write_text(text, encoding="utf-8")
    renderer = QSvgRenderer(QByteArray(text.encode("utf-8")))
    if not renderer.isValid():
        print("the SVG did not parse", file=sys.stderr)
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        out = ICONS / f"{NAME}-{size}.png"
        if not image.save(str(out)):
            print(f"cannot write {out}", file=sys.stderr)
            return 1
    print(f"wrote {NAME}.svg and {len(SIZES)} PNGs to {ICONS}")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
