"""The single SinSR denoising step, written out as one function.

SinSR distils the 15-step ResShift sampler into one network evaluation at the last timestep: start from the
prior ``x_T = z_y + kappa·sqrt(eta_T)·noise`` around the encoded low-resolution image and let the denoiser
predict the clean latent directly. Everything here works in the model's [-1, 1] image range.
"""

from __future__ import annotations

from typing import Any

import torch

from sinsr_gui.diffusion.latent import decode_latent, encode_lr, predict_x0
from sinsr_gui.diffusion.schedule import ShiftSchedule
from sinsr_gui.nn.unet import SwinUNet
from sinsr_gui.nn.vqgan import VQAutoencoder


def sinsr_single_step(
    lq: torch.Tensor,
    noise: torch.Tensor,
    *,
    unet: SwinUNet,
    autoencoder: VQAutoencoder,
    schedule: ShiftSchedule,
    scale_factor: float = 1.0,
    stages: dict[str, Any] | None = None,
) -> torch.Tensor:
    """Super-resolve a padded low-resolution batch by 4 in one step.

    Args:
        lq: (N, 3, h, w) float32 in [-1, 1], RGB; h and w multiples of the denoiser's size multiple (64).
        noise: (N, 3, h, w) float32 standard normal noise for the prior sample.
        stages: if a dict is given, every intermediate tensor is stored in it (keys as in the golden data).
    Returns:
        (N, 3, 4h, 4w) float32, roughly [-1, 1], not clamped.
    """
    t = schedule.steps - 1

    # 1. Bicubic x4, then encode the LR into the latent (no quantisation).
    bicubic_up, z_y = encode_lr(lq, autoencoder, scale_factor)

    # 2. The prior sample at the last step: the LR latent plus noise.
    x_T = z_y + schedule.prior_noise_scale(t).to(lq.device) * noise

    # 3. One denoiser call predicts the clean latent x0 directly (on the input scaled to unit variance).
    x_in, timesteps, pred_x0 = predict_x0(x_T, t, lq, unet=unet, schedule=schedule)

    # 4. Decode: nearest-codebook quantisation (exact float32, from the float32 prediction), then the decoder.
    decoded, quantized, indices = decode_latent(pred_x0, autoencoder, scale_factor)

    if stages is not None:
        stages.update(
            lq_padded=lq, bicubic_up=bicubic_up, z_y=z_y, x_T=x_T, unet_input_scaled=x_in,
            unet_timesteps=timesteps, unet_output=pred_x0, pred_xstart=pred_x0, codebook_indices=indices,
            quantized=quantized, decoded_full=decoded,
        )
    return decoded
