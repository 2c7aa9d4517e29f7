"""Swin transformer layer of the SinSR/ResShift denoiser, working directly on NCHW feature maps.

Differences from the textbook Swin transformer, all reproduced because the official weights depend on them:
* the norms are 32-group GroupNorms, and the MLP is made of 1x1 convolutions;
* a layer is ``1x1 conv -> blocks -> 1x1 conv`` with no residual around it;
* the shifted-window mask is the official one, which is not the standard Swin mask (see
  :func:`shifted_window_mask`).
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from sinsr_gui.nn.common import group_norm

_MASK_VALUE = -100.0  # the official code masks with -100, not -inf


def relative_position_index(window: int) -> torch.Tensor:
    """(window², window²) int64: for query token i and key token j (row-major in the window), the row of the
    relative-position bias table, ``(Δrow + window - 1) * (2 * window - 1) + (Δcol + window - 1)``."""
    rows, cols = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    d_row = rows[:, None] - rows[None, :] + window - 1
    d_col = cols[:, None] - cols[None, :] + window - 1
    return d_row * (2 * window - 1) + d_col


@lru_cache(maxsize=64)
def _mask_cached(height: int, width: int, window: int, shift: int, device: torch.device) -> torch.Tensor:
    windows_down, windows_across = height // window, width // window
    tokens = window * window
    mask = torch.zeros(windows_down, windows_across, tokens, tokens, device=device)
    # Official quirk: only the bottom row of windows is masked, and there a token's group is decided by its
    # in-window *column* (the official code flattens its NCHW mask in transposed order).
    column = torch.arange(tokens, device=device) % window
    group = column < window - shift
    mask[-1] = torch.where(group[:, None] != group[None, :], _MASK_VALUE, 0.0)
    return mask.reshape(windows_down * windows_across, tokens, tokens)


def shifted_window_mask(height: int, width: int, window: int, shift: int, device: torch.device) -> torch.Tensor:
    """The attention mask the official code adds for a shifted block on a ``height x width`` map.

    Returns (num_windows, window², window²) float32 of 0 / -100, windows in row-major order. Cached per shape,
    so it is built once per tile size rather than on every call. (``SinSRPipeline.compile`` keeps this
    function out of compiled graphs: it is a cached constant, and inductor mis-compiles its comparison.)
    """
    return _mask_cached(height, width, window, shift, torch.device(device))


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, num_windows, window², C); windows and the tokens inside them are row-major."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // window, window, w // window, window)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // window) * (w // window), window * window, c)


def window_merge(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B, num_windows, window², C) -> (B, C, H, W)."""
    b, _, _, c = windows.shape
    x = windows.view(b, height // window, width // window, window, window, c)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, c, height, width)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with a learned relative-position bias."""

    def __init__(self, *, dim: int, window: int, num_heads: int) -> None:
        super().__init__()
        self.window = window
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def position_bias(self) -> torch.Tensor:
        """(num_heads, window², window²) relative-position bias."""
        tokens = self.window * self.window
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(tokens, tokens, self.num_heads).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x: (B, num_windows, window², C); mask: (num_windows, window², window²) or None. Returns x's shape."""
        b, nw, n, c = x.shape
        qkv = self.qkv(x).view(b, nw, n, 3, self.num_heads, self.head_dim).permute(3, 0, 1, 4, 2, 5)
        q, k, v = qkv.unbind(0)  # each (B, nW, heads, N, head_dim)
        bias = self.position_bias()[None]  # (1, heads, N, N), broadcast over every window
        if mask is not None:
            bias = bias + mask[:, None]  # (nW, heads, N, N)
            if b > 1:
                bias = bias.repeat(b, 1, 1, 1)  # windows are batch-major: (B·nW, heads, N, N)
        out = F.scaled_dot_product_attention(
            q.reshape(b * nw, self.num_heads, n, self.head_dim),
            k.reshape(b * nw, self.num_heads, n, self.head_dim),
            v.reshape(b * nw, self.num_heads, n, self.head_dim),
            attn_mask=bias.to(q.dtype),
            scale=self.head_dim**-0.5,
        )  # (B·nW, heads, N, head_dim)
        out = out.view(b, nw, self.num_heads, n, self.head_dim).transpose(2, 3).reshape(b, nw, n, c)
        return self.proj(out)


class SwinMlp(nn.Module):
    """Pointwise MLP as two 1x1 convolutions with exact (erf) GELU between them."""

    def __init__(self, *, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):
    """One (shifted-)window attention block on a (B, C, H, W) map; H and W must be multiples of the window.

    ``build_resolution`` is the feature size the official constructor saw (image_size // 2**level). It decides
    the window and whether the block shifts, and sizes the stored ``attn_mask`` buffer, which must exist for
    official checkpoints to load strictly but is never used: the mask is always rebuilt for the runtime size.
    """

    def __init__(self, *, dim: int, num_heads: int, window: int, shift: int, mlp_ratio: float,
                 build_resolution: int) -> None:
        super().__init__()
        if build_resolution <= window:
            window, shift = build_resolution, 0
        self.window = window
        self.shift = shift
        if shift > 0:
            stored = shifted_window_mask(build_resolution, build_resolution, window, shift, torch.device("cpu"))
            self.register_buffer("attn_mask", stored.clone())
        else:
            self.attn_mask = None
        self.norm1 = group_norm(dim, eps=1e-5)
        self.attn = WindowAttention(dim=dim, window=window, num_heads=num_heads)
        self.norm2 = group_norm(dim, eps=1e-5)
        self.mlp = SwinMlp(dim=dim, hidden=int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        _, _, h, w = x.shape
        y = self.norm1(x)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(2, 3))
        mask = shifted_window_mask(h, w, self.window, self.shift, x.device) if self.shift else None
        y = window_merge(self.attn(window_partition(y, self.window), mask), self.window, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(2, 3))
        x = x + y
        return x + self.mlp(self.norm2(x))


class PointwiseProjection(nn.Module):
    """A 1x1 convolution stored as ``.proj`` (the official patch (un)embedding with patch size 1)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class SwinLayer(nn.Module):
    """1x1 conv to ``embed_dim`` -> ``depth`` Swin blocks (shift 0, window/2, 0, ...) -> 1x1 conv back.

    (B, C, H, W) -> (B, C, H, W). No outer residual, as in the official model.
    """

    def __init__(self, *, channels: int, embed_dim: int, num_heads: int, window: int, depth: int,
                 mlp_ratio: float, build_resolution: int) -> None:
        super().__init__()
        self.patch_embed = PointwiseProjection(channels, embed_dim)
        self.patch_unembed = PointwiseProjection(embed_dim, channels)
        self.blocks = nn.ModuleList(
            SwinBlock(dim=embed_dim, num_heads=num_heads, window=window,
                      shift=0 if i % 2 == 0 else window // 2, mlp_ratio=mlp_ratio,
                      build_resolution=build_resolution)
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for block in self.blocks:
            x = block(x)
        return self.patch_unembed(x)
