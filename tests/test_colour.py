"""Colour fix: a synthetic colour cast must go, the detail must stay (compared in a high-pass band), band-wise
processing equals the whole image, and a preview with the wavelet fix equals the final result."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scripts.colour_fix_check import full_size_wavelet  # the fix's definition, computed directly
from sinsr_gui.engine import colour
from sinsr_gui.engine.colour import Reference, adain_fix, fix_colour, wavelet_fix
from sinsr_gui.engine.imageio import ImageMeta
from sinsr_gui.engine.models import ModelRequest, load_model
from sinsr_gui.engine.options import RunOptions
from sinsr_gui.engine.photo import Photo, run_to_result, upscale_photo, upscale_region


def _scene(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    """(h, w, 3) LR image: smooth colour plus texture, in [0.15, 0.85] so casts do not clip."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([0.3 + 0.3 * x, 0.4 + 0.2 * y, 0.5 + 0.2 * np.sin(6 * x + 3 * y)], -1)
    return np.clip(base + rng.normal(0, 0.04, (h, w, 3)), 0.15, 0.85).astype(np.float32)


def _bicubic(lr: np.ndarray, s: int = 4) -> np.ndarray:
    t = torch.from_numpy(lr).permute(2, 0, 1)[None]
    return F.interpolate(t, scale_factor=s, mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()


def _high_pass(img: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    r = int(3 * sigma)
    g = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float32) ** 2) / (2 * sigma**2))
    g = (g / g.sum()).view(1, 1, 1, -1).expand(3, 1, 1, -1)
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    blur = F.conv2d(F.pad(t, (r, r, 0, 0), mode="replicate"), g, groups=3)
    blur = F.conv2d(F.pad(blur, (0, 0, r, r), mode="replicate"), g.transpose(2, 3), groups=3)
    return (t - blur)[0].permute(1, 2, 0).numpy()


@pytest.fixture
def cast_case():
    """An LR image, a "model output" with real added detail, and the same output with a colour cast."""
    lr = _scene()
    detail = np.random.default_rng(1).normal(0, 0.03, (256, 320, 3)).astype(np.float32)
    clean = np.clip(_bicubic(lr) + detail, 0, 1)
    y = np.linspace(0, 1, clean.shape[0], dtype=np.float32)[:, None, None]
    cast = np.array([0.07, -0.02, -0.05], np.float32) + np.array([0.04, 0.0, -0.03], np.float32) * y
    return lr, clean, np.clip(clean + cast, 0, 1)


@pytest.mark.parametrize("method", ["wavelet", "adain"])
def test_a_colour_cast_is_removed(cast_case, method):
    lr, clean, cast = cast_case
    reference = _bicubic(lr)
    before = np.abs(cast.reshape(-1, 3).mean(0) - reference.reshape(-1, 3).mean(0)).max()
    fixed = fix_colour(cast, lr, 4, method)
    after = np.abs(fixed.reshape(-1, 3).mean(0) - reference.reshape(-1, 3).mean(0)).max()
    assert before > 0.04 and after < 0.004, (before, after)


def test_wavelet_also_removes_a_local_tint_that_a_global_fix_cannot(cast_case):
    lr, clean, cast = cast_case
    reference = _bicubic(lr)

    def worst_band_shift(img):  # mean colour error of the top and bottom quarters
        q = img.shape[0] // 4
        return max(np.abs(img[a:b].reshape(-1, 3).mean(0) - reference[a:b].reshape(-1, 3).mean(0)).max()
                   for a, b in ((0, q), (3 * q, 4 * q)))

    assert worst_band_shift(wavelet_fix(cast, Reference(lr, 4))) < 0.006
    assert worst_band_shift(adain_fix(cast, Reference(lr, 4))) > 0.01  # the gradient part of the cast stays


@pytest.mark.parametrize("method", ["wavelet", "adain"])
def test_detail_is_kept_in_the_high_pass_band(cast_case, method):
    lr, clean, cast = cast_case
    fixed = fix_colour(cast, lr, 4, method)
    hp_clean, hp_fixed = _high_pass(clean)[8:-8, 8:-8], _high_pass(fixed)[8:-8, 8:-8]
    # The fix must not blur: the fine detail the model added is still there, at the same strength.
    corr = np.corrcoef(hp_clean.ravel(), hp_fixed.ravel())[0, 1]
    energy = np.sqrt((hp_fixed**2).mean() / (hp_clean**2).mean())
    assert corr > 0.98 and 0.93 < energy < 1.07, (corr, energy)


def test_off_returns_the_result_untouched(cast_case):
    lr, _, cast = cast_case
    assert fix_colour(cast, lr, 4, "off") is cast
    with pytest.raises(ValueError, match="colour fix"):
        fix_colour(cast, lr, 4, "warm")


def test_band_by_band_equals_the_whole_image(cast_case, monkeypatch):
    lr, _, cast = cast_case
    whole = wavelet_fix(cast, Reference(lr, 4))
    monkeypatch.setattr(colour, "_BAND", 40)  # many bands, each needing its margin
    assert np.abs(wavelet_fix(cast, Reference(lr, 4)) - whole).max() < 1e-6
    ref = Reference(lr, 4)
    assert np.abs(ref.rows(37, 151) - _bicubic(lr)[37:151]).max() < 1e-6


@pytest.mark.parametrize("scale", [4, 3, 2])
def test_the_coarse_grid_fix_equals_the_full_size_definition(scale):
    """Computed on a quarter-size grid and interpolated, the fix stays within 1.5 8-bit levels of the direct
    full-size computation (the largest at the bottom and right edges when a side is not a multiple of 4: the
    full-size blur's replicate padding there falls between grid points), and within a tenth of a level away
    from the edges."""
    lr = _scene(61, 83, seed=7)  # odd sizes: the grid does not end on the last pixel
    rng = np.random.default_rng(2)
    out = _bicubic(lr, scale) + rng.normal(0, 0.05, (61 * scale, 83 * scale, 3)).astype(np.float32)
    y = np.linspace(0, 1, out.shape[0], dtype=np.float32)[:, None, None]
    out = np.clip(out + np.array([0.06, -0.03, 0.02], np.float32) * (1 + y), 0, 1).astype(np.float32)
    diff = np.abs(fix_colour(out, lr, scale, "wavelet") - full_size_wavelet(out, lr, scale)) * 255
    assert diff.max() < 1.5 and diff[16:-16, 16:-16].max() < 0.1, (diff.max(), diff[16:-16, 16:-16].max())


@pytest.mark.parametrize("scale", [4, 3])
def test_adain_reference_statistics_are_exact_without_the_full_size_reference(scale):
    lr = _scene(37, 52, seed=4)
    mean, std = colour.reference_stats(Reference(lr, scale))
    full = _bicubic(lr, scale).reshape(-1, 3).astype(np.float64)
    assert np.abs(mean - full.mean(0)).max() < 1e-6 and np.abs(std - full.std(0)).max() < 1e-6


@pytest.mark.parametrize("scale", [4, 3])
def test_a_preview_with_the_wavelet_fix_equals_the_final_result(scale):
    model, _ = load_model(ModelRequest(model="faithful", device="cpu", dtype="fp32"))
    lr = _scene(90, 120, seed=3)
    photo = Photo(lr, None, ImageMeta(False, 8, None, None, None, "PNG", None, []))
    run = RunOptions(scale=scale, tile=64, overlap=32, colour_fix="wavelet")
    full = run_to_result(upscale_photo(model, photo, run))
    region = run_to_result(upscale_region(model, photo, (30, 20, 95, 70), run))
    x, y, w, h = region.rect
    assert np.abs(full.rgb[y:y + h, x:x + w] - region.rgb).max() < 1e-5


def test_automatic_colour_fix_is_the_models_recommendation():
    """"auto" (the default) applies the wavelet fix to the Photo model, whose colours drift, and nothing to the
    others; the result says which fix it got."""
    assert RunOptions().colour_fix == "auto"
    lr = _scene(40, 56, seed=5)
    photo = Photo(lr, None, ImageMeta(False, 8, None, None, None, "PNG", None, []))
    results = {}
    for name in ("photo", "faithful"):
        model, _ = load_model(ModelRequest(model=name, device="cpu", dtype="fp32"))
        for fix in ("auto", "off", "wavelet"):
            results[name, fix] = run_to_result(upscale_photo(model, photo, RunOptions(colour_fix=fix)))
    assert np.array_equal(results["photo", "auto"].rgb, results["photo", "wavelet"].rgb)
    assert not np.array_equal(results["photo", "auto"].rgb, results["photo", "off"].rgb)
    assert np.array_equal(results["faithful", "auto"].rgb, results["faithful", "off"].rgb)
    assert "wavelet colour fix" in results["photo", "auto"].label
    assert "colour fix" not in results["faithful", "auto"].label
