"""Resizing float planes without 8-bit rounding: RGB with Lanczos, alpha with bicubic.

Used to bring the x4 model output to the chosen scale (x2/x3 are downscales of it) and to upscale the
alpha channel, which the model does not see.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_rgb(rgb: np.ndarray, size: tuple[int, int],
               box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Lanczos resize of float (H, W, 3) RGB in [0, 1] to ``size`` = (w, h); float32 out, clipped to [0, 1].

    Pillow widens the Lanczos kernel by the scale factor when shrinking, so downscales (x2/x3 from the x4
    result) are antialiased. Each channel goes through Pillow's 32-bit float mode: no 8-bit rounding.
    ``box`` = (left, top, right, bottom) resizes only that source area (fractional pixels allowed): a crop
    with a margin around ``box`` then gives the same pixels as resizing the whole image, which previews use.
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) RGB, got shape {rgb.shape}")
    return np.stack([_resize_plane(rgb[..., c], size, Image.Resampling.LANCZOS, box) for c in range(3)], axis=2)


def upscale_alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize float (H, W) alpha in [0, 1] to ``size`` = (w, h); float32 (h, w) in [0, 1].

    Bicubic rather than Lanczos: it rings less at hard mask edges, where overshoot would be clipped into
    visible halos.
    """
    alpha = np.asarray(alpha, dtype=np.float32)
    if alpha.ndim != 2:
        raise ValueError(f"expected (H, W) alpha, got shape {alpha.shape}")
    return _resize_plane(alpha, size, Image.Resampling.BICUBIC)


def _resize_plane(plane: np.ndarray, size: tuple[int, int], resample: Image.Resampling,
                  box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    w, h = (int(v) for v in size)
    if w < 1 or h < 1:
        raise ValueError(f"target size must be positive, got {size}")
    img = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
    out = np.asarray(img.resize((w, h), resample, box=box))
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)
