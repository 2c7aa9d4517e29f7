"""Train the built-in "Photo" model (v3) by distilling Real-ESRGAN x4plus into the compact network.

    python -m sinsr_gui.training.photo_distill --data T91_DIR BSD200_DIR --out runs/photo_v3
    python -m sinsr_gui.training.photo_distill ... --resume                      # continue after a stop
    python -m sinsr_gui.training.photo_distill --export-from runs/photo_v3/NAME --out resources/models

Why a teacher: no pixel loss can invent texture, and no pretrained perceptual network can be downloaded here.
Real-ESRGAN x4plus (BSD-3-Clause; the app's built-in Most detail file is the default ``--teacher``) gives crisp,
deblocked outputs; the student learns them. Three things the plain route got wrong (docs/photo_v3.md):

* **colour**: the teacher darkens photos by 2-6 levels. The target is the teacher's output with its low
  frequencies replaced by the ground truth's (:func:`colour_anchored`): the teacher's texture, the photo's colours;
* **texture**: L1 alone learns the teacher's average. A perceptual L1 in the teacher's own early feature space
  (:meth:`~sinsr_gui.training.teacher.Teacher.features`) and, optionally, a GAN whose real samples are the targets;
* **blocks and dot grids**: the block-grid gradient loss and the 4-px cell-pattern loss stay on.

Several students ("variants", each with its own loss weights) can train side by side on the same batches and
teacher outputs, which makes an ablation cost one teacher pass per batch. Inputs: random 4p x 4p crops of the HR
folders, degraded by the SinSR second-order scheme or a web-photo JPEG down to quality 10 (``DegradationMix``).
Each sample is drawn from its own seed (run seed, sample index), so the data do not depend on the number of
loader processes and ``--resume`` continues the same stream. On a GPU: teacher in fp16, students in bf16
autocast; on a CPU: teacher fp32 channels_last, students bf16 autocast. Files in ``--out``: ``checkpoint.pt``
(every student, EMA, optimiser, discriminator, step), ``log.jsonl``, and per variant ``NAME/photo_x4.safetensors``
(the EMA student) with ``NAME/config.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sinsr_gui.nn.compact import CompactConfig, CompactSRNet, count_parameters
from sinsr_gui.training import losses
from sinsr_gui.training.common import (
    atomic_save,
    available_threads,
    describe_device,
    list_images,
    load_images,
    random_patch,
    save_weights,
    to_tensor,
    update_ema,
)
from sinsr_gui.training.degradations import DegradationMix, WebPhotoDegradation
from sinsr_gui.training.discriminator import UNetDiscriminatorSN
from sinsr_gui.training.export import architecture_entry, file_entry, reexport_weights, write_card
from sinsr_gui.training.teacher import DEFAULT_TEACHER, TEACHER_LICENCE, Teacher

WEIGHTS_NAME = "photo_x4.safetensors"
CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
CONFIG_NAME = "config.json"


@dataclass(frozen=True)
class StudentLosses:
    """Loss weights of one student; 0 switches a term off (no discriminator when ``adversarial`` is 0)."""

    pixel: float = 1.0  # L1 to the colour-anchored teacher output
    perceptual: float = 0.0  # L1 in the teacher's feature space, each map over the target's mean magnitude
    adversarial: float = 0.0  # GAN, real samples = the colour-anchored teacher outputs
    block_gradient: float = 1.0  # image-gradient L1 across the 32-px grid (the input's JPEG blocks)
    cell_pattern: float = 1.0  # L1 of the pattern repeated in every 4x4 output cell (a GAN's dot grid)


DEFAULT_VARIANTS = {
    "l1": StudentLosses(),
    "l1_perceptual": StudentLosses(perceptual=0.5),
    "l1_perceptual_gan": StudentLosses(perceptual=0.5, adversarial=0.03),
    "l1_gan": StudentLosses(adversarial=0.05),
}


@dataclass
class DistillConfig:
    """Everything that determines a run; saved in the checkpoint and each variant's ``config.json``."""

    data: list[str]
    out: str
    teacher: str
    variants: dict[str, StudentLosses] = field(default_factory=lambda: dict(DEFAULT_VARIANTS))
    steps: int = 4000
    batch: int = 16
    lr_patch: int = 48  # LR side; the HR crop is 4x (a multiple of 8 for the discriminator)
    lr: float = 2e-4
    lr_d: float = 1e-4
    warmup: int = 200
    d_warmup: int = 100  # discriminator-only steps before a student sees the adversarial loss
    ema: float = 0.999
    seed: int = 0
    num_conv: int = 32  # the student: CompactSRNet, 64 features (general-x4v3's size at 32)
    init: str = ""  # a CompactSRNet .safetensors to start from (deepened with identity layers), or random
    anchor_sigma: float = 4.0  # HR px: below this scale the target keeps the ground truth's colours
    checkpoint_every: int = 250
    log_every: int = 25
    real_world_prob: float = 0.4
    web_photo_prob: float = 0.6
    jpeg_min: int = 10  # web-photo JPEG quality range starts here (RealSet65's worst photos are this heavy)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DistillConfig:
        data = dict(data)
        variants = {k: StudentLosses(**v) for k, v in data.pop("variants").items()}
        return cls(variants=variants, **data)

    def mix(self) -> DegradationMix:
        return DegradationMix(real_world_prob=self.real_world_prob, web_photo_prob=self.web_photo_prob,
                              web_photo=WebPhotoDegradation(jpeg_range=(self.jpeg_min, 95)))


class TrainingPairs(torch.utils.data.Dataset):
    """Sample ``i``: ``(lr (3, p, p), hr (3, 4p, 4p))`` RGB [0, 1], drawn from its own seed (run seed, i)."""

    def __init__(self, images: list[np.ndarray], cfg: DistillConfig) -> None:
        self.images, self.patch, self.seed, self.mix = images, cfg.lr_patch, cfg.seed, cfg.mix()

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        hr = to_tensor(random_patch(self.images, self.patch * 4, gen))[None]  # (1, 3, 4p, 4p)
        return self.mix.degrade(hr, gen)[0], hr[0]


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)`` with reflected borders (radius 3 sigma)."""
    r = max(1, int(math.ceil(3 * sigma)))
    r = min(r, img.shape[-1] - 1, img.shape[-2] - 1)
    x = torch.arange(-r, r + 1, device=img.device, dtype=torch.float32)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = (g / g.sum()).to(img.dtype)
    c = img.shape[1]
    out = F.conv2d(F.pad(img, (r, r, 0, 0), mode="reflect"), g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(out, (0, 0, r, r), mode="reflect"), g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def colour_anchored(teacher_out: torch.Tensor, hr: torch.Tensor, sigma: float) -> torch.Tensor:
    """The teacher's output with its low frequencies (Gaussian ``sigma`` HR px) replaced by the ground truth's.

    ``(N, 3, H, W)`` [0, 1] both -> the same, clamped. The teacher's detail and deblocking stay; its global
    darkening (2-6 levels) and colour casts go, so the student cannot learn them.
    """
    return (teacher_out + gaussian_blur(hr, sigma) - gaussian_blur(teacher_out, sigma)).clamp(0, 1)


def feature_l1(teacher: Teacher, pred: torch.Tensor, target_feats: list[torch.Tensor]) -> torch.Tensor:
    """Perceptual L1: each teacher feature map's mean absolute error over the target map's mean magnitude."""
    terms = [(p - t).abs().mean() / t.abs().mean().clamp_min(1e-6)
             for p, t in zip(teacher.features(pred), target_feats)]
    return torch.stack(terms).mean()


def deepen(model: CompactSRNet, num_conv: int) -> CompactSRNet:
    """A deeper CompactSRNet that computes exactly what ``model`` does: extra convs are identities (Dirac
    kernels, zero bias) followed by PReLUs of slope 1, inserted before the tail. Training then uses them."""
    cfg = model.config
    if num_conv < cfg.num_conv:
        raise ValueError(f"cannot deepen a {cfg.num_conv}-conv model to {num_conv} convs")
    deep = CompactSRNet(num_feat=cfg.num_feat, num_conv=num_conv, upscale=cfg.upscale)
    layers = list(model.body) + []
    for _ in range(num_conv - cfg.num_conv):
        conv = nn.Conv2d(cfg.num_feat, cfg.num_feat, 3, padding=1)
        nn.init.dirac_(conv.weight)
        nn.init.zeros_(conv.bias)
        act = nn.PReLU(cfg.num_feat)
        nn.init.ones_(act.weight)
        layers += [conv, act]
    deep.body = nn.Sequential(*copy.deepcopy(layers))
    deep.tail = copy.deepcopy(model.tail)
    return deep


class Student:
    """One variant: its network, EMA copy, optimiser and (with a GAN) discriminator."""

    def __init__(self, name: str, weights: StudentLosses, start: CompactSRNet, cfg: DistillConfig,
                 device: torch.device) -> None:
        self.name, self.weights = name, weights
        self.model = copy.deepcopy(start).to(device).to(memory_format=torch.channels_last).train()
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        self.disc = self.opt_d = None
        if weights.adversarial > 0:
            torch.manual_seed(cfg.seed + zlib.crc32(name.encode()))  # the same critic whatever the other variants
            self.disc = UNetDiscriminatorSN(num_feat=64).to(device).to(memory_format=torch.channels_last)
            self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.lr_d, betas=(0.9, 0.99))

    def state_dict(self) -> dict:
        state = {"model": self.model.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict()}
        if self.disc is not None:
            state |= {"disc": self.disc.state_dict(), "opt_d": self.opt_d.state_dict()}
        return state

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        if self.disc is not None:
            self.disc.load_state_dict(state["disc"])
            self.opt_d.load_state_dict(state["opt_d"])


def previous_phases(init: str) -> list[dict]:
    """The training phases behind ``init`` when it is another distillation run's output (its ``config.json``
    beside it): earlier phases first, so an exported card tells the whole history."""
    config = Path(init).parent / CONFIG_NAME if init else None
    if config is None or not config.is_file():
        return []
    meta = json.loads(config.read_text(encoding="utf-8"))
    if "variant" not in meta:
        return []
    prev = DistillConfig.from_dict(meta["train"])
    return meta.get("phases", []) + [{
        "variant": meta["variant"], "losses": meta["losses"], "steps": meta["step"], "batch": prev.batch,
        "lr_patch": prev.lr_patch, "lr": prev.lr, "ema": prev.ema, "initialised_from": prev.init or "random",
        "device": meta["device"], "wall_time_s": meta["wall_time_s"],
        "command": training_command(replace(prev, steps=meta["step"]), meta["variant"])}]


def training_command(cfg: DistillConfig, variant: str) -> str:
    """The command that trains ``variant`` of ``cfg`` alone (the same batches: data do not depend on variants)."""
    w = asdict(cfg.variants[variant])
    spec = variant + ":" + ",".join(f"{k}={v:g}" for k, v in w.items())
    parts = ["python -m sinsr_gui.training.photo_distill", "--data", *cfg.data, "--out", "RUN",
             "--variant", spec]
    defaults = DistillConfig(data=[], out="", teacher="")
    for name in ("steps", "batch", "lr_patch", "lr", "warmup", "d_warmup", "ema", "seed", "num_conv",
                 "anchor_sigma", "jpeg_min"):
        if getattr(cfg, name) != getattr(defaults, name):
            parts += ["--" + name.replace("_", "-"), f"{getattr(cfg, name):g}"]
    if cfg.init:
        parts += ["--init", cfg.init]
    return " ".join(parts)


def learning_rate(step: int, cfg: DistillConfig) -> float:
    """Linear warm-up to ``cfg.lr``, then flat (the exported EMA averages the step-to-step noise)."""
    return cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup))


def initial_student(cfg: DistillConfig) -> CompactSRNet:
    if not cfg.init:
        return CompactSRNet(num_feat=64, num_conv=cfg.num_conv)
    from sinsr_gui.training.photo import load_initial_generator

    return deepen(load_initial_generator(cfg.init), cfg.num_conv)


def train_step(students: list[Student], teacher: Teacher, lr_img: torch.Tensor, hr: torch.Tensor,
               cfg: DistillConfig, step: int, device: torch.device) -> dict[str, float]:
    """One step of every student on the same batch; returns the loss terms as ``"NAME/term": value``."""
    cuda = device.type == "cuda"
    teacher_cast = torch.autocast(device.type, dtype=torch.float16 if cuda else torch.bfloat16, enabled=cuda)
    student_cast = torch.autocast(device.type, dtype=torch.bfloat16)
    with teacher_cast:
        target = colour_anchored(teacher(lr_img), hr, cfg.anchor_sigma)  # (B, 3, 4p, 4p) fp32
    need_feats = any(s.weights.perceptual > 0 for s in students)
    with torch.no_grad(), student_cast:
        target_feats = [f.detach() for f in teacher.features(target)] if need_feats else []
    lr_now = learning_rate(step, cfg)
    log: dict[str, float] = {}
    for s in students:
        w = s.weights
        for group in s.opt.param_groups:
            group["lr"] = lr_now
        with student_cast:
            pred = s.model(lr_img)
        pred = pred.float()  # losses in fp32: bf16 cannot resolve one 8-bit level
        terms = {"pixel": losses.pixel_l1(pred, target)}
        if w.block_gradient > 0:
            terms["block_gradient"] = losses.grid_gradient_l1(pred, target, grid=4 * 8)
        if w.cell_pattern > 0:
            terms["cell_pattern"] = losses.cell_pattern_l1(pred, target, cell=4)
        if w.perceptual > 0:
            with student_cast:
                terms["perceptual"] = feature_l1(teacher, pred, target_feats).float()
        gan_on = s.disc is not None and step >= cfg.d_warmup
        if gan_on:
            s.disc.requires_grad_(False)
            with student_cast:
                terms["adversarial"] = losses.gan_generator_loss(s.disc(pred.clamp(0, 1)).float())
            s.disc.requires_grad_(True)
        loss = sum(getattr(w, k) * v for k, v in terms.items())
        s.opt.zero_grad(set_to_none=True)
        loss.backward()
        s.opt.step()
        update_ema(s.ema, s.model, cfg.ema)
        if s.disc is not None:
            with student_cast:
                d_loss = losses.gan_discriminator_loss(s.disc(target).float(), s.disc(pred.detach().clamp(0, 1)).float())
            s.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            s.opt_d.step()
            terms["disc"] = d_loss
        log |= {f"{s.name}/{k}": float(v.detach()) for k, v in terms.items()}
    return log


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train(cfg: DistillConfig, *, resume: bool = False, device_name: str = "auto", workers: int = 0,
          max_minutes: float | None = None, threads: int | None = None, quiet: bool = False) -> Path:
    """Run (or continue) training until ``cfg.steps`` or ``max_minutes``; returns the output folder."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(device_name)
    if device.type == "cpu":
        torch.set_num_threads(threads or available_threads())
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    teacher = Teacher.load(Path(cfg.teacher)).to(device)
    teacher.network.to(memory_format=torch.channels_last)
    start = initial_student(cfg)
    students = [Student(name, w, start, cfg, device) for name, w in cfg.variants.items()]
    ckpt_path = out / CHECKPOINT_NAME
    step, elapsed_before = 0, 0.0
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        saved = DistillConfig.from_dict(json.loads(ckpt["config"]))
        if saved.variants != cfg.variants or saved.seed != cfg.seed or saved.batch != cfg.batch:
            raise ValueError("--resume: the checkpoint was made with other variants, seed or batch; "
                             f"it has {sorted(saved.variants)}, seed {saved.seed}, batch {saved.batch}")
        for s in students:
            s.load_state_dict(ckpt["students"][s.name])
        step, elapsed_before = int(ckpt["step"]), float(ckpt["elapsed_s"])
        _trim_log(out / LOG_NAME, step)
        if step >= cfg.steps:
            return out  # a finished run: nothing to do, nothing rewritten

    images = load_images(list_images(cfg.data), min_side=cfg.lr_patch * 4)
    if not images:
        raise ValueError(f"no training image in {cfg.data} is at least {cfg.lr_patch * 4} px")
    pairs = TrainingPairs(images, cfg)
    sampler = range(step * cfg.batch, cfg.steps * cfg.batch)
    loader = torch.utils.data.DataLoader(pairs, batch_size=cfg.batch, sampler=sampler, num_workers=workers,
                                         pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                                         prefetch_factor=4 if workers > 0 else None)
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    say(f"{len(images)} images, {len(students)} students of {count_parameters(start):,} parameters "
        f"({', '.join(cfg.variants)}), {device}, step {step}/{cfg.steps}")

    phases = previous_phases(cfg.init)
    t0 = time.perf_counter()

    def checkpoint() -> None:
        elapsed = elapsed_before + time.perf_counter() - t0
        atomic_save({"students": {s.name: s.state_dict() for s in students}, "step": step, "elapsed_s": elapsed,
                     "config": json.dumps(cfg.to_dict())}, ckpt_path)
        for s in students:
            (out / s.name).mkdir(exist_ok=True)
            save_weights(s.ema, out / s.name / WEIGHTS_NAME)
            meta = {"train": cfg.to_dict(), "variant": s.name, "losses": asdict(s.weights), "step": step,
                    "phases": phases,
                    "parameters": count_parameters(s.model), "images": len(images), "wall_time_s": round(elapsed, 1),
                    "device": describe_device() if device.type == "cpu" else torch.cuda.get_device_name(device),
                    "torch": torch.__version__, "python": platform.python_version()}
            (out / s.name / CONFIG_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    running: dict[str, float] = {}
    deadline = None if max_minutes is None else t0 + 60 * max_minutes
    last_report = t0
    waited = 0.0  # seconds spent waiting for the data loader (a GPU run should keep this near 0)
    batches = iter(loader)
    with (out / LOG_NAME).open("a", encoding="utf-8") as log:
        while True:
            t_wait = time.perf_counter()
            try:
                lr_img, hr = next(batches)
            except StopIteration:
                break
            waited += time.perf_counter() - t_wait
            lr_img = lr_img.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            hr = hr.to(device, non_blocking=True)
            terms = train_step(students, teacher, lr_img, hr, cfg, step, device)
            step += 1
            for k, v in terms.items():
                running[k] = v if k not in running else 0.95 * running[k] + 0.05 * v
            now = time.perf_counter()
            if step % cfg.log_every == 0:
                log.write(json.dumps({"step": step, **{k: round(v, 6) for k, v in running.items()},
                                      "elapsed_s": round(elapsed_before + now - t0, 1)}) + "\n")
                log.flush()
            if now - last_report > 30 and not quiet:
                rate = (now - t0) / max(1, step - sampler.start // cfg.batch)
                left = (cfg.steps - step) * rate
                if deadline is not None:
                    left = min(left, deadline - now)
                pixel = "  ".join(f"{s.name} {running.get(f'{s.name}/pixel', 0):.4f}" for s in students)
                say(f"step {step}/{cfg.steps}  {rate:.2f} s/step ({waited / (now - t0):.0%} waiting for data)  "
                    f"about {left / 60:.0f} min left  L1: {pixel}")
                last_report = now
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                checkpoint()
            if deadline is not None and now > deadline:
                say(f"time limit reached at step {step}")
                break
    if step % cfg.checkpoint_every != 0:
        checkpoint()
    return out


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint at ``step``, so a resumed run logs each step once."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= step]
    if len(kept) != len(lines):
        path.write_text("".join(kept), encoding="utf-8")


def export_photo_distilled(run_variant: Path, dest: Path, data_note: str = "") -> Path:
    """Export one variant of a ``python -m sinsr_gui.training.photo_distill`` run as the built-in "Photo" model.

    ``run_variant`` is the variant's folder (``photo_x4.safetensors`` and ``config.json``). Writes
    ``dest/photo_x4.safetensors`` and the card ``dest/photo_x4.json``; returns the card path. The card names the
    teacher and its licence, the data, the losses, every training phase (the run's ``phases`` record, when it
    was continued from another run's weights) and the command that repeats it. ``data_note`` says how the
    data of the recorded commands relate to the named datasets (e.g. copies re-encoded for a transfer).
    """
    run_variant, dest = Path(run_variant), Path(dest)
    meta = json.loads((run_variant / CONFIG_NAME).read_text(encoding="utf-8"))
    cfg = DistillConfig.from_dict(meta["train"])
    dest.mkdir(parents=True, exist_ok=True)
    weights = dest / "photo_x4.safetensors"
    model = reexport_weights(run_variant / WEIGHTS_NAME, weights,
                             CompactConfig(num_feat=64, num_conv=cfg.num_conv, upscale=4))
    faithful = dest / "compact_x4.json"
    datasets = json.loads(faithful.read_text(encoding="utf-8"))["training"]["datasets"] if faithful.is_file() else []
    mix = cfg.mix()
    card = {
        "name": "photo_x4",
        "display_name": "Photo (built-in)",
        "description": "Our own x4 model for real photos: a 32-layer compact network distilled from Real-ESRGAN "
        "x4plus (BSD-3-Clause) on T91 + BSD200 with real-world degradations (JPEG down to quality 10, blur, noise, "
        "resizing), with the teacher's colours replaced by the photo's; not SinSR.",
        "architecture": architecture_entry(model, meta["parameters"]),
        "file": file_entry(weights),
        "training": {
            "teacher": {"name": "Real-ESRGAN x4plus (RRDB, 16.7 M parameters)", "licence": TEACHER_LICENCE,
                        "conversion": "sinsr_gui.weights.ncnn.convert_ncnn_pair (exact: fp16 weights, fp32 biases)"},
            "datasets": datasets,
            "data_note": data_note,
            "images_used": meta["images"],
            "variant": meta["variant"],
            "phases": meta.get("phases", []) + [{
                "steps": meta["step"], "batch": cfg.batch, "lr_patch": cfg.lr_patch, "lr": cfg.lr,
                "initialised_from": cfg.init or "random", "device": meta["device"],
                "wall_time_s": meta["wall_time_s"], "torch": meta["torch"],
                "command": training_command(replace(cfg, steps=meta["step"]), meta["variant"])}],
            "losses": meta["losses"] | {
                "target": f"the teacher's output with its Gaussian low-pass (sigma {cfg.anchor_sigma} HR px) replaced "
                "by the ground truth's: the teacher's detail, the photo's colours",
                "pixel_loss": "L1 to the target",
                "perceptual_loss": "L1 between the target's and the output's features in the teacher's first RRDB "
                "block (its residual branch), each map over the target map's mean magnitude",
                "adversarial_loss": "non-saturating BCE, U-Net discriminator with spectral norm (64 features), trained "
                "from scratch; real samples are the targets",
                "block_gradient_loss": "image-gradient L1 across the input's 8x8 JPEG grid (32-px output lines)",
                "cell_pattern_loss": "L1 of the error pattern repeated in every 4x4 output cell",
            },
            "optimizer": f"Adam(betas=(0.9, 0.99)), lr {cfg.lr} (warm-up {cfg.warmup}), discriminator lr {cfg.lr_d} "
            f"after a {cfg.d_warmup}-step discriminator warm-up; EMA {cfg.ema}",
            "degradations": mix.card(),
            "precision": "teacher fp16, student bf16 autocast (GPU); teacher fp32, student bf16 autocast (CPU)",
        },
    }
    return write_card(dest / "photo_x4.json", card)


def _parse_variants(specs: Sequence[str]) -> dict[str, StudentLosses]:
    """``NAME:key=value,key=value`` -> StudentLosses (``l1``-style names from DEFAULT_VARIANTS also work)."""
    variants = {}
    for spec in specs:
        name, _, body = spec.partition(":")
        if not body and name in DEFAULT_VARIANTS:
            variants[name] = DEFAULT_VARIANTS[name]
            continue
        values = {k: float(v) for k, v in (item.split("=") for item in body.split(",") if item)}
        variants[name] = StudentLosses(**values)
    return variants


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sinsr_gui.training.photo_distill", description=__doc__.split("\n")[0])
    p.add_argument("--data", nargs="+", help="folders of HR training images (T91, BSD200)")
    p.add_argument("--out", required=True, help="run folder (or, with --export-from, the models folder)")
    p.add_argument("--teacher", default=str(DEFAULT_TEACHER),
                   help="an x4 RRDB network in BasicSR key names (default: the app's built-in Real-ESRGAN x4plus, "
                        "the Most detail model)")
    p.add_argument("--variant", action="append", default=[],
                   help="NAME or NAME:pixel=1,perceptual=0.5,adversarial=0.05,... (repeat); default: all four")
    p.add_argument("--init", default="", help="CompactSRNet safetensors to start from (deepened), default random")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=0, help="data loader processes (0: in the training process)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--export-from", default=None, help="a variant folder of a run: write the shipped Photo model")
    p.add_argument("--data-note", default="", help="with --export-from: how the run's data relate to T91/BSD200")
    defaults = DistillConfig(data=[], out="", teacher="")
    for name in ("steps", "batch", "lr_patch", "lr", "warmup", "d_warmup", "ema", "seed", "num_conv",
                 "anchor_sigma", "checkpoint_every", "log_every", "jpeg_min"):
        value = getattr(defaults, name)
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.export_from:
        print(export_photo_distilled(Path(args.export_from), Path(args.out), args.data_note))
        return 0
    if not args.data:
        raise SystemExit("--data is required for training")
    teacher = Path(args.teacher)
    if not teacher.is_file():
        raise SystemExit(f"--teacher {teacher}: no such file; leave --teacher out to use the built-in Real-ESRGAN "
                         "x4plus.")
    variants = _parse_variants(args.variant) if args.variant else dict(DEFAULT_VARIANTS)
    cfg = DistillConfig(data=args.data, out=args.out, teacher=str(teacher), variants=variants, init=args.init,
                        **{k: getattr(args, k) for k in ("steps", "batch", "lr_patch", "lr", "warmup", "d_warmup",
                                                         "ema", "seed", "num_conv", "anchor_sigma",
                                                         "checkpoint_every", "log_every", "jpeg_min")})
    train(cfg, resume=args.resume, device_name=args.device, workers=args.workers, max_minutes=args.max_minutes,
          threads=args.threads, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
