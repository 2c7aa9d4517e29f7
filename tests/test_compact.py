"""The built-in compact x4 model: network contract, training script, degradations, loader, metrics."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from sinsr_gui import paths
from sinsr_gui.evaluate import psnr, rgb_to_y, ssim, y_metrics
from sinsr_gui.nn.compact import CompactConfig, CompactSRNet, count_parameters
from sinsr_gui.training import compact as training
from sinsr_gui.weights import builtin
from sinsr_gui.weights.checkpoint import CheckpointError

TINY = ["--num-feat", "8", "--num-conv", "2", "--batch", "2", "--lr-patch", "8", "--quiet"]


def _tiny_model() -> CompactSRNet:
    torch.manual_seed(0)
    return CompactSRNet(num_feat=8, num_conv=2).eval()


def _pattern(size: int = 256) -> np.ndarray:
    """``(size, size, 3)`` uint8: smooth colour gradients plus flat shapes with sharp edges and thick lines.

    Drawn at 4x and box-downscaled, so edges are antialiased like a photo's; every detail is at least
    1.5 LR pixels wide, i.e. recoverable at x4 (sub-LR-pixel line gratings are not, for any method).
    """
    k = 4
    n = size * k / 256  # coordinates below are for a 256-px image
    yy, xx = np.mgrid[0 : size * k, 0 : size * k] / (size * k)
    base = np.stack([0.25 + 0.5 * xx, 0.3 + 0.4 * yy, 0.5 + 0.25 * np.sin(3 * xx + 2 * yy)], -1)
    img = Image.fromarray((base * 255).round().astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.ellipse((24 * n, 24 * n, 112 * n, 112 * n), fill=(220, 50, 40))
    d.rectangle((136 * n, 36 * n, 228 * n, 96 * n), fill=(25, 30, 110))
    d.polygon([(150 * n, 130 * n), (232 * n, 236 * n), (118 * n, 226 * n)], fill=(30, 150, 60))
    for i in range(4):
        d.line((16 * n, (140 + 28 * i) * n, 120 * n, (128 + 30 * i) * n), fill=(245, 245, 240), width=round(6 * n))
    d.ellipse((60 * n, 60 * n, 80 * n, 80 * n), fill=(250, 220, 60))
    return np.asarray(img.resize((size, size), Image.Resampling.BOX))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        img = _pattern(64)[: 40 + 4 * i, : 48]
        noise = rng.integers(0, 20, img.shape, dtype=np.uint8)
        Image.fromarray(img // 2 + noise).save(folder / f"img{i}.png")
    Image.fromarray(_pattern(64)[:20, :20]).save(folder / "too_small.png")  # below the HR patch: skipped
    return folder


# ----------------------------------------------------------------------------------------------- network


@pytest.mark.parametrize(("h", "w"), [(1, 1), (7, 13), (16, 9)])
def test_output_shape_and_dtype(h: int, w: int) -> None:
    x = torch.rand(2, 3, h, w)
    with torch.inference_mode():
        y = _tiny_model()(x)
    assert y.shape == (2, 3, 4 * h, 4 * w)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()


def test_fresh_model_starts_near_bilinear_and_bf16_keeps_fp32_output() -> None:
    x = torch.rand(1, 3, 7, 13)
    model = _tiny_model()
    with torch.inference_mode():
        base = torch.nn.functional.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
        assert (model(x) - base).abs().max() < 0.05  # small residual at init: a stable start
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert model(x).dtype == torch.float32  # the base keeps full precision under autocast


def test_parameter_count_in_range() -> None:
    n = count_parameters(CompactSRNet.from_config(CompactConfig.default()))
    assert 100_000 <= n <= 1_500_000


def test_constructor_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        CompactSRNet(8, 2)  # type: ignore[misc]


def test_receptive_radius_is_exact() -> None:
    model = _tiny_model()
    r = model.receptive_radius
    assert r == 4
    x = torch.rand(1, 3, 1, 2 * r + 5)
    c = 1  # output cell at LR column c covers HR columns 4c .. 4c+3
    with torch.inference_mode():
        ref = model(x)[..., 4 * c : 4 * c + 4]
        for dist, should_change in ((r, True), (r + 1, False)):
            x2 = x.clone()
            x2[..., c + dist] += 0.5
            changed = not torch.equal(model(x2)[..., 4 * c : 4 * c + 4], ref)
            assert changed == should_change, f"distance {dist}"


# ----------------------------------------------------------------------------------------------- training


def test_training_runs_and_writes_weights_and_config(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert training.main(["--data", str(data_dir), "--out", str(out), "--steps", "3", *TINY]) == 0
    meta = json.loads((out / training.CONFIG_NAME).read_text())
    assert meta["step"] == 3
    assert meta["images"] == 3  # the 20x20 image is smaller than the 32-px HR patch
    assert meta["train"]["seed"] == 0 and meta["train"]["model"]["num_feat"] == 8
    model = CompactSRNet(num_feat=8, num_conv=2)
    from sinsr_gui.weights.checkpoint import load_checkpoint_into

    load_checkpoint_into(model, out / training.WEIGHTS_NAME)  # strict: every key and shape matches


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / training.WEIGHTS_NAME))


def test_same_seed_gives_identical_weights(data_dir: Path, tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        training.main(["--data", str(data_dir), "--out", str(tmp_path / name), "--steps", "2", "--seed", seed,
                       *TINY])
        runs[name] = _weights(tmp_path / name)
    assert all(torch.equal(runs["a"][k], runs["b"][k]) for k in runs["a"])
    assert not all(torch.equal(runs["a"][k], runs["c"][k]) for k in runs["a"])


def test_resume_continues_from_saved_step(data_dir: Path, tmp_path: Path, monkeypatch) -> None:
    common = ["--data", str(data_dir), "--steps", "4", "--checkpoint-every", "2", *TINY]
    training.main([*common, "--out", str(tmp_path / "straight")])

    # Interrupt the second run while it builds the batch for step 3, after the step-2 checkpoint.
    real_make_batch, calls = training.make_batch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_make_batch(*args, **kwargs)

    monkeypatch.setattr(training, "make_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        training.main([*common, "--out", str(tmp_path / "resumed")])
    monkeypatch.setattr(training, "make_batch", real_make_batch)
    ckpt = torch.load(tmp_path / "resumed" / training.CHECKPOINT_NAME, weights_only=True)
    assert ckpt["step"] == 2

    training.main([*common, "--out", str(tmp_path / "resumed"), "--resume"])
    assert json.loads((tmp_path / "resumed" / training.CONFIG_NAME).read_text())["step"] == 4
    assert torch.load(tmp_path / "resumed" / training.CHECKPOINT_NAME, weights_only=True)["step"] == 4
    resumed, straight = _weights(tmp_path / "resumed"), _weights(tmp_path / "straight")
    torch.manual_seed(0)
    fresh = CompactSRNet(num_feat=8, num_conv=2).state_dict()
    assert not all(torch.equal(resumed[k], fresh[k]) for k in fresh)
    # Model, optimizer and every RNG state were restored, so the interrupted run equals the straight one.
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)


def test_resume_without_checkpoint_fails(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(FileNotFoundError):
        training.main(["--data", str(data_dir), "--out", str(tmp_path / "none"), "--steps", "2", "--resume",
                       *TINY])


@pytest.mark.parametrize(
    "cfg",
    [
        training.DegradationConfig(clean_prob=1.0),
        training.DegradationConfig(clean_prob=0.0, blur_prob=1.0, gaussian_noise_prob=1.0, jpeg_prob=1.0),
        training.DegradationConfig(clean_prob=0.0, gaussian_noise_prob=0.0, poisson_noise_prob=1.0,
                                   jpeg_prob=0.0),
    ],
    ids=["clean", "blur-gauss-jpeg", "poisson"],
)
def test_degradation_gives_lr_size(cfg: training.DegradationConfig) -> None:
    hr = _pattern(64)[:48]  # (48, 64, 3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        lr = training.degrade(hr, 4, cfg, gen)
        assert lr.shape == (12, 16, 3) and lr.dtype == np.uint8
    clean = np.asarray(Image.fromarray(hr).resize((16, 12), Image.Resampling.BICUBIC))
    assert np.array_equal(lr, clean) == (cfg.clean_prob == 1.0)


def test_make_batch_shapes() -> None:
    cfg = training.TrainConfig(data=[], out="", batch=3, lr_patch=8)
    lr, hr = training.make_batch([_pattern(64)], cfg, torch.Generator().manual_seed(0))
    assert lr.shape == (3, 3, 8, 8) and hr.shape == (3, 3, 32, 32)
    assert float(lr.min()) >= 0.0 and float(hr.max()) <= 1.0


# ----------------------------------------------------------------------------------------------- built-in


@pytest.fixture
def copied_resources(tmp_path: Path, monkeypatch) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(paths.resource_path(f"models/{builtin.BUILTIN_NAME}{suffix}"), models)
    monkeypatch.setattr(paths, "resource_path", lambda rel: tmp_path / rel)
    return models


def test_builtin_rejects_file_with_wrong_hash(copied_resources: Path) -> None:
    weights = copied_resources / f"{builtin.BUILTIN_NAME}.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # same size, one bit different: only the hash can tell
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged; reinstall the app"):
        builtin.load_builtin_model()


def test_builtin_rejects_truncated_file(copied_resources: Path) -> None:
    weights = copied_resources / f"{builtin.BUILTIN_NAME}.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="damaged.*bytes"):
        builtin.load_builtin_model()


def test_builtin_loads_shipped_file() -> None:
    card = builtin.load_builtin_card()
    assert card["display_name"] == "Faithful (built-in)"
    weights = paths.resource_path("models/compact_x4.safetensors")
    assert weights.stat().st_size == card["file"]["bytes"] < 10_000_000
    model = builtin.load_builtin_model()
    assert not model.training
    assert count_parameters(model) == card["architecture"]["parameters"]
    assert model.config.to_dict() == card["architecture"]["config"]
    with torch.inference_mode():
        flat = model(torch.full((1, 3, 9, 11), 0.5))
    assert flat.shape == (1, 3, 36, 44)
    assert (flat - 0.5).abs().max() < 0.03  # a flat grey input stays flat grey: no bias or ringing


def test_shipped_model_beats_bicubic_on_synthetic_image() -> None:
    hr = _pattern(256)
    lr = Image.fromarray(hr).resize((64, 64), Image.Resampling.BICUBIC)
    bicubic = np.asarray(lr.resize((256, 256), Image.Resampling.BICUBIC))
    x = torch.from_numpy(np.asarray(lr, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with torch.inference_mode():
        y = builtin.load_builtin_model()(x)
    sr = (y[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    gain = y_metrics(sr, hr)[0] - y_metrics(bicubic, hr)[0]
    assert gain > 1.5, f"compact model only {gain:.2f} dB above bicubic"


# ----------------------------------------------------------------------------------------------- metrics


def test_y_conversion_range() -> None:
    assert rgb_to_y(np.zeros((1, 1, 3)))[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(np.ones((1, 1, 3)))[0, 0] == pytest.approx(235.0)


def test_psnr_and_ssim_of_identical_images() -> None:
    img = _pattern(64)
    p, s = y_metrics(img, img.copy())
    assert p == math.inf and s == pytest.approx(1.0, abs=1e-12)


def test_psnr_of_constant_offset_matches_hand_computation() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(20, 200, (40, 40, 3)).astype(np.uint8)
    # +1/255 on each of R, G, B moves Y by (65.481 + 128.553 + 24.966) / 255 = 219/255 levels everywhere.
    expected = 20 * math.log10(255 / (219 / 255))  # = 49.45 dB
    assert y_metrics(img + 1, img)[0] == pytest.approx(expected, abs=1e-9)
    assert psnr(np.full(10, 100.0), np.full(10, 101.0)) == pytest.approx(20 * math.log10(255), abs=1e-12)


def test_ssim_of_flat_images_matches_formula() -> None:
    # Flat images: variances and covariance vanish, so SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)
    assert ssim(np.full((20, 20), 100.0), np.full((20, 20), 110.0)) == pytest.approx(expected, rel=1e-12)
    noisy = np.random.default_rng(0).normal(128, 30, (32, 32))
    assert ssim(noisy, noisy + np.random.default_rng(1).normal(0, 20, (32, 32))) < 0.9
