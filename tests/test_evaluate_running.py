"""Running methods over datasets: every model through the engine's use case, the built-ins and candidates."""

from __future__ import annotations

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


def test_real_photos_are_run_whole_and_measured(tmp_path: Path):
    Image.fromarray(texture(40, 36, seed=6)).save(tmp_path / "a.png")
    entries = running.run_real_photos([tmp_path / "a.png"], running.classic_upscalers())
    (e,) = entries
    assert e["image"] == "a.png" and e["outputs"]["lanczos"].shape == (160, 144, 3)
    assert set(e["block"]) == {"input", "bicubic", "lanczos"} and e["colour"]["bicubic"] < 1.0
