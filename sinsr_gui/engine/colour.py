"""Colour fix: pull a result's colours back to the input's, keeping the detail the model added.

ResShift-family outputs can drift in colour (a cast over the whole photo, or slowly varying tints). Two
corrections, as in StableSR and InvSR, both against the input enlarged to the output size with bicubic (the
"reference"):

* ``"wavelet"``: replace the output's low frequencies by the reference's. The low band is what is left after
  five rounds of a 3x3 blur dilated 1, 2, 4, 8, 16 pixels (an à-trous wavelet decomposition); the high bands,
  where the model's detail lives, are the output's own. Local: a tint in one corner is fixed there.
* ``"adain"``: give each channel of the output the mean and standard deviation of the reference's (adaptive
  instance normalisation). Global: fixes a cast over the whole photo, cheap, but cannot fix local tints.

Both work on ``(H, W, 3)`` float32 RGB in [0, 1].

**Cost.** The fix only needs low frequencies, so it is computed on a coarse grid and applied at full size:

1. The first two blur rounds (dilations 1 and 2) are together one 7-tap triangle filter [1 2 3 4 3 2 1]/16 per
   axis, and the last three (dilations 4, 8, 16) only ever combine pixels 4 apart. So the low band *at every
   4th pixel* is exactly: the triangle filter sampled every 4 pixels, then three blur rounds dilated 1, 2, 4 on
   that quarter-size grid (replicate padding at the image's edge, as at full size).
2. The reference's grid comes straight from the LR input (the bicubic weights folded into the triangle filter):
   the full-size bicubic enlargement is never made.
3. The correction (reference's low band minus the output's) is smooth (its shortest wavelength is far above 4
   px), so a bilinear interpolation of the grid gives it at every pixel; it is added band by band.

On a 10.6 MP result this takes a fraction of a second where the full-size convolutions took 8 s; the result
differs from the full-size computation by interpolation error only (``scripts/colour_fix_check.py`` measures
it on real photos: docs/colour_fix.json). AdaIN's statistics of the reference are exact sums over the LR input
(bicubic weights' Gram bands), so it too never makes the full-size reference.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from sinsr_gui.engine.options import COLOUR_FIXES

WAVELET_LEVELS = 5
GRID = 4  # output pixels per grid step: the dilation of the first blur round done on the grid
# How far (output px) a result pixel looks: the first rounds (3), the grid rounds (4 + 8 + 16), the interpolation
# (two grid steps, kept from the bicubic interpolation that was measured first).
WAVELET_REACH = 3 + sum(2**i for i in range(2, WAVELET_LEVELS)) + 2 * GRID
_BAND = 512  # rows per band
_GRID_BAND = 128  # grid rows per band of the grid filter


def _blur_rounds(x: torch.Tensor, dilations: tuple[int, ...]) -> torch.Tensor:
    """(1, 3, h, w) -> the [1 2 1]x[1 2 1]/16 blur at each dilation in turn, replicate-padded.

    Separable, as shifted sums (PyTorch's dilated depthwise convolution takes a slow im2col path on CPUs).
    """
    for d in dilations:
        for dim in (2, 3):
            p = F.pad(x, (d, d, 0, 0) if dim == 3 else (0, 0, d, d), mode="replicate")
            n = x.shape[dim]
            x = (p.narrow(dim, 0, n) + p.narrow(dim, 2 * d, n)).add_(p.narrow(dim, d, n), alpha=2).mul_(0.25)
    return x


def _as_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]


def _cubic(t: np.ndarray) -> np.ndarray:
    """PyTorch's bicubic kernel (a = -0.75) at distances ``t``."""
    a, t = -0.75, np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def bicubic_taps(positions: np.ndarray, scale: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """LR indices and weights, ``(N, 4)`` each, of the bicubic enlargement (``F.interpolate(scale_factor=scale,
    mode="bicubic", align_corners=False)``) at output ``positions`` along an LR axis of ``length`` pixels."""
    src = (np.asarray(positions, dtype=np.float64) + 0.5) / scale - 0.5
    i0 = np.floor(src)
    t = (src - i0)[:, None]
    offsets = np.arange(-1, 3)
    return (np.clip(i0[:, None] + offsets, 0, length - 1).astype(np.int64), _cubic(t - offsets))


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


class _GridAxis:
    """One axis of the coarse grid of a crop of ``length`` output pixels starting at output pixel ``origin``.

    Grid point g sits at output pixel ``GRID·g`` of the whole image (so a crop and the whole image share their
    grid points). The grid starts at the image's edge (the replicate padding of every blur round then lands on
    grid point 0, as at full size), or one point before a crop's edge; it ends two points past the last pixel,
    clamped to it (the replicate padding there), to feed the bicubic interpolation.
    """

    def __init__(self, length: int, origin: int) -> None:
        self.length, self.origin = length, origin
        self.first = origin // GRID - (1 if origin else 0)
        last = (origin + length - 1) // GRID + 2
        self.positions = np.clip(GRID * np.arange(self.first, last + 1) - origin, 0, length - 1)  # local pixels

    def first_rounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(G, 9) pixel indices and weights of the first two blur rounds (dilations 1, 2; replicate-padded, as
        at full size) at each grid point: the triangle filter [1 2 3 4 3 2 1]/16 away from the edges."""
        taps = np.array([1.0, 2.0, 1.0]) / 4
        p = self.positions[:, None]
        idx, w = [], []
        for j, wj in zip((-2, 0, 2), taps):
            q = np.clip(p + j, 0, self.length - 1)
            for i, wi in zip((-1, 0, 1), taps):
                idx.append(np.clip(q + i, 0, self.length - 1))
                w.append(np.full(q.shape, wi * wj))
        return np.concatenate(idx, 1).astype(np.int64), np.concatenate(w, 1)

    def reference(self, scale: int, lr_length: int) -> tuple[np.ndarray, np.ndarray]:
        """(G, 36) LR indices and weights: the first two blur rounds of the bicubic enlargement at each grid
        point."""
        idx, w = self.first_rounds()
        lr_idx, lr_w = bicubic_taps(idx.ravel(), scale, lr_length)
        g, taps = idx.shape
        return lr_idx.reshape(g, -1), (lr_w.reshape(g, taps, 4) * w[:, :, None]).reshape(g, -1)


def _filter(x: torch.Tensor, dim: int, idx: np.ndarray, weights: np.ndarray, chunk: int = 16) -> torch.Tensor:
    """Along ``dim`` of ``x``: output i = sum_t weights[i, t] · x[idx[i, t]] (a sparse matrix product).

    Done ``chunk`` outputs at a time as a small dense matrix times the rows they read: one pass over ``x`` at
    matrix-multiply speed, whatever the number of taps.
    """
    moved = x.movedim(dim, 0)
    rest = moved.shape[1:]
    flat = moved.reshape(moved.shape[0], -1)  # a view when dim is 0 and x is contiguous
    out = torch.empty((len(idx), flat.shape[1]), dtype=torch.float32)
    for c0 in range(0, len(idx), chunk):
        ci, cw = idx[c0:c0 + chunk], weights[c0:c0 + chunk]
        lo, hi = int(ci.min()), int(ci.max()) + 1
        matrix = np.zeros((len(ci), hi - lo), dtype=np.float32)
        np.add.at(matrix, (np.repeat(np.arange(len(ci)), ci.shape[1]), (ci - lo).ravel()), cw.ravel())
        torch.mm(torch.from_numpy(matrix), flat[lo:hi], out=out[c0:c0 + len(ci)])
    return out.reshape(len(idx), *rest).movedim(0, dim)


def _grid_low_band(grid: torch.Tensor) -> torch.Tensor:
    """(G, Gx, 3) grid after the first two rounds -> the low band at the grid points: the blur rounds dilated 4, 8, 16
    px at full size are dilations 1, 2, 4 on the grid."""
    low = _blur_rounds(grid.permute(2, 0, 1)[None].contiguous(), tuple(2**i for i in range(WAVELET_LEVELS - 2)))
    return low[0].permute(1, 2, 0)


def _grid_of_output(out: np.ndarray, ay: _GridAxis, ax: _GridAxis) -> torch.Tensor:
    """The output after the first two blur rounds, at the grid points (G, Gx, 3), the vertical pass in bands of grid rows."""
    x = torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
    iy, wy = ay.first_rounds()
    ix, wx = ax.first_rounds()
    parts = [_filter(_filter(x, 0, iy[g:g + _GRID_BAND], wy[g:g + _GRID_BAND]).transpose(0, 1).contiguous(),
                     0, ix, wx).transpose(0, 1)
             for g in range(0, len(iy), _GRID_BAND)]
    return torch.cat(parts)


def _grid_of_reference(lr: np.ndarray, scale: int, ay: _GridAxis, ax: _GridAxis) -> torch.Tensor:
    """The reference after the first two blur rounds, at the grid points (G, Gx, 3), straight from the LR input."""
    x = torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32))
    iy, wy = ay.reference(scale, lr.shape[0])
    ix, wx = ax.reference(scale, lr.shape[1])
    return _filter(_filter(x, 0, iy, wy).transpose(0, 1).contiguous(), 0, ix, wx).transpose(0, 1)


def wavelet_fix(out: np.ndarray, reference: Reference, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """``out``'s high bands plus the reference's low band, clipped to [0, 1]; ``(H, W, 3)`` float32.

    ``origin`` is where ``out[0, 0]`` lies in the whole result (output pixels, (y, x)), so that a crop of
    the result (a preview) uses the whole result's grid and, given the margin of :func:`region_margin`, gets
    the same pixels.
    """
    _check(out, reference)
    h, w = out.shape[:2]
    ay, ax = _GridAxis(h, origin[0]), _GridAxis(w, origin[1])
    correction = (_grid_low_band(_grid_of_reference(reference.lr, reference.scale, ay, ax))
                  - _grid_low_band(_grid_of_output(out, ay, ax))).permute(2, 0, 1)[None]
    correction = correction.contiguous(memory_format=torch.channels_last)  # (1, 3, G, Gx)
    result = np.empty_like(out, dtype=np.float32)
    x0 = origin[1] - GRID * ax.first  # the crop's first column in the interpolated columns
    for y0 in range(0, h, _BAND):
        y1 = min(h, y0 + _BAND)
        # The grid rows around the band (bicubic: one before, two after; clamped to the grid as it is).
        g0 = max(0, (origin[0] + y0) // GRID - 1 - ay.first)
        g1 = (origin[0] + y1 - 1) // GRID + 2 - ay.first
        part = correction[:, :, g0:g1 + 1]
        # Bilinear, exactly GRID pixels per grid step (bilinear on channels-last is 3x faster than bicubic and
        # within 0.03 levels of it on photos: the correction is that smooth). Separably: along the rows of the
        # grid first (a quarter of the band), then each output row is a grid row plus a fixed fraction of the
        # step to the next one, added to the output's row in the same pass.
        cols = F.interpolate(part, size=(part.shape[2], GRID * (part.shape[3] - 1) + 1), mode="bilinear",
                             align_corners=True)[0, :, :, x0:x0 + w].permute(1, 2, 0)  # (grid rows, w, 3)
        _add_rows_interpolated(out[y0:y1], cols, origin[0] + y0 - GRID * (ay.first + g0), result[y0:y1])
    return result


def _add_rows_interpolated(out: np.ndarray, cols: torch.Tensor, first: int, result: np.ndarray) -> None:
    """``result = clip(out + C)``, C the grid rows ``cols`` interpolated linearly at GRID output rows per grid
    row, row 0 of ``out`` lying ``first`` output rows below grid row 0."""
    src, dst = torch.from_numpy(out), torch.from_numpy(result)
    steps = cols[1:] - cols[:-1]
    for phase in range(GRID):  # the rows at the same fraction of a grid step: every GRID-th row
        start = (phase - first) % GRID
        n = len(range(start, out.shape[0], GRID))
        if n == 0:
            continue
        g = (first + start) // GRID
        rows = cols[g:g + n] if phase == 0 else torch.add(cols[g:g + n], steps[g:g + n], alpha=phase / GRID)
        torch.add(src[start::GRID], rows, out=dst[start::GRID])
    dst.clamp_(0, 1)


def _check(out: np.ndarray, reference: Reference) -> None:
    if tuple(out.shape) != reference.shape:
        raise ValueError(f"output {out.shape} and reference {reference.shape} differ in size")


def channel_stats(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``(H, W, 3)``, accumulated in float64 band by band."""
    n, total, squares = 0, torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    for y0 in range(0, img.shape[0], _BAND):
        band = torch.from_numpy(np.ascontiguousarray(img[y0:y0 + _BAND], dtype=np.float32)).reshape(-1, 3)
        n += band.shape[0]
        total += band.sum(0, dtype=torch.float64)
        squares += (band * band).sum(0, dtype=torch.float64)
    mean = (total / n).numpy()
    return mean, np.sqrt(np.maximum((squares / n).numpy() - mean * mean, 0.0))


def _axis_weights(scale: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Along one LR axis of ``length``: the bicubic weights' column sums ``(length,)`` and Gram bands
    ``(7, length)``, band d + 3 holding G[i, i + d] where G = AᵀA and A is the (scale·length, length) matrix of
    the enlargement (each output pixel's four taps lie within 3 LR pixels of each other)."""
    idx, w = bicubic_taps(np.arange(scale * length), scale, length)
    sums = np.bincount(idx.ravel(), w.ravel(), minlength=length)
    gram = np.zeros(7 * length)
    for t in range(4):
        for u in range(4):
            gram += np.bincount((idx[:, u] - idx[:, t] + 3) * length + idx[:, t], w[:, t] * w[:, u],
                                minlength=7 * length)
    return sums, gram.reshape(7, length)


def _banded(gram: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """G·x along ``axis`` of x (LR rows or columns), G given by its 7 bands."""
    x = np.moveaxis(x, axis, 0)
    n = x.shape[0]
    padded = np.concatenate([np.zeros((3, *x.shape[1:])), x, np.zeros((3, *x.shape[1:]))])
    out = sum(gram[d + 3].reshape(-1, *[1] * (x.ndim - 1)) * padded[3 + d:3 + d + n] for d in range(-3, 4))
    return np.moveaxis(out, 0, axis)


def reference_stats(reference: Reference) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of the reference, exactly, without making it: with R = Ay X Axᵀ
    per channel, sum(R) = ayᵀ X ax (column sums) and sum(R²) = sum(X ∘ (Gy X Gx)) (Gram matrices, banded)."""
    x = reference.lr.astype(np.float64)  # (h, w, 3)
    sy, gy = _axis_weights(reference.scale, x.shape[0])
    sx, gx = _axis_weights(reference.scale, x.shape[1])
    n = reference.shape[0] * reference.shape[1]
    mean = np.einsum("i,ilc,l->c", sy, x, sx) / n
    squares = (x * _banded(gy, _banded(gx, x, 1), 0)).sum((0, 1)) / n
    return mean, np.sqrt(np.maximum(squares - mean * mean, 0.0))


def adain_fix(out: np.ndarray, reference: Reference) -> np.ndarray:
    """``out`` with each channel's mean and standard deviation set to the reference's, clipped to [0, 1]."""
    _check(out, reference)
    mo, so = channel_stats(out)
    mr, sr = reference_stats(reference)
    gain = torch.from_numpy((sr / np.maximum(so, 1e-6)).astype(np.float32))
    offset = torch.from_numpy((mr - mo * sr / np.maximum(so, 1e-6)).astype(np.float32))
    result = np.empty_like(out, dtype=np.float32)
    for y0 in range(0, out.shape[0], _BAND):
        band = torch.from_numpy(np.ascontiguousarray(out[y0:y0 + _BAND], dtype=np.float32))
        torch.addcmul(offset, band, gain, out=torch.from_numpy(result[y0:y0 + _BAND])).clamp_(0, 1)
    return result


def region_margin(method: str, scale: int) -> int:
    """LR pixels around a region that a colour fix must see for the region to come out as in the whole image
    (the low band's reach plus the reference's bicubic support; AdaIN's statistics are global instead, so a
    region's AdaIN uses the region's own statistics and is only close to the final result)."""
    return math.ceil((WAVELET_REACH + 3 * scale) / scale) + 1 if method == "wavelet" else 0


def fix_colour(out: np.ndarray, lr: np.ndarray, scale: int, method: str,
               origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Apply colour fix ``method`` (one of :data:`COLOUR_FIXES`) to the x``scale`` result ``out`` of ``lr``;
    ``origin``: where ``out`` starts in the whole result (output pixels, (y, x)) when it is a crop of it."""
    if method == "off":
        return out
    if method == "wavelet":
        return wavelet_fix(out, Reference(lr, scale), origin)
    if method == "adain":
        return adain_fix(out, Reference(lr, scale))
    raise ValueError(f"unknown colour fix {method!r}; choose {', '.join(COLOUR_FIXES)}")
