"""Time estimates (engine.speed): measured here first, then a first estimate on a CPU from the reference
processor's figures rescaled by what this processor measured, then a multi-step model from its one-step
sibling on a GPU; nothing made up for a GPU model that has not run there."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sinsr_gui.engine.models.builtin import FAITHFUL, PHOTO
from sinsr_gui.engine.pipeline import SINSR_DESCRIPTOR
from sinsr_gui.engine.resshift import RESSHIFT_DESCRIPTOR
from sinsr_gui.engine.speed import cpu_factor, expected_speed, format_duration

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "cpu" / "models_speed.json"


def test_a_measured_speed_wins_over_any_estimate():
    speed = expected_speed(SINSR_DESCRIPTOR, "cpu", {"sinsr": 123.0, "photo": 1.0})
    assert speed is not None and speed.measured and speed.seconds_per_mp == 123.0
    assert expected_speed(SINSR_DESCRIPTOR, "cuda", {"sinsr": 0.5}).seconds_per_mp == 0.5


def test_a_first_estimate_on_a_cpu_is_the_reference_rescaled_by_models_of_its_kind_measured_here():
    """Diffusion models (float32 denoiser) and the others (bf16 where the processor has it) compare differently
    between processors, so each kind is rescaled only by its own kind's measurements."""
    first = expected_speed(SINSR_DESCRIPTOR, "cpu", {})
    assert first is not None and not first.measured
    assert first.seconds_per_mp == SINSR_DESCRIPTOR.cpu_seconds_per_mp  # nothing measured: the reference
    measured = {"photo": 3 * PHOTO.cpu_seconds_per_mp, "sinsr": 2 * SINSR_DESCRIPTOR.cpu_seconds_per_mp,
                "community:unknown": 1e6}  # a model without a reference figure takes no part
    assert cpu_factor(FAITHFUL, measured) == pytest.approx(3.0)
    assert cpu_factor(RESSHIFT_DESCRIPTOR, measured) == pytest.approx(2.0)
    faithful = expected_speed(FAITHFUL, "cpu", measured)
    assert faithful.seconds_per_mp == pytest.approx(3 * FAITHFUL.cpu_seconds_per_mp) and not faithful.measured
    teacher = expected_speed(RESSHIFT_DESCRIPTOR, "cpu", measured)
    assert teacher.seconds_per_mp == pytest.approx(2 * RESSHIFT_DESCRIPTOR.cpu_seconds_per_mp)
    # Two of a kind: the median of their ratios.
    both = {"photo": 3 * PHOTO.cpu_seconds_per_mp, "faithful": 2 * FAITHFUL.cpu_seconds_per_mp}
    assert cpu_factor(SINSR_DESCRIPTOR, both) == 1.0 and cpu_factor(PHOTO, both) == pytest.approx(2.5)


def test_on_a_gpu_only_a_multi_step_model_gets_an_estimate_from_its_one_step_sibling():
    assert expected_speed(SINSR_DESCRIPTOR, "cuda", {"photo": 0.1}) is None  # cards differ too much to guess
    assert expected_speed(RESSHIFT_DESCRIPTOR, "cuda", {}) is None
    teacher = expected_speed(RESSHIFT_DESCRIPTOR, "cuda", {"sinsr": 2.0})
    assert teacher.seconds_per_mp == 30.0 and not teacher.measured


def test_the_reference_figures_are_the_benchmark_s():
    """Each fixed model's figure is its row of scripts/models_speed.py's run (seconds per 128² tile over
    0.016384 MP); a new benchmark run that moves them fails here until the descriptors follow."""
    rows = {r["model"]: r["seconds_per_128_tile"] / (128 * 128 / 1e6) for r in json.loads(REFERENCE.read_text())["rows"]}
    for descriptor, row in ((PHOTO, "photo"), (FAITHFUL, "faithful"), (SINSR_DESCRIPTOR, "sinsr"),
                            (RESSHIFT_DESCRIPTOR, "resshift_deterministic")):
        assert descriptor.cpu_seconds_per_mp == pytest.approx(rows[row], rel=0.02), descriptor.kind


def test_a_community_model_s_first_estimate_follows_its_parameters_and_none_for_a_transformer():
    from sinsr_gui.engine.models.community import cpu_seconds_per_mp_for
    from sinsr_gui.weights.community import CommunityFacts

    def facts(arch: str, parameters: int) -> CommunityFacts:
        return CommunityFacts(architecture=arch, arch_id=arch, purpose="SR", scale=4, size_multiple=1, min_size=0,
                              square=False, input_channels=3, output_channels=3, supports_half=True,
                              supports_bfloat16=True, parameters=parameters, tiling="supported")

    rows = {r["model"]: r for r in json.loads(REFERENCE.read_text())["rows"]}
    for arch, parameters, row in (("ESRGAN", 16_697_987, "realesrgan_x4plus"),
                                  ("Compact", 1_213_296, "realesr_general_x4v3")):
        measured = rows[row]["seconds_per_128_tile"] / (128 * 128 / 1e6)
        assert cpu_seconds_per_mp_for(facts(arch, parameters)) == pytest.approx(measured, rel=0.1), row
    assert cpu_seconds_per_mp_for(facts("SwinIR", 900_000)) is None


def test_durations_are_worded_roughly():
    assert [format_duration(s) for s in (None, 3.2, 42, 1646, 3814)] == [
        "unknown", "about 3 s", "about 40 s", "about 27 min", "about 1 h 04 min"]


def test_the_speed_module_does_not_import_torch():
    """The app's window words its estimates with it before any model is loaded."""
    import subprocess

    code = "import sys, sinsr_gui.engine.speed, sinsr_gui.qt.text; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_estimate_accuracy_script_compares_first_estimates_with_a_benchmark_run(tmp_path):
    """scripts/estimate_accuracy.py on a small end-to-end file: measured = (seconds - read - encode) per input MP
    (median over the photos), first estimate = the reference figure, after = rescaled by the kind-mate's run."""
    import importlib.util

    files = [{"seconds": s, "read_s": 1.0, "encode_s": 1.0, "output_mp": 16.0} for s in (12.0, 22.0, 42.0)]
    mate = [{"seconds": 2 + FAITHFUL.cpu_seconds_per_mp / 2, "read_s": 1.0, "encode_s": 1.0, "output_mp": 16.0}]
    run = tmp_path / "e2e.json"
    run.write_text(json.dumps({"cpu": "test CPU", "date": "today", "models": [
        {"model": "photo", "files": files}, {"model": "faithful", "files": mate}]}))
    spec = importlib.util.spec_from_file_location("estimate_accuracy", REFERENCE.parents[2] / "scripts"
                                                  / "estimate_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(run), "--json", str(tmp_path / "out.json")]) == 0
    rows = {r["model"]: r for r in json.loads((tmp_path / "out.json").read_text())["rows"]}
    assert rows["photo"]["measured_s_per_mp"] == 20.0  # the median of 10, 20 and 40 s per input MP
    assert rows["photo"]["first_over_measured"] == pytest.approx(PHOTO.cpu_seconds_per_mp / 20.0)
    assert rows["photo"]["after_over_measured"] == pytest.approx(PHOTO.cpu_seconds_per_mp / 2 / 20.0)  # half as slow
