"""The real-world measures of ``python -m sinsr_gui.evaluate``: each one on images whose answer is known."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from sinsr_gui import evaluate


def _texture(h: int = 256, w: int = 256, seed: int = 0) -> np.ndarray:
    """A photo-like RGB image: smooth shapes plus fine texture, no preferred sub-pixel position."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(7 * x + 2 * y), np.cos(5 * y - x), np.sin(3 * x * y * 9)], -1) * 60 + 128
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def _jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def test_block_index_sees_an_enlarged_jpeg_grid_and_not_a_clean_image():
    clean = _texture()
    lr = np.asarray(Image.fromarray(clean).resize((64, 64), Image.Resampling.BICUBIC))
    blocky = np.asarray(Image.fromarray(_jpeg_roundtrip(lr, 10)).resize((256, 256), Image.Resampling.NEAREST))
    assert evaluate.block_index(clean) == pytest.approx(1.0, abs=0.1)
    assert evaluate.block_index(blocky) > 1.5  # 8x8 blocks at x4: steps on every 32-px line


def test_sharpness_is_one_for_the_truth_and_lower_when_blurred():
    hr = _texture()
    soft = np.asarray(Image.fromarray(hr).filter(ImageFilter.GaussianBlur(2)))
    assert evaluate.sharpness_ratio(hr, hr) == pytest.approx(1.0)
    assert evaluate.sharpness_ratio(soft, hr) < 0.6


def test_colour_shift_is_the_largest_channel_offset_in_levels():
    lr = _texture(64, 64)
    shifted = lr.astype(np.int16)
    shifted[..., 2] += 3
    assert evaluate.colour_shift(lr, lr) == 0.0
    assert evaluate.colour_shift(np.clip(shifted, 0, 255).astype(np.uint8), lr) == pytest.approx(3.0, abs=0.05)


def test_cell_pattern_finds_a_fixed_dot_grid_and_ignores_texture():
    img = _texture(512, 512)
    dots = np.zeros((4, 4))
    dots[1, 2] = 8.0  # one bright sub-pixel in every 4x4 cell: the GAN's dot grid
    dotted = np.clip(img + np.tile(dots, (128, 128))[..., None], 0, 255).astype(np.uint8)
    # The expected RMS of the mean-free pattern, in luma levels (Y's weights sum to 219/255 per level).
    expected = np.sqrt(np.mean((dots - dots.mean()) ** 2)) * 219 / 255
    assert evaluate.cell_pattern(img) < 0.3
    assert evaluate.cell_pattern(dotted) == pytest.approx(expected, rel=0.1)


def test_make_lr_protocols_are_seeded_and_really_degrade(tmp_path: Path):
    hr = _texture(128, 96)
    bicubic = evaluate.make_lr(hr, "bicubic", "a.png")
    assert bicubic.shape == (32, 24, 3)
    jpeg = evaluate.make_lr(hr, "jpeg30", "a.png")
    assert jpeg.shape == bicubic.shape and not np.array_equal(jpeg, bicubic)
    assert np.array_equal(jpeg, _jpeg_roundtrip(bicubic, 30))  # a real JPEG at that quality
    noisy = evaluate.make_lr(hr, "real-world", "a.png")
    assert np.array_equal(noisy, evaluate.make_lr(hr, "real-world", "a.png"))  # seeded by the name
    assert not np.array_equal(noisy, evaluate.make_lr(hr, "real-world", "b.png"))
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate.make_lr(hr, "jpegX", "a.png")


def test_evaluate_sets_reports_every_metric_and_the_truths_own_values(tmp_path: Path):
    folder = tmp_path / "set"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(_texture(64, 64, seed=i)).save(folder / f"img{i}.png")
    results, images = evaluate.evaluate_sets({"Tiny": folder}, evaluate.classic_upscalers(), ["jpeg45"],
                                             keep=lambda s, p, n: n == "img0")
    res = results["Tiny"]["jpeg45"]
    assert set(res["mean"]) == {"bicubic", "lanczos"}
    assert set(res["mean"]["bicubic"]) == set(evaluate.METRICS)
    assert res["gt_block"] == pytest.approx(np.mean([evaluate.block_index(evaluate.load_hr(p))
                                                     for p in sorted(folder.iterdir())]))
    assert "gt_pattern" in res and set(images) == {("Tiny", "jpeg45", "img0")}
    table = evaluate.format_tables(results, ["bicubic", "lanczos"])
    assert "4-px pattern (GT)" in table and f"({res['gt_pattern']:.2f})" in table
