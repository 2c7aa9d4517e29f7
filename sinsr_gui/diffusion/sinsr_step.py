"""The single SinSR denoising step, written out as one function.

SinSR distils the 15-step ResShift sampler into one network evaluation at the last timestep: start from the
prior ``x_T = z_y + kappa·sqrt(eta_T)·noise`` around the encoded low-resolution image and let the denoiser
predict the clean latent directly. Everything here works in the model's [-1, 1] image range.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

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
    record = stages if stages is not None else {}
    # Each stage runs in the dtype its weights have (see SinSRPipeline's precision policy).
    encoder_dtype = autoencoder.quant_conv.weight.dtype
    decoder_dtype = autoencoder.post_quant_conv.weight.dtype
    t = schedule.steps - 1

    # 1. Bicubic x4 in float32 (the official code upsamples before any cast), then encode. No quantisation.
    bicubic_up = F.interpolate(lq, scale_factor=4, mode="bicubic")
    z_y = autoencoder.encode(bicubic_up.to(encoder_dtype)).float() * scale_factor

    # 2. The prior sample at the last step, scaled to unit variance for the network.
    x_T = z_y + schedule.prior_noise_scale(t).to(lq.device) * noise
    x_in = x_T / schedule.input_scale(t).to(lq.device)

    # 3. One denoiser call predicts the clean latent x0 directly (predict_type "xstart", no clamp).
    timesteps = torch.full((lq.shape[0],), t, dtype=torch.long, device=lq.device)
    pred_x0 = unet(x_in, timesteps, lq).float()

    # 4. Decode: nearest-codebook quantisation (exact float32, from the float32 prediction), then the decoder.
    quantized, indices = autoencoder.quantize(pred_x0 / scale_factor)
    decoded = autoencoder.decode_quantized(quantized.to(decoder_dtype)).float()

    if stages is not None:
        record.update(
            lq_padded=lq, bicubic_up=bicubic_up, z_y=z_y, x_T=x_T, unet_input_scaled=x_in,
            unet_timesteps=timesteps, unet_output=pred_x0, pred_xstart=pred_x0, codebook_indices=indices,
            quantized=quantized.float(), decoded_full=decoded,
        )
    return decoded
