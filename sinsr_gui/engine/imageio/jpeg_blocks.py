"""Remove the 8x8 block edges of a decoded JPEG, within what its file allows (torch-free).

A JPEG stores each 8x8 block of each colour plane as DCT coefficients rounded to multiples of the file's
quantisation table. The decoder shows the centre of each rounding interval, and at heavy compression those
centres make a staircase of flat blocks: a 4x model then draws them as 32-pixel tiles. Any picture whose
coefficients fall in the same intervals would have given exactly the same file, so we may pick, among those
pictures, the one without block edges.

:func:`remove_blocks` does that by projected gradient descent (the classic "projection onto the quantisation
constraint set"):

1. a quadratic energy on the block edges only: the step across each 8-px grid line should equal the mean of the
   steps beside it (a ramp, not a stair), so texture inside a block is left alone;
2. after each step, every block's DCT coefficients are clamped back into the interval the file's quantisation
   allows (``decoded ± table / 2``). The result can never contradict the file.

Luma is worked at full resolution; chroma at its own (usually half) resolution, and the correction is enlarged
bilinearly. :class:`JpegCoding` records what the file says (tables, sampling, orientation) at read time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .exif import apply_orientation

ITERATIONS = 30
# The automatic strength. Files of quality 30 and up are left alone (the models handle their blocks). Below, the
# strength follows how blocky the picture is: the mean step across its 8-px grid over the mean step elsewhere
# (1: no grid), from 0 at 1.3 to full at 2.7. Full removal pulls an ordinary heavy JPEG's grid smoother than
# the ground truth's (the model deblocks too): Set14 saved by Pillow at quality 10/15/20 measures 2.00/1.67/1.53
# on average, which gives 0.49/0.27/0.17; RealSet65's cat1.jpeg, blockier than its tables say (quality 15),
# measures 2.69 and gets 0.99.
AUTOMATIC_BELOW_QUALITY = 30
AUTOMATIC_GRID_RATIO = (1.3, 2.7)
STEP = 0.05  # below 2 / (largest eigenvalue of the edge energy's Hessian, 20): a stable descent
# The IJG standard luminance table (quality 50), natural order: its ratio to a file's table gives the quality.
_STANDARD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)
_LOW = np.array([u * 8 + v for u in range(3) for v in range(3) if u + v <= 2])  # DC and the first 5 AC steps
_INVERSE_ORIENTATION = {6: 8, 8: 6}  # the others (flips, transpose, transverse) undo themselves


@dataclass(frozen=True)
class JpegCoding:
    """How a JPEG file coded its pixels: enough to know which other pictures it could have been.

    ``tables``: the quantisation tables, 64 steps each in natural (row-major) order; ``components``: per plane
    (Y, Cb, Cr or a single grey plane) its ``(horizontal, vertical, table index)``; ``orientation``: the EXIF
    orientation applied to the decoded pixels after decoding (1: none).
    """

    tables: tuple[tuple[int, ...], ...]
    components: tuple[tuple[int, int, int], ...]
    orientation: int = 1

    @property
    def quality(self) -> int:
        """The IJG quality (1-100) whose luma table is closest to this file's in the lowest frequencies (DC and
        the first AC steps, whose rounding is what makes block edges): 75-95 is a typical camera or web photo,
        30 and below a heavily compressed one. Tables that are not a scaled IJG table get their equivalent."""
        table = np.asarray(self.tables[self.components[0][2]], dtype=np.float64)
        percent = float(np.mean(table[_LOW] * 100.0 / _STANDARD_LUMA[_LOW]))
        quality = 5000.0 / percent if percent >= 100 else (200.0 - percent) / 2.0
        return int(min(100, max(1, round(quality))))


def jpeg_coding(img: Image.Image, orientation: int = 1) -> JpegCoding | None:
    """What ``img`` (a Pillow image opened from a JPEG, before conversion) says about its coding; None for
    anything this module cannot work on (not a JPEG, CMYK, RGB-coded Adobe files, odd sampling)."""
    if img.format not in ("JPEG", "MPO") or img.mode not in ("RGB", "L"):
        return None
    layers = getattr(img, "layer", None)
    tables = getattr(img, "quantization", None)
    if not layers or not tables or len(layers) != (3 if img.mode == "RGB" else 1):
        return None
    if img.mode == "RGB" and img.info.get("adobe_transform") == 0:
        return None  # stored as RGB planes, not YCbCr
    h_max = max(layer[1] for layer in layers)
    v_max = max(layer[2] for layer in layers)
    components = []
    for _id, h, v, table in layers:
        if table not in tables or len(tables[table]) != 64 or h_max % h or v_max % v:
            return None
        components.append((h, v, table))
    if img.mode == "RGB" and components[0][:2] != (h_max, v_max):
        return None  # luma must be the full-resolution plane
    return JpegCoding(tables=tuple(tuple(int(s) for s in tables[k]) for k in sorted(tables)),
                      components=tuple((h, v, sorted(tables).index(t)) for h, v, t in components),
                      orientation=orientation)


def automatic_strength(rgb: np.ndarray, coding: JpegCoding) -> float:
    """How much of the block removal an automatic run applies to ``rgb`` (0-1): see
    :data:`AUTOMATIC_GRID_RATIO`; 0 for files of quality :data:`AUTOMATIC_BELOW_QUALITY` and up."""
    if coding.quality >= AUTOMATIC_BELOW_QUALITY:
        return 0.0
    stored = apply_orientation(rgb, _INVERSE_ORIENTATION.get(coding.orientation, coding.orientation))
    ratio = grid_step_ratio(stored @ _RGB_TO_YCBCR[0])
    low, high = AUTOMATIC_GRID_RATIO
    return float(np.clip((ratio - low) / (high - low), 0.0, 1.0))


def grid_step_ratio(plane: np.ndarray) -> float:
    """The mean step across the 8-px grid of ``plane`` over the mean step elsewhere, both axes (1: no grid;
    1 for a plane too small to have a grid)."""
    across = elsewhere = 0.0
    for a in (plane, plane.T):
        d = np.abs(np.diff(a, axis=1))
        on = (np.arange(d.shape[1]) % 8) == 7
        if not on.any() or on.all():
            return 1.0
        across += float(d[:, on].mean())
        elsewhere += float(d[:, ~on].mean())
    if elsewhere <= 0:
        return 1.0 if across <= 0 else float("inf")  # flat blocks: all steps on the grid
    return across / elsewhere


def remove_blocks(rgb: np.ndarray, coding: JpegCoding, strength: float = 1.0, iterations: int = ITERATIONS
                  ) -> np.ndarray:
    """``rgb`` ((H, W, 3) float [0, 1], upright, decoded from the file ``coding`` describes) without its block
    edges; a new float32 array of the same shape. ``strength`` in [0, 1] mixes the decoded picture (0) with the
    one without block edges (1): both agree with the file, so every mix does too. Grey JPEGs stay grey."""
    stored = apply_orientation(rgb.astype(np.float32) * np.float32(255.0), _INVERSE_ORIENTATION.get(coding.orientation,
                                                                                 coding.orientation))
    if len(coding.components) == 1:
        grey = _deblock_plane(stored[..., 0], coding.tables[coding.components[0][2]], iterations)
        out = np.repeat(grey[..., None], 3, axis=2)
    else:
        planes = _to_ycbcr(stored)
        h_max = max(c[0] for c in coding.components)
        v_max = max(c[1] for c in coding.components)
        for i, (h, v, table) in enumerate(coding.components):
            planes[..., i] = _deblock_subsampled(planes[..., i], coding.tables[table], v_max // v, h_max // h,
                                                 iterations)
        out = _to_rgb(planes)
    out = apply_orientation(out, coding.orientation) / 255.0
    return np.clip(rgb + strength * (out - rgb), 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------------------------- the planes
def _deblock_subsampled(plane: np.ndarray, table: tuple[int, ...], fy: int, fx: int, iterations: int
                        ) -> np.ndarray:
    """A plane stored at 1/fy x 1/fx resolution: worked at that resolution (the box mean stands in for the
    decoder's input), the correction enlarged bilinearly onto the full-resolution plane."""
    if fy == fx == 1:
        return _deblock_plane(plane, table, iterations)
    h, w = plane.shape
    hp, wp = -(-h // fy) * fy, -(-w // fx) * fx
    padded = np.pad(plane, ((0, hp - h), (0, wp - w)), mode="edge")
    small = padded.reshape(hp // fy, fy, wp // fx, fx).mean(axis=(1, 3))
    correction = _deblock_plane(small, table, iterations) - small
    return plane + _enlarge(correction, fy, fx)[:h, :w]


def _deblock_plane(plane: np.ndarray, table: tuple[int, ...], iterations: int) -> np.ndarray:
    """Projected gradient descent on one plane (0-255 samples) with its 8x8 quantisation ``table``."""
    h, w = plane.shape
    hp, wp = -(-h // 8) * 8, -(-w // 8) * 8
    # padded as the encoder pads (edge samples repeated), level-shifted as the DCT sees it
    x = np.pad(plane.astype(np.float32), ((0, hp - h), (0, wp - w)), mode="edge") - np.float32(128.0)
    half = np.asarray(table, dtype=np.float32).reshape(8, 8) / 2
    decoded = _dct_blocks(x)
    low, high = decoded - half, decoded + half
    cols, rows = np.arange(8, wp, 8), np.arange(8, hp, 8)
    for _ in range(iterations):
        x = x - STEP * _edge_gradient(x, rows, cols)
        x = _idct_blocks(np.clip(_dct_blocks(x), low, high))
    return x[:h, :w] + 128.0


def _edge_gradient(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Gradient of the block-edge energy: for each grid line at b, (x[b] - x[b-1]) minus the mean of the steps
    on either side, squared; the four samples it involves get weights 1, -3, 3, -1 (times the residual)."""
    grad = np.zeros_like(x)
    if cols.size:
        r = 1.5 * (x[:, cols] - x[:, cols - 1]) + 0.5 * (x[:, cols - 2] - x[:, cols + 1])
        grad[:, cols - 2] += r
        grad[:, cols - 1] -= 3 * r
        grad[:, cols] += 3 * r
        grad[:, cols + 1] -= r
    if rows.size:
        r = 1.5 * (x[rows] - x[rows - 1]) + 0.5 * (x[rows - 2] - x[rows + 1])
        grad[rows - 2] += r
        grad[rows - 1] -= 3 * r
        grad[rows] += 3 * r
        grad[rows + 1] -= r
    return grad


def _dct_matrix() -> np.ndarray:
    k = np.arange(8)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 16) * 0.5
    m[0] /= np.sqrt(2.0)
    return m  # orthonormal: JPEG's forward DCT of a block B is M @ B @ M.T


_DCT = _dct_matrix().astype(np.float32)  # float32 throughout: a photo's planes, not its size in float64


def _dct_blocks(x: np.ndarray) -> np.ndarray:
    h, w = x.shape
    blocks = x.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    return _DCT @ blocks @ _DCT.T


def _idct_blocks(d: np.ndarray) -> np.ndarray:
    bh, bw = d.shape[:2]
    return (_DCT.T @ d @ _DCT).transpose(0, 2, 1, 3).reshape(bh * 8, bw * 8)


def _enlarge(a: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Bilinear enlargement by whole factors with centred samples (as a JPEG decoder places chroma)."""
    def axis(n: int, f: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n * f) + 0.5) / f - 0.5, 0, n - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        return lo, hi, (pos - lo).astype(np.float32)
    y0, y1, wy = axis(a.shape[0], fy)
    x0, x1, wx = axis(a.shape[1], fx)
    rows = a[y0] * (1 - wy)[:, None] + a[y1] * wy[:, None]
    return rows[:, x0] * (1 - wx) + rows[:, x1] * wx


# ----------------------------------------------------------------------------------------------- colour
# JFIF's full-range YCbCr, as libjpeg converts.
_RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168735892, -0.331264108, 0.5],
                          [0.5, -0.418687589, -0.081312411]])
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR).astype(np.float32)
_RGB_TO_YCBCR = _RGB_TO_YCBCR.astype(np.float32)


def _to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    out = rgb @ _RGB_TO_YCBCR.T
    out[..., 1:] += 128.0
    return out


def _to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    shifted = ycbcr.copy()
    shifted[..., 1:] -= 128.0
    return shifted @ _YCBCR_TO_RGB.T
