"""One photo from file to file: read, tile-upscale, rescale, re-attach alpha and metadata, write atomically.

Shared by the command line and the app, so both behave the same. Qt-free.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sinsr_gui.engine import imageio
from sinsr_gui.engine.tiling import TileModel, TileProgress, TilingOptions, iter_upscale

SCALES = (2, 3, 4)


@dataclass
class OutputOptions:
    scale: int = 4
    fmt: str = "PNG"
    quality: int = 95
    bit_depth: int | None = None  # None: 16 for 16-bit sources where the format allows it, else 8
    overwrite: bool = False
    name_pattern: str = "{stem}_x{scale}"


@dataclass
class JobResult:
    input_path: Path | None
    output_path: Path | None
    input_size: tuple[int, int]  # (width, height)
    output_size: tuple[int, int]
    seconds: float
    notes: list[str] = field(default_factory=list)


def output_size_for(width: int, height: int, scale: int) -> tuple[int, int]:
    """Exactly round(scale x input) on each side."""
    return round(scale * width), round(scale * height)


def iter_upscale_loaded(
    model: TileModel,
    image: imageio.LoadedImage,
    tiling: TilingOptions,
    *,
    scale: int = 4,
    seed: int = 12345,
    cancel: threading.Event | None = None,
) -> Generator[TileProgress, None, tuple[np.ndarray, np.ndarray | None]]:
    """Upscale a decoded image. Yields tile progress; returns (rgb, alpha) at ``scale`` x, float in [0, 1].

    x4 is native; x2 and x3 are a high-quality (Lanczos) downscale of the x4 result. The alpha channel is
    upscaled on its own with a good resampler (the model only sees RGB).
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale}")
    generator = torch.Generator().manual_seed(int(seed))
    rgb = yield from iter_upscale(model, image.rgb, tiling, generator=generator, cancel=cancel)
    width, height = image.size
    size = output_size_for(width, height, scale)
    if scale != model.scale:
        rgb = imageio.resize_rgb(rgb, size)
    alpha = imageio.upscale_alpha(image.alpha, size) if image.alpha is not None else None
    return rgb, alpha


def iter_process_file(
    model: TileModel,
    input_path: Path,
    output_path: Path,
    tiling: TilingOptions,
    output: OutputOptions,
    *,
    seed: int = 12345,
    cancel: threading.Event | None = None,
    max_pixels: int = imageio.DEFAULT_MAX_PIXELS,
    protected: tuple[Path, ...] = (),
) -> Generator[TileProgress, None, JobResult]:
    """Read ``input_path``, upscale it and write the result; yields tile progress, returns a JobResult.

    Raises ``ImageReadError``/``ImageWriteError`` (clear messages), ``UpscaleCancelled`` or ``OutOfMemory``.
    Nothing is written unless the whole image succeeded.
    """
    start = time.perf_counter()
    image = imageio.read_image(input_path, max_pixels=max_pixels)
    rgb, alpha = yield from iter_upscale_loaded(model, image, tiling, scale=output.scale, seed=seed, cancel=cancel)
    if cancel is not None and cancel.is_set():
        from sinsr_gui.engine.tiling import UpscaleCancelled

        raise UpscaleCancelled("Cancelled.")
    notes = list(image.notes)
    written = save_result(rgb, alpha, image, output_path, output, protected=(input_path, *protected), notes=notes)
    return JobResult(input_path, written, image.size, (rgb.shape[1], rgb.shape[0]),
                     time.perf_counter() - start, notes)


def save_result(rgb: np.ndarray, alpha: np.ndarray | None, like: imageio.LoadedImage | None, dest: Path,
                output: OutputOptions, *, protected: tuple[Path, ...] = (), notes: list[str] | None = None) -> Path:
    """Write a result with the output options (the CLI and the app share this). 16-bit sources stay 16-bit
    unless a depth is chosen; inputs in ``protected`` are never written. Returns the path written."""
    bit_depth = output.bit_depth or (16 if like is not None and like.bit_depth == 16 else 8)
    return imageio.save_image(rgb, dest, like=like, fmt=output.fmt, quality=output.quality, bit_depth=bit_depth,
                              alpha=alpha, overwrite=output.overwrite, protected=protected, notes=notes)
