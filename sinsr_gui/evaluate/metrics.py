"""The measures of an x4 output against its ground truth and its input (``(H, W, 3)`` uint8 RGB everywhere).

* PSNR and SSIM on the ITU-R BT.601 luma ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (R, G, B in [0, 1]),
  4-pixel border removed; SSIM with the standard 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03,
  L = 255, over the valid positions;
* **block**: :func:`block_index`, how much of the JPEG 8x8 grid (32 px at x4) is left; the ground truth's own
  value is reported next to it (about 1.0);
* **sharpness**: :func:`sharpness_ratio`, the mean luma gradient against the ground truth's (1.0 = as crisp);
* **colour**: :func:`colour_shift`, the largest per-channel change of the mean colour against the input, in
  8-bit levels;
* **pattern**: :func:`cell_pattern`, a fixed pattern repeated in every 4x4 output cell (the dot grid a GAN can
  teach a pixel-shuffle network), RMS in luma levels; the ground truth's own value (the chance level of the
  average, about 0.3 on Set14) is reported next to it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

SCALE = 4  # the evaluation is x4: the block grid (8 px at LR) and the pattern cell follow from it
BORDER = 4
METRICS = ("psnr", "ssim", "block", "sharpness", "colour", "pattern")


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB in ``[0, 1]`` -> ``(H, W)`` float64 BT.601 luma in ``[16, 235]`` (MATLAB rgb2ycbcr)."""
    img = np.asarray(img, dtype=np.float64)
    return 16.0 + img @ np.array([65.481, 128.553, 24.966])


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB between two same-shape arrays on a ``data_range`` scale; ``inf`` when they are equal."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of ``(H, W)`` with the 1-D kernel ``g`` along both axes."""
    t = torch.from_numpy(img)[None, None]  # (1, 1, H, W) float64
    k = torch.from_numpy(g)
    t = torch.nn.functional.conv2d(t, k.view(1, 1, -1, 1))
    t = torch.nn.functional.conv2d(t, k.view(1, 1, 1, -1))
    return t[0, 0].numpy()


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM (Wang et al. 2004) of two ``(H, W)`` images, 11x11 Gaussian window sigma 1.5, valid region.

    Both sides must be at least 11 pixels. Identical images give exactly 1.0.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    g = _gaussian_window()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a**2
    var_b = _filter_valid(b * b, g) - mu_b**2
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def y_metrics(sr: np.ndarray, hr: np.ndarray, border: int = BORDER) -> tuple[float, float]:
    """(PSNR, SSIM) on Y with ``border`` pixels removed; ``sr``/``hr`` are ``(H, W, 3)`` uint8 RGB."""
    ys = rgb_to_y(sr / 255.0)[border:-border, border:-border]
    yh = rgb_to_y(hr / 255.0)[border:-border, border:-border]
    return psnr(ys, yh), ssim(ys, yh)


def gradients(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute horizontal ``(H, W-1)`` and vertical ``(H-1, W)`` neighbour differences of a 2-D image."""
    y = np.asarray(y, np.float64)
    return np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0))


def block_index(img: np.ndarray, grid: int = SCALE * 8) -> float:
    """How visible a JPEG block grid is: mean luma step across the ``grid`` lines / mean step elsewhere.

    ``img``: ``(H, W, 3)`` uint8 RGB, an x4 output whose input was a JPEG (8x8 blocks -> 32-px grid). The
    steps between pixels ``32k - 1`` and ``32k`` (horizontally and vertically) are compared with all other
    neighbour steps; the two ratios are averaged. A photo without blocks gives about 1.0; a visible grid > 1.
    """
    dx, dy = gradients(rgb_to_y(img / 255.0))
    on_x = (np.arange(dx.shape[1]) + 1) % grid == 0
    on_y = (np.arange(dy.shape[0]) + 1) % grid == 0
    rx = dx[:, on_x].mean() / dx[:, ~on_x].mean()
    ry = dy[on_y, :].mean() / dy[~on_y, :].mean()
    return float(0.5 * (rx + ry))


def mean_gradient(img: np.ndarray) -> float:
    """Mean luma gradient magnitude ``sqrt(dx² + dy²)`` (forward differences) of ``(H, W, 3)`` uint8 RGB."""
    dx, dy = gradients(rgb_to_y(img / 255.0))
    return float(np.sqrt(dx[:-1, :] ** 2 + dy[:, :-1] ** 2).mean())


def sharpness_ratio(sr: np.ndarray, hr: np.ndarray) -> float:
    """``mean_gradient(sr) / mean_gradient(hr)``: 1.0 is as crisp as the ground truth, bicubic about 0.4."""
    return mean_gradient(sr) / mean_gradient(hr)


def colour_shift(sr: np.ndarray, lr: np.ndarray) -> float:
    """Largest per-channel difference of the mean colour (8-bit levels) between output and input."""
    return float(np.abs(sr.reshape(-1, 3).mean(0) - lr.reshape(-1, 3).mean(0)).max())


def cell_pattern(img: np.ndarray, cell: int = SCALE) -> float:
    """How strong a pattern repeated in every ``cell`` x ``cell`` output cell is, in 8-bit luma levels (RMS).

    The luma's :func:`~sinsr_gui.training.losses.mean_cell_pattern` (the cells' position-by-position average
    after removing each cell's mean: what the training's pattern loss penalises), as an RMS. ``img`` is
    ``(H, W, 3)`` uint8 RGB; an image without such a pattern gives only the chance level of the average
    (smaller for larger images).
    """
    from sinsr_gui.training.losses import mean_cell_pattern

    pattern = mean_cell_pattern(torch.from_numpy(rgb_to_y(img / 255.0)), cell)  # float64, like the other measures
    return float(pattern.square().mean().sqrt())


def measure(sr: np.ndarray, hr: np.ndarray, lr: np.ndarray) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one output (all ``(H, W, 3)`` uint8 RGB; ``lr`` is the input)."""
    p, s = y_metrics(sr, hr)
    return {"psnr": p, "ssim": s, "block": block_index(sr), "sharpness": sharpness_ratio(sr, hr),
            "colour": colour_shift(sr, lr), "pattern": cell_pattern(sr)}
