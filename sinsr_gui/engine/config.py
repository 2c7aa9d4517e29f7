"""Typed configuration of a SinSR model: the denoiser, the autoencoder and the diffusion schedule.

Field names are the official constructor arguments, so the official values can be read without a mapping
(:meth:`SinSRConfig.from_json`). Arguments the official code accepts but that cannot change what SinSR
computes are accepted and checked; anything unknown is an error, so a misspelt option fails loudly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration file or value is not a SinSR configuration we can run."""


@dataclass(frozen=True)
class UNetConfig:
    """Arguments of the official ``UNetModelSwin`` (values of the SinSR v1 release by default)."""

    image_size: int = 64
    in_channels: int = 6
    model_channels: int = 160
    out_channels: int = 3
    num_res_blocks: tuple[int, ...] = (2, 2, 2, 2)
    attention_resolutions: tuple[int, ...] = (64, 32, 16, 8)
    channel_mult: tuple[int, ...] = (1, 2, 2, 4)
    num_head_channels: int = 32
    num_heads: int = -1
    swin_depth: int = 2
    swin_embed_dim: int = 192
    window_size: int = 8
    mlp_ratio: float = 4.0
    use_scale_shift_norm: bool = True
    dropout: float = 0.0


@dataclass(frozen=True)
class AutoencoderConfig:
    """Arguments of the official ``VQModelTorch`` (its ``ddconfig`` flattened in)."""

    embed_dim: int = 3
    n_embed: int = 8192
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 2
    z_channels: int = 3
    attn_resolutions: tuple[int, ...] = ()
    in_channels: int = 3
    out_ch: int = 3
    resolution: int = 256
    double_z: bool = False
    dropout: float = 0.0


@dataclass(frozen=True)
class DiffusionConfig:
    """The ResShift shift schedule (``create_gaussian_diffusion`` arguments) of the SinSR release."""

    steps: int = 15
    kappa: float = 2.0
    min_noise_level: float = 0.04
    etas_end: float = 0.99
    power: float = 0.3
    scale_factor: float = 1.0
    sf: int = 4


@dataclass(frozen=True)
class SinSRConfig:
    unet: UNetConfig = field(default_factory=UNetConfig)
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)

    @classmethod
    def sinsr_v1(cls) -> SinSRConfig:
        """The official SinSR v1 release (configs/SinSR.yaml)."""
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SinSRConfig:
        """Read either our own ``to_dict`` layout or the reference ``config.json`` / official YAML layout."""
        unet = _section(data, ("unet", "model"))
        auto = _section(data, ("autoencoder",))
        diff = _section(data, ("diffusion",))
        return cls(unet=_unet_from(unet), autoencoder=_autoencoder_from(auto), diffusion=_diffusion_from(diff))

    @classmethod
    def from_json(cls, path: str | Path) -> SinSRConfig:
        """Read a JSON file with the official constructor arguments (e.g. the reference ``config.json``)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"Cannot read the model configuration {path.name}: {exc}") from exc
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path.name}: {exc}") from exc


def _section(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Find a section by exact name or by prefix (the reference file says e.g. ``"unet_constructor_kwargs (...)"``)."""
    for key, value in data.items():
        base = key.split(" ")[0].split("_constructor")[0].split("_kwargs")[0]
        if base in names and isinstance(value, dict):
            # The official YAML nests the arguments under "params".
            return value.get("params", value) if "target" in value else value
    return {}


def _take(section: dict[str, Any], allowed: set[str], checks: dict[str, Any]) -> dict[str, Any]:
    unknown = set(section) - allowed - set(checks)
    if unknown:
        raise ConfigError(f"unknown option(s) {sorted(unknown)}")
    for key, expected in checks.items():
        if key in section and not _accepts(expected, section[key]):
            raise ConfigError(f"option {key}={section[key]!r} is not supported (SinSR needs {expected!r})")
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in section.items() if k in allowed}


def _accepts(expected: Any, value: Any) -> bool:
    if callable(expected):
        return bool(expected(value))
    return value == expected


def _unet_from(section: dict[str, Any]) -> UNetConfig:
    allowed = set(UNetConfig.__dataclass_fields__)
    checks = {
        "dims": 2,
        "cond_lq": True,
        "conv_resample": True,
        "resblock_updown": False,
        "patch_norm": False,
        "use_fp16": lambda v: isinstance(v, bool),  # precision is chosen at run time instead
    }
    kwargs = _take(section, allowed, checks)
    if isinstance(kwargs.get("num_res_blocks"), int):
        kwargs["num_res_blocks"] = (kwargs["num_res_blocks"],) * len(kwargs.get("channel_mult", (1, 2, 2, 4)))
    return UNetConfig(**kwargs)


def _autoencoder_from(section: dict[str, Any]) -> AutoencoderConfig:
    flat = {k: v for k, v in section.items() if k != "ddconfig"}
    flat.update(section.get("ddconfig", {}))
    allowed = set(AutoencoderConfig.__dataclass_fields__)
    checks = {"padding_mode": lambda v: True, "use_fp16": lambda v: isinstance(v, bool)}  # both ignored, as official
    return AutoencoderConfig(**_take(flat, allowed, checks))


def _diffusion_from(section: dict[str, Any]) -> DiffusionConfig:
    flat = dict(section)
    power = flat.pop("schedule_kwargs", {}).get("power") if "schedule_kwargs" in flat else None
    if power is not None:
        flat["power"] = power
    steps = flat.get("steps", DiffusionConfig.steps)
    checks = {
        "schedule_name": "exponential",
        "predict_type": "xstart",
        "normalize_input": True,
        "latent_flag": True,
        "weighted_mse": lambda v: isinstance(v, bool),  # training only
        "timestep_respacing": lambda v: v in (None, steps, str(steps)),  # one-step uses the last step only
    }
    return DiffusionConfig(**_take(flat, set(DiffusionConfig.__dataclass_fields__), checks))
