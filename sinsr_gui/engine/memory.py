"""How much memory a device has free, and the tile size that fits in it."""

from __future__ import annotations

import ctypes
import os
import sys

import torch

from sinsr_gui.engine.descriptor import ModelDescriptor, Upscaler
from sinsr_gui.engine.tiling import TilingOptions

CANDIDATE_TILES = (512, 448, 384, 320, 256, 192, 128, 64)


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


def auto_tile_size(device: torch.device, descriptor: ModelDescriptor, *, batch: int = 1,
                   budget_fraction: float = 0.6, free_bytes: int | None = None) -> int:
    """The largest candidate LR tile whose estimated peak (the descriptor's ``tile_bytes``) fits in
    ``budget_fraction`` of the free memory, and at most the descriptor's CPU cap on a CPU."""
    free = available_bytes(device) if free_bytes is None else free_bytes
    budget = free * budget_fraction
    largest = CANDIDATE_TILES[0]
    if device.type == "cpu" and descriptor.max_cpu_tile:
        largest = descriptor.max_cpu_tile
    for tile in (t for t in CANDIDATE_TILES if t <= largest):
        if descriptor.tile_peak_bytes(tile, batch) <= budget:
            return tile
    return CANDIDATE_TILES[-1]


def default_tiling(model: Upscaler, *, tile: int | None = None, overlap: int | None = None,
                   batch: int = 1) -> TilingOptions:
    """The tiling the CLI and the app use: ``tile``/``overlap`` None or 0 mean automatic.

    Automatic tile: the largest that fits the device's free memory. Automatic overlap: the descriptor's.
    """
    descriptor = model.descriptor
    tile = tile or auto_tile_size(model.device, descriptor, batch=batch)
    overlap = overlap or descriptor.default_overlap(tile)
    return TilingOptions(tile=tile, overlap=min(overlap, tile // 2), batch_size=max(1, batch))
