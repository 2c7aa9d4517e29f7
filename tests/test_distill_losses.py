"""SinSR's distillation losses against one official training step (case A, tests/fixtures/distill/DISTILL.md):
intermediates, the student's four calls, the loss terms and the gradients, within DISTILL.md's tolerances."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sinsr_gui.engine import ResShiftPipeline, SinSRConfig
from sinsr_gui.training.distill import distillation_losses

FIXTURES = Path(__file__).parent / "fixtures"
CASE_A = FIXTURES / "case_a"


@pytest.fixture(scope="module")
def golden() -> dict:
    return torch.load(FIXTURES / "distill" / "distill_golden.pt", weights_only=True)


@pytest.fixture(scope="module")
def teacher() -> ResShiftPipeline:
    config = SinSRConfig.from_json(CASE_A / "config.json")
    return ResShiftPipeline.from_checkpoints(config, unet=CASE_A / "unet_ckpt.pth",
                                             autoencoder=CASE_A / "autoencoder_ckpt.pth", device="cpu",
                                             dtype=torch.float32)


def make_student(teacher: ResShiftPipeline, params: dict[str, torch.Tensor]):
    student, _ = ResShiftPipeline.build_modules(teacher.config)
    student.load_state_dict(teacher.unet.state_dict())
    with torch.no_grad():
        for name, p in student.named_parameters():
            p.copy_(params[name])
    return student.train()


@pytest.fixture(scope="module")
def step(teacher, golden) -> dict:
    student = make_student(teacher, golden["student_params"])
    calls = []
    hook = student.register_forward_hook(
        lambda m, args, out: calls.append({"input": args[0].detach().clone(), "timesteps": args[1].clone(),
                                           "output": out.detach().clone()}))
    # The golden batch is in the official [-1, 1] range; the API takes [0, 1].
    terms = distillation_losses(student, teacher, gt=golden["gt"] * 0.5 + 0.5, lq=golden["lq"] * 0.5 + 0.5,
                                noise=golden["noise"])
    hook.remove()
    terms["loss"].mean().backward()
    grads = {name: p.grad for name, p in student.named_parameters()}
    return {"terms": terms, "calls": calls, "grads": grads, "names": [n for n, _ in student.named_parameters()]}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def test_intermediates_match(step, golden, teacher):
    # The calls' inputs are the intermediates scaled by step T-1's factor: x_T, the teacher's 15-step
    # output, and the ground truth's latent.
    scale = teacher.schedule.input_scale(teacher.schedule.steps - 1)
    calls = step["calls"]
    assert (calls[0]["input"] * scale - golden["z_t"]).abs().max() <= 1e-4
    assert (calls[1]["input"] * scale - golden["z_start_teacher"]).abs().max() <= 5e-4
    assert (calls[2]["input"] * scale - golden["z_start_gt"]).abs().max() <= 1e-4


def test_the_four_student_calls_match(step, golden):
    calls = step["calls"]
    assert len(calls) == 4
    for i, (ours, ref) in enumerate(zip(calls, golden["student_calls"])):
        assert torch.equal(ours["timesteps"], ref["timesteps"]), f"call {i + 1} timesteps"
        assert (ours["input"] - ref["input"]).abs().max() <= (5e-4 if i < 3 else 2e-3), f"call {i + 1} input"
        assert (ours["output"] - ref["output"]).abs().max() <= (5e-4 if i < 3 else 2e-3), f"call {i + 1} output"
    # The official quirk: the inverse calls take timestep 0 but the input scaled with T-1's factor.
    assert [int(c["timesteps"][0]) for c in calls] == [14, 0, 0, 14]


def test_loss_terms_match(step, golden):
    terms = step["terms"]
    for ours, ref in (("distill", "term_mse"), ("inverse", "term_mse_xT"), ("consistency", "term_mse_gt"),
                      ("loss", "loss_per_sample")):
        assert terms[ours].shape == (2,)
        torch.testing.assert_close(terms[ours].detach(), golden[ref], rtol=2e-4, atol=0)
    torch.testing.assert_close(terms["loss"].mean().detach(), golden["loss"], rtol=2e-4, atol=0)
    torch.testing.assert_close(terms["loss"], terms["distill"] + terms["inverse"] + terms["consistency"])


def test_gradients_match(step, golden):
    assert step["names"] == list(golden["grad_names"])
    norms = torch.stack([step["grads"][n].double().norm() for n in golden["grad_names"]])
    ref = golden["grad_norms"]
    big = ref > 1e-3 * ref.max()
    assert big.sum() > 100
    assert ((norms[big] - ref[big]).abs() / ref[big]).max() <= 5e-3
    ours = torch.cat([step["grads"][n].flatten() for n in golden["grads_full"]])
    theirs = torch.cat([golden["grads_full"][n].flatten() for n in golden["grads_full"]])
    assert _rel(ours, theirs) <= 2e-3
