"""How much memory a device has free, and the tile size that fits in it."""

from __future__ import annotations

import ctypes
import os
import sys

import torch

# Peak memory of one tile beyond the loaded weights (bytes): a + b·(LR tile side)². For SinSR v1 in float32 on
# the CPU we measured 0.48, 1.15, 2.59 and 4.11 GB at tiles 64-256, about 70 kB per LR pixel (docs/memory.md);
# `auto` precision needs about 40 % less and fp16 GPUs about 15 % less, so this is conservative there.
SINSR_TILE_BYTES = (0.2e9, 70_000.0)
COMPACT_TILE_BYTES = (0.05e9, 6_000.0)
CANDIDATE_TILES = (512, 448, 384, 320, 256, 192, 128, 64)
CPU_SINSR_MAX_TILE = 128


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device``: ``torch.cuda.mem_get_info`` on CUDA, available RAM for the CPU and MPS."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return available_ram()


def available_ram() -> int:
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/meminfo", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
    if sys.platform == "win32":
        class _Status(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong), ("total", ctypes.c_ulonglong),
                        ("avail", ctypes.c_ulonglong), ("total_page", ctypes.c_ulonglong),
                        ("avail_page", ctypes.c_ulonglong), ("total_virtual", ctypes.c_ulonglong),
                        ("avail_virtual", ctypes.c_ulonglong), ("avail_ext", ctypes.c_ulonglong)]

        status = _Status()
        status.length = ctypes.sizeof(_Status)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return int(status.avail)
    try:  # macOS and other Unixes: free pages (an underestimate on macOS, which is the safe side)
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 * 1024**3


def auto_tile_size(device: torch.device, *, kind: str, batch: int = 1, budget_fraction: float = 0.6,
                   free_bytes: int | None = None) -> int:
    """The largest candidate LR tile whose estimated peak fits in ``budget_fraction`` of the free memory.

    SinSR on the CPU is capped at 128: its global attention makes larger tiles slower per pixel there
    (0.9 ms per LR pixel at 128, 1.9 ms at 256; docs/memory.md), and smaller tiles report progress more often.
    """
    a, b = SINSR_TILE_BYTES if kind == "sinsr" else COMPACT_TILE_BYTES
    free = available_bytes(device) if free_bytes is None else free_bytes
    budget = free * budget_fraction
    largest = CPU_SINSR_MAX_TILE if (kind == "sinsr" and device.type == "cpu") else CANDIDATE_TILES[0]
    for tile in (t for t in CANDIDATE_TILES if t <= largest):
        if a + batch * b * tile * tile <= budget:
            return tile
    return CANDIDATE_TILES[-1]


def default_tiling(model, *, tile: int | None = None, overlap: int | None = None, batch: int = 1):
    """The tiling the CLI and the app use: ``tile``/``overlap`` None or 0 mean automatic.

    Automatic tile: the largest that fits the device's free memory. Automatic overlap: 32 LR px for the
    compact model (more than its receptive radius of 18) and 1/8 of the tile (at least 16) for SinSR.
    """
    from sinsr_gui.engine.tiling import TilingOptions

    tile = tile or auto_tile_size(model.device, kind=model.kind, batch=batch)
    overlap = overlap or (32 if model.kind == "compact" else max(16, tile // 8))
    return TilingOptions(tile=tile, overlap=min(overlap, tile // 2), batch_size=max(1, batch))
