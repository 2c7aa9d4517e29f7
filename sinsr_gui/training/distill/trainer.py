"""Distil a one-step SinSR student from the 15-step ResShift teacher.

    python -m sinsr_gui.training.distill --data HR_DIR [HR_DIR ...] --out runs/sinsr_student
    python -m sinsr_gui.training.distill --data ... --out runs/sinsr_student --resume
    torchrun --nproc-per-node 4 -m sinsr_gui.training.distill --data ... --out ...     # several GPUs

The teacher and autoencoder are the weights manager's ``resshift_x4_s15`` and ``vq_f4`` (``sinsr-upscale
weights download ...``) or any files given with ``--teacher`` / ``--autoencoder``. The recipe's defaults are the
official ``configs/SinSR.yaml``'s: the student starts as a copy of the teacher, AdamW at lr 5e-5 with a linear
warm-up (its first milestone, 5000 iterations) and no decay after it (:func:`learning_rate`), no weight decay,
EMA 0.999, batch 64, 256² HR crops degraded with the second-order scheme of
:mod:`sinsr_gui.training.degradations`, and the losses of
:func:`~sinsr_gui.training.distill.losses.distillation_losses`. No network is used and no perceptual network is
loaded.

Every training sample is drawn from its own generator, seeded by (seed, step, index in the global batch): a
resumed run continues bit for bit, and one process of batch 2B takes the same step as two of batch B.

Files in ``--out``: ``sinsr_student_x4.pth`` (the EMA student in the official checkpoint layout, ready for the app's
"Import a file I already have", ``sinsr-upscale weights import``, our SinSR pipeline and the official
``inference.py``; "sinsr" in its name is what makes the import take it as SinSR's denoiser rather than the
teacher, whose layout it shares), ``checkpoint.pt``
(student, EMA, optimizer, step), ``log.jsonl`` (losses, learning rate, ETA), ``config.json`` (the run) and
``previews/step_NNNNNN.png`` (a fixed validation batch: bicubic LR | student | teacher | HR).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sinsr_gui.atomic import atomic_path, atomic_write_text
from sinsr_gui.diffusion.resshift_samplers import deterministic_sample_loop, run_to_end
from sinsr_gui.diffusion.sinsr_step import sinsr_single_step
from sinsr_gui.engine.config import SinSRConfig
from sinsr_gui.engine.devices import resolve_device
from sinsr_gui.engine.resshift import ResShiftPipeline
from sinsr_gui.nn.unet import SwinUNet
from sinsr_gui.training.common import (
    atomic_save,
    available_threads,
    describe_device,
    list_images,
    load_images,
    random_patch,
    to_tensor,
    update_ema,
)
from sinsr_gui.training.degradations import RealWorldDegradation, degrade_bicubic, degrade_real_world
from sinsr_gui.training.distill.losses import TERMS, distillation_losses
from sinsr_gui.weights.checkpoint import load_checkpoint_into

# The import tells the denoiser entries apart by the file name (the student and the teacher share one layout):
# "sinsr" in it makes the app's "Import a file I already have" take the student as SinSR's denoiser.
STUDENT_NAME = "sinsr_student_x4.pth"
CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
CONFIG_NAME = "config.json"
PREVIEW_DIR = "previews"
DEGRADATIONS = ("real-world", "bicubic")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
# What a resumed run must share with the run it continues (the rest, such as --steps, may change).
RECIPE_FIELDS = ("teacher", "autoencoder", "model_config", "batch", "hr_size", "lr", "warmup", "weight_decay",
                 "ema", "inverse_weight", "consistency_weight", "degradation", "seed", "precision")


class DistillError(ValueError):
    """A training run cannot start; the message says which option to change."""


@dataclass
class DistillConfig:
    data: list[str] = field(default_factory=list)
    out: str = "runs/sinsr_student"
    teacher: str = "resshift_x4_s15"  # a weights manager id or a checkpoint file
    autoencoder: str = "vq_f4"
    model_config: str | None = None  # JSON of the official constructor arguments; default: the SinSR v1 sizes
    weights_dir: str | None = None  # the weights manager's folder (default: the app's)
    steps: int = 5000
    batch: int = 64  # the global batch, over all processes
    micro_batch: int = 8  # samples per forward/backward pass; gradients are accumulated up to the batch
    hr_size: int = 256
    lr: float = 5e-5
    warmup: int = 5000
    weight_decay: float = 0.0
    ema: float = 0.999
    inverse_weight: float = 1.0
    consistency_weight: float = 1.0
    degradation: str = "real-world"
    seed: int = 123456
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 on a GPU that has it, else fp16; always float32 on a CPU
    threads: int | None = None
    log_every: int = 10
    checkpoint_every: int = 500
    preview_every: int = 500
    preview_count: int = 4

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistillConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def check(self, world: int) -> None:
        if self.degradation not in DEGRADATIONS:
            raise DistillError(f"--degradation must be one of {', '.join(DEGRADATIONS)}.")
        if self.precision not in PRECISIONS:
            raise DistillError(f"--precision must be one of {', '.join(PRECISIONS)}.")
        if self.batch % world:
            raise DistillError(f"--batch {self.batch} must be a multiple of the number of processes ({world}).")
        if self.hr_size % 4:
            raise DistillError(f"--hr-size {self.hr_size} must be a multiple of 4.")
        if min(self.batch, self.micro_batch, self.steps) < 1:
            raise DistillError("--batch, --micro-batch and --steps must be at least 1.")


# ------------------------------------------------------------------------------------------------ setup


def resolve_file(value: str, weights_dir: str | None, flag: str) -> Path:
    """A checkpoint file: ``value`` itself when it is a file, else the weights manager's file of that id."""
    path = Path(value).expanduser()
    if path.is_file():
        return path
    from sinsr_gui.weights.registry import DEFAULT_REGISTRY
    from sinsr_gui.weights.store import WeightsError, WeightStore

    if value not in DEFAULT_REGISTRY:
        raise DistillError(f"{flag} {value}: no such file and no such weights id; give a checkpoint file or one of "
                           f"{', '.join(DEFAULT_REGISTRY.names())}.")
    try:
        return WeightStore(weights_dir).resolve(value)
    except WeightsError as exc:
        raise DistillError(f"{exc} Install it with `sinsr-upscale weights download {value}` or pass {flag} FILE."
                           ) from exc


def training_precision(cfg: DistillConfig, device: torch.device) -> torch.dtype:
    """The autocast dtype: float32 on a CPU; bf16 (or fp16 where bf16 is missing) on a GPU unless asked."""
    if device.type == "cpu" or cfg.precision == "fp32":
        return torch.float32
    if cfg.precision == "fp16" or (cfg.precision == "auto" and device.type == "cuda"
                                   and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


@dataclass
class Models:
    teacher: ResShiftPipeline
    student: SwinUNet
    config: SinSRConfig


def load_models(cfg: DistillConfig, device: torch.device, dtype: torch.dtype) -> Models:
    """The frozen teacher (with its autoencoder) in ``dtype`` and a float32 student copied from the teacher."""
    config = SinSRConfig.from_json(cfg.model_config) if cfg.model_config else SinSRConfig.sinsr_v1()
    teacher_file = resolve_file(cfg.teacher, cfg.weights_dir, "--teacher")
    ae_file = resolve_file(cfg.autoencoder, cfg.weights_dir, "--autoencoder")
    teacher = ResShiftPipeline.from_checkpoints(config, unet=teacher_file, autoencoder=ae_file, device=device,
                                                dtype=dtype)
    student, _ = ResShiftPipeline.build_modules(config)
    load_checkpoint_into(student, teacher_file)
    return Models(teacher=teacher, student=student.to(device).train(), config=config)


# ------------------------------------------------------------------------------------------------ data


def sample_generator(seed: int, step: int, index: int) -> torch.Generator:
    """The generator of one training sample: the same sample whatever the number of processes or resumes."""
    mixed = np.random.SeedSequence([seed, step + 1, index]).generate_state(2, dtype=np.uint64)
    return torch.Generator().manual_seed(int(mixed[0] >> np.uint64(1)))


def make_sample(images: list[np.ndarray], cfg: DistillConfig, step: int, index: int, latent_channels: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(hr, lr, noise)`` of sample ``index`` of ``step`` (step -1: the fixed validation batch), in [0, 1]."""
    gen = sample_generator(cfg.seed, step, index)
    hr = to_tensor(random_patch(images, cfg.hr_size, gen))[None]
    if cfg.degradation == "real-world":
        lr = degrade_real_world(hr, RealWorldDegradation.sinsr(), gen)
    else:
        lr = degrade_bicubic(hr)
    s = cfg.hr_size // 4
    noise = torch.randn((1, latent_channels, s, s), generator=gen)
    return hr, lr, noise


def make_batch(images, cfg: DistillConfig, step: int, indices: range, latent_channels: int
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    parts = [make_sample(images, cfg, step, i, latent_channels) for i in indices]
    return tuple(torch.cat(p) for p in zip(*parts))  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------ training


def learning_rate(step: int, cfg: DistillConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup`` steps, then constant: the official schedule, which has no decay.

    The official trainer (``TrainerDifIR.adjust_lr`` with ``configs/SinSR.yaml``'s ``milestones: [5000,
    500000]``) ramps the rate linearly over the first milestone, then halves it at each later one; the only later
    milestone is 500000, the run's last iteration (``iterations: 500000``), so no training step ever sees a lower
    rate. One difference is kept on purpose: the official code sets the rate after each step, so its very first
    step runs at the full rate; here step ``s`` (from 0) runs at ``lr·(s+1)/warmup`` from the first step on.
    """
    return cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup))


def official_state(unet: SwinUNet) -> dict[str, dict[str, torch.Tensor]]:
    """The official trainer's checkpoint layout: ``{'state_dict': {'module.' + key: tensor}}``, floating tensors
    in float32, buffers included with their own dtypes (the official loader is strict)."""
    return {"state_dict": {"module." + k: (v.float() if v.is_floating_point() else v).detach().cpu().contiguous()
                           for k, v in unet.state_dict().items()}}


def save_student(unet: SwinUNet, path: Path) -> None:
    atomic_save(official_state(unet), path)


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Distributed:
        """The process group torchrun describes in the environment (one process without it)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(rank=int(os.environ.get("RANK", "0")), world=world,
                   local_rank=int(os.environ.get("LOCAL_RANK", "0")))


class Trainer:
    """One distillation run; :meth:`run` trains to ``cfg.steps``. Built by :func:`train`."""

    def __init__(self, cfg: DistillConfig, dist: Distributed, *, quiet: bool = False,
                 models: Models | None = None) -> None:
        """``models``: already built teacher and student (for measurements); loaded from ``cfg`` otherwise."""
        self.cfg, self.dist, self.quiet = cfg, dist, quiet
        device = resolve_device(cfg.device)
        if device.type == "cuda" and dist.enabled:
            device = torch.device("cuda", dist.local_rank)
            torch.cuda.set_device(device)
        self.device = device
        self.amp_dtype = training_precision(cfg, device)
        self.models = models or load_models(cfg, device, self.amp_dtype)
        self.student = self.models.student
        self.ema = copy.deepcopy(self.student).eval().requires_grad_(False)
        self.wrapped: torch.nn.Module = self.student
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.wrapped = DistributedDataParallel(
                self.student, device_ids=[device.index] if device.type == "cuda" else None,
                broadcast_buffers=False)  # the buffers are constant window masks
        self.opt = torch.optim.AdamW(self.student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.step = 0
        self.elapsed_before = 0.0
        self.out = Path(cfg.out)
        self.latent_channels = self.models.config.autoencoder.embed_dim

    # Checkpoints ------------------------------------------------------------------------------------
    def state(self, elapsed: float) -> dict[str, Any]:
        return {"student": self.student.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict(),
                "scaler": self.scaler.state_dict(), "step": self.step, "elapsed_s": elapsed,
                "torch_rng": torch.get_rng_state(), "config": json.dumps(self.cfg.to_dict())}

    def load(self, path: Path) -> None:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        saved = DistillConfig.from_dict(json.loads(ckpt["config"]))
        changed = [f for f in RECIPE_FIELDS if getattr(saved, f) != getattr(self.cfg, f)]
        if changed:
            flags = ", ".join(f"--{f.replace('_', '-')} {getattr(saved, f)}" for f in changed)
            raise DistillError(f"--resume: {path} was trained with {flags}; run again with the same options or "
                               "another --out.")
        self.student.load_state_dict(ckpt["student"])
        self.ema.load_state_dict(ckpt["ema"])
        self.opt.load_state_dict(ckpt["opt"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.step, self.elapsed_before = int(ckpt["step"]), float(ckpt["elapsed_s"])
        torch.set_rng_state(ckpt["torch_rng"])

    def save(self, elapsed: float) -> None:
        atomic_save(self.state(elapsed), self.out / CHECKPOINT_NAME)
        save_student(self.ema, self.out / STUDENT_NAME)
        meta = {"train": self.cfg.to_dict(), "step": self.step, "model": self.models.config.to_dict(),
                "processes": self.dist.world, "wall_time_s": round(elapsed, 1), "device": self.device_text(),
                "torch": torch.__version__}
        atomic_write_text(self.out / CONFIG_NAME, json.dumps(meta, indent=2) + "\n")

    def device_text(self) -> str:
        if self.device.type == "cuda":
            return f"{torch.cuda.get_device_name(self.device)}, {self.amp_dtype}"
        return describe_device()

    # One step ---------------------------------------------------------------------------------------
    def train_step(self, images: list[np.ndarray]) -> dict[str, float]:
        """One optimizer step over the global batch; returns the batch means of the loss terms."""
        cfg, dist = self.cfg, self.dist
        per_rank = cfg.batch // dist.world
        first = dist.rank * per_rank
        for group in self.opt.param_groups:
            group["lr"] = learning_rate(self.step, cfg)
        self.opt.zero_grad(set_to_none=True)
        sums = {k: 0.0 for k in TERMS}
        starts = list(range(first, first + per_rank, cfg.micro_batch))
        for n, start in enumerate(starts):
            indices = range(start, min(start + cfg.micro_batch, first + per_rank))
            hr, lr, noise = make_batch(images, cfg, self.step, indices, self.latent_channels)
            last = n == len(starts) - 1
            sync = contextlib.nullcontext() if last or not dist.enabled else self.wrapped.no_sync()
            with sync:
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype != torch.float32):
                    terms = distillation_losses(self.wrapped, self.models.teacher, gt=hr, lq=lr, noise=noise,
                                                inverse_weight=cfg.inverse_weight,
                                                consistency_weight=cfg.consistency_weight)
                # The mean over this process's share; DistributedDataParallel averages over the processes.
                self.scaler.scale(terms["loss"].sum() / per_rank).backward()
            for k in TERMS:
                sums[k] += terms[k].detach().sum().item()
        self.scaler.step(self.opt)
        self.scaler.update()
        update_ema(self.ema, self.student, cfg.ema)
        self.step += 1
        means = torch.tensor([sums[k] for k in TERMS], dtype=torch.float64)
        if dist.enabled:
            torch.distributed.all_reduce(means)
        return {k: v / cfg.batch for k, v in zip(TERMS, means.tolist())}

    # Previews ---------------------------------------------------------------------------------------
    def preview_batch(self, images) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The fixed validation batch ``(hr, lr, noise, teacher output)``, all in [0, 1]."""
        hr, lr, noise = make_batch(images, self.cfg, -1, range(self.cfg.preview_count), self.latent_channels)
        teacher = self.models.teacher
        with torch.no_grad():
            decoded = run_to_end(deterministic_sample_loop(
                ((lr - 0.5) / 0.5).to(self.device), noise.to(self.device), unet=teacher.unet,
                autoencoder=teacher.autoencoder, schedule=teacher.schedule,
                scale_factor=self.models.config.diffusion.scale_factor))
        return hr, lr, noise, decoded.clamp(-1, 1).cpu() * 0.5 + 0.5

    def write_preview(self, batch) -> Path:
        hr, lr, noise, teacher_out = batch
        teacher = self.models.teacher
        with torch.no_grad():
            decoded = sinsr_single_step(((lr - 0.5) / 0.5).to(self.device), noise.to(self.device), unet=self.ema,
                                        autoencoder=teacher.autoencoder, schedule=teacher.schedule,
                                        scale_factor=self.models.config.diffusion.scale_factor)
        student = decoded.clamp(-1, 1).cpu() * 0.5 + 0.5
        up = F.interpolate(lr, scale_factor=4, mode="bicubic").clamp(0, 1)
        rows = [torch.cat([a, b, c, d], dim=-1) for a, b, c, d in zip(up, student, teacher_out, hr)]
        grid = (torch.cat(rows, dim=-2).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        from PIL import Image

        path = self.out / PREVIEW_DIR / f"step_{self.step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")
        return path

    # The loop ---------------------------------------------------------------------------------------
    def run(self) -> Path:
        cfg, dist = self.cfg, self.dist
        images = load_images(list_images(cfg.data), min_side=cfg.hr_size)
        if not images:
            raise DistillError(f"No image in {', '.join(cfg.data)} has sides of at least {cfg.hr_size} px; add "
                               "larger photos or lower --hr-size.")
        preview = self.preview_batch(images) if dist.main and cfg.preview_every > 0 else None
        log = (self.out / LOG_NAME).open("a", encoding="utf-8") if dist.main else None
        start_step, t0 = self.step, time.perf_counter()
        if preview is not None and self.step == 0:
            self.write_preview(preview)
        bar = None
        if dist.main and not self.quiet:
            from tqdm import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, dynamic_ncols=True, unit="step")
        while self.step < cfg.steps:
            means = self.train_step(images)
            elapsed = time.perf_counter() - t0
            if not dist.main:
                continue
            eta = elapsed / (self.step - start_step) * (cfg.steps - self.step)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{means['loss']:.4f}", refresh=False)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                log.write(json.dumps({"step": self.step, "lr": learning_rate(self.step - 1, cfg),
                                      **{k: round(v, 6) for k, v in means.items()},
                                      "elapsed_s": round(self.elapsed_before + elapsed, 1),
                                      "eta_s": round(eta, 1)}) + "\n")
                log.flush()
            if preview is not None and self.step % cfg.preview_every == 0:
                self.write_preview(preview)
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save(self.elapsed_before + elapsed)
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
        if dist.main and self.step == start_step:
            self.save(self.elapsed_before)
        return self.out / STUDENT_NAME


def _trim_log(path: Path, step: int) -> None:
    """Drop the log lines of steps after the checkpoint a run resumes from (they are trained again)."""
    if path.is_file():
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines(keepends=True) if ln.strip()]
        atomic_write_text(path, "".join(ln for ln in lines if json.loads(ln)["step"] <= step))


def train(cfg: DistillConfig, *, resume: bool = False, quiet: bool = False) -> Path:
    """Run (or continue) a distillation; returns the student file. Under torchrun, every process calls this."""
    dist = Distributed.from_env()
    cfg.check(dist.world)
    if dist.enabled and not torch.distributed.is_initialized():
        backend = "nccl" if resolve_device(cfg.device).type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend)
    if resolve_device(cfg.device).type == "cpu":
        torch.set_num_threads(cfg.threads or max(1, available_threads() // dist.world))
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg, dist, quiet=quiet)
    ckpt = out / CHECKPOINT_NAME
    if resume and ckpt.is_file():
        trainer.load(ckpt)
        if dist.main:
            _trim_log(out / LOG_NAME, trainer.step)
    elif dist.main and ckpt.is_file():
        raise DistillError(f"{out} already holds a run; add --resume to continue it or choose another --out.")
    return trainer.run()
