"""The automatic tile size follows the free memory, and the estimate behind it covers what we measured."""

from __future__ import annotations

import torch

from sinsr_gui.engine.memory import CANDIDATE_TILES, auto_tile_size, available_bytes
from sinsr_gui.engine.models import descriptor_for

CPU = torch.device("cpu")
SINSR = descriptor_for("sinsr")
PHOTO = descriptor_for("photo")
# Peak bytes above the loaded weights for one SinSR v1 tile in float32 on the CPU (docs/memory.md).
MEASURED_FP32 = {64: 0.48e9, 128: 1.15e9, 192: 2.59e9, 256: 4.11e9}


def test_estimate_is_not_below_any_measurement():
    for tile, peak in MEASURED_FP32.items():
        assert SINSR.tile_peak_bytes(tile) >= peak, tile


def test_tile_grows_with_free_memory_and_fits_the_budget():
    gpu = torch.device("cuda")  # only its type is used: no GPU is touched when free_bytes is given
    tiles = [auto_tile_size(gpu, SINSR, free_bytes=gb * 1e9) for gb in (0.5, 2, 4, 16, 64)]
    assert tiles == sorted(tiles) and tiles[0] == CANDIDATE_TILES[-1] and tiles[-1] == CANDIDATE_TILES[0]
    for gb, tile in zip((2, 4, 16), tiles[1:4]):
        assert SINSR.tile_peak_bytes(tile) <= 0.6 * gb * 1e9
    # Batching two tiles needs room for both.
    assert auto_tile_size(gpu, SINSR, batch=2, free_bytes=4e9) < auto_tile_size(gpu, SINSR, free_bytes=4e9)


def test_sinsr_on_the_cpu_keeps_the_fastest_tile_size():
    assert SINSR.max_cpu_tile == 128
    assert auto_tile_size(CPU, SINSR, free_bytes=64e9) == SINSR.max_cpu_tile
    assert auto_tile_size(CPU, SINSR, free_bytes=0.5e9) == 64


def test_built_in_model_gets_larger_tiles():
    assert auto_tile_size(CPU, PHOTO, free_bytes=2e9) > auto_tile_size(CPU, SINSR, free_bytes=2e9)


def test_default_overlap_follows_the_descriptor():
    assert PHOTO.default_overlap(256) == PHOTO.overlap >= 34  # beyond Photo v3's receptive radius (34 LR px)
    assert SINSR.default_overlap(128) == 16 and SINSR.default_overlap(512) == 64
    assert SINSR.default_overlap(20) == 10  # never more than half the tile


def test_available_ram_is_plausible():
    free = available_bytes(CPU)
    assert 100e6 < free < 16e12
