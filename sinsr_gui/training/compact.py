"""Train the built-in compact x4 model (:class:`sinsr_gui.nn.compact.CompactSRNet`) on folders of HR images.

    python -m sinsr_gui.training.compact --data T91_DIR BSD200_DIR --out runs/compact --steps 12000
    python -m sinsr_gui.training.compact ... --resume          # continue after an interruption
    python -m sinsr_gui.training.compact --export-from runs/compact --out resources/models

Each step cuts random HR patches, makes their LR inputs with a random mix of real-photo degradations
(:func:`degrade`), and minimises L1 (plus an optional image-gradient L1) between the output and the HR patch.
All randomness of the data comes from one seeded ``torch.Generator``; torch/numpy/random are seeded too, and
every RNG state is saved in the checkpoint, so a resumed run continues the same sequence.

Files in ``--out``: ``compact_x4.safetensors`` (fp32 weights), ``config.json`` (everything needed to repeat the
run, plus step count and wall time) and ``checkpoint.pt`` (model, optimizer, step, RNG states).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from tqdm import tqdm

from sinsr_gui.atomic import atomic_write_text
from sinsr_gui.nn.compact import CompactConfig, CompactSRNet, count_parameters
from sinsr_gui.training.common import (
    atomic_save,
    available_threads,
    chance,
    describe_device,
    list_images,
    load_images,
    random_patch,
    rng_states,
    save_weights,
    seed_everything,
    set_rng_states,
    to_tensor,
    uniform,
)

WEIGHTS_NAME = "compact_x4.safetensors"
CONFIG_NAME = "config.json"
CHECKPOINT_NAME = "checkpoint.pt"
CARD_NAME = "compact_x4.json"

_DOWNSCALE_FILTERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,  # box filter = area averaging
}


@dataclass
class DegradationConfig:
    """Random degradations applied to an HR patch to make its LR input (probabilities are per sample).

    With probability ``clean_prob`` the LR is a plain Pillow bicubic x4 downscale (the benchmark setting).
    Otherwise, in order: optional Gaussian blur of the HR, downscale with a random filter (bicubic, bilinear
    or area), optional Gaussian or Poisson noise, optional JPEG re-compression: the usual life of a photo.
    """

    clean_prob: float = 0.4
    blur_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.2, 1.2)  # in HR pixels
    gaussian_noise_prob: float = 0.4
    gaussian_sigma: tuple[float, float] = (1.0, 10.0)  # in 8-bit levels
    poisson_noise_prob: float = 0.2
    poisson_peak: tuple[float, float] = (200.0, 3000.0)  # photons at white level; log-uniform; lower = noisier
    jpeg_prob: float = 0.6
    jpeg_quality: tuple[int, int] = (50, 95)


@dataclass
class TrainConfig:
    """Everything that determines a training run; saved as ``config.json`` next to the weights."""

    data: list[str]
    out: str
    steps: int = 12000
    batch: int = 24
    lr_patch: int = 40  # LR patch side; the HR patch is lr_patch * upscale
    lr: float = 5e-4
    min_lr: float = 1e-6
    warmup: int = 200
    edge_weight: float = 0.0  # weight of the image-gradient L1 term (0 = plain L1)
    seed: int = 0
    bf16: bool = True
    checkpoint_every: int = 500
    model: CompactConfig = field(default_factory=CompactConfig.default)
    degradation: DegradationConfig = field(default_factory=DegradationConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        data = dict(data)
        model = CompactConfig(**data.pop("model"))
        deg_raw = data.pop("degradation")
        deg = DegradationConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in deg_raw.items()})
        return cls(model=model, degradation=deg, **data)


# ----------------------------------------------------------------------------------------------- data


def jpeg_roundtrip(img: Image.Image, quality: int) -> Image.Image:
    """Encode as JPEG at ``quality`` with Pillow and decode again (4:2:0 chroma, like most cameras)."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def degrade(hr: np.ndarray, scale: int, cfg: DegradationConfig, gen: torch.Generator) -> np.ndarray:
    """Make the LR input for an HR patch.

    hr: ``(s*h, s*w, 3)`` uint8 RGB with ``s = scale``. Returns ``(h, w, 3)`` uint8 RGB (noise is added in
    float and quantised back to 8 bits, as a camera or image file would).
    """
    img = Image.fromarray(hr)
    lr_size = (hr.shape[1] // scale, hr.shape[0] // scale)
    if chance(gen, cfg.clean_prob):
        return np.asarray(img.resize(lr_size, Image.Resampling.BICUBIC))
    if chance(gen, cfg.blur_prob):
        img = img.filter(ImageFilter.GaussianBlur(radius=uniform(gen, *cfg.blur_sigma)))
    names = list(_DOWNSCALE_FILTERS)
    method = _DOWNSCALE_FILTERS[names[int(torch.randint(len(names), (), generator=gen))]]
    img = img.resize(lr_size, method)
    x = torch.from_numpy(np.asarray(img).astype(np.float32) / 255.0)  # (h, w, 3) in [0, 1]
    r = torch.rand((), generator=gen).item()
    if r < cfg.gaussian_noise_prob:
        sigma = uniform(gen, *cfg.gaussian_sigma) / 255.0
        x = x + sigma * torch.randn(x.shape, generator=gen)
    elif r < cfg.gaussian_noise_prob + cfg.poisson_noise_prob:
        lo, hi = (math.log(v) for v in cfg.poisson_peak)
        peak = math.exp(uniform(gen, lo, hi))
        x = torch.poisson(x.clamp(0, 1) * peak, generator=gen) / peak
    lr = (x.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    if chance(gen, cfg.jpeg_prob):
        q = int(torch.randint(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1, (), generator=gen))
        lr = np.asarray(jpeg_roundtrip(Image.fromarray(lr), q))
    return lr


def make_batch(
    images: Sequence[np.ndarray], cfg: TrainConfig, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns ``(lr, hr)``: ``(B, 3, p, p)`` and ``(B, 3, s*p, s*p)`` float RGB in ``[0, 1]``."""
    s = cfg.model.upscale
    lrs, hrs = [], []
    for _ in range(cfg.batch):
        hr = random_patch(images, cfg.lr_patch * s, gen)
        lrs.append(to_tensor(degrade(hr, s, cfg.degradation, gen)))
        hrs.append(to_tensor(hr))
    return torch.stack(lrs), torch.stack(hrs)


# ----------------------------------------------------------------------------------------------- training


def gradient_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences of ``(N, C, H, W)`` images: sharpens edges."""
    dx = (pred[..., :, 1:] - pred[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])
    dy = (pred[..., 1:, :] - pred[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay from ``cfg.lr`` to ``cfg.min_lr`` at ``cfg.steps`` (stateless: resumes)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, t)))


def train(cfg: TrainConfig, *, resume: bool = False, quiet: bool = False, threads: int | None = None) -> Path:
    """Run (or continue) training; returns the output folder. See the module docstring for its files.

    ``threads`` defaults to every core this process may use. On a CPU shared with other busy jobs, fewer
    threads can be much faster: an OpenMP thread that loses its core stalls its partner at every barrier.
    """
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads or available_threads())
    gen = seed_everything(cfg.seed)
    model = CompactSRNet.from_config(cfg.model)
    # Adam's betas as in most SR work; beta2 = 0.99 adapts faster than the default 0.999 in short runs.
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    step, elapsed_before = 0, 0.0
    ckpt_path = out / CHECKPOINT_NAME
    if resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        saved = TrainConfig.from_dict(json.loads(ckpt["config"]))
        if saved.model != cfg.model:
            raise ValueError(f"--resume: checkpoint model {saved.model} differs from requested {cfg.model}")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step, elapsed_before = int(ckpt["step"]), float(ckpt["elapsed_s"])
        set_rng_states(ckpt["rng"], gen)

    images = load_images(list_images(cfg.data), min_side=cfg.lr_patch * cfg.model.upscale)
    if not images:
        raise ValueError(f"no training image in {cfg.data} is at least {cfg.lr_patch * cfg.model.upscale} px")
    if not quiet:
        tqdm.write(
            f"{len(images)} images, model {cfg.model} ({count_parameters(model):,} parameters), "
            f"{torch.get_num_threads()} threads, start at step {step}/{cfg.steps}"
        )

    def checkpoint() -> None:
        elapsed = elapsed_before + time.perf_counter() - t0
        atomic_save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "elapsed_s": elapsed,
                "rng": rng_states(gen),
                "config": json.dumps(cfg.to_dict()),
            },
            ckpt_path,
        )
        save_weights(model, out / WEIGHTS_NAME)
        meta = {
            "train": cfg.to_dict(),
            "step": step,
            "parameters": count_parameters(model),
            "images": len(images),
            "wall_time_s": round(elapsed, 1),
            "device": describe_device(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        }
        atomic_write_text(out / CONFIG_NAME, json.dumps(meta, indent=2) + "\n")

    t0 = time.perf_counter()
    model.train()
    bar = tqdm(
        total=cfg.steps, initial=step, disable=quiet, dynamic_ncols=True,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,  # a log file should not get a line per step
    )
    running = None
    while step < cfg.steps:
        lr_img, hr_img = make_batch(images, cfg, gen)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, cfg)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            pred = model(lr_img)
        pred = pred.float()  # the loss in fp32: bf16 cannot resolve differences of one 8-bit level
        loss = F.l1_loss(pred, hr_img)
        if cfg.edge_weight > 0:
            loss = loss + cfg.edge_weight * gradient_l1(pred, hr_img)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}", refresh=False)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint()
            if not quiet:
                tqdm.write(
                    f"step {step}/{cfg.steps} loss {running:.4f} "
                    f"elapsed {elapsed_before + time.perf_counter() - t0:.0f}s (checkpoint saved)"
                )
    bar.close()
    if not (out / WEIGHTS_NAME).is_file():  # resumed a run that had already finished
        checkpoint()
    return out


# ----------------------------------------------------------------------------------------------- export


def export_builtin(run_dir: Path, dest: Path, datasets: list[dict] | None = None) -> Path:
    """Copy a run's weights to ``dest/compact_x4.safetensors`` and write the card ``dest/compact_x4.json``.

    The card records architecture, config, training facts, file size and SHA-256 (checked by the loader
    before every load). ``datasets`` are provenance entries; metrics are added by ``sinsr_gui.evaluate``.
    Returns the card path.
    """
    from sinsr_gui.training.export import architecture_entry, file_entry, reexport_weights, write_card

    run_dir, dest = Path(run_dir), Path(dest)
    meta = json.loads((run_dir / CONFIG_NAME).read_text(encoding="utf-8"))
    dest.mkdir(parents=True, exist_ok=True)
    weights = dest / WEIGHTS_NAME
    cfg = TrainConfig.from_dict(meta["train"])
    model = reexport_weights(run_dir / WEIGHTS_NAME, weights, cfg.model)
    card = {
        "name": "compact_x4",
        "display_name": "Faithful (built-in)",
        "description": "Our own small x4 model for clean sources (renders, scans, screenshots), trained from "
        "scratch with L1; not SinSR.",
        "architecture": architecture_entry(model, meta["parameters"]),
        "file": file_entry(weights),
        "training": {
            "datasets": datasets or [],
            "images_used": meta["images"],
            "steps": meta["step"],
            "batch": cfg.batch,
            "lr_patch": cfg.lr_patch,
            "seed": cfg.seed,
            "loss": "L1" + (f" + {cfg.edge_weight} * gradient L1" if cfg.edge_weight > 0 else ""),
            "optimizer": f"Adam(betas=(0.9, 0.99)), lr {cfg.lr} cosine to {cfg.min_lr}, warmup {cfg.warmup}",
            "degradations": asdict(cfg.degradation),
            "precision": "bf16 autocast (CPU)" if cfg.bf16 else "fp32",
            "wall_time_s": meta["wall_time_s"],
            "device": meta["device"],
            "torch": meta["torch"],
            "command": training_command(cfg),
        },
    }
    return write_card(dest / CARD_NAME, card)


def training_command(cfg: TrainConfig) -> str:
    """The command line that repeats the run described by ``cfg`` (flags left at their defaults omitted)."""
    d = TrainConfig(data=[], out="")
    parts = ["python -m sinsr_gui.training.compact", "--data", *cfg.data, "--out", cfg.out, "--steps",
             str(cfg.steps)]
    flags = {
        "--batch": (cfg.batch, d.batch), "--lr-patch": (cfg.lr_patch, d.lr_patch), "--lr": (cfg.lr, d.lr),
        "--warmup": (cfg.warmup, d.warmup), "--edge-weight": (cfg.edge_weight, d.edge_weight),
        "--clean-prob": (cfg.degradation.clean_prob, d.degradation.clean_prob),
        "--num-feat": (cfg.model.num_feat, d.model.num_feat), "--num-conv": (cfg.model.num_conv, d.model.num_conv),
        "--seed": (cfg.seed, d.seed), "--checkpoint-every": (cfg.checkpoint_every, d.checkpoint_every),
    }
    parts += [f"{k} {v}" for k, (v, default) in flags.items() if v != default]
    if not cfg.bf16:
        parts.append("--no-bf16")
    return " ".join(parts)


# ----------------------------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    d = TrainConfig(data=[], out="")
    p = argparse.ArgumentParser(prog="python -m sinsr_gui.training.compact", description=__doc__.split("\n")[0])
    p.add_argument("--data", nargs="+", help="folders of HR training images")
    p.add_argument("--out", required=True, help="output folder (weights, config.json, checkpoint.pt)")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--lr-patch", type=int, default=d.lr_patch, help="LR patch side in pixels")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--edge-weight", type=float, default=d.edge_weight, help="image-gradient L1 weight")
    p.add_argument("--clean-prob", type=float, default=d.degradation.clean_prob,
                   help="fraction of samples with plain bicubic downscaling")
    p.add_argument("--num-feat", type=int, default=d.model.num_feat)
    p.add_argument("--num-conv", type=int, default=d.model.num_conv)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-bf16", action="store_true", help="train in fp32 (slower on CPUs with bf16 units)")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--threads", type=int, help="CPU threads (default: all available; fewer on a busy CPU)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--export-from", metavar="RUN_DIR",
                   help="do not train: export RUN_DIR's weights and card to --out (e.g. resources/models)")
    p.add_argument("--dataset-info", metavar="JSON", help="with --export-from: JSON list of dataset entries")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.export_from:
        datasets = json.loads(Path(args.dataset_info).read_text(encoding="utf-8")) if args.dataset_info else None
        print(export_builtin(Path(args.export_from), Path(args.out), datasets))
        return 0
    if not args.data:
        _parser().error("--data is required for training")
    cfg = TrainConfig(
        data=[str(d) for d in args.data],
        out=args.out,
        steps=args.steps,
        batch=args.batch,
        lr_patch=args.lr_patch,
        lr=args.lr,
        warmup=args.warmup,
        edge_weight=args.edge_weight,
        seed=args.seed,
        bf16=not args.no_bf16,
        checkpoint_every=args.checkpoint_every,
        model=CompactConfig(num_feat=args.num_feat, num_conv=args.num_conv),
        degradation=DegradationConfig(clean_prob=args.clean_prob),
    )
    train(cfg, resume=args.resume, quiet=args.quiet, threads=args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
