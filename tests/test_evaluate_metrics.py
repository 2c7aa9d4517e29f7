"""The real-world measures of ``python -m sinsr_gui.evaluate``: each one on images whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from sinsr_gui.evaluate import metrics
from tests.evaluate_support import jpeg_roundtrip, texture


def test_block_index_sees_an_enlarged_jpeg_grid_and_not_a_clean_image():
    clean = texture()
    lr = np.asarray(Image.fromarray(clean).resize((64, 64), Image.Resampling.BICUBIC))
    blocky = np.asarray(Image.fromarray(jpeg_roundtrip(lr, 10)).resize((256, 256), Image.Resampling.NEAREST))
    assert metrics.block_index(clean) == pytest.approx(1.0, abs=0.1)
    assert metrics.block_index(blocky) > 1.5  # 8x8 blocks at x4: steps on every 32-px line


def test_sharpness_is_one_for_the_truth_and_lower_when_blurred():
    hr = texture()
    soft = np.asarray(Image.fromarray(hr).filter(ImageFilter.GaussianBlur(2)))
    assert metrics.sharpness_ratio(hr, hr) == pytest.approx(1.0)
    assert metrics.sharpness_ratio(soft, hr) < 0.6


def test_colour_shift_is_the_largest_channel_offset_in_levels():
    lr = texture(64, 64)
    shifted = lr.astype(np.int16)
    shifted[..., 2] += 3
    assert metrics.colour_shift(lr, lr) == 0.0
    assert metrics.colour_shift(np.clip(shifted, 0, 255).astype(np.uint8), lr) == pytest.approx(3.0, abs=0.05)


def test_cell_pattern_finds_a_fixed_dot_grid_and_ignores_texture():
    img = texture(512, 512)
    dots = np.zeros((4, 4))
    dots[1, 2] = 8.0  # one bright sub-pixel in every 4x4 cell: the GAN's dot grid
    dotted = np.clip(img + np.tile(dots, (128, 128))[..., None], 0, 255).astype(np.uint8)
    # The expected RMS of the mean-free pattern, in luma levels (Y's weights sum to 219/255 per level).
    expected = np.sqrt(np.mean((dots - dots.mean()) ** 2)) * 219 / 255
    assert metrics.cell_pattern(img) < 0.3
    assert metrics.cell_pattern(dotted) == pytest.approx(expected, rel=0.1)


def test_the_package_still_exports_the_measures():
    from sinsr_gui import evaluate

    assert evaluate.psnr is metrics.psnr and evaluate.y_metrics is metrics.y_metrics
    assert evaluate.measure is metrics.measure and evaluate.METRICS == metrics.METRICS
