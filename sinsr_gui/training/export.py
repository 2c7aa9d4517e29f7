"""Ship a trained built-in model: weights re-saved as safetensors plus its card, checked before every load.

A card (``resources/models/<name>.json``) records what a user or a reviewer needs to trust the file:
architecture and config, the training data and its terms, the degradations and losses, the steps, the
metrics (added by ``python -m sinsr_gui.evaluate --update-cards``), the licence, and the file's size and
SHA-256 (which :mod:`sinsr_gui.weights.builtin` checks before loading).
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from safetensors.torch import load_file

from sinsr_gui.atomic import atomic_write_text
from sinsr_gui.nn.compact import CompactConfig, CompactSRNet
from sinsr_gui.training.common import save_weights
from sinsr_gui.training.photo_run import CONFIG_NAME, WEIGHTS_NAME, PhotoTrainConfig, training_command
from sinsr_gui.weights.store import sha256_file

ARCHITECTURE_FAMILY = ("SRVGG-compact (plain 3x3 conv stack at LR resolution, PReLU, pixel shuffle, "
                       "bilinear-upsampled input as residual base)")
LICENCE = {
    "weights": "Our own weights, trained by the project (no pretrained network or third-party weights; the "
    "losses use no downloaded network). Because the training images are research-only (T91) and "
    "non-commercial research/education only (BSDS300), we do not grant more than they do: use these "
    "weights for non-commercial purposes. The code that defines and trains them is MIT.",
    "datasets": "The training images are not shipped. Each dataset keeps its own terms, listed with it under "
    "training.datasets.",
}


def architecture_entry(model: CompactSRNet, parameters: int) -> dict:
    return {
        "class": "sinsr_gui.nn.compact.CompactSRNet",
        "family": ARCHITECTURE_FAMILY,
        "config": model.config.to_dict(),
        "parameters": parameters,
        "receptive_radius_lr_px": model.receptive_radius,
        "io": "(N, 3, H, W) RGB float in [0, 1] -> (N, 3, 4H, 4W), not clamped",
    }


def reexport_weights(src: Path, dest: Path, config: CompactConfig) -> CompactSRNet:
    """Load ``src`` and save it again at ``dest``: a fixed key order and no training-only metadata."""
    model = CompactSRNet.from_config(config)
    model.load_state_dict(load_file(str(src)))
    save_weights(model, dest)
    return model


def file_entry(path: Path) -> dict:
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def write_card(path: Path, card: dict) -> Path:
    """Write ``card``, keeping the metrics and speed of an earlier card (they are measured separately)."""
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    card = {**card, "metrics": old.get("metrics", {}), "speed": old.get("speed", {}), "licence": LICENCE}
    if not card["training"].get("datasets"):
        card["training"]["datasets"] = old.get("training", {}).get("datasets", [])
    atomic_write_text(path, json.dumps(card, indent=2) + "\n")
    return path


def _loss_phrase(loss) -> str:
    """The active loss terms in words, e.g. "pixel, block-grid gradient and adversarial losses"."""
    names = [name for name, weight in (("pixel", loss.pixel), ("frequency", loss.frequency),
                                       ("gradient", loss.gradient), ("block-grid gradient", loss.block_gradient),
                                       ("4-px pattern", loss.cell_pattern), ("adversarial", loss.adversarial))
             if weight]
    target = " (against the unsharp-masked target)" if loss.usm_target else ""
    words = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{words} loss{'es' if len(names) > 1 else ''}{target}"


def _previous_phase(init: str) -> dict | None:
    """What made the starting weights, when they are another photo run's output (its ``config.json`` beside them)."""
    config = Path(init).parent / CONFIG_NAME
    if init == "builtin" or not config.is_file():
        return None
    meta = json.loads(config.read_text(encoding="utf-8"))
    prev = PhotoTrainConfig.from_dict(meta["train"])
    return {"steps": meta["step"], "wall_time_s": meta["wall_time_s"], "losses": asdict(prev.loss),
            "batch": prev.batch, "initialised_from": prev.init, "command": training_command(replace(prev, steps=meta["step"]))}


def export_photo(run_dir: Path, dest: Path) -> Path:
    """Export a ``python -m sinsr_gui.training.photo`` run as the built-in "Photo" model into ``dest``.

    Writes ``dest/photo_x4.safetensors`` (the EMA generator) and the card ``dest/photo_x4.json``; returns
    the card path. The datasets' provenance is taken from the Faithful model's card (the same images).
    """
    run_dir, dest = Path(run_dir), Path(dest)
    meta = json.loads((run_dir / CONFIG_NAME).read_text(encoding="utf-8"))
    cfg = PhotoTrainConfig.from_dict(meta["train"])
    dest.mkdir(parents=True, exist_ok=True)
    weights = dest / WEIGHTS_NAME
    model = reexport_weights(run_dir / WEIGHTS_NAME, weights, CompactConfig.default())
    faithful = dest / "compact_x4.json"
    datasets = json.loads(faithful.read_text(encoding="utf-8"))["training"]["datasets"] if faithful.is_file() else []
    mix = cfg.mix()
    card = {
        "name": "photo_x4",
        "display_name": "Photo (built-in)",
        "description": "Our own small x4 model for real photos: fine-tuned from the Faithful model on real-world "
        f"degradations (JPEG, blur, noise, resizing) with {_loss_phrase(cfg.loss)}; not SinSR.",
        "architecture": architecture_entry(model, meta["parameters"]),
        "file": file_entry(weights),
        "training": {
            "datasets": datasets,
            "images_used": meta["images"],
            "initialised_from": "resources/models/compact_x4.safetensors (the Faithful model)"
            if cfg.init == "builtin" else cfg.init,
            "previous_phase": _previous_phase(cfg.init),
            "steps": meta["step"],
            "batch": cfg.batch,
            "lr_patch": cfg.lr_patch,
            "seed": cfg.seed,
            "losses": asdict(cfg.loss) | {
                "pixel_target": "unsharp-masked HR (weight 0.5, threshold 10 levels, sigma 8.3)"
                if cfg.loss.usm_target else "HR",
                "frequency_loss": "L1 between orthonormal 2-D FFTs (real and imaginary parts)",
                "gradient_loss": "L1 between horizontal and vertical neighbour differences",
                "block_gradient_loss": "the same, only across the input's 8x8 JPEG grid (32-px output lines)",
                "cell_pattern_loss": "L1 of the error pattern repeated in every 4x4 output cell (batch mean of "
                "each cell's error minus its mean)",
                "adversarial_loss": f"non-saturating BCE, U-Net discriminator with spectral norm ({cfg.d_feat} "
                "features), trained from scratch",
            },
            "optimizer": f"Adam(betas=(0.9, 0.99)), generator lr {cfg.lr_g} (warm-up {cfg.warmup}), "
            f"discriminator lr {cfg.lr_d}, discriminator-only warm-up {cfg.d_warmup} steps; EMA {cfg.ema}",
            "degradations": mix.card(),
            "precision": "bf16 autocast (CPU)" if cfg.bf16 else "fp32",
            "wall_time_s": meta["wall_time_s"],
            "device": meta["device"],
            "torch": meta["torch"],
            # the learning rate is flat after warm-up, so a run stopped early is the same run with --steps N
            "command": training_command(replace(cfg, steps=meta["step"])),
        },
    }
    return write_card(dest / "photo_x4.json", card)
