"""Most detail against Photo on real photos, file to file in one run: times, and crops of what each file holds.

    .venv/bin/python scripts/detail_vs_photo.py --photos ../shared/datasets/RealSet65

Each photo goes through the app's and the command line's own use case (``engine.photo.process_file``: read,
automatic precision, tile, JPEG deblocking and colour fix, the network, the PNG written) with the built-in Photo
model, then with Most detail, one after the other in this process (models loaded once, before the clock). The
table gives each photo's seconds with both and their ratio; the JSON (docs/cpu/detail_vs_photo.json) has the
CPU, every time and the medians. For the photos in :data:`CROPS` it also writes
docs/quality/detail_<photo>.png: the input enlarged 4x by nearest neighbour (every source pixel visible) | the
Photo file | the Most detail file, the same 256x256 region at 100 %, cut from the written PNGs, unsharpened.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# photo -> (x, y): the top-left corner of a 64x64 input region (256x256 at 4x)
CROPS = {"cat1.jpeg": (100, 40), "building1.jpeg": (150, 40), "bears.jpg": (110, 50), "Lincoln.png": (50, 40)}
SIDE = 64
MODELS = (("photo", "Photo"), ("detail", "Most detail"))


def crop_sheet(source: Path, outputs: dict[str, Path], corner: tuple[int, int], dest: Path) -> None:
    from sinsr_gui.evaluate.report import contact_sheet

    lr = np.asarray(Image.open(source).convert("RGB"))
    h, w = lr.shape[:2]
    x, y = min(corner[0], w - SIDE), min(corner[1], h - SIDE)
    tiles = [("input (nearest 4x)", np.kron(lr[y:y + SIDE, x:x + SIDE], np.ones((4, 4, 1), np.uint8)))]
    for kind, label in MODELS:
        hr = np.asarray(Image.open(outputs[kind]).convert("RGB"))
        tiles.append((label, np.ascontiguousarray(hr[4 * y:4 * (y + SIDE), 4 * x:4 * (x + SIDE)])))
    contact_sheet(tiles, 1, dest)


def main(argv: list[str] | None = None) -> int:
    import torch

    from sinsr_gui.bench_e2e import PHOTO_SUFFIXES, cpu_name
    from sinsr_gui.engine.models import ModelRequest, load_model
    from sinsr_gui.engine.photo import PhotoOptions, process_file, run_to_result

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=Path, required=True)
    p.add_argument("--json", type=Path, default=ROOT / "docs" / "cpu" / "detail_vs_photo.json")
    p.add_argument("--crops", type=Path, default=ROOT / "docs" / "quality")
    args = p.parse_args(argv)
    photos = sorted(f for f in args.photos.iterdir() if f.suffix.lower() in PHOTO_SUFFIXES)
    models = {kind: load_model(ModelRequest(model=kind, device="cpu", dtype="auto"))[0] for kind, _ in MODELS}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in photos:
            row: dict = {"photo": source.name}
            outputs = {}
            for kind, _ in MODELS:
                dest = Path(tmp) / f"{source.stem}_{kind}.png"
                start = time.perf_counter()
                result = run_to_result(process_file(models[kind], source, dest, PhotoOptions()))
                row[f"{kind}_s"] = round(time.perf_counter() - start, 3)
                row["output_mp"] = round(result.output_size[0] * result.output_size[1] / 1e6, 3)
                outputs[kind] = result.output_path
            row["ratio"] = round(row["detail_s"] / row["photo_s"], 2)
            rows.append(row)
            print(f"{source.name:20s} {row['output_mp']:6.2f} MP  Photo {row['photo_s']:6.2f} s  "
                  f"Most detail {row['detail_s']:7.2f} s  x{row['ratio']:.1f}", flush=True)
            if source.name in CROPS:
                args.crops.mkdir(parents=True, exist_ok=True)
                crop_sheet(source, outputs, CROPS[source.name], args.crops / f"detail_{source.stem}.png")
    medians = {
        "photo_output_mp_per_s": statistics.median(r["output_mp"] / r["photo_s"] for r in rows),
        "detail_output_mp_per_s": statistics.median(r["output_mp"] / r["detail_s"] for r in rows),
        "ratio": statistics.median(r["ratio"] for r in rows),
    }
    report = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
              "python": platform.python_version(), "date": time.strftime("%Y-%m-%d"),
              "precision": {k: m.precision_label for k, m in models.items()},
              "what": "file to file through engine.photo.process_file (PNG), models loaded before the clock",
              "photos": rows, "medians": {k: round(v, 3) for k, v in medians.items()}}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"median per photo: Photo {medians['photo_output_mp_per_s']:.2f} output MP/s, Most detail "
          f"{medians['detail_output_mp_per_s']:.3f} MP/s, Most detail takes x{medians['ratio']:.1f} Photo's time "
          f"({report['cpu']}, {report['threads']} threads, {report['precision']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
