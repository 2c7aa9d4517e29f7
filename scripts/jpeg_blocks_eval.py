"""What removing a JPEG's block edges first does to the built-in Photo model (docs/jpeg_blocks.md).

One run, all rows: bicubic, Photo with the removal off, automatic (the default: graded by the file's quality)
and on (full strength), on Set14 and Set5 at JPEG quality 10 to 45 (the files Pillow writes, read back as a user's
JPEG is), plus the RealSet65 photos that are heavily compressed JPEGs (cat1.jpeg), as 100 % crops.

    python scripts/jpeg_blocks_eval.py --set5 DIR --set14 DIR --realset DIR --out docs
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sinsr_gui.atomic import atomic_write_text  # noqa: E402
from sinsr_gui.engine.imageio import read_image  # noqa: E402
from sinsr_gui.engine.options import RunOptions  # noqa: E402
from sinsr_gui.evaluate import report, running  # noqa: E402

PROTOCOLS = ("jpeg10", "jpeg15", "jpeg20", "jpeg30", "jpeg45")
ROWS = {"photo_off": "Photo, removal off", "photo_auto": "Photo, automatic (default)",
        "photo_on": "Photo, removal on (full)"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set5", type=Path, required=True)
    p.add_argument("--set14", type=Path, required=True)
    p.add_argument("--realset", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("docs"))
    args = p.parse_args(argv)

    model = running.engine_model("photo")
    upscalers = {"bicubic": running.classic_upscalers()["bicubic"]}
    for name, choice in (("photo_off", "off"), ("photo_auto", "auto"), ("photo_on", "on")):
        upscalers.update(running.engine_upscalers({name: model}, RunOptions(deblock=choice)))
    start = time.perf_counter()
    results, _ = running.evaluate_sets({"Set14": args.set14, "Set5": args.set5}, upscalers, PROTOCOLS)
    heavy = sorted(f for f in args.realset.iterdir()
                   if f.suffix.lower() in (".jpg", ".jpeg") and (read_image(f).jpeg.quality < 30))
    real = running.run_real_photos(heavy, upscalers)
    with tempfile.TemporaryDirectory() as scratch:  # under its own name: the quality report's sheets stay
        sheets = report.realset_sheets(real, list(upscalers), Path(scratch), labels=ROWS)
        for sheet in sheets:
            renamed = sheet["file"].replace("real_", "jpeg_blocks_")
            shutil.move(Path(scratch) / sheet["file"], args.out / "quality" / renamed)
            sheet["file"] = renamed
            sheet["quality"] = read_image(args.realset / sheet["image"]).jpeg.quality
    elapsed = time.perf_counter() - start

    summary = {"cpu": running.cpu_name(), "seconds": round(elapsed, 1), "protocols": list(PROTOCOLS),
               "rows": ROWS, "results": {s: {p: {k: v for k, v in r.items() if k != "images"}
                                             for p, r in by_p.items()} for s, by_p in results.items()},
               "realset": sheets}
    atomic_write_text(args.out / "jpeg_blocks.json", json.dumps(summary, indent=1, default=float))
    table = report.format_tables(results, list(upscalers), labels=ROWS)
    print(table)
    print(f"\n{elapsed:.0f} s on {summary['cpu']}; crops: {[s['file'] for s in sheets]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
