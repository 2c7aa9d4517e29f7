"""The SinSR/ResShift denoiser: a UNet with time-conditioned residual blocks and Swin layers.

Parameter names and shapes equal those of the official ``UNetModelSwin``, so official checkpoints load
unchanged. Only the configuration SinSR uses is supported (2-D, learned up/down-sampling convolutions,
low-quality image concatenated to the input); anything else is rejected at construction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from sinsr_gui.nn.common import Upsample, group_norm
from sinsr_gui.nn.swin import SwinLayer

_UNET_NORM_EPS = 1e-5


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding, (N,) -> (N, dim) float32, laid out as ``[cos, sin]`` (cos first, as official)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class ResBlock(nn.Module):
    """GN-SiLU-conv, FiLM by the time embedding (``GN(h)·(1+scale)+shift``), SiLU-conv, plus a skip path."""

    def __init__(self, *, channels: int, emb_channels: int, out_channels: int, dropout: float,
                 use_scale_shift_norm: bool) -> None:
        super().__init__()
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(
            group_norm(channels, eps=_UNET_NORM_EPS), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)
        )
        self.emb_layers = nn.Sequential(
            nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels)
        )
        self.out_layers = nn.Sequential(
            group_norm(out_channels, eps=_UNET_NORM_EPS),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip_connection = (
            nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W); emb: (B, emb_channels). Returns (B, out_channels, H, W)."""
        h = self.in_layers(x)
        emb_out = self.emb_layers(emb).to(h.dtype)[..., None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class Downsample(nn.Module):
    """3x3 stride-2 convolution with padding 1."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class TimestepSequential(nn.Sequential):
    """A sequence of layers where residual blocks also receive the time embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class SwinUNet(nn.Module):
    """Denoiser ``f(x_t, t, lq) -> x0``.

    Inputs: ``x`` (B, C_latent, h, w) the scaled noisy latent; ``timesteps`` (B,) integer steps; ``lq``
    (B, C_lq, h, w) the padded low-resolution image in [-1, 1] at latent size. ``h`` and ``w`` must be
    multiples of ``window_size * 2**(levels-1)`` (64 for SinSR). Output: (B, out_channels, h, w), unclamped.

    The keyword arguments are the official constructor's; see :class:`sinsr_gui.engine.config.UNetConfig`.
    """

    def __init__(
        self,
        *,
        image_size: int,
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: int | Sequence[int],
        attention_resolutions: Sequence[int],
        channel_mult: Sequence[int],
        num_head_channels: int,
        swin_depth: int,
        swin_embed_dim: int,
        window_size: int,
        mlp_ratio: float,
        use_scale_shift_norm: bool = True,
        dropout: float = 0.0,
        num_heads: int = -1,
    ) -> None:
        super().__init__()
        levels = len(channel_mult)
        blocks_per_level = (
            [num_res_blocks] * levels if isinstance(num_res_blocks, int) else list(num_res_blocks)
        )
        if len(blocks_per_level) != levels:
            raise ValueError("num_res_blocks needs one entry per channel_mult level")
        self.model_channels = model_channels
        self.downsampling_factor = 2 ** (levels - 1)
        self.window_size = window_size
        emb_dim = model_channels * 4
        heads = num_heads if num_head_channels == -1 else swin_embed_dim // num_head_channels

        def resblock(cin: int, cout: int) -> ResBlock:
            return ResBlock(channels=cin, emb_channels=emb_dim, out_channels=cout, dropout=dropout,
                            use_scale_shift_norm=use_scale_shift_norm)

        def swin(channels: int, resolution: int) -> SwinLayer:
            return SwinLayer(channels=channels, embed_dim=swin_embed_dim, num_heads=heads, window=window_size,
                             depth=swin_depth, mlp_ratio=mlp_ratio, build_resolution=resolution)

        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        ch = model_channels * channel_mult[0]
        self.input_blocks = nn.ModuleList([TimestepSequential(nn.Conv2d(in_channels, ch, 3, padding=1))])
        skip_channels = [ch]
        resolution = image_size  # the feature size at build time; the official code calls it "ds"
        for level, mult in enumerate(channel_mult):
            for i in range(blocks_per_level[level]):
                layers: list[nn.Module] = [resblock(ch, model_channels * mult)]
                ch = model_channels * mult
                if resolution in attention_resolutions and i == 0:
                    layers.append(swin(ch, resolution))
                self.input_blocks.append(TimestepSequential(*layers))
                skip_channels.append(ch)
            if level != levels - 1:
                self.input_blocks.append(TimestepSequential(Downsample(ch)))
                skip_channels.append(ch)
                resolution //= 2

        self.middle_block = TimestepSequential(resblock(ch, ch), swin(ch, resolution), resblock(ch, ch))

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for i in range(blocks_per_level[level] + 1):
                layers = [resblock(ch + skip_channels.pop(), model_channels * mult)]
                ch = model_channels * mult
                if resolution in attention_resolutions and i == 0:
                    layers.append(swin(ch, resolution))
                if level and i == blocks_per_level[level]:
                    layers.append(Upsample(ch))
                    resolution *= 2
                self.output_blocks.append(TimestepSequential(*layers))

        self.out = nn.Sequential(
            group_norm(ch, eps=_UNET_NORM_EPS), nn.SiLU(), nn.Conv2d(model_channels * channel_mult[0], out_channels, 3, padding=1)
        )

    @property
    def size_multiple(self) -> int:
        """Spatial sizes the network accepts are multiples of this."""
        return self.window_size * self.downsampling_factor

    def time_embedding(self, timesteps: torch.Tensor) -> torch.Tensor:
        """(B,) -> (B, 4·model_channels) in the dtype of ``time_embed``."""
        dtype = self.time_embed[0].weight.dtype
        return self.time_embed(timestep_embedding(timesteps, self.model_channels).to(dtype))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, lq: torch.Tensor) -> torch.Tensor:
        if lq.shape[2:] != x.shape[2:]:
            raise ValueError(f"lq must have the latent's spatial size {tuple(x.shape[2:])}, got {tuple(lq.shape[2:])}")
        # The time embedding and the output head may be kept in float32 while the torso runs in bf16/fp16
        # (as the official fp16 mode does), so cast at the two boundaries.
        torso_dtype = self.input_blocks[0][0].weight.dtype
        emb = self.time_embedding(timesteps).to(torso_dtype)
        h = torch.cat([x, lq], dim=1).to(torso_dtype)
        skips = []
        for module in self.input_blocks:
            h = module(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for module in self.output_blocks:
            h = module(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h.to(self.out[2].weight.dtype))
