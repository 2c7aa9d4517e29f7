"""The automatic tile size follows the free memory, and the estimate behind it covers what we measured."""

from __future__ import annotations

import torch

from sinsr_gui.engine.memory import (
    CANDIDATE_TILES,
    CPU_SINSR_MAX_TILE,
    SINSR_TILE_BYTES,
    auto_tile_size,
    available_bytes,
)

CPU = torch.device("cpu")
# Peak bytes above the loaded weights for one SinSR v1 tile in float32 on the CPU (docs/memory.md).
MEASURED_FP32 = {64: 0.48e9, 128: 1.15e9, 192: 2.59e9, 256: 4.11e9}


def test_estimate_is_not_below_any_measurement():
    a, b = SINSR_TILE_BYTES
    for tile, peak in MEASURED_FP32.items():
        assert a + b * tile * tile >= peak, tile


def test_tile_grows_with_free_memory_and_fits_the_budget():
    a, b = SINSR_TILE_BYTES
    gpu = torch.device("cuda")  # only its type is used: no GPU is touched when free_bytes is given
    tiles = [auto_tile_size(gpu, kind="sinsr", free_bytes=gb * 1e9) for gb in (0.5, 2, 4, 16, 64)]
    assert tiles == sorted(tiles) and tiles[0] == CANDIDATE_TILES[-1] and tiles[-1] == CANDIDATE_TILES[0]
    for gb, tile in zip((2, 4, 16), tiles[1:4]):
        assert a + b * tile * tile <= 0.6 * gb * 1e9
    # Batching two tiles needs room for both.
    assert auto_tile_size(gpu, kind="sinsr", batch=2, free_bytes=4e9) < auto_tile_size(gpu, kind="sinsr", free_bytes=4e9)


def test_sinsr_on_the_cpu_keeps_the_fastest_tile_size():
    assert auto_tile_size(CPU, kind="sinsr", free_bytes=64e9) == CPU_SINSR_MAX_TILE
    assert auto_tile_size(CPU, kind="sinsr", free_bytes=0.5e9) == 64


def test_compact_model_gets_larger_tiles():
    assert auto_tile_size(CPU, kind="compact", free_bytes=2e9) > auto_tile_size(CPU, kind="sinsr", free_bytes=2e9)


def test_available_ram_is_plausible():
    free = available_bytes(CPU)
    assert 100e6 < free < 16e12
