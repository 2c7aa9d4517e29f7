"""Draw the bundled sample photo ``resources/samples/sample.png`` (our own procedural image, no licence issues).

It has what an upscaler should be judged on: smooth gradients, hard edges, fine stripes, text and mild noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 192, 128


def main() -> None:
    rng = np.random.default_rng(2024)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    sky = np.stack([90 + 0.4 * yy, 140 + 0.5 * yy, 220 - 0.3 * yy], -1)
    img = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.ellipse((20, 14, 60, 54), fill=(250, 210, 90))  # sun
    d.polygon([(0, 100), (50, 55), (95, 100)], fill=(70, 110, 70))  # hills
    d.polygon([(60, 100), (120, 45), (192, 100)], fill=(50, 90, 60))
    d.rectangle((0, 100, W, H), fill=(160, 130, 90))  # ground
    for x in range(110, 180, 4):  # a fence: fine regular detail
        d.line((x, 84, x, 108), fill=(235, 235, 230), width=1)
    d.line((108, 90, 182, 90), fill=(235, 235, 230))
    d.line((108, 100, 182, 100), fill=(235, 235, 230))
    d.rectangle((128, 104, 186, 122), fill=(250, 250, 245), outline=(40, 40, 40))
    d.text((132, 108), "SinSR x4", fill=(20, 20, 20))
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    arr = np.asarray(img).astype(np.float32) + rng.normal(0, 2.0, (H, W, 3))
    out = Path(__file__).resolve().parent.parent / "resources" / "samples" / "sample.png"
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(out, optimize=True)
    print(out)


if __name__ == "__main__":
    main()
