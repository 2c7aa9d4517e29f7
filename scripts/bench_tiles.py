"""Benchmark the tile plan: tiles fitted to the photo against fixed-size tiles, and the tile size sweep.

    .venv/bin/python scripts/bench_tiles.py --photos /path/to/RealSet65 [--models photo faithful
        realesr-animevideov3 --tiles 128 192 256 384 512 --json docs/cpu/tiles.json]

For each model (as the app loads it, automatic precision; colour fix off: this is the network and the tiler)
and each of two real photos plus a 1024x644 mosaic of ten (``bench_e2e.make_big_photo``), best of two runs:

* the network through the tiler with the model's automatic tile, planned as before (every tile as large as the
  tile size, starts spread out: ``fixed_axis_tiles`` below) and as now (``engine.tiling.axis_tiles``); each
  one's largest difference in 8-bit levels and PSNR against the whole photo in one tile;
* the fitted plan at every ``--tiles`` size and the whole photo in one tile.

Prints markdown tables and writes JSON. One run: ratios within it only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sinsr_gui.bench_e2e import cpu_name, list_photos, make_big_photo, make_model  # noqa: E402
from sinsr_gui.engine import photo, tiling  # noqa: E402
from sinsr_gui.engine.options import RunOptions  # noqa: E402

WHOLE = 1 << 14  # a tile larger than any photo here: the whole photo in one call


def fixed_axis_tiles(length: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, list[int]]:
    """The plan before: every tile ``min(tile, length)`` long, the starts spread evenly."""
    if length <= tile:
        return length, [0]
    count = math.ceil((length - tile) / (tile - overlap)) + 1
    return tile, [round(i * (length - tile) / (count - 1)) for i in range(count)]


def best_of(runs: int, model, lr: np.ndarray, options: tiling.TilingOptions) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = tiling.run_to_completion(tiling.iter_upscale(model, lr, options))
        times.append(time.perf_counter() - start)
    return min(times), out


def difference(out: np.ndarray, whole: np.ndarray) -> dict[str, float]:
    levels = np.abs(np.round(out * 255) - np.round(whole * 255)).max()
    mse = float(np.mean((out.astype(np.float64) - whole) ** 2))
    return {"max_levels": float(levels), "psnr_db": round(10 * math.log10(1 / mse), 1) if mse else math.inf}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--models", nargs="+", default=["photo", "faithful", "realesr-animevideov3"])
    parser.add_argument("--tiles", nargs="+", type=int, default=[128, 192, 256, 384, 512])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--tile", type=int, default=0, help="instead of the model's automatic tile")
    parser.add_argument("--no-mosaic", action="store_true", help="the photos only")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    load0 = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_tiles.") as scratch:
        photos = list_photos(args.photos)
        inputs = photos[:2]
        if not args.no_mosaic:
            inputs.append(make_big_photo(photos[:10], Path(scratch) / "mosaic.png"))
        for name in args.models:
            model = make_model(name, Path(scratch) / "weights")
            run = photo._concrete(RunOptions(colour_fix="off"), model)
            auto = photo.tiling_for(model, dataclasses.replace(run, tile=args.tile))
            for path in inputs:
                lr = photo.network_input(model, photo.read_photo(path), run)
                whole_s, whole = best_of(args.runs, model, lr, tiling.TilingOptions(tile=WHOLE, overlap=auto.overlap))
                fitted_s, fitted = best_of(args.runs, model, lr, auto)
                planner = tiling.axis_tiles
                tiling.axis_tiles = fixed_axis_tiles
                try:
                    fixed_s, fixed = best_of(args.runs, model, lr, auto)
                finally:
                    tiling.axis_tiles = planner
                sweep = {tile: best_of(args.runs, model, lr, tiling.TilingOptions(tile=tile, overlap=auto.overlap))[0]
                         for tile in args.tiles}
                rows.append({
                    "model": name, "photo": path.name, "lr": f"{lr.shape[1]}x{lr.shape[0]}", "auto_tile": auto.tile,
                    "overlap": auto.overlap, "whole_s": round(whole_s, 3),
                    "fixed_s": round(fixed_s, 3), "fixed_vs_whole": difference(fixed, whole),
                    "fitted_s": round(fitted_s, 3), "fitted_vs_whole": difference(fitted, whole),
                    "sweep_s": {str(t): round(s, 3) for t, s in sweep.items()},
                })
                print(f"{name} {path.name}: done", flush=True)
    machine = (f"{cpu_name()}, {os.cpu_count()} logical CPUs, load average {load0:.1f} at the start and "
               f"{os.getloadavg()[0]:.1f} at the end; best of {args.runs}, one run")
    lines = [machine, "", "| model | LR photo | auto tile | fixed tiles (before) | fitted tiles (now) | speed-up | "
             "fitted vs whole photo |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        d = r["fitted_vs_whole"]
        lines.append(f"| {r['model']} | {r['photo']} {r['lr']} | {r['auto_tile']} | {r['fixed_s']:.2f} s | "
                     f"{r['fitted_s']:.2f} s | {r['fixed_s'] / r['fitted_s']:.2f}x | {d['max_levels']:.0f} levels, "
                     f"{d['psnr_db']} dB |")
    lines += ["", "| model | LR photo | " + " | ".join(f"tile {t}" for t in args.tiles) + " | whole photo |",
              "|---|---|" + "---|" * (len(args.tiles) + 1)]
    for r in rows:
        lines.append(f"| {r['model']} | {r['photo']} {r['lr']} | "
                     + " | ".join(f"{r['sweep_s'][str(t)]:.2f} s" for t in args.tiles) + f" | {r['whole_s']:.2f} s |")
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
