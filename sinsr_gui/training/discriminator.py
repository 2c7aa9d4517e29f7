"""A small U-Net discriminator with spectral normalisation, trained from scratch next to the generator.

The U-Net shape (as in Real-ESRGAN) gives a real/fake logit for every pixel instead of one per image: the
generator learns *where* its output looks wrong, which is what lets an adversarial loss sharpen edges and
textures without a pretrained feature network. Spectral norm on every inner convolution keeps the
discriminator Lipschitz, which keeps a from-scratch GAN stable at a small batch.

Contract: ``(N, 3, H, W)`` RGB in ``[0, 1]`` (H, W multiples of 8) -> ``(N, 1, H, W)`` logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class UNetDiscriminatorSN(nn.Module):
    """Three stride-2 stages down, three bilinear stages up with skip additions, two refinement convs."""

    def __init__(self, *, num_feat: int = 32, in_channels: int = 3) -> None:
        super().__init__()
        f = num_feat
        self.conv0 = nn.Conv2d(in_channels, f, 3, padding=1)
        self.down = nn.ModuleList(
            spectral_norm(nn.Conv2d(a, b, 4, stride=2, padding=1, bias=False))
            for a, b in ((f, 2 * f), (2 * f, 4 * f), (4 * f, 8 * f))
        )
        self.up = nn.ModuleList(
            spectral_norm(nn.Conv2d(a, b, 3, padding=1, bias=False))
            for a, b in ((8 * f, 4 * f), (4 * f, 2 * f), (2 * f, f))
        )
        self.refine = nn.Sequential(
            spectral_norm(nn.Conv2d(f, f, 3, padding=1, bias=False)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(f, f, 3, padding=1, bias=False)), nn.LeakyReLU(0.2),
        )
        self.head = nn.Conv2d(f, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` in [0, 1] -> ``(N, 1, H, W)`` real/fake logits (H, W multiples of 8)."""
        x = F.leaky_relu(self.conv0(x * 2 - 1), 0.2)
        skips = []
        for conv in self.down:
            skips.append(x)
            x = F.leaky_relu(conv(x), 0.2)
        for conv, skip in zip(self.up, reversed(skips)):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = F.leaky_relu(conv(x), 0.2) + skip
        return self.head(self.refine(x))
