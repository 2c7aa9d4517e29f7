"""The VQ-f4 autoencoder used by SinSR: convolutional encoder, vector quantiser and decoder.

Parameter names and shapes equal those of the official ``VQModelTorch`` (LDM layout), so official
checkpoints load unchanged. The encoder maps an image (B, 3, 4h, 4w) in [-1, 1] to a latent (B, 3, h, w);
the decoder maps a quantised latent back. SinSR does not quantise on the encode side.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sinsr_gui.nn.common import Upsample, group_norm

_AE_NORM_EPS = 1e-6
# Latent vectors per chunk in the nearest-codebook search: bounds its memory to chunk x codebook floats.
QUANTIZER_CHUNK = 2048
# Query positions per chunk in the autoencoder's global attention (bounds the score matrix to chunk x HW).
ATTENTION_QUERY_CHUNK = 4096


class ResnetBlock(nn.Module):
    """GN-swish-conv3x3, GN-swish-conv3x3, plus a 1x1 shortcut when the width changes."""

    def __init__(self, *, in_channels: int, out_channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels, eps=_AE_NORM_EPS)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels, eps=_AE_NORM_EPS)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)
        else:
            self.nin_shortcut = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (x if self.nin_shortcut is None else self.nin_shortcut(x)) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over every spatial position, with a residual.

    Uses ``scaled_dot_product_attention`` so large latents never materialise the (HW x HW) score matrix.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels, eps=_AE_NORM_EPS)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)

        def tokens(t: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 1, HW, C)
            return t.reshape(b, c, h * w).transpose(1, 2).unsqueeze(1)

        q, k, v = tokens(self.q(y)), tokens(self.k(y)), tokens(self.v(y))
        # Queries in chunks: exact (softmax is per query), and memory stays bounded even where no fused kernel
        # supports this head size (512) and attention falls back to materialising the score matrix.
        chunks = [F.scaled_dot_product_attention(q[:, :, i:i + ATTENTION_QUERY_CHUNK], k, v)
                  for i in range(0, h * w, ATTENTION_QUERY_CHUNK)]
        out = chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=2)
        out = out.squeeze(1).transpose(1, 2).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Zero-pad right and bottom by one, then a 3x3 stride-2 convolution without padding."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class _Level(nn.Module):
    """One resolution level: residual blocks, optional attention, optional resampling."""

    def __init__(self, blocks: list[nn.Module], attns: list[nn.Module], resample: nn.Module | None,
                 resample_name: str) -> None:
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(attns)
        self._resample_name = resample_name
        if resample is not None:
            self.add_module(resample_name, resample)  # "downsample" or "upsample", as in the official keys

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            x = block(x)
            if self.attn:
                x = self.attn[i](x)
        resample = getattr(self, self._resample_name, None)
        return x if resample is None else resample(x)


class _Middle(nn.Module):
    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(in_channels=channels, out_channels=channels, dropout=dropout)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(in_channels=channels, out_channels=channels, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    """(B, in_channels, H, W) -> (B, z_channels, H / 2**(levels-1), W / 2**(levels-1))."""

    def __init__(self, *, ch: int, ch_mult: Sequence[int], num_res_blocks: int, attn_resolutions: Sequence[int],
                 in_channels: int, resolution: int, z_channels: int, double_z: bool, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        widths = [ch] + [ch * m for m in ch_mult]
        self.down = nn.ModuleList()
        res = resolution
        for level in range(len(ch_mult)):
            cin, cout = widths[level], widths[level + 1]
            blocks, attns = [], []
            for _ in range(num_res_blocks):
                blocks.append(ResnetBlock(in_channels=cin, out_channels=cout, dropout=dropout))
                cin = cout
                if res in attn_resolutions:
                    attns.append(AttnBlock(cout))
            last = level == len(ch_mult) - 1
            self.down.append(_Level(blocks, attns, None if last else Downsample(cout), "downsample"))
            if not last:
                res //= 2
        self.mid = _Middle(widths[-1], dropout)
        self.norm_out = group_norm(widths[-1], eps=_AE_NORM_EPS)
        self.conv_out = nn.Conv2d(widths[-1], 2 * z_channels if double_z else z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """(B, z_channels, h, w) -> (B, out_ch, h·2**(levels-1), w·2**(levels-1)); no output activation."""

    def __init__(self, *, ch: int, ch_mult: Sequence[int], num_res_blocks: int, attn_resolutions: Sequence[int],
                 out_ch: int, resolution: int, z_channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        levels = len(ch_mult)
        block_in = ch * ch_mult[-1]
        res = resolution // 2 ** (levels - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, padding=1)
        self.mid = _Middle(block_in, dropout)
        built: dict[int, _Level] = {}
        for level in reversed(range(levels)):
            block_out = ch * ch_mult[level]
            blocks, attns = [], []
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(in_channels=block_in, out_channels=block_out, dropout=dropout))
                block_in = block_out
                if res in attn_resolutions:
                    attns.append(AttnBlock(block_in))
            built[level] = _Level(blocks, attns, Upsample(block_in) if level != 0 else None, "upsample")
            if level != 0:
                res *= 2
        # Stored lowest-level first (up[0] is the full-resolution level), as in the official layout.
        self.up = nn.ModuleList(built[level] for level in range(levels))
        self.norm_out = group_norm(block_in, eps=_AE_NORM_EPS)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """Nearest-codebook quantisation of each latent vector (``embedding``: n_embed x embed_dim)."""

    def __init__(self, *, n_embed: int, embed_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)

    @torch.no_grad()
    def nearest_indices(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, D, h, w) -> (B·h·w,) int64 codebook indices in (b, h, w) row-major order.

        Always exact float32, whatever the compute dtype, and chunked so memory stays at
        ``QUANTIZER_CHUNK x n_embed`` floats. The distance is written as the official code writes it,
        ``|z|² + |e|² - 2 z·e``, so ties and near-ties resolve the same way (first index wins).
        """
        flat = z.float().permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        codebook = self.embedding.weight.float()
        codebook_sq = codebook.pow(2).sum(dim=1)
        out = torch.empty(flat.shape[0], dtype=torch.long, device=z.device)
        for start in range(0, flat.shape[0], QUANTIZER_CHUNK):
            part = flat[start:start + QUANTIZER_CHUNK]
            # (|z|² + |e|²) - 2 z·e with one buffer: addmm's alpha=-2 is an exact scaling, so this rounds as the
            # official three-step expression does.
            dist = (part.pow(2).sum(dim=1, keepdim=True) + codebook_sq).addmm_(part, codebook.t(), alpha=-2)
            out[start:start + QUANTIZER_CHUNK] = dist.argmin(dim=1)
        return out

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (B, D, h, w) -> (quantised (B, D, h, w) in z's dtype, indices (B·h·w,)).

        The quantised value is ``z + (e - z)`` in float32, as official (it differs from ``e`` by ~1 ulp).
        """
        indices = self.nearest_indices(z)
        b, d, h, w = z.shape
        codes = self.embedding.weight.float()[indices].view(b, h, w, d).permute(0, 3, 1, 2)
        zf = z.float()
        return (zf + (codes - zf)).to(z.dtype), indices


class VQAutoencoder(nn.Module):
    """Official ``VQModelTorch``: ``encode`` (no quantisation), ``quantize``, ``decode_quantized``."""

    def __init__(self, *, embed_dim: int, n_embed: int, ch: int, ch_mult: Sequence[int], num_res_blocks: int,
                 z_channels: int, attn_resolutions: Sequence[int] = (), in_channels: int = 3, out_ch: int = 3,
                 resolution: int = 256, double_z: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = Encoder(ch=ch, ch_mult=ch_mult, num_res_blocks=num_res_blocks,
                               attn_resolutions=attn_resolutions, in_channels=in_channels, resolution=resolution,
                               z_channels=z_channels, double_z=double_z, dropout=dropout)
        self.decoder = Decoder(ch=ch, ch_mult=ch_mult, num_res_blocks=num_res_blocks,
                               attn_resolutions=attn_resolutions, out_ch=out_ch, resolution=resolution,
                               z_channels=z_channels, dropout=dropout)
        self.quantize = VectorQuantizer(n_embed=n_embed, embed_dim=embed_dim)
        self.quant_conv = nn.Conv2d(2 * z_channels if double_z else z_channels, embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, z_channels, 1)
        self.downsampling_factor = 2 ** (len(ch_mult) - 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> latent (B, embed_dim, H/f, W/f), not quantised."""
        return self.quant_conv(self.encoder(x))

    def decode_quantized(self, quantized: torch.Tensor) -> torch.Tensor:
        """Quantised latent (B, embed_dim, h, w) -> image (B, 3, h·f, w·f), about [-1, 1], unclamped."""
        return self.decoder(self.post_quant_conv(quantized))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        quantized, _ = self.quantize(z)
        return self.decode_quantized(quantized)
