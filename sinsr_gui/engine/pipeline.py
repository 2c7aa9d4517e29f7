"""SinSRPipeline: official weights in, one-step x4 super-resolution out (and the base its teacher shares).

Contract at this boundary: images are ``(N, 3, H, W)`` float tensors in [0, 1], RGB. The [-1, 1] range and the
latent space exist only inside :mod:`sinsr_gui.diffusion`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F

from sinsr_gui.diffusion.schedule import ShiftSchedule
from sinsr_gui.diffusion.sinsr_step import sinsr_single_step
from sinsr_gui.engine.config import SinSRConfig
from sinsr_gui.engine.descriptor import ModelDescriptor
from sinsr_gui.engine.devices import resolve_device, stage_precision
from sinsr_gui.engine.options import DEFAULT_SEED
from sinsr_gui.nn.unet import SwinUNet
from sinsr_gui.nn.vqgan import VQAutoencoder
from sinsr_gui.weights.checkpoint import load_checkpoint_into

SINSR_DESCRIPTOR = ModelDescriptor(
    kind="sinsr",
    display_name="SinSR v1",
    summary="Best quality: one-step diffusion (CVPR 2024). Slow on a CPU; non-commercial weights.",
    scale=4,
    size_multiple=64,  # the v1 preset; a pipeline reports its own (see SinSRPipeline.descriptor)
    needs_noise=True,
    # Peak memory of one tile beyond the weights: 0.48, 1.15, 2.59, 4.11 GB at LR tiles 64-256 in float32 on
    # the CPU, about 70 kB per LR pixel (docs/memory.md); `auto` needs about 40 % less, fp16 GPUs 15 % less.
    tile_bytes=(0.2e9, 70_000.0),
    overlap=16,
    overlap_fraction=1 / 8,
    # Global attention makes larger tiles slower per pixel on a CPU (0.9 ms per LR pixel at 128, 1.9 ms at
    # 256), and smaller tiles report progress more often.
    max_cpu_tile=128,
    cpu_seconds_per_mp=1715.0,  # 28.1 s per 128² tile (docs/cpu/models_speed.json)
    licence="CC BY-NC-SA 4.0 (non-commercial), wyf0912/SinSR; VQ-f4 autoencoder: S-Lab License 1.0",
)


def reflect_pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad (N, C, h, w) on the right and bottom to (height, width) by mirroring without repeating the edge.

    Identical to the official single ``F.pad(mode="reflect")`` whenever that works (pad < size). Where it
    would fail (sides of 32 px or less need more padding than the image has), mirror repeatedly, which keeps
    the image continuous; a 1-px side is repeated.
    """
    while x.shape[-2] < height or x.shape[-1] < width:
        h, w = x.shape[-2:]
        pad_h = min(height - h, max(h - 1, 0))
        pad_w = min(width - w, max(w - 1, 0))
        if pad_h == 0 and pad_w == 0:  # a 1-px side cannot be mirrored
            x = F.pad(x, (0, width - w, 0, height - h), mode="replicate")
            break
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
    return x


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


class ShiftDiffusionPipeline:
    """A ResShift-family model (Swin-UNet denoiser, VQ-f4 autoencoder, shift schedule) on one device and dtype.

    What SinSR and its 15-step ResShift teacher share: construction, checkpoint loading, precision, padding
    and the prior noise field. Subclasses add their sampler and their :attr:`DESCRIPTOR`.
    """

    scale = 4
    DESCRIPTOR: ModelDescriptor

    def __init__(self, config: SinSRConfig, unet: SwinUNet, autoencoder: VQAutoencoder, *,
                 device: str | torch.device = "cpu", dtype: str | torch.dtype = torch.float32,
                 channels_last: bool | None = None) -> None:
        self.config = config
        self.device = resolve_device(device)
        d = config.diffusion
        self.schedule = ShiftSchedule.exponential(steps=d.steps, min_noise_level=d.min_noise_level,
                                                  etas_end=d.etas_end, kappa=d.kappa, power=d.power)
        self.precision = stage_precision(dtype, self.device)
        p = self.precision
        self.unet = unet.eval().requires_grad_(False).to(self.device)
        self.unet.to(p.unet)
        # As in the official half-precision mode, the time embedding and the output head stay float32.
        self.unet.time_embed.float()
        self.unet.out.float()
        ae = autoencoder.eval().requires_grad_(False).to(self.device)
        ae.encoder.to(p.encoder)
        ae.quant_conv.to(p.encoder)
        ae.post_quant_conv.to(p.decoder)
        ae.decoder.to(p.decoder)
        # The codebook is never rounded: the nearest-code search is exact float32 in every mode.
        self.autoencoder = ae
        self.use_channels_last(channels_last)

    def use_channels_last(self, enabled: bool | None = True) -> ShiftDiffusionPipeline:
        """Store convolution weights as NHWC (True), NCHW (False), or per stage (None, the default).

        NHWC is 10-20 % faster on a CPU (oneDNN) and needed for tensor cores. But on a CPU in float32,
        oneDNN's NHWC kernels are less accurate on some processors (measured on an Intel Xeon with AMX against
        float64: GroupNorm about 65x, 3x3 convolutions about 4x less accurate than NCHW, enough to move z_y by
        2.9e-4). So by default a float32 stage on a CPU stays NCHW, where it matches the official code as
        closely as the official code matches itself, and only bf16/fp16 stages (and every stage on a GPU) use
        NHWC. GroupNorm32 also corrects the NHWC float32 kernel's variance, for when NHWC is forced.
        """
        gpu = self.device.type != "cpu"
        p = self.precision
        for modules, dtype in (((self.unet,), p.unet), ((self.autoencoder.encoder, self.autoencoder.quant_conv), p.encoder),
                               ((self.autoencoder.decoder, self.autoencoder.post_quant_conv), p.decoder)):
            nhwc = enabled if enabled is not None else (gpu or dtype != torch.float32)
            for module in modules:
                module.to(memory_format=torch.channels_last if nhwc else torch.contiguous_format)
        return self

    def compile(self, **options: Any) -> ShiftDiffusionPipeline:
        """Compile the denoiser, encoder and decoder with ``torch.compile`` (optional; first call is slow).

        The modules stay the same objects, so their ``state_dict`` keys remain the official ones.
        """
        from sinsr_gui.nn import swin

        # Imported lazily: torch.compiler pulls in dynamo/inductor (slow to import, and absent from the app bundle).
        if not getattr(swin.shifted_window_mask, "_sinsr_eager", False):
            eager = torch.compiler.disable(swin.shifted_window_mask)
            eager._sinsr_eager = True
            swin.shifted_window_mask = eager
        for module in (self.unet, self.autoencoder.encoder, self.autoencoder.decoder):
            module.forward = torch.compile(module.forward, **options)
        return self

    # Construction -------------------------------------------------------------------------------------
    @staticmethod
    def build_modules(config: SinSRConfig) -> tuple[SwinUNet, VQAutoencoder]:
        """Fresh (untrained) modules for ``config``, on the CPU in float32."""
        return SwinUNet(**asdict(config.unet)), VQAutoencoder(**asdict(config.autoencoder))

    @classmethod
    def from_config(cls, config: SinSRConfig, *, device: str | torch.device = "cpu",
                    dtype: str | torch.dtype = torch.float32, seed: int = 0):
        """Untrained weights (seeded), for tests and benchmarks."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            unet, autoencoder = cls.build_modules(config)
        return cls(config, unet, autoencoder, device=device, dtype=dtype)

    @classmethod
    def from_checkpoints(cls, config: SinSRConfig, *, unet: str | os.PathLike[str],
                         autoencoder: str | os.PathLike[str], device: str | torch.device = "cpu",
                         dtype: str | torch.dtype = torch.float32):
        """Load official (or imported) checkpoint files strictly. Raises ``CheckpointError`` naming the file."""
        unet_module, ae_module = cls.build_modules(config)
        load_checkpoint_into(unet_module, unet)
        load_checkpoint_into(ae_module, autoencoder)
        return cls(config, unet_module, ae_module, device=device, dtype=dtype)

    # Description, geometry and noise ------------------------------------------------------------------
    @property
    def descriptor(self) -> ModelDescriptor:
        """The model's facts, with this configuration's own size multiple."""
        return dataclasses.replace(self.DESCRIPTOR, size_multiple=self.size_multiple)

    @property
    def precision_label(self) -> str:
        return self.precision.label

    @property
    def size_multiple(self) -> int:
        """LR sides are padded to multiples of this (64 for SinSR: the latent has the LR's size)."""
        return self.unet.size_multiple

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        m = self.size_multiple
        return round_up(height, m), round_up(width, m)

    def noise_field(self, batch: int, height: int, width: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """(batch, C_latent, Hp, Wp) float32 standard normal noise for a whole LR image of ``height x width``:
        what :meth:`upscale` draws, and the field the tiler slices for each tile.

        Drawn on the generator's device (the CPU by default) so a seed gives the same picture on any device.
        """
        hp, wp = self.padded_size(height, width)
        if generator is None:
            generator = torch.Generator().manual_seed(DEFAULT_SEED)
        shape = (batch, self.config.autoencoder.embed_dim, hp, wp)
        return torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float32)



class SinSRPipeline(ShiftDiffusionPipeline):
    """SinSR: the ResShift teacher distilled into one denoiser call (:func:`sinsr_single_step`)."""

    DESCRIPTOR = SINSR_DESCRIPTOR

    # Inference ----------------------------------------------------------------------------------------
    def run_tiles(self, tiles: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """Tiler interface: (B, 3, h, w) in [0, 1] and their noise slices -> (B, 3, 4h, 4w) in [0, 1]."""
        _, _, h, w = tiles.shape
        hp, wp = self.padded_size(h, w)
        if noise is None:
            raise ValueError("SinSR needs the noise slice of each tile")
        lq_padded = reflect_pad_to((tiles.to(self.device, torch.float32) - 0.5) / 0.5, hp, wp)
        decoded = self.run_padded(lq_padded, noise[:, :, :hp, :wp])
        return decoded[:, :, : 4 * h, : 4 * w].clamp(-1, 1) * 0.5 + 0.5

    def run_padded(self, lq_padded: torch.Tensor, noise: torch.Tensor,
                   stages: dict[str, Any] | None = None) -> torch.Tensor:
        """The single step on an already padded batch in [-1, 1]; returns (N, 3, 4Hp, 4Wp) float32, unclamped."""
        return sinsr_single_step(
            lq_padded.to(self.device, torch.float32), noise.to(self.device, torch.float32),
            unet=self.unet, autoencoder=self.autoencoder, schedule=self.schedule,
            scale_factor=self.config.diffusion.scale_factor, stages=stages,
        )

    @torch.inference_mode()
    def upscale(self, lr: torch.Tensor, noise: torch.Tensor | None = None,
                generator: torch.Generator | None = None, return_stages: bool = False):
        """Super-resolve ``lr`` (N, 3, H, W) in [0, 1] to (N, 3, 4H, 4W) in [0, 1], in one piece.

        ``noise`` is (N, 3, Hp, Wp) with Hp, Wp the sizes rounded up to 64; without it, noise is drawn from
        ``generator`` (default: seeded with ``DEFAULT_SEED``). With ``return_stages`` a dict of every intermediate
        tensor is returned instead (keys as in the reference golden data, plus ``final_01`` and ``noise``).
        For large photos use :func:`sinsr_gui.engine.tiling.upscale_tiled`, which bounds memory.
        """
        if lr.ndim != 4 or lr.shape[1] != 3:
            raise ValueError(f"expected an (N, 3, H, W) batch, got shape {tuple(lr.shape)}")
        n, _, h, w = lr.shape
        hp, wp = self.padded_size(h, w)
        if noise is None:
            noise = self.noise_field(n, h, w, generator)
        elif tuple(noise.shape) != (n, self.config.autoencoder.embed_dim, hp, wp):
            raise ValueError(f"noise must have shape {(n, self.config.autoencoder.embed_dim, hp, wp)}")
        y = (lr.to(self.device, torch.float32) - 0.5) / 0.5
        lq_padded = reflect_pad_to(y, hp, wp)
        stages: dict[str, Any] | None = {} if return_stages else None
        decoded = self.run_padded(lq_padded, noise, stages)
        final = decoded[:, :, : 4 * h, : 4 * w].clamp(-1, 1) * 0.5 + 0.5
        if stages is None:
            return final
        stages.update(final_01=final, noise=noise)
        return stages
