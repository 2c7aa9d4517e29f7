"""Benchmark the app's PNG writer against libpng and Pillow on real 4x results (8-bit, what users save).

    .venv/bin/python scripts/bench_png.py --photos /path/to/RealSet65 [--max-photos 3 --repeat 5
        --model photo --json docs/cpu/png_writer.json]

Each photo is enlarged by the model as the app does it (``engine.photo``: automatic settings), packed into
8-bit samples like ``save_image`` does, then written to memory by every candidate, round-robin, ``--repeat``
times: libpng at the app's zlib level (``imagecodecs.png_encode``, adaptive filters: the writer before),
Pillow at the same level, and ``engine.imageio.png.write_png`` with each installed deflater (ISA-L, zlib) on one
thread and on all cores (the app: all cores, the default deflater).
Every file is decoded by libpng and compared with the samples. Prints a markdown table (median wall time,
size, and the speed-up over libpng measured in this run) and writes JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sinsr_gui.bench_e2e import cpu_name, list_photos, make_model  # noqa: E402
from sinsr_gui.engine import photo  # noqa: E402
from sinsr_gui.engine.imageio import encoders, png  # noqa: E402
from sinsr_gui.engine.options import RunOptions  # noqa: E402


def candidates(level: int) -> dict[str, Callable[[np.ndarray], bytes]]:
    import imagecodecs
    from PIL import Image

    def ours(workers: int, deflater: str) -> Callable[[np.ndarray], bytes]:
        def write(data: np.ndarray) -> bytes:
            buf = io.BytesIO()
            png.write_png(buf, data, level=level, workers=workers, deflater=deflater)
            return buf.getvalue()

        return write

    def pillow(data: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(data).save(buf, format="PNG", compress_level=level)
        return buf.getvalue()

    cores, app = png._workers(), png.default_deflater()
    writers = {
        f"libpng {imagecodecs.__version__} (adaptive filters), before": lambda d: imagecodecs.png_encode(d, level=level),
        "Pillow": pillow,
    }
    for deflater in png.available_deflaters():
        writers[f"ours, {deflater}, 1 thread"] = ours(1, deflater)
        writers[f"ours, {deflater}, {cores} threads" + (" (the app)" if deflater == app else "")] = ours(cores, deflater)
    return writers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--max-photos", type=int, default=3)
    parser.add_argument("--model", default="photo")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_png.") as scratch:  # community models' converted weights
        rows, machine = run(args, make_model(args.model, Path(scratch)))
    lines = [f"{machine}; zlib level {encoders._PNG_LEVEL}; median of {args.repeat}, round-robin, one run; "
             f"results of the {args.model} model", "",
             "| photo | 4x result | writer | median | size | vs libpng |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['photo']} | {r['result']} | {r['writer']} | {r['median_s'] * 1000:.0f} ms | "
                     f"{r['bytes'] / 1000:,.0f} kB | {r['speedup_vs_libpng']:.2f}x |")
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {"machine": machine, "zlib_level": encoders._PNG_LEVEL, "repeat": args.repeat, "model": args.model,
               "rows": rows}
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def run(args: argparse.Namespace, model) -> tuple[list[dict], str]:
    """Rows of (photo, writer) measurements, and the machine line."""
    import imagecodecs

    writers = candidates(encoders._PNG_LEVEL)
    load0 = os.getloadavg()[0]
    rows = []
    for path in list_photos(args.photos)[: args.max_photos]:
        result = photo.run_to_result(photo.upscale_photo(model, photo.read_photo(path), RunOptions()))
        data = encoders._samples(result.rgb, grey=False, alpha=None, bit_depth=8)
        times: dict[str, list[float]] = {name: [] for name in writers}
        sizes: dict[str, int] = {}
        for _ in range(args.repeat):
            for name, write in writers.items():
                start = time.perf_counter()
                encoded = write(data)
                times[name].append(time.perf_counter() - start)
                if name not in sizes:
                    back = imagecodecs.png_decode(encoded).reshape(data.shape)
                    if not np.array_equal(back, data):
                        raise SystemExit(f"{name} did not round-trip {path.name}")
                    sizes[name] = len(encoded)
        before = statistics.median(times[next(iter(writers))])
        for name in writers:
            median = statistics.median(times[name])
            rows.append({"photo": path.name, "result": f"{data.shape[1]}x{data.shape[0]}", "writer": name,
                         "median_s": round(median, 4), "runs_s": [round(t, 4) for t in times[name]],
                         "bytes": sizes[name], "speedup_vs_libpng": round(before / median, 2)})
        print(f"{path.name}: done", flush=True)
    load1 = os.getloadavg()[0]
    machine = (f"{cpu_name()}, {os.cpu_count()} logical CPUs, load average {load0:.1f} at the start and "
               f"{load1:.1f} at the end, Python {platform.python_version()}, numpy {np.__version__}")
    return rows, machine


if __name__ == "__main__":
    raise SystemExit(main())
