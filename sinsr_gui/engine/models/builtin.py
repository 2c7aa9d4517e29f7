"""The built-in models that ship inside the app: "Photo" (the default on a CPU without SinSR), "Faithful" and
"Most detail" (the default on a graphics card without SinSR).

Photo and Faithful are the same small convolutional network (:class:`sinsr_gui.nn.compact.CompactSRNet`),
trained differently, and fast on a laptop CPU. Most detail is Real-ESRGAN x4plus
(:class:`sinsr_gui.nn.rrdb.RRDBNet`, 16.7 M parameters, BSD-3-Clause): what Upscayl users get, offline,
about 16 times Photo's time on a CPU. Their weights and cards live in ``resources/models`` and are checked
before every load (:mod:`sinsr_gui.weights.builtin`). None needs noise, and all run at any size.
"""

from __future__ import annotations

import dataclasses

import torch

from sinsr_gui.engine.descriptor import CONV_LAYOUT, DeterministicUpscaler, ModelDescriptor, run_network
from sinsr_gui.engine.devices import resolve_device, resolve_dtype, stage_precision
from sinsr_gui.engine.models import community
from sinsr_gui.weights import builtin as builtin_weights
from sinsr_gui.weights.community import CommunityFacts

_COMPACT = ModelDescriptor(
    kind="",
    display_name="",
    summary="",
    scale=4,
    size_multiple=1,
    needs_noise=False,
    # Measured: about 6 kB per LR pixel of a tile (features at LR resolution, the x4 output) + 50 MB.
    tile_bytes=(0.05e9, 6_000.0),
    overlap=40,  # more than the receptive radius (Photo v3: 34 LR px, Faithful 18): tiles join exactly
    # With tiles fitted to the photo (engine.tiling.axis_tiles), larger tiles waste nothing and repeat less overlap:
    # Photo v3 on a 1024x644 photo, bf16 channels-last, 2 threads: tile 192 5.99 s, 256 5.35, 384 4.65, 512 4.68
    # (Faithful 3.25/2.89/2.46/2.46 s; docs/performance.md). 384 keeps a tile near 2 s on a CPU, for progress and
    # cancel, and its peak near 1 GB.
    max_cpu_tile=384,
    licence="Our own weights; trained on research-only data, so non-commercial (see the model card)",
)

PHOTO = dataclasses.replace(
    _COMPACT, kind="photo", display_name="Photo (built-in)",
    summary="For phone and web photos: removes JPEG blocks and noise, keeps edges clean.",
    # Its colours drift by up to 2 levels on JPEG inputs (Set5 q45: 1.99); the wavelet fix takes that to 0.04 at
    # no cost in PSNR, blocks or sharpness (docs/quality.md), so "auto" applies it.
    colour_fix="wavelet",
    # JPEGs below quality 30 lose part of their block edges first (engine.imageio.jpeg_blocks): the network alone
    # keeps the 32-px tiles of heavily compressed photos (docs/jpeg_blocks.md).
    deblocks_jpeg=True,
    cpu_seconds_per_mp=7.8,  # 0.128 s per 128² tile (docs/cpu/models_speed.json)
)
FAITHFUL = dataclasses.replace(
    _COMPACT, kind="faithful", display_name="Faithful (built-in)",
    summary="For clean sources (renders, scans, screenshots): enlarges without inventing detail.",
    cpu_seconds_per_mp=4.6,  # 0.076 s per 128² tile
)

# Real-ESRGAN x4plus as spandrel would describe it, so its memory, overlap and CPU tile follow the community
# models' rules (engine.models.community), written once there.
_X4PLUS_FACTS = CommunityFacts(
    architecture="ESRGAN", arch_id="ESRGAN", purpose="SR", scale=4, size_multiple=1, min_size=1, square=False,
    input_channels=3, output_channels=3, supports_half=True, supports_bfloat16=True,
    parameters=16_697_987,  # the card's count (tests/test_builtin_detail.py)
    tiling="supported")
DETAIL = ModelDescriptor(
    kind="detail",
    display_name="Most detail (built-in)",
    summary="Real-ESRGAN x4plus: the crispest result on photos. Without a graphics card it takes about 16 times "
            "as long as Photo.",
    scale=4,
    size_multiple=1,
    needs_noise=False,
    tile_bytes=community.tile_bytes_for(_X4PLUS_FACTS),
    overlap=community.overlap_for(_X4PLUS_FACTS)[0],  # 16 LR px: more than Real-ESRGAN's own tile padding of 10
    max_cpu_tile=community.max_cpu_tile_for(_X4PLUS_FACTS),
    cpu_seconds_per_mp=99.5,  # 1.63 s per 128² tile on the reference CPU (docs/cpu/models_speed.json)
    licence="BSD-3-Clause (Real-ESRGAN, Copyright (c) 2021, Xintao Wang): usable commercially",
)
_WEIGHTS = {PHOTO.kind: builtin_weights.PHOTO, FAITHFUL.kind: builtin_weights.FAITHFUL,
            DETAIL.kind: builtin_weights.DETAIL}
DESCRIPTORS = (PHOTO, FAITHFUL, DETAIL)  # pickers list them in this order


class BuiltinUpscaler(DeterministicUpscaler):
    """A built-in model as a tiler model: deterministic, no noise, any size."""

    def __init__(self, descriptor: ModelDescriptor, device: str | torch.device = "cpu",
                 dtype: str | torch.dtype = "auto") -> None:
        self.descriptor = descriptor
        self.device = resolve_device(device)
        auto = isinstance(dtype, str) and dtype == "auto"
        # bf16 autocast on CPUs with native bf16 (see docs/quality.md for its accuracy); fp16 on GPUs.
        self.compute_dtype = stage_precision("auto", self.device).decoder if auto else resolve_dtype(dtype,
                                                                                                     self.device)
        name = _WEIGHTS[descriptor.kind]
        self.network = builtin_weights.load_builtin_model(self.device, torch.float32, name=name)
        self.card = builtin_weights.load_builtin_card(name)
        self.prepare()

    def prepare(self) -> None:
        """Put the network in its fastest layout: channels-last in every precision (a conv-only network)."""
        self.network.to(memory_format=CONV_LAYOUT)

    @property
    def receptive_radius(self) -> int | None:
        """Exact for Photo and Faithful; None for Most detail (hundreds of LR pixels: tiles overlap by a margin)."""
        return self.network.receptive_radius

    def run_tiles(self, tiles: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        x = tiles.to(self.device, torch.float32).contiguous(memory_format=CONV_LAYOUT)
        return run_network(self.network, x, self.compute_dtype)


def is_installed(descriptor: ModelDescriptor) -> bool:
    """Built-in models ship with the app; a damaged file is reported when it is loaded."""
    return builtin_weights.builtin_weights_path(_WEIGHTS[descriptor.kind]).is_file()
