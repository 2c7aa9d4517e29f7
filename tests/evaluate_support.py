"""Images with known answers for the evaluation's tests (tests/test_evaluate_*.py)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def texture(h: int = 256, w: int = 256, seed: int = 0) -> np.ndarray:
    """A photo-like RGB image: smooth shapes plus fine texture, no preferred sub-pixel position."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(7 * x + 2 * y), np.cos(5 * y - x), np.sin(3 * x * y * 9)], -1) * 60 + 128
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def copy_card(weights) -> None:
    """Put the built-in Photo card beside ``weights`` (its architecture config is what a candidate is built with)."""
    import shutil

    from sinsr_gui.weights.builtin import PHOTO, builtin_card_path

    shutil.copy(builtin_card_path(PHOTO), weights.with_suffix(".json"))
