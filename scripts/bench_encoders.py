"""Benchmark the 16-bit PNG and TIFF encoders the app could use, on one 24-megapixel 16-bit RGB image.

    .venv/bin/python scripts/bench_encoders.py [--width 6000 --height 4000 --repeat 3 --json docs/encoders.json]

Candidates (each skipped, with the reason in the table, when it is not installed):

* PNG: the hand-written writer the app had before (numpy adaptive filters + zlib 6, read from git history
  when it is no longer in the tree), pypng (pure Python, filter type 0 on every row), imagecodecs'
  libpng and libspng bindings, and the app's own writer (``engine.imageio.png``, all cores); Pillow cannot
  hold 16-bit colour, so it has no row here.
* TIFF: the old hand-written writer (deflate 6 + horizontal predictor in 256 KiB strips), tifffile with its
  pure-Python fallback codecs (zlib + numpy predictor, i.e. without imagecodecs) and with imagecodecs, on
  one thread and on two; Pillow again cannot hold 16-bit colour.

Each run is a fresh process (no candidate inherits another's heap) that makes the image, then encodes it
once. For each candidate: the median wall time of ``--repeat`` runs, the CPU time of that run, the file size,
and the peak memory the encode added over the image itself (VmHWM, reset just before the encode through
/proc/self/clear_refs, so C allocations count too). The first run's output is decoded and compared with the
input: a candidate that does not round-trip bit-exactly is marked. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sinsr_gui.process_memory import PeakRSS  # noqa: E402

LEGACY_COMMIT = "03c833b"  # the last commit with the hand-written encoders in sinsr_gui/engine/imageio/encoders.py


def smooth_image(width: int, height: int, seed: int = 0, grain: float = 16.0) -> np.ndarray:
    """A photo-like uint16 (H, W, 3) image: smooth colour fields plus a little grain, so filters matter."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 100 + 2, width // 100 + 2, 3), dtype=np.float32)
    ys = np.linspace(0, coarse.shape[0] - 1.001, height, dtype=np.float32)
    xs = np.linspace(0, coarse.shape[1] - 1.001, width, dtype=np.float32)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    rows = coarse[y0] * (1 - fy) + coarse[y0 + 1] * fy  # (H, w, 3)
    del coarse
    img = rows[:, x0] * (1 - fx) + rows[:, x0 + 1] * fx
    del rows
    img *= 60000
    img += rng.normal(0, grain, img.shape).astype(np.float32)  # grain: the low bits stay random
    np.clip(img, 0, 65535, out=img)
    return np.ascontiguousarray(img, dtype=np.uint16)


# ------------------------------------------------------------------------------------------ memory




# ------------------------------------------------------------------------------------------ candidates


def legacy_encoders() -> types.ModuleType | None:
    """The hand-written writers: from the tree if still there, else from git history."""
    from sinsr_gui.engine.imageio import encoders

    if hasattr(encoders, "_png_filter"):  # the old writer's own filter step: it is still in the tree
        return encoders
    try:
        source = subprocess.run(
            ["git", "show", f"{LEGACY_COMMIT}:sinsr_gui/engine/imageio/encoders.py"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("legacy_encoders")
    source = source.replace("from .exif import", "from sinsr_gui.engine.imageio.exif import")
    source = source.replace("from .read import", "from sinsr_gui.engine.imageio.read import")
    exec(compile(source, "legacy_encoders.py", "exec"), module.__dict__)  # noqa: S102 - our own old code
    return module


def png_candidates() -> dict[str, Callable[[np.ndarray, Path], None] | str]:
    out: dict[str, Callable[[np.ndarray, Path], None] | str] = {}
    legacy = legacy_encoders()
    if legacy is not None:
        def hand(data: np.ndarray, path: Path) -> None:
            with open(path, "wb") as fh:
                legacy._write_png16(fh, data, icc=None, exif=None, dpi=None)

        out["hand-written (old app, numpy filters + zlib 6)"] = hand
    else:
        out["hand-written (old app)"] = "not found in the tree or in git history"

    if importlib.util.find_spec("png"):
        import png

        def pypng(data: np.ndarray, path: Path) -> None:
            h, w, c = data.shape
            writer = png.Writer(w, h, bitdepth=16, greyscale=c < 3, alpha=c in (2, 4), compression=6)

            def rows():
                for top in range(0, h, 64):
                    band = data[top : top + 64].astype(">u2")
                    for row in band:
                        yield row.tobytes()

            with open(path, "wb") as fh:
                writer.write_packed(fh, rows())

        out["pypng 0.20220715 (filter 0, zlib 6)"] = pypng
    else:
        out["pypng"] = "not installed"

    if importlib.util.find_spec("imagecodecs"):
        import imagecodecs

        def libpng(data: np.ndarray, path: Path) -> None:
            path.write_bytes(imagecodecs.png_encode(data, level=6))

        def libspng(data: np.ndarray, path: Path) -> None:
            path.write_bytes(imagecodecs.spng_encode(data, level=6))

        out[f"imagecodecs {imagecodecs.__version__} libpng (adaptive filters, zlib 6)"] = libpng
        if getattr(imagecodecs, "SPNG", None) is not None and imagecodecs.SPNG.available:
            out[f"imagecodecs {imagecodecs.__version__} libspng (zlib 6)"] = libspng
    else:
        out["imagecodecs"] = "not installed"
    from sinsr_gui.engine.imageio import png

    def ours(deflater: str):
        def write(data: np.ndarray, path: Path) -> None:
            with open(path, "wb") as fh:
                png.write_png(fh, data, level=6, deflater=deflater)
        return write

    for deflater in png.available_deflaters():
        label = "ISA-L level 1 (for zlib 6)" if deflater == "isal" else "zlib 6"
        app = ", the app's" if deflater == png.default_deflater() else ""
        out[f"ours{app} (Average filter, {label} in parallel strips)"] = ours(deflater)
    out["Pillow"] = "cannot hold 16-bit colour (no RGB;16 image mode), so it cannot write it"
    return out


def tiff_candidates() -> dict[str, Callable[[np.ndarray, Path], None] | str]:
    out: dict[str, Callable[[np.ndarray, Path], None] | str] = {}
    legacy = legacy_encoders()
    if legacy is not None:
        def hand(data: np.ndarray, path: Path) -> None:
            with open(path, "wb") as fh:
                legacy._write_tiff(fh, data, icc=None, exif=None, dpi=None)

        out["hand-written (old app, deflate 6 + predictor)"] = hand
    else:
        out["hand-written (old app)"] = "not found in the tree or in git history"

    if importlib.util.find_spec("tifffile"):
        import tifffile
        import tifffile.tifffile as tf_module
        from tifffile import _imagecodecs as fallback

        def with_tifffile(codecs: types.ModuleType | None, workers: int) -> Callable[[np.ndarray, Path], None]:
            def run(data: np.ndarray, path: Path) -> None:
                saved = tf_module.imagecodecs
                if codecs is not None:
                    tf_module.imagecodecs = codecs
                try:
                    tifffile.imwrite(path, data, photometric="rgb", compression="zlib",
                                     compressionargs={"level": 6}, predictor=True, metadata=None,
                                     software=False, maxworkers=workers)
                finally:
                    tf_module.imagecodecs = saved
            return run

        version = tifffile.__version__
        out[f"tifffile {version}, no imagecodecs (zlib + numpy predictor), 1 thread"] = with_tifffile(fallback, 1)
        out[f"tifffile {version}, no imagecodecs, 2 threads"] = with_tifffile(fallback, 2)
        if importlib.util.find_spec("imagecodecs"):
            out[f"tifffile {version} + imagecodecs, 1 thread"] = with_tifffile(None, 1)
            out[f"tifffile {version} + imagecodecs, 2 threads"] = with_tifffile(None, 2)
    else:
        out["tifffile"] = "not installed"
    out["Pillow"] = "cannot hold 16-bit colour (no RGB;16 image mode), so it cannot write it"
    return out


# ------------------------------------------------------------------------------------------ checks


def decode(kind: str, path: Path) -> np.ndarray:
    if kind == "tiff":
        import tifffile

        return tifffile.imread(path)
    from sinsr_gui.engine.imageio import read_image  # the app's own reader: what a user round trip sees

    loaded = read_image(path)
    return np.round(loaded.rgb * 65535).astype(np.uint16)


def run_one(kind: str, name: str, width: int, height: int, grain: float, path: Path) -> dict[str, float]:
    """One timed encode in this (fresh) process: so that no candidate inherits another one's heap."""
    fn = (png_candidates() if kind == "png" else tiff_candidates())[name]
    assert callable(fn)
    data = smooth_image(width, height, grain=grain)
    with PeakRSS() as rss:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        fn(data, path)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peak = (rss.peak_bytes or 0) / 2**20
    exact = None
    if os.environ.get("BENCH_CHECK") == "1":
        exact = bool(np.array_equal(decode(kind, path), data))
    return {"wall_s": wall, "cpu_s": cpu, "peak_extra_mib": peak, "bit_exact": exact}


def measure(kind: str, name: str, args: argparse.Namespace, folder: Path) -> dict[str, object]:
    runs = []
    path = folder / f"bench.{kind}"
    for i in range(args.repeat):
        path.unlink(missing_ok=True)
        env = dict(os.environ, BENCH_CHECK="1" if i == 0 else "0")
        proc = subprocess.run(
            [sys.executable, __file__, "--child", kind, name, str(path), "--width", str(args.width),
             "--height", str(args.height), "--grain", str(args.grain)],
            capture_output=True, text=True, env=env,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{proc.stderr}")
        run = json.loads(proc.stdout.strip().splitlines()[-1])
        runs.append(run)
        print(f"  {name}: {run['wall_s']:.2f} s wall, {run['cpu_s']:.2f} s CPU, "
              f"+{run['peak_extra_mib']:.0f} MiB", flush=True)
    exact = bool(runs[0]["bit_exact"])
    median = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    return {
        "candidate": name,
        "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 3),
        "cpu_s_of_median_run": round(median["cpu_s"], 3),
        "wall_s_runs": [round(r["wall_s"], 3) for r in runs],
        "peak_extra_mib_max": round(max(r["peak_extra_mib"] for r in runs), 1),
        "size_mib": round(path.stat().st_size / 2**20, 2),
        "bit_exact": exact,
    }


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "encoders.json")
    parser.add_argument("--grain", type=float, default=16.0, help="noise sigma in 16-bit levels")
    parser.add_argument("--only", choices=("png", "tiff"), default=None)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "NAME", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, name, path = args.child
        print(json.dumps(run_one(kind, name, args.width, args.height, args.grain, Path(path))))
        return 0

    raw_mib = args.width * args.height * 3 * 2 / 2**20
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.width} x {args.height} x 3 uint16 ({raw_mib:.0f} MiB raw) on {cpu_name()}, "
          f"{os.cpu_count()} logical CPUs, load average {load:.2f} at start", flush=True)
    results: dict[str, list[dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_encoders.") as tmp:
        for kind, candidates in (("png", png_candidates()), ("tiff", tiff_candidates())):
            if args.only and kind != args.only:
                continue
            results[kind] = []
            for name, fn in candidates.items():
                if isinstance(fn, str):
                    results[kind].append({"candidate": name, "skipped": fn})
                    continue
                print(f"{kind}: {name}", flush=True)
                results[kind].append(measure(kind, name, args, Path(tmp)))

    print()
    header = f"{'format':5} {'candidate':66} {'wall s':>7} {'CPU s':>7} {'MiB out':>8} {'+MiB mem':>8} exact"
    print(header)
    print("-" * len(header))
    for kind, rows in results.items():
        for r in rows:
            if "skipped" in r:
                print(f"{kind:5} {r['candidate'][:66]:66} skipped: {r['skipped']}")
            else:
                print(f"{kind:5} {r['candidate'][:66]:66} {r['wall_s_median']:7.2f} {r['cpu_s_of_median_run']:7.2f} "
                      f"{r['size_mib']:8.1f} {r['peak_extra_mib_max']:8.0f} {'yes' if r['bit_exact'] else 'NO'}")
    doc = {
        "image": {"width": args.width, "height": args.height, "channels": 3, "dtype": "uint16",
                  "raw_mib": round(raw_mib, 1),
                  "content": f"smooth colour fields + Gaussian grain (sigma {args.grain:g} of 65535)"},
        "machine": {"cpu": cpu_name(), "logical_cpus": os.cpu_count(), "load_average_at_start": round(load, 2),
                    "python": platform.python_version(), "numpy": np.__version__},
        "repeat": args.repeat,
        "timing": "median wall time of the runs; CPU time of the median run; memory: peak RSS over the image",
        "results": results,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
