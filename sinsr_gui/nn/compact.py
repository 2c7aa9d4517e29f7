"""A compact x4 super-resolution network of the SRVGG-compact family, small enough to ship inside the app.

Layout: a plain stack of 3x3 convolutions that all run at the low (input) resolution, a last convolution to
``3 * upscale**2`` channels, ``pixel_shuffle`` to the output resolution, and a bilinear upsampling of the
input added as the base, so the convolutions only predict the missing detail.

Contract (the only place it is written down): ``forward`` takes ``(N, 3, H, W)`` float RGB in ``[0, 1]`` and
returns ``(N, 3, upscale*H, upscale*W)`` float RGB, roughly in ``[0, 1]`` but **not clamped**: the caller clamps.
Any ``H, W >= 1`` works. The module does no file I/O; loading lives in ``sinsr_gui.weights.builtin``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class CompactConfig:
    """Constructor arguments of :class:`CompactSRNet`, kept as a dataclass so they can be saved as JSON."""

    num_feat: int
    num_conv: int
    upscale: int = 4

    @classmethod
    def default(cls) -> CompactConfig:
        """The preset trained and shipped as ``resources/models/compact_x4.safetensors``."""
        return cls(num_feat=64, num_conv=16, upscale=4)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class CompactSRNet(nn.Module):
    """Compact SR network: ``num_conv + 2`` 3x3 convolutions at LR resolution, PReLU, pixel shuffle.

    Receptive field: every 3x3 convolution sees one more LR pixel on each side, and the bilinear base looks
    one LR pixel away, so an output pixel depends on input pixels at most ``num_conv + 2`` LR pixels away
    (a ``(2 * (num_conv + 2) + 1)``-pixel square window). :attr:`receptive_radius` gives that number; a tiler
    whose tiles overlap by at least that many LR pixels reproduces the untiled output exactly.
    """

    def __init__(self, *, num_feat: int, num_conv: int, upscale: int = 4) -> None:
        super().__init__()
        if num_feat < 1 or num_conv < 0 or upscale < 1:
            raise ValueError(f"invalid CompactSRNet config: {num_feat=}, {num_conv=}, {upscale=}")
        self.config = CompactConfig(num_feat=num_feat, num_conv=num_conv, upscale=upscale)
        self.upscale = upscale
        layers: list[nn.Module] = [nn.Conv2d(3, num_feat, 3, padding=1), nn.PReLU(num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.PReLU(num_feat)]
        self.body = nn.Sequential(*layers)
        self.tail = nn.Conv2d(num_feat, 3 * upscale * upscale, 3, padding=1)
        for conv in self.body:
            if isinstance(conv, nn.Conv2d):
                # Variance-preserving for PReLU's initial slope 0.25: torch's default init shrinks the signal
                # at every layer, which slows the start of training of a deep plain stack.
                nn.init.kaiming_normal_(conv.weight, a=0.25, nonlinearity="leaky_relu")
                nn.init.zeros_(conv.bias)
        # Start as (almost) plain bilinear upsampling: a small residual makes the first steps stable.
        nn.init.normal_(self.tail.weight, std=1e-3)
        nn.init.zeros_(self.tail.bias)

    @classmethod
    def from_config(cls, config: CompactConfig) -> CompactSRNet:
        return cls(num_feat=config.num_feat, num_conv=config.num_conv, upscale=config.upscale)

    @property
    def receptive_radius(self) -> int:
        """How many LR pixels away an input pixel can still change an output pixel (see class docstring)."""
        return self.config.num_conv + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` RGB in ``[0, 1]`` -> ``(N, 3, s*H, s*W)`` RGB, not clamped (``s = upscale``)."""
        residual = F.pixel_shuffle(self.tail(self.body(x)), self.upscale)  # (N, 3, sH, sW)
        base = F.interpolate(x, scale_factor=self.upscale, mode="bilinear", align_corners=False)
        # Under autocast the convolutions give bf16; add in the input's dtype so the base keeps full precision.
        return base + residual.to(base.dtype)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
