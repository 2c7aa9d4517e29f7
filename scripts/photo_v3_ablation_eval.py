"""The ablation evaluation behind docs/photo_v3.md: candidate Photo students (the bare network, no colour fix)
against bicubic, Photo v2 and the teacher (Real-ESRGAN x4plus), all rows in one run, on Set5/Set14 at JPEG q45 and
q20. The final model's numbers through the engine come from ``python -m sinsr_gui.evaluate``.

    python scripts/photo_v3_ablation_eval.py CANDIDATE.safetensors...      # SETS: folder with Set5 and Set14
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sinsr_gui.evaluate.metrics import measure
from sinsr_gui.evaluate.protocols import list_images, load_hr, make_lr
from sinsr_gui.training.photo import load_initial_generator
from sinsr_gui.training.teacher import Teacher

ROOT = Path(__file__).resolve().parents[1]
SETS = Path(os.environ.get("SETS", ROOT.parent / "shared" / "datasets"))


def run(net: torch.nn.Module, lr: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(lr.astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = net(x).clamp(0, 1)
    return (y[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def main(files: list[str]) -> None:
    torch.set_num_threads(2)
    cands = {"v2": str(ROOT / "docs/models/photo_v2_x4.safetensors")} | {Path(f).stem: f for f in files}
    nets = {k: load_initial_generator(v).eval() for k, v in cands.items()}
    teacher = Teacher.load()  # the built-in Real-ESRGAN x4plus
    cache = ROOT / "runs/teacher/eval_cache"
    cache.mkdir(parents=True, exist_ok=True)
    res = {}
    for ds in ("Set5", "Set14"):
        for proto in ("jpeg45", "jpeg20"):
            rows: dict[str, list] = {}
            gt_block = []
            for p in list_images(SETS / ds):
                hr = load_hr(p)
                lr = make_lr(hr, proto, p.name)
                outs = {"bicubic": np.asarray(Image.fromarray(lr).resize((hr.shape[1], hr.shape[0]), Image.BICUBIC))}
                outs |= {k: run(n, lr) for k, n in nets.items()}
                cached = cache / f"{ds}_{proto}_{p.stem}.png"
                if not cached.exists():
                    Image.fromarray(run(teacher, lr)).save(cached)
                outs["teacher"] = np.asarray(Image.open(cached))
                for k, o in outs.items():
                    rows.setdefault(k, []).append(measure(o, hr, lr))
                gt_block.append(measure(hr, hr, lr)["block"])
            table = {k: {m: float(np.mean([r[m] for r in v])) for m in v[0]} for k, v in rows.items()}
            res[f"{ds}/{proto}"] = table
            print(f"== {ds} {proto} (GT block {np.mean(gt_block):.3f})")
            for k, v in table.items():
                print(f"{k:22s} dPSNR {v['psnr'] - table['bicubic']['psnr']:+.2f}  block {v['block']:.3f}  "
                      f"sharp {v['sharpness']:.3f}  colour {v['colour']:.2f}  pattern {v['pattern']:.2f}", flush=True)
    (ROOT / "docs/photo_v3_ablation.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
