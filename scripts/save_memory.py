"""Peak memory and time of saving a result through ``save_image``, the one helper every output goes through.

    .venv/bin/python scripts/save_memory.py [--width 6000 --height 4000 --json docs/cpu/save_memory.json]

A 24-megapixel float32 result (what the engine hands over: 274 MiB) is saved as a 16-bit PNG, an 8-bit PNG, a
16-bit TIFF and a JPEG, each in a fresh process so that none inherits another's heap. One more row saves the
JPEG the way ``save_image`` did before 2026-12-06, for comparison in the same run: the whole image packed into
samples first, then Pillow with optimised Huffman tables.

``--photos DIR``: also the JPEG file sizes with and without optimised Huffman tables (quality 95, 4:4:4) on
real 4x results: each photo of DIR upscaled by the built-in Photo model, as the app does. For each: the memory the
save added over the result (VmHWM, reset just before the save through /proc/self/clear_refs, so C allocations
count too), the wall time and the file size. The result is photo-like (smooth colour fields plus grain, from
``scripts/bench_encoders.smooth_image``). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

CASES = {"png16": ("PNG", 16), "png8": ("PNG", 8), "tiff16": ("TIFF", 16), "jpeg": ("JPEG", 8),
         "jpeg_before": ("JPEG", 8)}


def save_jpeg_as_before(result: np.ndarray, path: Path) -> Path:
    """The JPEG path before 2026-12-06: whole-image samples, then Pillow with optimize=True (quality 95, 4:4:4)."""
    from PIL import Image

    from sinsr_gui.engine.imageio.encoders import _samples

    data = _samples(result, grey=False, alpha=None, bit_depth=8)
    Image.fromarray(data).save(path, format="JPEG", quality=95, subsampling=0, optimize=True)
    return path


def child(case: str, width: int, height: int, folder: Path) -> dict[str, float]:
    from bench_encoders import smooth_image

    from sinsr_gui.engine.imageio import save_image
    from sinsr_gui.engine.imageio.png import default_deflater
    from sinsr_gui.process_memory import PeakRSS, release_freed_memory

    fmt, depth = CASES[case]
    samples = smooth_image(width, height)
    result = samples.astype(np.float32)
    result *= 1 / 65535
    del samples
    release_freed_memory()
    with PeakRSS() as rss:
        start = time.perf_counter()
        if case == "jpeg_before":
            path = save_jpeg_as_before(result, folder / "out.jpg")
        else:
            path = save_image(result, folder / f"out.{fmt.lower()}", like=None, fmt=fmt, bit_depth=depth)
        wall = time.perf_counter() - start
    return {"case": case, "format": fmt, "bit_depth": depth, "wall_s": round(wall, 4),
            "peak_extra_mib": round((rss.peak_bytes or 0) / 2**20, 1), "result_mib": round(result.nbytes / 2**20, 1),
            "size_bytes": path.stat().st_size, "png_deflater": default_deflater()}


def jpeg_sizes(folder: Path) -> list[dict[str, object]]:
    """Bytes of each Photo-model result of ``folder`` as a JPEG (quality 95, 4:4:4) with and without
    optimised Huffman tables."""
    import io

    from PIL import Image

    from sinsr_gui.engine import photo
    from sinsr_gui.engine.imageio import SUPPORTED_INPUT_SUFFIXES
    from sinsr_gui.engine.imageio.encoders import _samples
    from sinsr_gui.engine.models import load_model
    from sinsr_gui.engine.options import RunOptions
    from sinsr_gui.engine.types import ModelRequest

    model, _ = load_model(ModelRequest(model="photo"))
    rows = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in SUPPORTED_INPUT_SUFFIXES):
        run = photo.upscale_photo(model, photo.read_photo(path), RunOptions())
        try:
            while True:
                next(run)
        except StopIteration as done:
            result = done.value
        image = Image.fromarray(_samples(result.rgb, grey=False, alpha=None, bit_depth=8))
        sizes = {}
        for optimize in (True, False):
            buf = io.BytesIO()
            image.save(buf, format="JPEG", quality=95, subsampling=0, optimize=optimize)
            sizes[optimize] = buf.tell()
        rows.append({"photo": path.name, "output": f"{image.width}x{image.height}", "optimized_bytes": sizes[True],
                     "plain_bytes": sizes[False], "plain_over_optimized": round(sizes[False] / sizes[True], 4)})
    return rows


def main(argv: list[str] | None = None) -> int:
    from bench_encoders import cpu_name

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=6000)
    p.add_argument("--height", type=int, default=4000)
    p.add_argument("--json", type=Path, default=ROOT / "docs" / "cpu" / "save_memory.json")
    p.add_argument("--photos", type=Path, help="a folder of photos: JPEG sizes of their 4x results, see above")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.width, args.height, args.folder)))
        return 0

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            proc = subprocess.run([sys.executable, __file__, "--child", case, "--folder", tmp, "--width",
                                   str(args.width), "--height", str(args.height)], capture_output=True, text=True)
            if proc.returncode:
                raise RuntimeError(f"{case} failed:\n{proc.stderr}")
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            for leftover in Path(tmp).iterdir():
                leftover.unlink()
    print(f"{args.width}x{args.height} float32 result ({rows[0]['result_mib']} MiB), {cpu_name()}")
    print(f"{'case':12s} {'wall s':>7s} {'+MiB':>7s} {'file MiB':>9s}")
    for r in rows:
        print(f"{r['case']:12s} {r['wall_s']:7.2f} {r['peak_extra_mib']:7.1f} {r['size_bytes'] / 2**20:9.2f}")
    sizes = jpeg_sizes(args.photos) if args.photos else []
    if sizes:
        print("\nJPEG q95 4:4:4 of Photo-model results: bytes without / with optimised Huffman tables")
        for r in sizes:
            print(f"{r['photo']:24s} {r['output']:>10s} {r['plain_over_optimized']:.3f}")
    args.json.write_text(json.dumps({"cpu": cpu_name(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                     "width": args.width, "height": args.height, "rows": rows,
                                     "jpeg_sizes": sizes}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
