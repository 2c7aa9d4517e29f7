"""ESRGAN's RRDB network (residual-in-residual dense blocks), the architecture of Real-ESRGAN x4plus.

The built-in "Most detail" model is Real-ESRGAN x4plus (BSD-3-Clause, xinntao/Real-ESRGAN), so the app runs it
with this module alone, without spandrel. Parameter names follow BasicSR's ``RRDBNet`` (``conv_first``,
``body.<i>.rdb<k>.conv<j>``, ``conv_body``, ``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``), which is
the layout :func:`sinsr_gui.weights.ncnn.convert_ncnn_pair` writes and Real-ESRGAN's ``params_ema`` uses.

Layout, at LR resolution until the upsampler: a 3x3 convolution to ``num_feat`` features; ``num_block``
RRDBs, each three dense blocks of five 3x3 convolutions (each sees every earlier output of its block, with
``num_grow_ch`` new channels each, LeakyReLU 0.2 between them), a dense block's output scaled by 0.2 and added to
its input, and the three blocks' sum scaled by 0.2 and added to the RRDB's input; a 3x3 convolution over the
trunk added to its input; two nearest-neighbour x2 upsamplings, each followed by a convolution and LeakyReLU;
then two convolutions to RGB.

Contract: ``(N, 3, H, W)`` float RGB in ``[0, 1]`` -> ``(N, 3, 4H, 4W)``, **not clamped** (the caller clamps).
Only the x4 layout (no pixel-unshuffle of the input) is built here. The module does no file I/O; loading lives
in :mod:`sinsr_gui.weights.builtin` (the app) and :mod:`sinsr_gui.training.teacher` (Photo's training), which
reads the config of any such state dict with :func:`config_from_state_dict`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_SLOPE = 0.2  # LeakyReLU's negative slope everywhere in the network
_RESIDUAL = 0.2  # the scale of each dense block's and each RRDB's residual


class _DenseBlock(nn.Module):
    def __init__(self, num_feat: int, grow: int) -> None:
        super().__init__()
        for j in range(5):
            out = num_feat if j == 4 else grow
            setattr(self, f"conv{j + 1}", nn.Conv2d(num_feat + j * grow, out, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for j in range(1, 5):
            conv = getattr(self, f"conv{j}")
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), _SLOPE))
        return self.conv5(torch.cat(features, 1)) * _RESIDUAL + x


class _RRDB(nn.Module):
    def __init__(self, num_feat: int, grow: int) -> None:
        super().__init__()
        self.rdb1 = _DenseBlock(num_feat, grow)
        self.rdb2 = _DenseBlock(num_feat, grow)
        self.rdb3 = _DenseBlock(num_feat, grow)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * _RESIDUAL + x


class RRDBNet(nn.Module):
    """Real-ESRGAN's generator for x4 (23 RRDBs of 64 features: 16.7 M parameters in x4plus).

    Its receptive field is hundreds of LR pixels wide, so a tiler cannot make tiles join exactly; like
    Real-ESRGAN's own tiling, the engine overlaps tiles by a margin where the remaining influence is invisible
    (:attr:`receptive_radius` is None: not exact at any practical overlap).
    """

    receptive_radius = None

    def __init__(self, *, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32, upscale: int = 4) -> None:
        super().__init__()
        if upscale != 4:
            raise ValueError(f"only the x4 RRDBNet is built here, not x{upscale}")
        if num_feat < 1 or num_block < 1 or num_grow_ch < 1:
            raise ValueError(f"invalid RRDBNet config: {num_feat=}, {num_block=}, {num_grow_ch=}")
        self.upscale = upscale
        self.conv_first = nn.Conv2d(3, num_feat, 3, padding=1)
        self.body = nn.Sequential(*(_RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for conv in (self.conv_up1, self.conv_up2):
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")), _SLOPE)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), _SLOPE))


def config_from_state_dict(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """The keyword arguments of the x4 :class:`RRDBNet` whose state dict (BasicSR key names) is ``state``.

    Raises ValueError when ``state`` is not such a network's."""
    try:
        num_feat = state["conv_first.weight"].shape[0]
        num_grow_ch = state["body.0.rdb1.conv1.weight"].shape[0]
    except KeyError as exc:
        raise ValueError(f"not an RRDBNet state dict in BasicSR key names (no {exc.args[0]})") from None
    blocks = {int(k.split(".")[1]) for k in state if k.startswith("body.")}
    if blocks != set(range(len(blocks))):
        raise ValueError(f"not an RRDBNet state dict: its body blocks are numbered {sorted(blocks)}")
    return {"num_feat": int(num_feat), "num_block": len(blocks), "num_grow_ch": int(num_grow_ch), "upscale": 4}
