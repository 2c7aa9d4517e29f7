"""Training losses that need no downloaded network (no VGG, no LPIPS): pixel, frequency, gradient, sub-pixel
pattern and adversarial.

All take ``(N, C, H, W)`` float tensors; images are RGB in [0, 1]. Each returns a scalar tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pixel_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(pred, target)


def frequency_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the orthonormal 2-D spectra (real and imaginary parts).

    Pixel L1 lets a network trade the weak high frequencies for a smooth, safe average; here every spatial
    frequency's error counts with the same weight, so fine detail that is missing costs as much as a
    slightly wrong flat area.
    """
    fp = torch.fft.rfft2(pred.float(), norm="ortho")
    ft = torch.fft.rfft2(target.float(), norm="ortho")
    return (torch.view_as_real(fp) - torch.view_as_real(ft)).abs().mean()


def _diffs(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal ``(..., H, W-1)`` and vertical ``(..., H-1, W)`` neighbour differences."""
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def gradient_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the image gradients: an edge must be as steep as the target's, and no step may appear where
    the target has none (pixel L1 lets a network trade both for a smooth average)."""
    (px, py), (tx, ty) = _diffs(pred.float()), _diffs(target.float())
    return (px - tx).abs().mean() + (py - ty).abs().mean()


def grid_gradient_l1(pred: torch.Tensor, target: torch.Tensor, grid: int) -> torch.Tensor:
    """:func:`gradient_l1` only across the lines of a ``grid``-pixel grid (the steps between pixels ``k·grid - 1``
    and ``k·grid``): where a JPEG input's 8x8 blocks meet, the output must step exactly as the target does."""
    (px, py), (tx, ty) = _diffs(pred.float()), _diffs(target.float())
    cols = torch.arange(grid - 1, px.shape[-1], grid, device=pred.device)
    rows = torch.arange(grid - 1, py.shape[-2], grid, device=pred.device)
    return ((px[..., cols] - tx[..., cols]).abs().mean() + (py[..., rows, :] - ty[..., rows, :]).abs().mean())


def mean_cell_pattern(x: torch.Tensor, cell: int) -> torch.Tensor:
    """The pattern repeated in every ``cell`` x ``cell`` block of ``x`` (``(..., H, W)`` -> ``(..., cell, cell)``).

    ``x`` is cut into cells (one per LR pixel at x4, the right and bottom remainder dropped); each cell's own
    mean is removed and the cells are averaged position by position. Texture and edges fall at every sub-pixel
    position in turn and average out; a fixed pattern (one position always brighter: the dot grid that a GAN
    teaches a pixel-shuffle network) survives. Shared by :func:`cell_pattern_l1` and the evaluation's measure
    (:func:`sinsr_gui.evaluate.cell_pattern`).
    """
    h, w = (x.shape[-2] // cell) * cell, (x.shape[-1] // cell) * cell
    cells = x[..., :h, :w].reshape(*x.shape[:-2], h // cell, cell, w // cell, cell)
    cells = cells - cells.mean(dim=(-3, -1), keepdim=True)
    return cells.mean(dim=(-4, -2))


def cell_pattern_l1(pred: torch.Tensor, target: torch.Tensor, cell: int = 4) -> torch.Tensor:
    """L1 of the error pattern that repeats in every ``cell`` x ``cell`` block of the output
    (:func:`mean_cell_pattern` of ``pred - target``, averaged over the batch). Real errors average out; the fixed
    pattern is what this loss penalises. It asks nothing of texture."""
    return mean_cell_pattern(pred.float() - target.float(), cell).mean(dim=0).abs().mean()


def gan_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN loss for the generator: make the discriminator call its output real."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float32))


def gan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy: real patches -> 1, generated ones -> 0 (mean of the two halves)."""
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float32))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float32))
    return 0.5 * (real + fake)
