"""The ResShift teacher's 15-step samplers, each written out as one function (SinSR's single step is their
distilled replacement: :mod:`sinsr_gui.diffusion.sinsr_step`).

* :func:`stochastic_sample_loop`: ResShift's own sampler. From the prior ``x_T`` around the encoded LR, each
  step predicts the clean latent ``x0`` and samples ``x_{t-1}`` from the posterior q(x_{t-1} | x_t, x0):
  its mean plus fresh noise (no noise at the last step).
* :func:`deterministic_sample_loop`: the deterministic sampler SinSR derives (paper, section 3), the mapping
  from ``x_T`` to the output that the one-step student learns: ``x_{t-1} = k·x0 + m·x_t + j·y``.

Both are generators: they yield the index of each finished step (0 .. steps-1, in visiting order) so a
caller can report progress and stop between steps, and return the decoded image. Everything is in the
model's [-1, 1] range; latents are ``(N, 3, h, w)`` like the padded LR.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import torch

from sinsr_gui.diffusion.latent import decode_latent, encode_lr, predict_x0
from sinsr_gui.diffusion.schedule import ShiftSchedule
from sinsr_gui.nn.unet import SwinUNet
from sinsr_gui.nn.vqgan import VQAutoencoder

SamplerSteps = Generator[int, None, torch.Tensor]


def stochastic_sample_loop(
    lq: torch.Tensor,
    noise: torch.Tensor,
    step_noise: torch.Tensor,
    *,
    unet: SwinUNet,
    autoencoder: VQAutoencoder,
    schedule: ShiftSchedule,
    scale_factor: float = 1.0,
    stages: dict[str, Any] | None = None,
) -> SamplerSteps:
    """ResShift's stochastic sampler (``p_sample_loop``), t = T-1 down to 0.

    Args:
        lq: (N, 3, h, w) float32 padded LR in [-1, 1].
        noise: (N, 3, h, w) standard normal noise of the prior sample ``x_T``.
        step_noise: (steps, N, 3, h, w) the noise drawn at each step, in visiting order (index 0 is t = T-1);
            the last one is multiplied by 0, as in the official sampler, which still draws it.
        stages: if a dict is given, it receives ``x`` (steps+1, N, 3, h, w: x_T first), ``pred_xstart``
            (steps, ...), ``z_y``, ``codebook_indices``, ``decoded_full``.
    Returns (via StopIteration): (N, 3, 4h, 4w) float32 decoded image, roughly [-1, 1], not clamped.
    """
    z_y, x_t = _prior(lq, noise, autoencoder, schedule, scale_factor)
    states, predictions = [x_t], []
    for i, t in enumerate(range(schedule.steps - 1, -1, -1)):
        _, _, x0 = predict_x0(x_t, t, lq, unet=unet, schedule=schedule)
        coef_xt, coef_x0, std = (c.to(lq.device) for c in schedule.posterior(t))
        mean = coef_xt * x_t + coef_x0 * x0
        x_t = mean + (std * step_noise[i].to(lq.device) if t > 0 else 0.0 * step_noise[i].to(lq.device))
        states.append(x_t)
        predictions.append(x0)
        yield i
    return _decode(z_y, states, predictions, autoencoder, scale_factor, stages)


def deterministic_sample_loop(
    lq: torch.Tensor,
    noise: torch.Tensor,
    *,
    unet: SwinUNet,
    autoencoder: VQAutoencoder,
    schedule: ShiftSchedule,
    scale_factor: float = 1.0,
    stages: dict[str, Any] | None = None,
) -> SamplerSteps:
    """The deterministic sampler (``ddim_sample_loop``): ``x_{t-1} = k·x0 + m·x_t + j·z_y``, t = T-1 .. 0.

    Same arguments, stages and result as :func:`stochastic_sample_loop`, without step noise: the output is a
    function of the prior noise alone. At t = 0, k = 1 and m = j = 0, so the last state is the last x0.
    """
    z_y, x_t = _prior(lq, noise, autoencoder, schedule, scale_factor)
    states, predictions = [x_t], []
    for i, t in enumerate(range(schedule.steps - 1, -1, -1)):
        _, _, x0 = predict_x0(x_t, t, lq, unet=unet, schedule=schedule)
        k, m, j = (c.to(lq.device) for c in schedule.ddim(t))
        x_t = x0 * k + m * x_t + j * z_y
        states.append(x_t)
        predictions.append(x0)
        yield i
    return _decode(z_y, states, predictions, autoencoder, scale_factor, stages)


def _prior(lq: torch.Tensor, noise: torch.Tensor, autoencoder: VQAutoencoder, schedule: ShiftSchedule,
           scale_factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(z_y, x_T)``: the encoded LR and the prior sample around it at the last step."""
    _, z_y = encode_lr(lq, autoencoder, scale_factor)
    return z_y, z_y + schedule.prior_noise_scale(schedule.steps - 1).to(lq.device) * noise


def _decode(z_y: torch.Tensor, states: list[torch.Tensor], predictions: list[torch.Tensor],
            autoencoder: VQAutoencoder, scale_factor: float, stages: dict[str, Any] | None) -> torch.Tensor:
    """Decode the final state; record the trajectory in ``stages`` when asked."""
    decoded, _, indices = decode_latent(states[-1], autoencoder, scale_factor)
    if stages is not None:
        stages.update(z_y=z_y, x=torch.stack(states), pred_xstart=torch.stack(predictions),
                      codebook_indices=indices, decoded_full=decoded)
    return decoded


def run_to_end(steps: SamplerSteps) -> torch.Tensor:
    """Drive a sampler generator to the end and return its decoded image."""
    try:
        while True:
            next(steps)
    except StopIteration as stop:
        return stop.value
