"""What every model the engine can run says about itself, and the interface the tiler drives.

A :class:`ModelDescriptor` holds the facts the rest of the app needs without knowing which model it is:
its name, scale, the multiple its input sides are padded to, whether it draws noise, how much memory a tile
costs, how much tiles must overlap, how many network passes a tile takes, and which precisions it runs in.
Tile sizing, labels, time estimates and the app's model picker read it; nothing outside a model's own
module switches on which model it is. (The idea follows spandrel's ``ImageModelDescriptor``.)

An :class:`Upscaler` is a loaded model: its descriptor, the device it runs on, a precision label, and the two
calls the tiler makes (``noise_field`` once per photo, ``run_tiles`` per batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass(frozen=True)
class ModelDescriptor:
    """Facts about one model, independent of the device it is loaded on."""

    kind: str  # the key used in settings, on the command line and in throughput records
    display_name: str  # what the user sees, e.g. "SinSR v1"
    summary: str  # one line: what it is for
    scale: int  # native upscaling factor
    size_multiple: int  # input sides are padded to a multiple of this
    needs_noise: bool  # draws a seeded noise field (diffusion models); False: deterministic
    tile_bytes: tuple[float, float]  # peak memory of one LR tile of side t beyond the weights: a + b * t²
    overlap: int  # default tile overlap in LR pixels (at least the receptive radius where it is finite)
    overlap_fraction: float = 0.0  # ... or this fraction of the tile, whichever is larger
    max_cpu_tile: int | None = None  # larger tiles are slower per pixel on a CPU
    passes: int = 1  # network passes per tile (15 for a 15-step sampler): time estimates and warnings
    # A first time estimate before the model has run here (engine.speed): seconds per input megapixel on the
    # reference CPU, a 2-core AMD EPYC with torch 2.13 (scripts/models_speed.py, docs/cpu/models_speed.json).
    cpu_seconds_per_mp: float | None = None
    dtypes: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
    licence: str = ""
    colour_fix: str = "off"  # what the "auto" colour fix does for this model (off: as the official SinSR code)
    deblocks_jpeg: bool = False  # "auto" deblocking removes a heavily compressed JPEG's block edges first

    def resolve_colour_fix(self, requested: str) -> str:
        """The colour fix a run uses: ``requested``, or for ``"auto"`` this model's recommendation."""
        return self.colour_fix if requested == "auto" else requested

    def resolve_deblock(self, requested: str) -> str:
        """What a run does about a JPEG's block edges: ``"on"`` or ``"off"`` as requested; ``"auto"`` stays
        automatic (a strength by the photo: ``jpeg_blocks.automatic_strength``) where this model asks for it."""
        return "off" if requested == "auto" and not self.deblocks_jpeg else requested

    def default_overlap(self, tile: int) -> int:
        """The overlap for tiles of side ``tile`` (LR pixels), at most half the tile."""
        return min(max(self.overlap, int(tile * self.overlap_fraction)), tile // 2)

    def tile_peak_bytes(self, tile: int, batch: int = 1) -> float:
        a, b = self.tile_bytes
        return a + batch * b * tile * tile


class Upscaler(Protocol):
    """A loaded model, as the tiler and the use cases see it."""

    descriptor: ModelDescriptor
    device: torch.device

    @property
    def scale(self) -> int: ...

    @property
    def size_multiple(self) -> int: ...

    @property
    def precision_label(self) -> str: ...

    def noise_field(self, batch: int, height: int, width: int,
                    generator: torch.Generator | None) -> torch.Tensor | None:
        """Noise for a whole ``height x width`` LR image (padded to the size multiple), or None."""

    def run_tiles(self, tiles: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """``(B, 3, h, w)`` RGB in [0, 1] (+ noise slices) -> ``(B, 3, scale·h, scale·w)`` in [0, 1], clamped."""


PRECISION_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}

# Convolution-only networks (the built-in models, community SRVGG/RRDB/SPAN, ...) run channels-last in every
# precision: oneDNN's and cuDNN's fast convolutions are NHWC; NCHW float32 took 5x longer for Real-ESRGAN
# x4plus on a 2-core Xeon (issue 21; docs/performance.md). Only SinSR keeps NCHW where its GroupNorm accuracy
# needs it (engine.pipeline).
CONV_LAYOUT = torch.channels_last


def run_network(network: torch.nn.Module, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``network(x)`` in ``dtype`` (autocast from float32 weights unless float32); float32 output in [0, 1]."""
    if dtype == torch.float32:
        out = network(x)
    else:
        with torch.autocast(x.device.type, dtype=dtype):
            out = network(x)
    return out.float().clamp(0, 1)


class DeterministicUpscaler:
    """The common part of a one-network, one-precision model that draws no noise (built-in, community).

    Subclasses set ``descriptor``, ``device`` and ``compute_dtype`` and implement ``run_tiles``.
    """

    descriptor: ModelDescriptor
    device: torch.device
    compute_dtype: torch.dtype

    @property
    def scale(self) -> int:
        return self.descriptor.scale

    @property
    def size_multiple(self) -> int:
        return self.descriptor.size_multiple

    @property
    def precision_label(self) -> str:
        return PRECISION_NAMES[self.compute_dtype]

    def noise_field(self, batch: int, height: int, width: int, generator: torch.Generator | None) -> None:
        return None
