"""A short CPU demonstration of SinSR's distillation on the reduced case A models.

    python scripts/distill_demo.py                 # writes docs/distill_demo.json, .md and .png

The teacher is the case A ResShift-shaped model of the test fixtures (seeded random weights, 1.6 M parameters);
the student starts as its copy and is trained by the real trainer (:class:`Trainer`, the official losses, AdamW,
real-world degradations of synthetic photos, fresh noise each step). Before training and every few steps, the
student's ONE step is compared with the teacher's deterministic 15-step output on held-out LR inputs and noise
(another seed, never trained on): the mean squared error of the latents, and the PSNR between the two decoded
images. This shows the method's mechanics at a scale a CPU can run, not SinSR's image quality.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinsr_gui.atomic import atomic_path, atomic_write_text  # noqa: E402
from sinsr_gui.diffusion.latent import decode_latent, predict_x0  # noqa: E402
from sinsr_gui.diffusion.resshift_samplers import run_to_end  # noqa: E402
from sinsr_gui.training.common import describe_device  # noqa: E402
from sinsr_gui.training.distill.losses import teacher_trajectory  # noqa: E402
from sinsr_gui.training.distill.synthetic import write_synthetic_photos  # noqa: E402
from sinsr_gui.training.distill.trainer import (  # noqa: E402
    DistillConfig,
    Distributed,
    Trainer,
    load_images,
    make_batch,
)

CASE_A = ROOT / "tests" / "fixtures" / "case_a"
NAME = "distill_demo"
ABLATION = "distill_demo.distill_only"


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a - b).pow(2).mean().item()
    return 10 * math.log10(1 / mse) if mse > 0 else float("inf")


class HeldOut:
    """Held-out LR inputs and noise, and the teacher's deterministic 15-step output for them."""

    def __init__(self, trainer: Trainer, images, count: int) -> None:
        cfg = dataclasses.replace(trainer.cfg, seed=trainer.cfg.seed + 1)  # another stream than training's
        _, lr, noise = make_batch(images, cfg, -1, range(count), 3)
        self.trainer = trainer
        self.lq = (lr - 0.5) / 0.5
        teacher = trainer.models.teacher
        _, self.x_T, self.z_teacher = run_to_end(teacher_trajectory(teacher, self.lq, noise))
        self.image_teacher = self._decode(self.z_teacher)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        decoded, _, _ = decode_latent(z, self.trainer.models.teacher.autoencoder)
        return decoded.clamp(-1, 1) * 0.5 + 0.5

    @torch.no_grad()
    def measure(self) -> dict[str, float]:
        teacher = self.trainer.models.teacher
        student = self.trainer.student.eval()
        _, _, z = predict_x0(self.x_T, teacher.schedule.steps - 1, self.lq, unet=student, schedule=teacher.schedule)
        student.train()
        return {"latent_mse": (z - self.z_teacher).pow(2).mean().item(),
                "image_psnr_db": psnr(self._decode(z), self.image_teacher)}


def plot(curve: list[dict], path: Path) -> None:
    """Held-out latent MSE (log scale) against the step, drawn with Pillow."""
    w, h, m = 640, 400, 60
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    steps = [c["step"] for c in curve]
    ys = [math.log10(c["heldout"]["latent_mse"]) for c in curve]
    lo, hi = math.floor(min(ys)), math.ceil(max(ys))
    hi = hi if hi > lo else lo + 1

    def xy(step: int, y: float) -> tuple[float, float]:
        return (m + (w - 2 * m) * step / max(steps[-1], 1), h - m - (h - 2 * m) * (y - lo) / (hi - lo))

    d.rectangle([m, m, w - m, h - m], outline="black")
    for e in range(lo, hi + 1):
        y = xy(0, e)[1]
        d.line([m - 4, y, m, y], fill="black")
        d.text((5, y - 6), f"1e{e}", fill="black")
    for s in (0, steps[-1] // 2, steps[-1]):
        x = xy(s, lo)[0]
        d.text((x - 10, h - m + 6), str(s), fill="black")
    d.line([xy(s, y) for s, y in zip(steps, ys)], fill=(200, 30, 30), width=2)
    for s, y in zip(steps, ys):
        x, yy = xy(s, y)
        d.ellipse([x - 3, yy - 3, x + 3, yy + 3], fill=(200, 30, 30))
    d.text((m, 20), "one-step student vs the teacher's 15-step output, held-out inputs: latent MSE", fill="black")
    d.text((w // 2 - 40, h - 25), "training step", fill="black")
    with atomic_path(path) as tmp:
        im.save(tmp, format="PNG")


def write_report(out: Path, name: str) -> None:
    """``NAME.md`` and ``NAME.png`` from ``NAME.json`` (and the ablation's numbers when it exists)."""
    result = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
    curve, s = result["curve"], result["settings"]
    first, last = curve[0]["heldout"], curve[-1]["heldout"]
    ratio = first["latent_mse"] / last["latent_mse"]
    plot(curve, out / f"{name}.png")
    rows = "\n".join(f"| {c['step']} | {c['heldout']['latent_mse']:.4f} | {c['heldout']['image_psnr_db']:.2f} | "
                     f"{c['elapsed_s']:.0f} |" for c in curve)
    ablation = ""
    if name == NAME and (out / f"{ABLATION}.json").is_file():
        a = json.loads((out / f"{ABLATION}.json").read_text(encoding="utf-8"))
        ablation = (f"\n**Ablation** ([{ABLATION}.md]({ABLATION}.md)): the same run with the distillation term alone "
                    f"(inverse and consistency weights {a['settings']['inverse_weight']} and "
                    f"{a['settings']['consistency_weight']}): latent MSE {a['heldout_latent_mse_before']:.4f} -> "
                    f"{a['heldout_latent_mse_after']:.4f} ({a['error_reduction']:.1f}x lower) after "
                    f"{a['settings']['steps']} steps.\n")
    shortfall = ("" if ratio >= 5 else
                 f"\n**Short of the aim**: the issue asked for at least 5x lower; this run reached {ratio:.1f}x, and the "
                 "curve flattens over its last steps (see the table); longer runs, a larger batch or another learning rate were not tried "
                 "here (each step took 15-25 s on a CPU shared with other jobs).\n")
    md = f"""# SinSR distillation: a small CPU demonstration

`{result['command'].strip()}` ({result['device']}, torch {result['torch']}, {result['wall_time_s']:.0f} s on a
shared machine).

The teacher is the reduced **case A** ResShift-shaped model of the test fixtures (1.6 M parameters, **random
weights**); the student starts as its copy and is trained by the project's trainer with the official losses
(distillation, inverse mapping with weight {s['inverse_weight']}, consistency-preserving with weight
{s['consistency_weight']}), AdamW at lr {s['lr']} (the official 5e-5 is for hours on GPUs, not minutes on a CPU)
with a {s['warmup']}-step warm-up, batch {s['batch']} of 256² crops of synthetic photos with the second-order
degradations, fresh noise every step. The error is measured on {result['held_out_pairs']} held-out (LR, noise)
pairs from another seed: the student's **one** step against the teacher's deterministic **15-step** output.

| | before | after {s['steps']} steps |
|---|---|---|
| latent MSE, one step vs 15 steps | {first['latent_mse']:.4f} | {last['latent_mse']:.4f} (**{ratio:.1f}x lower**) |
| PSNR of the decoded images, one step vs 15 steps | {first['image_psnr_db']:.2f} dB | {last['image_psnr_db']:.2f} dB |

![held-out error curve]({name}.png)

| step | held-out latent MSE | held-out PSNR vs teacher (dB) | elapsed (s) |
|---|---|---|---|
{rows}
{ablation}{shortfall}
**What this shows**: the method's mechanics work end to end: the trainer's losses, gradients and optimizer move a
one-step student towards the teacher's deterministic 15-step mapping on inputs it never saw. **What it does not
show**: anything about SinSR's image quality. The teacher has random weights (its "images" are not photographs),
the models are reduced, the run is minutes long at a demonstration learning rate, and the error is measured
against the teacher, not against ground truth. Raw numbers: [{name}.json]({name}.json).
"""
    atomic_write_text(out / f"{name}.md", md)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--lr", type=float, default=1e-3, help="higher than the official 5e-5: minutes, not hours")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--held-out", type=int, default=4, help="held-out (LR, noise) pairs")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--inverse-weight", type=float, default=1.0)
    p.add_argument("--consistency-weight", type=float, default=1.0)
    p.add_argument("--name", default=NAME, help=f"file names in --out-dir (default {NAME}; an ablation: "
                   f"{ABLATION}, which the main report then mentions)")
    p.add_argument("--report-only", action="store_true", help="rewrite the .md and .png from the .json files")
    p.add_argument("--out-dir", default=str(ROOT / "docs"))
    args = p.parse_args(argv)
    out = Path(args.out_dir)
    if args.report_only:
        write_report(out, args.name)
        return 0
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_photos(Path(tmp) / "photos", count=8, size=384)
        cfg = DistillConfig(data=[str(Path(tmp) / "photos")], out=str(Path(tmp) / "run"),
                            teacher=str(CASE_A / "unet_ckpt.pth"), autoencoder=str(CASE_A / "autoencoder_ckpt.pth"),
                            model_config=str(CASE_A / "config.json"), steps=args.steps, batch=args.batch,
                            micro_batch=args.batch, hr_size=256, lr=args.lr, warmup=args.warmup, device="cpu",
                            threads=args.threads, preview_every=0, inverse_weight=args.inverse_weight,
                            consistency_weight=args.consistency_weight)
        torch.manual_seed(cfg.seed)
        trainer = Trainer(cfg, Distributed(), quiet=True)
        images = load_images(sorted((Path(tmp) / "photos").iterdir()), cfg.hr_size)
        t0 = time.perf_counter()
        held = HeldOut(trainer, images, args.held_out)
        curve = [{"step": 0, "heldout": held.measure(), "elapsed_s": round(time.perf_counter() - t0, 1)}]
        print(json.dumps(curve[-1]), flush=True)
        train_log = []
        while trainer.step < cfg.steps:
            train_log.append({"step": trainer.step + 1, **{k: round(v, 5) for k, v in trainer.train_step(images).items()}})
            if trainer.step % args.eval_every == 0 or trainer.step == cfg.steps:
                curve.append({"step": trainer.step, "heldout": held.measure(),
                              "elapsed_s": round(time.perf_counter() - t0, 1)})
                print(json.dumps(curve[-1]), flush=True)
    first, last = curve[0]["heldout"], curve[-1]["heldout"]
    ratio = first["latent_mse"] / last["latent_mse"]
    result = {
        "what": "SinSR distillation on the case A models (random-weight teacher), CPU; one-step student vs the "
                "teacher's deterministic 15-step output on held-out LR inputs and noise",
        "command": "python scripts/distill_demo.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "device": describe_device(), "torch": torch.__version__,
        "settings": {k: getattr(cfg, k) for k in ("steps", "batch", "hr_size", "lr", "warmup", "ema",
                                                  "inverse_weight", "consistency_weight", "degradation", "seed")},
        "held_out_pairs": args.held_out,
        "heldout_latent_mse_before": first["latent_mse"], "heldout_latent_mse_after": last["latent_mse"],
        "error_reduction": round(ratio, 2),
        "heldout_image_psnr_db_before": round(first["image_psnr_db"], 2),
        "heldout_image_psnr_db_after": round(last["image_psnr_db"], 2),
        "wall_time_s": curve[-1]["elapsed_s"],
        "curve": curve, "train_log": train_log,
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{args.name}.json", json.dumps(result, indent=2) + "\n")
    write_report(out, args.name)
    print(f"error {first['latent_mse']:.4f} -> {last['latent_mse']:.4f} ({ratio:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
