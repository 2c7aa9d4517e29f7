"""The ResShift teacher's two 15-step samplers against the official trajectories (case A, TEACHER.md), and the
teacher in the tiler: noise slices per step, progress in steps x tiles, cancel between steps."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from sinsr_gui.engine import ResShiftPipeline, SinSRConfig
from sinsr_gui.engine.tiling import TilingOptions, UpscaleCancelled, iter_upscale, run_to_completion

CASE_A = Path(__file__).parent / "fixtures" / "case_a"
STATE_TOL, FINAL_TOL, MARGIN = 5e-4, 2e-4, 1e-4  # TEACHER.md


@pytest.fixture(scope="module")
def golden() -> dict:
    return torch.load(CASE_A / "teacher_golden.pt", weights_only=True)


@pytest.fixture(scope="module")
def teacher() -> ResShiftPipeline:
    config = SinSRConfig.from_json(CASE_A / "config.json")
    return ResShiftPipeline.from_checkpoints(config, unet=CASE_A / "unet_ckpt.pth",
                                             autoencoder=CASE_A / "autoencoder_ckpt.pth", device="cpu",
                                             dtype=torch.float32)


@pytest.fixture(scope="module")
def traces(teacher, golden) -> dict[str, dict]:
    out = {}
    for prefix, sampler in (("ddpm", "stochastic"), ("ddim", "deterministic")):
        out[prefix] = teacher.upscale(golden["lr_01"], noise=golden["noise"], step_noise=golden["ddpm_step_noise"],
                                      sampler=sampler, return_stages=True)
    return out


@pytest.mark.parametrize("prefix", ["ddpm", "ddim"])
def test_every_state_and_prediction_matches_the_official_trajectory(traces, golden, prefix):
    trace = traces[prefix]
    assert trace["x"].shape == (16, 1, 3, 64, 64) and trace["pred_xstart"].shape == (15, 1, 3, 64, 64)
    for i in range(16):
        assert (trace["x"][i] - golden[f"{prefix}_x"][i]).abs().max() <= STATE_TOL, f"state {i}"
    for i in range(15):
        assert (trace["pred_xstart"][i] - golden[f"{prefix}_pred_xstart"][i]).abs().max() <= STATE_TOL, f"x0 {i}"
    assert (trace["z_y"] - golden["z_y"]).abs().max() <= STATE_TOL


@pytest.mark.parametrize("prefix", ["ddpm", "ddim"])
def test_final_image_and_confident_codes_match(traces, golden, prefix):
    trace = traces[prefix]
    assert (trace["final_01"] - golden[f"{prefix}_final_01"]).abs().max() <= FINAL_TOL
    confident = golden[f"{prefix}_quantiser_margin"] >= MARGIN
    codes = trace["codebook_indices"].flatten()
    assert torch.equal(codes[confident], golden[f"{prefix}_codebook_indices"][confident])


def test_the_first_stochastic_step_is_sinsrs_single_denoiser_call(traces):
    golden_one_step = torch.load(CASE_A / "golden.pt", weights_only=True)
    assert (traces["ddpm"]["pred_xstart"][0] - golden_one_step["unet_output"]).abs().max() < 1e-4


def test_coefficients_round_like_the_official_code(teacher):
    sched = teacher.schedule
    k, m, j = sched.ddim(0)
    assert (k.item(), m.item(), j.item()) == (1.0, 0.0, 0.0)  # the last step returns x0 itself
    # float64 arrays cast to float32 before the square root: exactly what torch does on the float32 values.
    eta, prev = sched.etas[7], sched.etas[6]
    expected_m = torch.sqrt(torch.tensor(prev / eta, dtype=torch.float32))
    assert sched.ddim(7)[1].item() == expected_m.item()
    c1, c2, std = sched.posterior(7)
    assert c1.dtype == c2.dtype == std.dtype == torch.float32
    assert c1.item() == pytest.approx(prev / eta, rel=1e-6) and c1 + c2 == pytest.approx(1.0, abs=1e-6)


def test_samplers_differ_and_generator_default_is_reproducible(teacher, golden):
    lr = golden["lr_01"]
    a = teacher.upscale(lr, generator=torch.Generator().manual_seed(3))
    b = teacher.upscale(lr, generator=torch.Generator().manual_seed(3))
    d = teacher.upscale(lr, generator=torch.Generator().manual_seed(3), sampler="deterministic")
    assert torch.equal(a, b) and not torch.equal(a, d)
    with pytest.raises(ValueError, match="sampler"):
        teacher.upscale(lr, sampler="ddpm")


def _lr(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    return np.clip(np.stack([x, y, 0.5 + 0.3 * np.sin(7 * x)], -1) + rng.normal(0, 0.03, (h, w, 3)), 0, 1
                   ).astype(np.float32)


@pytest.mark.parametrize("sampler", ["stochastic", "deterministic"])
def test_one_tile_equals_the_untiled_run_with_the_same_seed(teacher, sampler):
    teacher.sampler = sampler
    lr = _lr(40, 56)
    tiled = run_to_completion(iter_upscale(teacher, lr, TilingOptions(tile=64, overlap=16),
                                           generator=torch.Generator().manual_seed(5)))
    untiled = teacher.upscale(torch.from_numpy(lr).permute(2, 0, 1)[None], sampler=sampler,
                              generator=torch.Generator().manual_seed(5))
    assert np.abs(tiled - untiled[0].permute(1, 2, 0).numpy()).max() < 1e-5
    teacher.sampler = "stochastic"


def test_progress_counts_steps_times_tiles_and_cancel_stops_between_steps(teacher):
    lr = _lr(70, 100)  # 64-px tiles with overlap 16: 2 x 2 tiles
    cancel = threading.Event()
    gen = iter_upscale(teacher, lr, TilingOptions(tile=64, overlap=16), cancel=cancel)
    events = [next(gen) for _ in range(4)]
    assert events[0] == (0, 4 * 15) and events[1:] == [(1, 60), (2, 60), (3, 60)]  # one event per step
    cancel.set()
    with pytest.raises(UpscaleCancelled):
        next(gen)


def test_the_region_of_a_preview_equals_the_whole_run_for_the_teacher(teacher):
    lr = _lr(70, 100, seed=4)
    opts = TilingOptions(tile=64, overlap=16)
    whole = run_to_completion(iter_upscale(teacher, lr, opts, generator=torch.Generator().manual_seed(1)))
    region = run_to_completion(iter_upscale(teacher, lr, opts, generator=torch.Generator().manual_seed(1),
                                            region=(50, 10, 90, 60)))
    assert np.array_equal(region, whole[40:240, 200:360])
