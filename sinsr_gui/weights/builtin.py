"""The built-in "Compact (built-in)" x4 model that ships inside the app, so a fresh install works offline.

Its card ``resources/models/compact_x4.json`` records the architecture config, training facts, metrics and
the weight file's size and SHA-256. The file is checked against the card before every load, so a damaged
install gives one clear message instead of garbage images or a cryptic tensor error.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from sinsr_gui import paths
from sinsr_gui.nn.compact import CompactSRNet
from sinsr_gui.weights.checkpoint import CheckpointError, load_strict, read_state_dict
from sinsr_gui.weights.store import sha256_file

BUILTIN_NAME = "compact_x4"
_DAMAGED = "The built-in model file is damaged; reinstall the app."


def builtin_weights_path() -> Path:
    return paths.resource_path(f"models/{BUILTIN_NAME}.safetensors")


def builtin_card_path() -> Path:
    return paths.resource_path(f"models/{BUILTIN_NAME}.json")


def load_builtin_card() -> dict:
    """The model card as a dict (keys include ``display_name``, ``architecture``, ``file``, ``metrics``)."""
    path = builtin_card_path()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{_DAMAGED} (cannot read {path.name}: {exc})") from exc


def verify_builtin_file(card: dict) -> Path:
    """Check the weight file's size and SHA-256 against ``card``; return its path or raise CheckpointError."""
    path = builtin_weights_path()
    expected = card["file"]
    if not path.is_file():
        raise CheckpointError(f"{_DAMAGED} ({path.name} is missing.)")
    size = path.stat().st_size
    if size != expected["bytes"]:
        raise CheckpointError(f"{_DAMAGED} ({path.name} has {size} bytes, expected {expected['bytes']}.)")
    # Size first: it is free, and catches truncated copies without reading the file.
    digest = sha256_file(path)
    if digest != expected["sha256"]:
        raise CheckpointError(f"{_DAMAGED} ({path.name} has SHA-256 {digest[:12]}…, expected "
                              f"{expected['sha256'][:12]}….)")
    return path


def load_builtin_model(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> CompactSRNet:
    """Verify and load the built-in model, in eval mode on ``device``/``dtype``.

    The returned module maps ``(N, 3, H, W)`` RGB in ``[0, 1]`` to ``(N, 3, 4H, 4W)`` (not clamped).
    Raises :class:`CheckpointError` if the file is missing, damaged or does not match the card's config.
    """
    card = load_builtin_card()
    path = verify_builtin_file(card)
    cfg = card["architecture"]["config"]
    model = CompactSRNet(num_feat=int(cfg["num_feat"]), num_conv=int(cfg["num_conv"]),
                         upscale=int(cfg["upscale"]))
    load_strict(model, read_state_dict(path), source=path.name)
    return model.to(device=device, dtype=dtype).eval()
