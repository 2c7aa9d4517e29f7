"""ResShiftPipeline: the 15-step ResShift x4 teacher that SinSR was distilled from, with both of its samplers.

* ``"stochastic"`` (the official default): posterior mean plus fresh noise at every step;
* ``"deterministic"``: the mapping SinSR's single step learns (SinSR paper, section 3).

Same weights layout and autoencoder as SinSR (the official ``resshift_realsrx4_s15_v1.pth`` has the SinSR
denoiser's keys and shapes), 15 denoiser calls per tile instead of one. Contract at this boundary as for
:class:`~sinsr_gui.engine.pipeline.SinSRPipeline`: ``(N, 3, H, W)`` RGB in [0, 1].

For tiling, the whole photo's noise is one seeded field whose channels hold the prior noise (3) and, for the
stochastic sampler, the noise of every step (3 each): each tile takes its slice, so tiles agree where they
overlap and a seed gives the same photo at any tile size. That field is as large as the x4 output itself
(48 floats per LR pixel against the output's 48), so it adds no new order of memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any

import torch

from sinsr_gui.diffusion.resshift_samplers import (
    deterministic_sample_loop,
    run_to_end,
    stochastic_sample_loop,
)
from sinsr_gui.engine.descriptor import ModelDescriptor
from sinsr_gui.engine.options import DEFAULT_SEED, SAMPLERS
from sinsr_gui.engine.pipeline import SINSR_DESCRIPTOR, ShiftDiffusionPipeline, reflect_pad_to

RESSHIFT_DESCRIPTOR = dataclasses.replace(
    SINSR_DESCRIPTOR,
    kind="resshift",
    display_name="ResShift (15 steps)",
    summary="SinSR's 15-step teacher: the reference quality of the family, 15 times the work of SinSR.",
    passes=15,
    # 62.5 s per 128² tile, only 2.2x SinSR's on a CPU: the autoencoder, the same in both, is most of the time.
    cpu_seconds_per_mp=3814.0,
    licence="S-Lab License 1.0 (non-commercial), zsyOAOA/ResShift; VQ-f4 autoencoder: S-Lab License 1.0",
)


class ResShiftPipeline(ShiftDiffusionPipeline):
    """The teacher on one device and dtype; ``sampler`` is what :meth:`run_tiles` and the tiler use."""

    DESCRIPTOR = RESSHIFT_DESCRIPTOR

    def __init__(self, *args: Any, sampler: str = "stochastic", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sampler = check_sampler(sampler)

    @property
    def steps(self) -> int:
        return self.schedule.steps

    @property
    def descriptor(self) -> ModelDescriptor:
        return dataclasses.replace(super().descriptor, passes=self.steps)

    # Noise --------------------------------------------------------------------------------------------
    def noise_channels(self, sampler: str | None = None) -> int:
        c = self.config.autoencoder.embed_dim
        return c * (1 + self.steps) if (sampler or self.sampler) == "stochastic" else c

    def noise_field(self, batch: int, height: int, width: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """``(batch, C·(1+steps), Hp, Wp)`` for the stochastic sampler (prior noise, then each step's in visiting
        order), ``(batch, C, Hp, Wp)`` for the deterministic one. The prior noise is drawn first, exactly as
        SinSR draws its own, so one seed starts both models from the same ``x_T``."""
        hp, wp = self.padded_size(height, width)
        if generator is None:
            generator = torch.Generator().manual_seed(DEFAULT_SEED)
        c = self.config.autoencoder.embed_dim
        prior = torch.randn((batch, c, hp, wp), generator=generator, device=generator.device)
        if self.sampler != "stochastic":
            return prior
        steps = torch.randn((self.steps, batch, c, hp, wp), generator=generator, device=generator.device)
        return torch.cat([prior, steps.permute(1, 0, 2, 3, 4).reshape(batch, c * self.steps, hp, wp)], dim=1)

    def _split_noise(self, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A packed field (or slice of it) -> ``(prior (N, C, h, w), step noise (steps, N, C, h, w) or None)``."""
        c = self.config.autoencoder.embed_dim
        prior = noise[:, :c]
        if self.sampler != "stochastic":
            return prior, None
        n, _, h, w = noise.shape
        return prior, noise[:, c:].reshape(n, self.steps, c, h, w).permute(1, 0, 2, 3, 4)

    # Inference ----------------------------------------------------------------------------------------
    def _steps(self, lq_padded: torch.Tensor, noise: torch.Tensor, step_noise: torch.Tensor | None,
               sampler: str, stages: dict[str, Any] | None = None) -> Generator[int, None, torch.Tensor]:
        kwargs = dict(unet=self.unet, autoencoder=self.autoencoder, schedule=self.schedule,
                      scale_factor=self.config.diffusion.scale_factor, stages=stages)
        lq = lq_padded.to(self.device, torch.float32)
        noise = noise.to(self.device, torch.float32)
        if sampler == "stochastic":
            return stochastic_sample_loop(lq, noise, step_noise.to(self.device, torch.float32), **kwargs)
        return deterministic_sample_loop(lq, noise, **kwargs)

    def iter_run_tiles(self, tiles: torch.Tensor, noise: torch.Tensor | None
                       ) -> Generator[int, None, torch.Tensor]:
        """Tiler interface, one step at a time: yields after each of the 15 steps, returns
        ``(B, 3, 4h, 4w)`` in [0, 1] for ``(B, 3, h, w)`` tiles in [0, 1] and their noise slices."""
        if noise is None:
            raise ValueError("ResShift needs the noise slice of each tile")
        _, _, h, w = tiles.shape
        hp, wp = self.padded_size(h, w)
        lq_padded = reflect_pad_to((tiles.to(self.device, torch.float32) - 0.5) / 0.5, hp, wp)
        prior, step_noise = self._split_noise(noise[:, :, :hp, :wp])
        decoded = yield from self._steps(lq_padded, prior, step_noise, self.sampler)
        return decoded[:, :, : 4 * h, : 4 * w].clamp(-1, 1) * 0.5 + 0.5

    def run_tiles(self, tiles: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        return run_to_end(self.iter_run_tiles(tiles, noise))

    @torch.inference_mode()
    def upscale(self, lr: torch.Tensor, noise: torch.Tensor | None = None,
                generator: torch.Generator | None = None, sampler: str = "stochastic",
                step_noise: torch.Tensor | None = None, return_stages: bool = False):
        """Super-resolve ``lr`` (N, 3, H, W) in [0, 1] to (N, 3, 4H, 4W) in [0, 1], in one piece, 15 steps.

        ``noise`` (N, 3, Hp, Wp) is the prior noise and ``step_noise`` (15, N, 3, Hp, Wp) the noise of each
        stochastic step in visiting order (Hp, Wp: the sides rounded up to 64); what is missing is drawn from
        ``generator`` (default seed ``DEFAULT_SEED``), prior first. With ``return_stages`` a dict of the
        trajectory is returned instead: ``x`` (16, N, 3, Hp, Wp, x_T first), ``pred_xstart`` (15, ...),
        ``z_y``, ``codebook_indices``, ``decoded_full``, ``final_01``, ``noise``, ``step_noise``.
        """
        sampler = check_sampler(sampler)
        if lr.ndim != 4 or lr.shape[1] != 3:
            raise ValueError(f"expected an (N, 3, H, W) batch, got shape {tuple(lr.shape)}")
        n, _, h, w = lr.shape
        hp, wp = self.padded_size(h, w)
        c = self.config.autoencoder.embed_dim
        if generator is None and (noise is None or (sampler == "stochastic" and step_noise is None)):
            generator = torch.Generator().manual_seed(DEFAULT_SEED)
        if noise is None:
            noise = torch.randn((n, c, hp, wp), generator=generator, device=generator.device)
        if sampler == "stochastic" and step_noise is None:
            step_noise = torch.randn((self.steps, n, c, hp, wp), generator=generator, device=generator.device)
        if tuple(noise.shape) != (n, c, hp, wp):
            raise ValueError(f"noise must have shape {(n, c, hp, wp)}")
        if sampler == "stochastic" and tuple(step_noise.shape) != (self.steps, n, c, hp, wp):
            raise ValueError(f"step_noise must have shape {(self.steps, n, c, hp, wp)}")
        lq_padded = reflect_pad_to((lr.to(self.device, torch.float32) - 0.5) / 0.5, hp, wp)
        stages: dict[str, Any] | None = {} if return_stages else None
        decoded = run_to_end(self._steps(lq_padded, noise, step_noise, sampler, stages))
        final = decoded[:, :, : 4 * h, : 4 * w].clamp(-1, 1) * 0.5 + 0.5
        if stages is None:
            return final
        stages.update(final_01=final, noise=noise, step_noise=step_noise, lq_padded=lq_padded)
        return stages


def check_sampler(sampler: str) -> str:
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose {' or '.join(SAMPLERS)}")
    return sampler
