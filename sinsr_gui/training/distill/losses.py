"""SinSR's distillation losses (the official ``training_losses_distill`` with ``configs/SinSR.yaml``'s flags).

Three per-sample mean squared errors in the latent space, all on the student (the teacher is frozen):

* ``distill``: the student's single step from ``x_T`` (timestep T-1) against the teacher's deterministic
  15-step output from the same ``x_T``;
* ``inverse`` (``learn_xT``): the student run backwards, from the teacher's output to ``x_T``. As in the
  official code, the input is scaled with timestep T-1's factor although the timestep passed is 0;
* ``consistency`` (``finetune_use_gt``): the ground truth's latent is mapped to its ``x_T`` by the
  student's inverse (no gradient through that call), and the student's forward step must bring it back.

Images come in as RGB in [0, 1] and are moved to the model's [-1, 1] range here.
"""

from __future__ import annotations

from collections.abc import Generator

import torch

from sinsr_gui.diffusion.latent import encode_lr, predict_x0
from sinsr_gui.diffusion.resshift_samplers import run_to_end
from sinsr_gui.diffusion.schedule import ShiftSchedule
from sinsr_gui.engine.resshift import ResShiftPipeline
from sinsr_gui.nn.unet import SwinUNet

TERMS = ("distill", "inverse", "consistency", "loss")


def _per_sample_mse(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    return (target - output).pow(2).mean(dim=tuple(range(1, target.ndim)))


@torch.no_grad()
def teacher_trajectory(teacher: ResShiftPipeline, lq: torch.Tensor, noise: torch.Tensor
                       ) -> Generator[int, None, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The teacher's deterministic sampler in the latent space, without the decoder the training never needs.

    ``lq`` (N, 3, h, w) in [-1, 1], ``noise`` (N, 3, h, w). Yields after each step; returns
    ``(z_y, x_T, z_0)``. Each step is the schedule's ``x_{t-1} = k·x0 + m·x_t + j·z_y``
    (:meth:`ShiftSchedule.ddim`, the same coefficients the pipeline's sampler uses).
    """
    schedule = teacher.schedule
    _, z_y = encode_lr(lq, teacher.autoencoder, teacher.config.diffusion.scale_factor)
    x_T = z_y + schedule.prior_noise_scale(schedule.steps - 1).to(lq.device) * noise
    x_t = x_T
    for t in range(schedule.steps - 1, -1, -1):
        _, _, x0 = predict_x0(x_t, t, lq, unet=teacher.unet, schedule=schedule)
        k, m, j = (c.to(lq.device) for c in schedule.ddim(t))
        x_t = x0 * k + m * x_t + j * z_y
        yield t
    return z_y, x_T, x_t


def _call(student: SwinUNet, x: torch.Tensor, scale_t: int, timestep: int, lq: torch.Tensor,
          schedule: ShiftSchedule) -> torch.Tensor:
    """The student on ``x`` scaled with step ``scale_t``'s factor, at timestep ``timestep``; float32 out."""
    x_in = x / schedule.input_scale(scale_t).to(x.device)
    timesteps = torch.full((x.shape[0],), timestep, dtype=torch.long, device=x.device)
    return student(x_in, timesteps, lq).float()


def distillation_losses(student_unet: SwinUNet, teacher_pipeline: ResShiftPipeline, *, gt: torch.Tensor,
                        lq: torch.Tensor, noise: torch.Tensor, inverse_weight: float = 1.0,
                        consistency_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """One batch of SinSR's distillation losses.

    Args:
        student_unet: the student denoiser (train mode); the only thing that receives gradients.
        teacher_pipeline: the frozen 15-step teacher; its autoencoder encodes ``lq`` and ``gt``.
        gt: (N, 3, 4h, 4w) HR crops, RGB in [0, 1].
        lq: (N, 3, h, w) their degraded LR, RGB in [0, 1] (h, w multiples of the denoiser's size multiple).
        noise: (N, 3, h, w) standard normal latent noise (the prior sample ``x_T``'s).
    Returns:
        per-sample (N,) float32 tensors ``distill``, ``inverse``, ``consistency`` and
        ``loss = distill + inverse_weight·inverse + consistency_weight·consistency``.
    """
    teacher = teacher_pipeline
    schedule = teacher.schedule
    device = teacher.device
    last = schedule.steps - 1
    lq_m = (lq.to(device, torch.float32) - 0.5) / 0.5
    gt_m = (gt.to(device, torch.float32) - 0.5) / 0.5
    noise = noise.to(device, torch.float32)

    _, x_T, z_teacher = run_to_end(teacher_trajectory(teacher, lq_m, noise))
    with torch.no_grad():
        ae = teacher.autoencoder
        z_gt = ae.encode(gt_m.to(ae.quant_conv.weight.dtype)).float() * teacher.config.diffusion.scale_factor

    distill = _per_sample_mse(z_teacher, _call(student_unet, x_T, last, last, lq_m, schedule))
    inverse = _per_sample_mse(x_T, _call(student_unet, z_teacher, last, 0, lq_m, schedule))
    with torch.no_grad():
        x_T_gt = _call(student_unet, z_gt, last, 0, lq_m, schedule)
    consistency = _per_sample_mse(z_gt, _call(student_unet, x_T_gt, last, last, lq_m, schedule))
    loss = distill + inverse_weight * inverse + consistency_weight * consistency
    return {"distill": distill, "inverse": inverse, "consistency": consistency, "loss": loss}
