"""The real-world degradation pipeline of the Photo model's training, one step at a time, then as a whole."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from sinsr_gui.training import degradations as d


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _hr(size: int = 96, seed: int = 0, noise: float = 0.03) -> torch.Tensor:
    """(1, 3, size, size) in [0, 1]: smooth colour, edges and texture (JPEG and blur have something to change)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.5 + 0.4 * np.sin(9 * x), 0.5 + 0.4 * np.cos(7 * y), (x > 0.5) * 0.6 + 0.2], -1)
    img = np.clip(img + rng.normal(0, noise, img.shape), 0, 1).astype(np.float32)
    return torch.from_numpy(img).permute(2, 0, 1)[None]


# ------------------------------------------------------------------------------------------------ kernels
@pytest.mark.parametrize("make", [
    lambda: d.gaussian_kernel(21, 2.0, 2.0),
    lambda: d.gaussian_kernel(15, 3.0, 0.7, 0.6),
    lambda: d.generalized_gaussian_kernel(13, 1.5, 2.5, -1.0, 0.6),
    lambda: d.generalized_gaussian_kernel(13, 1.5, 2.5, 1.0, 3.5),
    lambda: d.plateau_kernel(17, 2.0, 1.0, 0.3, 1.5),
    lambda: d.sinc_kernel(21, math.pi / 4),
    lambda: d.sinc_kernel(7, math.pi / 2),
])
def test_every_kernel_sums_to_one_and_is_centred(make):
    k = make()
    n = k.shape[0]
    assert k.shape == (n, n) and n % 2 == 1
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-6)
    ys, xs = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    assert float((k * ys).sum()) == pytest.approx(n // 2, abs=1e-4)  # symmetric: no shift of the image
    assert float((k * xs).sum()) == pytest.approx(n // 2, abs=1e-4)


def test_kernel_shapes_follow_their_parameters():
    iso = d.gaussian_kernel(21, 2.0, 2.0)
    assert torch.allclose(iso, iso.T, atol=1e-7)  # isotropic
    wide_x = d.gaussian_kernel(21, 3.0, 0.8, 0.0)
    offsets = (torch.arange(21) - 10).float() ** 2
    spread_x, spread_y = (wide_x * offsets[None, :]).sum(), (wide_x * offsets[:, None]).sum()
    assert spread_x == pytest.approx(9.0, rel=0.05) and spread_y == pytest.approx(0.64, rel=0.05)  # sigma²
    rotated = d.gaussian_kernel(21, 3.0, 0.8, math.pi / 2)  # a quarter turn swaps the axes
    assert torch.allclose(rotated, wide_x.T, atol=1e-6)
    assert d.sinc_kernel(21, math.pi / 4).min() < 0  # a sinc has negative lobes: it rings
    # Relative to a Gaussian of the same sigma: beta < 1 has heavier tails, beta > 1 a flatter top, and the
    # plateau kernel keeps a flat top with heavy tails.
    def ratio(k, far):
        return float(k[10, 10 + far] / k[10, 10])

    g = d.gaussian_kernel(21, 2.0, 2.0)
    assert ratio(d.generalized_gaussian_kernel(21, 2.0, 2.0, 0.0, 0.5), 8) > 10 * ratio(g, 8)
    assert ratio(d.generalized_gaussian_kernel(21, 2.0, 2.0, 0.0, 3.0), 1) > ratio(g, 1)
    plateau = d.plateau_kernel(21, 2.0, 2.0, 0.0, 2.0)
    assert ratio(plateau, 1) > ratio(g, 1) and ratio(plateau, 8) > ratio(g, 8)


def test_random_kernels_are_padded_to_21_and_seeded():
    cfg = d.RealWorldDegradation.sinsr().first.blur
    ks = [d.random_blur_kernel(_gen(i), cfg) for i in range(30)]
    assert all(k.shape == (21, 21) and float(k.sum()) == pytest.approx(1.0, abs=1e-5) for k in ks)
    assert torch.equal(d.random_blur_kernel(_gen(3), cfg), ks[3])
    assert len({tuple(k.flatten().tolist()) for k in ks}) == 30  # really random
    final = [d.random_final_sinc(_gen(i), 0.8) for i in range(40)]
    identity = sum(torch.equal(k, d.identity_kernel()) for k in final)
    assert 2 <= identity <= 16  # about 20 % identity


def test_filter2d_keeps_size_and_identity_kernel_changes_nothing():
    x = _hr(33)
    assert torch.equal(d.filter2d(x, d.identity_kernel()), x)
    blurred = d.filter2d(x, d.gaussian_kernel(21, 3.0, 3.0))
    assert blurred.shape == x.shape
    assert blurred.diff(dim=-1).abs().mean() < 0.5 * x.diff(dim=-1).abs().mean()
    tiny = torch.rand(1, 3, 5, 4)  # smaller than the kernel's half-width: still works
    assert d.filter2d(tiny, d.gaussian_kernel(21, 1.0, 1.0)).shape == tiny.shape


# ----------------------------------------------------------------------------------------- resize, noise
@pytest.mark.parametrize("mode", d.RESIZE_MODES)
def test_resize_gives_the_asked_size(mode):
    assert d.resize(_hr(40), (17, 23), mode).shape == (1, 3, 17, 23)
    assert d.resize(_hr(40), (0, 5), mode).shape == (1, 3, 1, 5)  # never empty


def test_resize_scale_kind_follows_the_probabilities():
    g = _gen(1)
    scales = [d.random_resize_scale(g, (0.2, 0.7, 0.1), (0.15, 1.5)) for _ in range(400)]
    up = sum(s > 1 for s in scales) / 400
    down = sum(s < 1 for s in scales) / 400
    assert 0.13 < up < 0.28 and 0.6 < down < 0.8
    assert min(scales) >= 0.15 and max(scales) <= 1.5


def test_gaussian_noise_sigma_and_grey_option():
    x = torch.full((1, 3, 128, 128), 0.5)
    colour = d.add_gaussian_noise(x, 10 / 255, gray=False, gen=_gen(2))
    assert (colour - x).std().item() == pytest.approx(10 / 255, rel=0.05)
    assert not torch.allclose(colour[:, 0], colour[:, 1])
    grey = d.add_gaussian_noise(x, 10 / 255, gray=True, gen=_gen(2))
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    assert d.add_gaussian_noise(torch.ones(1, 3, 8, 8), 0.5, False, _gen()).max() <= 1.0  # clipped


def test_poisson_noise_grows_with_scale_and_depends_on_brightness():
    x = torch.linspace(0.05, 0.95, 256).repeat(1, 3, 256, 1)
    weak = d.add_poisson_noise(x, 0.5, gray=False, gen=_gen(3)) - x
    strong = d.add_poisson_noise(x, 3.0, gray=False, gen=_gen(3)) - x
    assert strong.std() > 4 * weak.std() > 0
    dark, bright = strong[..., :40].std(), strong[..., -40:].std()
    assert bright > dark  # shot noise: more photons, more absolute noise
    grey = d.add_poisson_noise(x, 1.0, gray=True, gen=_gen(3)) - x
    assert torch.allclose(grey[:, 0], grey[:, 2])


# --------------------------------------------------------------------------------------------------- JPEG
def test_jpeg_really_goes_through_a_jpeg_encoder():
    x = _hr(64, noise=0.0)
    out = d.jpeg(x, 30)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    # What Pillow's encoder/decoder produce for the same 8-bit image, bit for bit.
    buf = io.BytesIO()
    Image.fromarray(d.to_uint8_hwc(x)).save(buf, format="JPEG", quality=30)
    buf.seek(0)
    expected = np.asarray(Image.open(buf).convert("RGB"))
    assert np.array_equal(d.to_uint8_hwc(out), expected)
    # Lower quality loses more, and leaves 8x8 block edges.
    err = {q: (d.jpeg(x, q) - x).abs().mean().item() for q in (30, 95)}
    assert err[30] > 2 * err[95]


# ------------------------------------------------------------------------------------------------ pipeline
def test_second_order_pipeline_sizes_range_levels_and_reproducibility():
    cfg = d.RealWorldDegradation.sinsr()
    hr = _hr(96)
    outs = [d.degrade_real_world(hr, cfg, _gen(i)) for i in range(12)]
    for lr in outs:
        assert lr.shape == (1, 3, 24, 24)
        assert lr.min() >= 0 and lr.max() <= 1
        assert torch.equal(lr, (lr * 255).round() / 255)  # 8-bit levels, like a file
    assert torch.equal(d.degrade_real_world(hr, cfg, _gen(5)), outs[5])
    assert len({lr.sum().item() for lr in outs}) == 12


def test_official_sinsr_numbers():
    cfg = d.RealWorldDegradation.sinsr()
    assert cfg.first.resize_prob == (0.2, 0.7, 0.1) and cfg.first.resize_range == (0.15, 1.5)
    assert cfg.first.noise_range == (1.0, 30.0) and cfg.first.poisson_scale_range == (0.05, 3.0)
    assert cfg.second.resize_prob == (0.3, 0.4, 0.3) and cfg.second.resize_range == (0.3, 1.2)
    assert cfg.second.noise_range == (1.0, 25.0) and cfg.second.poisson_scale_range == (0.05, 2.5)
    assert cfg.second_order_prob == 0.5 and cfg.second.blur_prob == 0.8 and cfg.final_sinc_prob == 0.8
    assert cfg.first.blur.sigma == (0.2, 3.0) and cfg.second.blur.sigma == (0.2, 1.5)
    assert cfg.first.blur.probs == (0.45, 0.25, 0.12, 0.03, 0.12, 0.03) and cfg.first.blur.sinc_prob == 0.1
    assert cfg.first.jpeg_range == cfg.second.jpeg_range == (30, 95) and cfg.first.gray_noise_prob == 0.4


def test_mixture_and_web_photo_path():
    hr = _hr(96)
    mix = d.DegradationMix()
    lrs = [mix.degrade(hr, _gen(i)) for i in range(20)]
    assert all(lr.shape == (1, 3, 24, 24) for lr in lrs)
    clean = d.degrade_bicubic(hr)
    assert any(torch.equal(lr, clean) for lr in lrs)  # some clean bicubic samples
    web = d.degrade_web_photo(hr, d.WebPhotoDegradation(noise_prob=0.0, jpeg_prob=1.0, jpeg_range=(40, 40)), _gen())
    assert not torch.equal(web, d.degrade_bicubic(hr))  # JPEG applied


def test_usm_sharpens_edges_and_leaves_flat_areas():
    x = torch.zeros(1, 3, 64, 256)
    x[..., 128:] = 0.6
    x += 0.2
    sharp = d.usm_sharpen(x)
    assert sharp.shape == x.shape and sharp.min() >= 0 and sharp.max() <= 1
    assert sharp[..., 127].mean() < x[..., 127].mean() and sharp[..., 128].mean() > x[..., 128].mean()  # overshoot
    assert torch.allclose(sharp[..., :40], x[..., :40], atol=1e-3)  # 10 sigma from the edge: unchanged
