"""The pieces every ResShift-family sampler shares: encode the LR into the latent, one denoiser call, decode.

All in the model's [-1, 1] image range; latents are ``(N, 3, h, w)`` (the VQ-f4 latent has the LR's size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sinsr_gui.diffusion.schedule import ShiftSchedule
from sinsr_gui.nn.unet import SwinUNet
from sinsr_gui.nn.vqgan import VQAutoencoder


def encode_lr(lq: torch.Tensor, autoencoder: VQAutoencoder, scale_factor: float = 1.0
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(bicubic_up, z_y)``: the padded LR ``(N, 3, h, w)`` in [-1, 1] enlarged x4 with bicubic (in float32, as
    the official code does before any cast) and encoded without quantisation, ``(N, 3, h, w)`` float32."""
    bicubic_up = F.interpolate(lq, scale_factor=4, mode="bicubic")
    encoder_dtype = autoencoder.quant_conv.weight.dtype  # each stage runs in its weights' dtype
    z_y = autoencoder.encode(bicubic_up.to(encoder_dtype)).float() * scale_factor
    return bicubic_up, z_y


def predict_x0(x_t: torch.Tensor, t: int, lq: torch.Tensor, *, unet: SwinUNet, schedule: ShiftSchedule
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One denoiser call at step ``t``: ``(x_in, timesteps, x0)``, the input scaled to unit variance, the
    timestep batch, and the predicted clean latent (predict_type "xstart", not clamped), float32."""
    x_in = x_t / schedule.input_scale(t).to(x_t.device)
    timesteps = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
    return x_in, timesteps, unet(x_in, timesteps, lq).float()


def decode_latent(z: torch.Tensor, autoencoder: VQAutoencoder, scale_factor: float = 1.0
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(decoded, quantized, indices)``: nearest-codebook quantisation in exact float32, then the decoder;
    ``decoded`` is ``(N, 3, 4h, 4w)`` float32, roughly [-1, 1], not clamped."""
    quantized, indices = autoencoder.quantize(z / scale_factor)
    decoder_dtype = autoencoder.post_quant_conv.weight.dtype
    return autoencoder.decode_quantized(quantized.to(decoder_dtype)).float(), quantized.float(), indices
