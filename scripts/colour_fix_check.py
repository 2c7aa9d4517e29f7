"""The coarse-grid colour fix against the full-size definition on real photos: JSON and crops.

    python scripts/colour_fix_check.py --photos DIR [--max-photos 4] [--out docs/colour_fix]

Each photo is upscaled by the built-in Photo model without a colour fix; then the wavelet fix is applied the
way the engine does it (:func:`sinsr_gui.engine.colour.fix_colour`, on a quarter-size grid) and the direct way
(:func:`full_size_wavelet`: five dilated blurs at full size, the fix as first written). Writes, per photo, the
largest difference in 8-bit levels (whole image, and 16 px away from the edges), the number of pixels whose
8-bit value differs, both times, and a crop around the largest difference: full-size fix | grid fix |
difference x64 (``OUT/crop_NAME.png``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def full_size_wavelet(out: np.ndarray, lr: np.ndarray, scale: int) -> np.ndarray:
    """The wavelet fix computed directly at full size: the output's and the bicubic reference's low bands after
    five rounds of the [1 2 1]x[1 2 1]/16 blur dilated 1, 2, 4, 8, 16 px (replicate-padded)."""
    k = (torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16).expand(3, 1, 3, 3)

    def low(x: torch.Tensor) -> torch.Tensor:
        for d in (1, 2, 4, 8, 16):
            x = F.conv2d(F.pad(x, (d, d, d, d), mode="replicate"), k, dilation=d, groups=3)
        return x

    o = torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1)[None]
    r = F.interpolate(torch.from_numpy(np.ascontiguousarray(lr)).permute(2, 0, 1)[None], scale_factor=scale,
                      mode="bicubic", align_corners=False)
    return (o - low(o) + low(r)).clamp(0, 1)[0].permute(1, 2, 0).numpy()


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    from sinsr_gui.engine.colour import fix_colour
    from sinsr_gui.engine.models import ModelRequest, load_model
    from sinsr_gui.engine.options import RunOptions
    from sinsr_gui.engine.photo import read_photo, run_to_result, upscale_photo

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=Path, required=True)
    p.add_argument("--max-photos", type=int, default=4)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "colour_fix")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    model, _ = load_model(ModelRequest(model="photo", device="cpu", dtype="auto"))
    paths = sorted(x for x in args.photos.iterdir() if x.suffix.lower() in {".png", ".jpg", ".jpeg"})
    rows = []
    for path in paths[:args.max_photos]:
        photo = read_photo(path)
        out = run_to_result(upscale_photo(model, photo, RunOptions(colour_fix="off"))).rgb
        start = time.perf_counter()
        grid = fix_colour(out, photo.rgb, 4, "wavelet")
        grid_s = time.perf_counter() - start
        start = time.perf_counter()
        full = full_size_wavelet(out, photo.rgb, 4)
        full_s = time.perf_counter() - start
        levels = np.abs(np.round(grid * 255) - np.round(full * 255))
        exact = np.abs(grid - full) * 255
        y, x = np.unravel_index(exact.max(2).argmax(), exact.shape[:2])
        y0, x0 = max(0, min(y - 64, out.shape[0] - 128)), max(0, min(x - 64, out.shape[1] - 128))
        crop = [full[y0:y0 + 128, x0:x0 + 128], grid[y0:y0 + 128, x0:x0 + 128],
                np.clip(exact[y0:y0 + 128, x0:x0 + 128] * 64 / 255, 0, 1)]
        Image.fromarray((np.concatenate(crop, 1) * 255 + 0.5).astype(np.uint8)).save(args.out / f"crop_{path.stem}.png")
        rows.append({"photo": path.name, "output_size": [out.shape[1], out.shape[0]],
                     "max_abs_levels": float(exact.max()), "max_abs_levels_inside_16px": float(exact[16:-16, 16:-16].max()),
                     "pixels_with_a_different_8bit_value": int((levels > 0).any(2).sum()),
                     "max_8bit_difference": int(levels.max()), "grid_fix_s": grid_s, "full_size_fix_s": full_s,
                     "crop": f"crop_{path.stem}.png", "crop_origin_yx": [int(y0), int(x0)]})
        print(json.dumps(rows[-1]), flush=True)
    (args.out / "colour_fix.json").write_text(json.dumps({"rows": rows, "threads": torch.get_num_threads()},
                                                         indent=1) + "\n")
    print(f"wrote {args.out / 'colour_fix.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
