"""A short CPU demonstration of SinSR's distillation on the reduced case A models.

    python scripts/distill_demo.py                 # writes docs/distill_demo.json, .md and .png

The teacher is the case A ResShift-shaped model of the test fixtures (seeded random weights, 1.6 M parameters);
the student starts as its copy and is trained by the real trainer (:class:`Trainer`, the official losses, AdamW,
real-world degradations of synthetic photos, fresh noise each step). Before training and every few steps, the
student's ONE step is compared with the teacher's deterministic 15-step output on held-out LR inputs and noise
(another seed, never trained on): the mean squared error of the latents, and the PSNR between the two decoded
images; both for the trained weights and for their EMA (what the trainer saves). A few measurements of the teacher
itself say how far a one-step student can get from it at all: the part of its output that depends on the noise,
and how steeply it does. This shows the method's mechanics at a scale a CPU can run, not SinSR's image quality.
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
# Settings tried before the run in docs/ (flags of this script, the step reached, the trained weights' held-out
# latent MSE there): hand-copied from those runs' output, quoted in the report's shortfall section.
EXPLORATION = (
    ("`--lr 1e-3` (the earlier demonstration's rate)", 75, 0.3936),
    ("`--lr 1.5e-4`", 75, 0.3842),
    ("`--lr 1e-3 --inverse-weight 0 --consistency-weight 0`", 150, 0.2825),
    ("`--lr 3e-3 --inverse-weight 0 --consistency-weight 0`", 50, 0.3692),
)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a - b).pow(2).mean().item()
    return 10 * math.log10(1 / mse) if mse > 0 else float("inf")


class HeldOut:
    """Held-out LR inputs and noise, and the teacher's deterministic 15-step output for them."""

    def __init__(self, trainer: Trainer, images, count: int) -> None:
        cfg = dataclasses.replace(trainer.cfg, seed=trainer.cfg.seed + 1)  # another stream than training's
        _, lr, noise = make_batch(images, cfg, -1, range(count), 3)
        self.trainer = trainer
        self.noise = noise
        self.lq = (lr - 0.5) / 0.5
        teacher = trainer.models.teacher
        _, self.x_T, self.z_teacher = run_to_end(teacher_trajectory(teacher, self.lq, noise))
        self.image_teacher = self._decode(self.z_teacher)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        decoded, _, _ = decode_latent(z, self.trainer.models.teacher.autoencoder)
        return decoded.clamp(-1, 1) * 0.5 + 0.5

    @torch.no_grad()
    def one_step(self, net: torch.nn.Module, x_T: torch.Tensor | None = None) -> torch.Tensor:
        teacher = self.trainer.models.teacher
        was_training = net.training
        net.eval()
        _, _, z = predict_x0(self.x_T if x_T is None else x_T, teacher.schedule.steps - 1, self.lq, unet=net,
                             schedule=teacher.schedule)
        net.train(was_training)
        return z

    def measure(self, net: torch.nn.Module) -> dict[str, float]:
        z = self.one_step(net)
        return {"latent_mse": (z - self.z_teacher).pow(2).mean().item(),
                "image_psnr_db": psnr(self._decode(z), self.image_teacher)}

    def sensitivity(self, net: torch.nn.Module, eps: float = 1e-2) -> float:
        """How much the student's one step moves when the noise moves: RMS change / RMS change of the noise."""
        z = self.one_step(net, self.x_T + eps * self.scale * self.direction)
        return ((z - self.one_step(net)).pow(2).mean().sqrt() / eps).item()

    def teacher_facts(self, extra_noises: int, eps: float = 1e-2) -> dict[str, float]:
        """What limits any one-step student of this teacher, on the held-out inputs.

        * ``output_variance``: the variance of the teacher's 15-step latents (the error of a constant guess);
        * ``noise_blind_floor``: the mean variance of that output over the noise, for each held-out LR input
          (from ``extra_noises`` more noises each): the lowest error a student that ignored the noise could reach;
        * ``sensitivity``: how far the 15-step output moves per unit of movement of the noise (RMS ratio, a random
          direction, step ``eps``); :meth:`sensitivity` gives the same for a one-step student;
        * ``inverse_no_information``: the inverse term's value for a student that learned nothing of the noise
          (``x_T``'s mean is the LR latent; its variance around it is kappa²·eta_T).
        """
        teacher = self.trainer.models.teacher
        n, gen = self.lq.shape[0], torch.Generator().manual_seed(2024)
        noises = torch.randn((extra_noises * n, *self.x_T.shape[1:]), generator=gen)
        _, _, z_more = run_to_end(teacher_trajectory(teacher, self.lq.repeat(extra_noises, 1, 1, 1), noises))
        outputs = torch.cat([self.z_teacher[None], z_more.view(extra_noises, *self.z_teacher.shape)])
        self.scale = teacher.schedule.prior_noise_scale(teacher.schedule.steps - 1)
        self.direction = torch.randn(self.x_T.shape, generator=gen)
        _, _, z_moved = run_to_end(teacher_trajectory(teacher, self.lq, self.noise + eps * self.direction))
        return {"output_variance": self.z_teacher.var().item(),
                "noise_blind_floor": outputs.var(dim=0).mean().item(),
                "noise_samples_per_input": extra_noises + 1,
                "sensitivity": ((z_moved - self.z_teacher).pow(2).mean().sqrt() / eps).item(),
                "inverse_no_information": float(self.scale) ** 2}


def plot(result: dict, path: Path) -> None:
    """Held-out latent MSE (log scale) against the step, drawn with Pillow: the trained weights, their EMA, and
    two levels: the 5x aim and the error of a student that ignores the noise."""
    curve, facts = result["curve"], result["teacher"]
    w, h, m = 720, 420, 60
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    steps = [c["step"] for c in curve]
    lines = {"trained weights": ([c["heldout"]["latent_mse"] for c in curve], (200, 30, 30)),
             f"EMA {result['settings']['ema']} (saved)": ([c["heldout_ema"]["latent_mse"] for c in curve],
                                                          (30, 90, 200))}
    levels = {"5x aim": (curve[0]["heldout"]["latent_mse"] / 5, (0, 140, 0)),
              "noise-blind floor": (facts["noise_blind_floor"], (150, 150, 150))}
    values = [v for ys, _ in lines.values() for v in ys] + [v for v, _ in levels.values()]
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    hi = hi if hi > lo else lo + 1

    def xy(step: float, value: float) -> tuple[float, float]:
        return (m + (w - 2 * m) * step / max(steps[-1], 1),
                h - m - (h - 2 * m) * (math.log10(value) - lo) / (hi - lo))

    d.rectangle([m, m, w - m, h - m], outline="black")
    for e in range(lo, hi + 1):
        for k in range(1, 10 if e < hi else 2):
            y = xy(0, k * 10.0**e)[1]
            d.line([m - (6 if k == 1 else 3), y, m, y], fill="black")
            if k in (1, 2, 5):
                d.text((8, y - 6), f"{k * 10.0**e:g}", fill="black")
    for st in (0, steps[-1] // 2, steps[-1]):
        d.text((xy(st, 10.0**lo)[0] - 10, h - m + 6), str(st), fill="black")
    for label, (value, colour) in levels.items():
        y = xy(0, value)[1]
        for x0 in range(m, w - m, 12):
            d.line([x0, y, min(x0 + 6, w - m), y], fill=colour, width=1)
        d.text((w - m - 120, y - 14), label, fill=colour)
    for n, (label, (ys, colour)) in enumerate(lines.items()):
        d.line([xy(st, y) for st, y in zip(steps, ys)], fill=colour, width=2)
        for st, y in zip(steps, ys):
            x, yy = xy(st, y)
            d.ellipse([x - 3, yy - 3, x + 3, yy + 3], fill=colour)
        d.text((m + 10, m + 8 + 14 * n), label, fill=colour)
    d.text((m, 20), "one-step student vs the teacher's 15-step output, held-out inputs: latent MSE", fill="black")
    d.text((w // 2 - 40, h - 25), "training step", fill="black")
    with atomic_path(path) as tmp:
        im.save(tmp, format="PNG")


def _mean_of_last(log: list[dict], key: str, count: int = 20) -> float:
    values = [entry[key] for entry in log[-count:]]
    return sum(values) / len(values)


def write_report(out: Path, name: str) -> None:
    """``NAME.md`` and ``NAME.png`` from ``NAME.json`` (and the ablation's numbers when it exists)."""
    result = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
    curve, s, facts = result["curve"], result["settings"], result["teacher"]
    first, last, last_ema = curve[0]["heldout"], curve[-1]["heldout"], curve[-1]["heldout_ema"]
    ratio, ratio_ema = first["latent_mse"] / last["latent_mse"], first["latent_mse"] / last_ema["latent_mse"]
    best = min(curve, key=lambda c: c["heldout"]["latent_mse"])
    plot(result, out / f"{name}.png")
    rows = "\n".join(f"| {c['step']} | {c['heldout']['latent_mse']:.4f} | {c['heldout_ema']['latent_mse']:.4f} | "
                     f"{c['heldout']['image_psnr_db']:.2f} | {c['elapsed_s']:.0f} |" for c in curve)
    log = result["train_log"]
    ablation = ""
    if name == NAME and (out / f"{ABLATION}.json").is_file():
        a = json.loads((out / f"{ABLATION}.json").read_text(encoding="utf-8"))
        ablation = (f"\n**Ablation** ([{ABLATION}.md]({ABLATION}.md)): the same run with the distillation term alone "
                    f"(inverse and consistency weights {a['settings']['inverse_weight']} and "
                    f"{a['settings']['consistency_weight']}, everything else equal): latent MSE "
                    f"{a['heldout_latent_mse_before']:.4f} -> {a['heldout_latent_mse_after']:.4f} "
                    f"({a['error_reduction']:.2f}x lower) after {a['settings']['steps']} steps.\n")
    floor_ratio = first["latent_mse"] / facts["noise_blind_floor"]
    student_sens = result["student_sensitivity"]
    noise_share = 100 * facts["noise_blind_floor"] / facts["output_variance"]
    following = (": so far the student has learned to average over the noise (what a mean squared error favours "
                 "while the steep part is out of reach), not to follow it"
                 if student_sens["after"] < student_sens["before"] else "")
    inverse = "" if s["inverse_weight"] == 0 else f"""* **The inverse term cannot be learned from this teacher, and it dominates the loss.** Over the last 20 steps it
  averaged {_mean_of_last(log, 'inverse'):.2f}, against {facts['inverse_no_information']:.2f} for a student that
  knew nothing of the noise (the distillation term: {_mean_of_last(log, 'distill'):.3f}). Its gradients share
  Adam's normalised step with the distillation term's, the likely reason why the official weights learn more
  slowly than the distillation term alone (ablation).
"""
    tried = "\n".join(f"| {flags} | {step} | {mse:.3f} ({first['latent_mse'] / mse:.2f}x) |"
                       for flags, step, mse in EXPLORATION)
    if ratio >= 5:
        verdict = f"\nThe aim of the issue, at least 5x lower, is **met** ({ratio:.2f}x).\n"
    else:
        verdict = f"""
**Short of the 5x aim** ({ratio:.2f}x, {ratio_ema:.2f}x for the EMA). What stands in the way is the teacher, not
the trainer (measured by this script on the same held-out inputs, table below):

* **{noise_share:.0f} % of the teacher's output varies with the noise, and steeply.** Its 15-step latents have a
  variance of {facts['output_variance']:.3f}; over {facts['noise_samples_per_input']} noises per LR input they still
  vary by {facts['noise_blind_floor']:.3f}. A student that ignored the noise could get no lower than that
  ({floor_ratio:.2f}x below the start); 5x ({first['latent_mse'] / 5:.3f}) needs most of the noise-dependent part.
  And that part is steep: moving the noise moves the teacher's output {facts['sensitivity']:.1f} times as far (RMS),
  while the student's one step moves {student_sens['before']:.2f} times as far before training and
  {student_sens['after']:.2f} after{following}. The teacher's weights are random, so its 15 passes each predict an unrelated
  "clean" latent and the sampler composes 15 random networks; SinSR's premise is a trained teacher whose passes
  agree on one image, which is what lets one pass imitate them. A function that much rougher than the network's
  own is not learned in {s['steps']} steps of batch {s['batch']}.
{inverse}
Other settings tried before this run (separate runs on the same held-out pairs and the same shared machine,
reproducible with this script's flags; the trained weights' error at the last step each reached):

| flags | step | held-out latent MSE |
|---|---|---|
{tried}

With the official weights 3e-4 (the main run) beats both 1e-3 and 1.5e-4; the distillation term alone learns fastest
(at 3e-4 in the ablation, 1e-3 and 3e-3 tried too) but flattens near 2x; an EMA of the trained weights changed the
error by a few per cent at most. Within a 10-minute CPU budget none came near 5x.
"""
    md = f"""# SinSR distillation: a small CPU demonstration

`{result['command'].strip()}` ({result['device']}, torch {result['torch']}; {result['wall_time_s']:.0f} s of
training and measuring, {result['total_wall_time_s']:.0f} s in all with the teacher measurements, on a shared
machine).

The teacher is the reduced **case A** ResShift-shaped model of the test fixtures (1.6 M parameters, **random
weights**); the student starts as its copy and is trained by the project's trainer with the official losses
(distillation, inverse mapping with weight {s['inverse_weight']}, consistency-preserving with weight
{s['consistency_weight']}). The optimiser settings are the demonstration's own, not the full-size recipe's (lr 5e-5,
5000 warm-up steps, batch 64, EMA 0.999, meant for hours on GPUs): AdamW at lr {s['lr']} after a {s['warmup']}-step
linear warm-up, no decay, batch {s['batch']} of 256² crops of synthetic photos with the second-order degradations,
fresh noise every step, EMA {s['ema']} (0.999 averages over about 1000 steps, longer than this run: its weights
would still be mostly the teacher's). The error is measured on {result['held_out_pairs']} held-out (LR, noise)
pairs from another seed: the student's **one** step against the teacher's deterministic **15-step** output, for
the trained weights and for their EMA (the file the trainer saves).

| | before | after {s['steps']} steps |
|---|---|---|
| latent MSE, one step vs 15 steps (trained weights) | {first['latent_mse']:.4f} | {last['latent_mse']:.4f} (**{ratio:.2f}x lower**) |
| latent MSE, one step vs 15 steps (EMA, saved) | {first['latent_mse']:.4f} | {last_ema['latent_mse']:.4f} ({ratio_ema:.2f}x lower) |
| PSNR of the decoded images, one step vs 15 steps | {first['image_psnr_db']:.2f} dB | {last['image_psnr_db']:.2f} dB |

Lowest point of the curve: {best['heldout']['latent_mse']:.4f} at step {best['step']}.

![held-out error curve]({name}.png)

| step | held-out latent MSE | EMA | held-out PSNR vs teacher (dB) | elapsed (s) |
|---|---|---|---|---|
{rows}
{ablation}{verdict}
| the teacher, on the held-out inputs | |
|---|---|
| variance of its 15-step latents (error of a constant guess) | {facts['output_variance']:.4f} |
| their variance over the noise alone (a noise-blind student's floor) | {facts['noise_blind_floor']:.4f} |
| 15-step output's movement per unit of noise movement (RMS) | {facts['sensitivity']:.2f} |
| the student's one step, same measure, before / after training | {student_sens['before']:.2f} / {student_sens['after']:.2f} |
| inverse term of a student that knows nothing of the noise (kappa²·eta_T) | {facts['inverse_no_information']:.3f} |

**What this shows**: the method's mechanics work end to end: the trainer's losses, gradients and optimizer move a
one-step student towards the teacher's deterministic 15-step mapping on inputs it never saw. **What it does not
show**: anything about SinSR's image quality. The teacher has random weights (its "images" are not photographs),
the models are reduced, the run is minutes long at demonstration settings, and the error is measured against the
teacher, not against ground truth. Raw numbers: [{name}.json]({name}.json).
"""
    atomic_write_text(out / f"{name}.md", md)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--lr", type=float, default=3e-4, help="higher than the official 5e-5: minutes, not hours")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--ema", type=float, default=0.95, help="EMA decay (the official 0.999 spans ~1000 steps)")
    p.add_argument("--eval-every", type=int, default=15)
    p.add_argument("--held-out", type=int, default=4, help="held-out (LR, noise) pairs")
    p.add_argument("--extra-noises", type=int, default=4, help="more noises per held-out input (teacher facts)")
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
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_photos(Path(tmp) / "photos", count=8, size=384)
        cfg = DistillConfig(data=[str(Path(tmp) / "photos")], out=str(Path(tmp) / "run"),
                            teacher=str(CASE_A / "unet_ckpt.pth"), autoencoder=str(CASE_A / "autoencoder_ckpt.pth"),
                            model_config=str(CASE_A / "config.json"), steps=args.steps, batch=args.batch,
                            micro_batch=args.batch, hr_size=256, lr=args.lr, warmup=args.warmup, ema=args.ema,
                            device="cpu", threads=args.threads, preview_every=0,
                            inverse_weight=args.inverse_weight, consistency_weight=args.consistency_weight)
        torch.manual_seed(cfg.seed)
        trainer = Trainer(cfg, Distributed(), quiet=True)
        images = load_images(sorted((Path(tmp) / "photos").iterdir()), cfg.hr_size)
        held = HeldOut(trainer, images, args.held_out)
        facts = held.teacher_facts(args.extra_noises)
        sensitivity = {"before": held.sensitivity(trainer.student)}
        print(json.dumps({"teacher": facts}), flush=True)

        def point() -> dict:
            return {"step": trainer.step, "heldout": held.measure(trainer.student),
                    "heldout_ema": held.measure(trainer.ema), "elapsed_s": round(time.perf_counter() - t0, 1)}

        t0 = time.perf_counter()
        curve = [point()]
        print(json.dumps(curve[-1]), flush=True)
        train_log = []
        while trainer.step < cfg.steps:
            train_log.append({"step": trainer.step + 1, **{k: round(v, 5) for k, v in trainer.train_step(images).items()}})
            if trainer.step % args.eval_every == 0 or trainer.step == cfg.steps:
                curve.append(point())
                print(json.dumps(curve[-1]), flush=True)
        sensitivity["after"] = held.sensitivity(trainer.student)
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
        "heldout_latent_mse_after_ema": curve[-1]["heldout_ema"]["latent_mse"],
        "error_reduction": round(ratio, 3),
        "heldout_image_psnr_db_before": round(first["image_psnr_db"], 2),
        "heldout_image_psnr_db_after": round(last["image_psnr_db"], 2),
        "wall_time_s": curve[-1]["elapsed_s"], "total_wall_time_s": round(time.perf_counter() - start, 1),
        "teacher": facts, "student_sensitivity": sensitivity,
        "curve": curve, "train_log": train_log,
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{args.name}.json", json.dumps(result, indent=2) + "\n")
    write_report(out, args.name)
    print(f"error {first['latent_mse']:.4f} -> {last['latent_mse']:.4f} ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
