"""What a Photo training run is (``python -m sinsr_gui.training.photo``): its configuration, the files it writes,
and the command that repeats it. The trainer and the export (:mod:`sinsr_gui.training.export`) both read it,
so neither imports the other's module for it (no import circle).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sinsr_gui.training.degradations import DegradationMix

WEIGHTS_NAME = "photo_x4.safetensors"
CONFIG_NAME = "config.json"


@dataclass
class LossWeights:
    """Weight of each loss term; 0 switches a term off (no discriminator at all when ``adversarial`` is 0)."""

    pixel: float = 1.0
    usm_target: bool = True  # the pixel and frequency terms compare against the unsharp-masked HR
    frequency: float = 0.05
    adversarial: float = 0.05
    gradient: float = 0.0  # L1 between the image gradients (edges as crisp as the target's, no false ones)
    block_gradient: float = 0.0  # the same, only across the JPEG 8x8 grid of the input (32-px lines at x4)
    cell_pattern: float = 0.0  # L1 of the error pattern repeated in every 4x4 output cell (a GAN's dot grid)


@dataclass
class PhotoTrainConfig:
    """Everything that determines a run; saved in ``config.json`` and in the checkpoint."""

    data: list[str]
    out: str
    steps: int = 20000
    batch: int = 8
    lr_patch: int = 40  # LR patch side; the HR patch is 4x (a multiple of 8, for the discriminator)
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    warmup: int = 100  # generator learning-rate warm-up (steps after d_warmup)
    d_warmup: int = 200  # discriminator-only steps before the generator sees the adversarial loss
    ema: float = 0.999
    d_feat: int = 32
    seed: int = 0
    bf16: bool = True
    checkpoint_every: int = 250
    log_every: int = 25
    init: str = "builtin"  # generator start: "builtin" (the Faithful model) or a CompactSRNet .safetensors
    loss: LossWeights = field(default_factory=LossWeights)
    real_world_prob: float = 0.5
    web_photo_prob: float = 0.4

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PhotoTrainConfig:
        data = dict(data)
        return cls(loss=LossWeights(**data.pop("loss")), **data)

    def mix(self) -> DegradationMix:
        return DegradationMix(real_world_prob=self.real_world_prob, web_photo_prob=self.web_photo_prob)


def training_command(cfg: PhotoTrainConfig) -> str:
    """The command line that repeats the run described by ``cfg`` (flags left at their defaults omitted)."""
    d = PhotoTrainConfig(data=[], out="")
    parts = ["python -m sinsr_gui.training.photo", "--data", *cfg.data, "--out", cfg.out, "--steps", str(cfg.steps)]
    flags = {
        "--batch": (cfg.batch, d.batch), "--lr-patch": (cfg.lr_patch, d.lr_patch), "--lr-g": (cfg.lr_g, d.lr_g),
        "--lr-d": (cfg.lr_d, d.lr_d), "--d-warmup": (cfg.d_warmup, d.d_warmup), "--d-feat": (cfg.d_feat, d.d_feat),
        "--pixel": (cfg.loss.pixel, d.loss.pixel), "--frequency": (cfg.loss.frequency, d.loss.frequency),
        "--adversarial": (cfg.loss.adversarial, d.loss.adversarial),
        "--gradient": (cfg.loss.gradient, d.loss.gradient),
        "--block-gradient": (cfg.loss.block_gradient, d.loss.block_gradient),
        "--cell-pattern": (cfg.loss.cell_pattern, d.loss.cell_pattern),
        "--real-world-prob": (cfg.real_world_prob, d.real_world_prob),
        "--web-photo-prob": (cfg.web_photo_prob, d.web_photo_prob), "--init": (cfg.init, d.init),
        "--seed": (cfg.seed, d.seed), "--checkpoint-every": (cfg.checkpoint_every, d.checkpoint_every),
    }
    parts += [f"{k} {v}" for k, (v, default) in flags.items() if v != default]
    if not cfg.loss.usm_target:
        parts.append("--no-usm")
    if not cfg.bf16:
        parts.append("--no-bf16")
    return " ".join(parts)
