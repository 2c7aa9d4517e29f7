"""Colour fix: pull a result's colours back to the input's, keeping the detail the model added.

ResShift-family outputs can drift in colour (a cast over the whole photo, or slowly varying tints). Two
corrections, as in StableSR and InvSR, both against the input enlarged to the output size with bicubic (the
"reference"):

* ``"wavelet"``: replace the output's low frequencies by the reference's. The low band is what is left after
  five rounds of a 3x3 blur dilated 1, 2, 4, 8, 16 pixels (an à-trous wavelet decomposition); the high bands,
  where the model's detail lives, are the output's own. Local: a tint in one corner is fixed there.
* ``"adain"``: give each channel of the output the mean and standard deviation of the reference's (adaptive
  instance normalisation). Global: fixes a cast over the whole photo, cheap, but cannot fix local tints.

Both work on ``(H, W, 3)`` float32 RGB in [0, 1], in horizontal bands (the reference too is made band by band
from the LR input), so a 50-megapixel result needs a few bands of scratch memory and one output array.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from sinsr_gui.engine.options import COLOUR_FIXES

WAVELET_LEVELS = 5
WAVELET_REACH = sum(2**i for i in range(WAVELET_LEVELS))  # 31 px: how far the low band looks
_BAND = 512  # rows per band


def _low_band(x: torch.Tensor) -> torch.Tensor:
    """(1, 3, h, w) -> its low band: five à-trous rounds of the [1 2 1]x[1 2 1]/16 blur, replicate-padded."""
    k = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    weight = k.to(x.dtype).expand(3, 1, 3, 3)
    for level in range(WAVELET_LEVELS):
        d = 2**level
        x = F.conv2d(F.pad(x, (d, d, d, d), mode="replicate"), weight, dilation=d, groups=3)
    return x


def _as_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]


class Reference:
    """The LR input enlarged ``scale`` times with bicubic, made on demand for any band of output rows.

    Each band is computed from the LR rows it needs plus a margin, so it equals the same rows of the whole
    enlargement (``F.interpolate(..., mode="bicubic")``), and the full-size reference is never held.
    """

    def __init__(self, lr: np.ndarray, scale: int) -> None:
        self.lr, self.scale = np.asarray(lr, dtype=np.float32), int(scale)
        self.shape = (self.lr.shape[0] * self.scale, self.lr.shape[1] * self.scale, 3)

    def rows(self, y0: int, y1: int) -> np.ndarray:
        s, margin = self.scale, 3  # bicubic looks two LR rows away; one more for rounding
        r0, r1 = max(0, y0 // s - margin), min(self.lr.shape[0], -(-y1 // s) + margin)
        up = F.interpolate(_as_tensor(self.lr[r0:r1]), scale_factor=s, mode="bicubic", align_corners=False)
        return up[0, :, y0 - r0 * s:y1 - r0 * s].permute(1, 2, 0).numpy()


def wavelet_fix(out: np.ndarray, reference: Reference) -> np.ndarray:
    """``out``'s high bands plus the reference's low band, clipped to [0, 1]; ``(H, W, 3)`` float32.

    In bands of rows with a margin of the low band's reach, so each band's result equals the whole-image one.
    """
    _check(out, reference)
    h = out.shape[0]
    result = np.empty_like(out, dtype=np.float32)
    for y0 in range(0, h, _BAND):
        y1 = min(h, y0 + _BAND)
        a0, a1 = max(0, y0 - WAVELET_REACH), min(h, y1 + WAVELET_REACH)
        o, r = _as_tensor(out[a0:a1]), _as_tensor(reference.rows(a0, a1))
        fixed = o - _low_band(o) + _low_band(r)
        result[y0:y1] = fixed[0, :, y0 - a0:y1 - a0].permute(1, 2, 0).clamp(0, 1).numpy()
    return result


def _check(out: np.ndarray, reference: Reference) -> None:
    if tuple(out.shape) != reference.shape:
        raise ValueError(f"output {out.shape} and reference {reference.shape} differ in size")


def channel_stats(img: np.ndarray | Reference) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``(H, W, 3)``, accumulated in float64 band by band."""
    n, total, squares = 0, np.zeros(3), np.zeros(3)
    for y0 in range(0, img.shape[0], _BAND):
        rows = img.rows(y0, min(img.shape[0], y0 + _BAND)) if isinstance(img, Reference) else img[y0:y0 + _BAND]
        band = rows.reshape(-1, 3).astype(np.float64)
        n += band.shape[0]
        total += band.sum(0)
        squares += (band * band).sum(0)
    mean = total / n
    return mean, np.sqrt(np.maximum(squares / n - mean * mean, 0.0))


def adain_fix(out: np.ndarray, reference: Reference) -> np.ndarray:
    """``out`` with each channel's mean and standard deviation set to the reference's, clipped to [0, 1]."""
    _check(out, reference)
    mo, so = channel_stats(out)
    mr, sr = channel_stats(reference)
    gain = (sr / np.maximum(so, 1e-6)).astype(np.float32)
    offset = (mr - mo * gain).astype(np.float32)
    result = np.empty_like(out, dtype=np.float32)
    for y0 in range(0, out.shape[0], _BAND):
        result[y0:y0 + _BAND] = np.clip(out[y0:y0 + _BAND] * gain + offset, 0.0, 1.0)
    return result


def region_margin(method: str, scale: int) -> int:
    """LR pixels around a region that a colour fix must see for the region to come out as in the whole image
    (the low band's reach plus the reference's bicubic support; AdaIN's statistics are global instead, so a
    region's AdaIN uses the region's own statistics and is only close to the final result)."""
    return math.ceil((WAVELET_REACH + 3 * scale) / scale) + 1 if method == "wavelet" else 0


def fix_colour(out: np.ndarray, lr: np.ndarray, scale: int, method: str) -> np.ndarray:
    """Apply colour fix ``method`` (one of :data:`COLOUR_FIXES`) to the x``scale`` result ``out`` of ``lr``."""
    if method == "off":
        return out
    if method == "wavelet":
        return wavelet_fix(out, Reference(lr, scale))
    if method == "adain":
        return adain_fix(out, Reference(lr, scale))
    raise ValueError(f"unknown colour fix {method!r}; choose {', '.join(COLOUR_FIXES)}")
