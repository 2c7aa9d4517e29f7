"""Synthetic photos for checks and demonstrations of the trainer where no photo collection is at hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_synthetic_photos(folder: Path, count: int, size: int, seed: int = 0) -> list[Path]:
    """``count`` PNGs of ``size``² px: smooth colour waves, a hard-edged disc and fine noise (texture at every
    scale, like a photo). Deterministic for a seed; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    paths = []
    for i in range(count):
        f = rng.uniform(2, 12, 3)
        img = 0.5 + 0.3 * np.stack([np.sin(f[0] * x + i), np.cos(f[1] * y), np.sin(f[2] * (x + y))], -1)
        cy, cx, r = rng.uniform(0.2, 0.8, 2).tolist() + [rng.uniform(0.08, 0.25)]
        img[(y - cy) ** 2 + (x - cx) ** 2 < r**2] = rng.uniform(0, 1, 3)
        img += rng.normal(0, 0.04, img.shape)
        path = folder / f"synthetic_{i:03d}.png"
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths
