"""One path for a photo: the use cases every front-end calls (Qt-free).

The command line and the app both go through these functions, so a photo is read, run, previewed, cancelled
and saved the same way in both:

* :func:`read_photo`: decode a file once; the result serves the display, previews and the run;
* :func:`upscale_photo`: a generator yielding :class:`Progress`, returning an in-memory
  :class:`UpscaleResult` (pixels, alpha, and the file metadata kept apart from them);
* :func:`upscale_region`: the same for a part of the photo (previews): the tiler runs exactly the tiles of
  the whole-photo plan that touch the region, so the preview equals the final result there;
* :func:`save_result`: the one save rule (format, quality, bit depth, never over an input, atomic);
* :func:`process_file`: read, upscale and save one file (the batch command line).

**Cancel policy** (both front-ends): a cancel takes effect between tiles. A photo whose last tile has
finished is a finished photo and is kept (the app shows it, a batch saves it): the work is already done, so
discarding it would only cost the user the time it took. Nothing partial is ever written.
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
from sinsr_gui.engine.descriptor import Upscaler
from sinsr_gui.engine.memory import default_tiling
from sinsr_gui.engine.models import ModelRequest, Notice
from sinsr_gui.engine.options import DEFAULT_MAX_MEGAPIXELS, OutputOptions, RunOptions
from sinsr_gui.engine.tiling import TilingOptions, iter_upscale


@dataclass(frozen=True)
class PhotoOptions:
    """Everything a front-end decides for a run: which model, how to run it, how to write the result."""

    model: ModelRequest = field(default_factory=ModelRequest)
    run: RunOptions = field(default_factory=RunOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1e6)


@dataclass(frozen=True)
class Progress:
    """Tiles done of the total for one photo (the first event is ``Progress(0, total)``)."""

    done: int
    total: int


@dataclass(frozen=True)
class ModelInfo:
    """What runs where, for the user: reported once the model is loaded."""

    kind: str  # the descriptor's kind, e.g. "photo"
    display_name: str
    device: str  # e.g. "cpu", "cuda:1": the key for throughput measurements
    device_label: str
    precision: str
    passes: int  # network passes per tile (time estimates)
    notice: Notice | None = None


def describe(model: Upscaler, notice: Notice | None = None) -> ModelInfo:
    from sinsr_gui.engine.devices import device_label

    dev = model.device
    key = dev.type if dev.index in (None, 0) else f"{dev.type}:{dev.index}"
    d = model.descriptor
    return ModelInfo(d.kind, d.display_name, key, device_label(dev), model.precision_label, d.passes, notice)


@dataclass
class Photo:
    """A decoded photo: ``rgb`` (H, W, 3) float32 [0, 1] with EXIF orientation applied, optional ``alpha``
    (H, W), and ``meta``, everything that goes back into the saved file (no pixels)."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    meta: imageio.ImageMeta  # ICC, EXIF, DPI, grey, bit depth, notes, source path

    @property
    def path(self) -> Path | None:
        return self.meta.path

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, as displayed."""
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def notes(self) -> list[str]:
        return self.meta.notes


def _split(loaded: imageio.LoadedImage) -> Photo:
    return Photo(loaded.rgb, loaded.alpha, loaded.meta)


def read_photo(path: str | Path, *, max_pixels: int = imageio.DEFAULT_MAX_PIXELS) -> Photo:
    """Decode ``path`` (raises ``ImageReadError`` with a clear message)."""
    return _split(imageio.read_image(path, max_pixels=max_pixels))


def photo_from_pil(img, path: str | Path | None = None) -> Photo:
    """A photo from an already opened Pillow image (clipboard, drag data)."""
    return _split(imageio.read_image_from_pil(img, path))


@dataclass
class UpscaleResult:
    """A finished upscale, in memory: ``rgb`` (H, W, 3) float32 [0, 1], ``alpha`` (H, W) or None."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    meta: imageio.ImageMeta
    scale: int
    input_size: tuple[int, int]  # (width, height)
    seconds: float
    model: ModelInfo
    notes: list[str] = field(default_factory=list)

    @property
    def output_size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


@dataclass
class RegionResult:
    """A preview: the region's pixels at the output scale and where they go in the output image."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    rect: tuple[int, int, int, int]  # (x, y, width, height) in output pixels
    seconds: float
    model: ModelInfo


def output_size_for(width: int, height: int, scale: int) -> tuple[int, int]:
    """Exactly round(scale x input) on each side."""
    return round(scale * width), round(scale * height)


def tiling_for(model: Upscaler, run: RunOptions) -> TilingOptions:
    """The tiling of a run: ``tile``/``overlap`` 0 mean automatic (free memory, the model's overlap)."""
    return default_tiling(model, tile=run.tile or None, overlap=run.overlap or None, batch=run.batch)


def _progress(gen: Generator[tuple[int, int], None, np.ndarray]) -> Generator[Progress, None, np.ndarray]:
    """The tiler's ``(done, total)`` pairs as typed :class:`Progress` events."""
    try:
        while True:
            done, total = next(gen)
            yield Progress(done, total)
    except StopIteration as stop:
        return stop.value
    finally:
        gen.close()


def upscale_photo(model: Upscaler, photo: Photo, run: RunOptions, *, cancel: threading.Event | None = None,
                  notice: Notice | None = None) -> Generator[Progress, None, UpscaleResult]:
    """Upscale a whole photo tile by tile; yields progress, returns the result in memory.

    x4 (the models' native scale) is computed; x2 and x3 are a high-quality (Lanczos) downscale of it. The
    alpha channel is enlarged on its own with a good resampler (the models see RGB only). Raises
    ``UpscaleCancelled`` between tiles when ``cancel`` is set (see the module's cancel policy).
    """
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(int(run.seed))
    rgb = yield from _progress(iter_upscale(model, photo.rgb, tiling_for(model, run), generator=generator,
                                            cancel=cancel))
    width, height = photo.size
    size = output_size_for(width, height, run.scale)
    if run.scale != model.scale:
        rgb = imageio.resize_rgb(rgb, size)
    alpha = imageio.upscale_alpha(photo.alpha, size) if photo.alpha is not None else None
    return UpscaleResult(rgb, alpha, photo.meta, run.scale, photo.size, time.perf_counter() - start,
                         describe(model, notice), notes=list(photo.notes))


def upscale_region(model: Upscaler, photo: Photo, region: tuple[int, int, int, int], run: RunOptions, *,
                   cancel: threading.Event | None = None, notice: Notice | None = None
                   ) -> Generator[Progress, None, RegionResult]:
    """Upscale only ``region = (x0, y0, x1, y1)`` (LR pixels) of ``photo``, exactly as the whole run would.

    For x2/x3 the x4 region is computed with a small margin and resampled onto the same output pixel grid as
    the whole image, so the preview matches the saved result there too.
    """
    start = time.perf_counter()
    width, height = photo.size
    x0, y0, x1, y1 = region
    s = run.scale
    margin = 0 if s == model.scale else 3  # LR pixels of Lanczos support around the region
    cx0, cy0 = max(0, x0 - margin), max(0, y0 - margin)
    cx1, cy1 = min(width, x1 + margin), min(height, y1 + margin)
    generator = torch.Generator().manual_seed(int(run.seed))
    up = yield from _progress(iter_upscale(model, photo.rgb, tiling_for(model, run), generator=generator,
                                           cancel=cancel, region=(cx0, cy0, cx1, cy1)))
    out_w, out_h = (x1 - x0) * s, (y1 - y0) * s
    if s != model.scale:
        m = model.scale
        # The source box of the output pixels s*x0 .. s*x1 in the computed crop's coordinates.
        box = (m * x0 - m * cx0, m * y0 - m * cy0, m * x1 - m * cx0, m * y1 - m * cy0)
        up = imageio.resize_rgb(up, (out_w, out_h), box=box)
    alpha = None
    if photo.alpha is not None:  # the alpha of the region, enlarged on the whole-image grid
        full = imageio.upscale_alpha(photo.alpha, output_size_for(width, height, s))
        alpha = np.ascontiguousarray(full[y0 * s:y1 * s, x0 * s:x1 * s])
    return RegionResult(up, alpha, (x0 * s, y0 * s, out_w, out_h), time.perf_counter() - start,
                        describe(model, notice))


def save_result(result: UpscaleResult, dest: str | Path, output: OutputOptions, *,
                protected: tuple[Path, ...] = ()) -> Path:
    """Write ``result`` to ``dest`` with the output options; returns the path written.

    16-bit sources stay 16-bit unless a depth is chosen; an input in ``protected`` (and the result's own
    source) is never written; an existing file gets a " (1)" name unless ``output.overwrite``. Things the
    user should know (e.g. "JPEG has no transparency") are appended to ``result.notes``.
    """
    dest = Path(dest)
    bit_depth = output.bit_depth or (16 if result.meta.bit_depth == 16 else 8)
    guarded = protected + ((result.meta.path,) if result.meta.path is not None else ())
    return imageio.save_image(result.rgb, dest, like=result.meta, fmt=output.fmt, quality=output.quality,
                              bit_depth=bit_depth, alpha=result.alpha, overwrite=output.overwrite,
                              protected=guarded, notes=result.notes)


@dataclass
class FileResult:
    """One file done by :func:`process_file`."""

    input_path: Path
    output_path: Path
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    seconds: float
    notes: list[str]


def process_file(model: Upscaler, path: Path, dest: Path, options: PhotoOptions, *,
                 cancel: threading.Event | None = None, protected: tuple[Path, ...] = (),
                 notice: Notice | None = None) -> Generator[Progress, None, FileResult]:
    """Read ``path``, upscale it and write the result to ``dest``; yields progress.

    Raises ``ImageReadError``/``ImageWriteError``, ``UpscaleCancelled`` or ``OutOfMemory``. Nothing is
    written unless every tile finished.
    """
    start = time.perf_counter()
    photo = read_photo(path, max_pixels=options.max_pixels)
    result = yield from upscale_photo(model, photo, options.run, cancel=cancel, notice=notice)
    written = save_result(result, dest, options.output, protected=(path, *protected))
    return FileResult(path, written, result.input_size, result.output_size, time.perf_counter() - start,
                      result.notes)


def run_to_result(gen: Generator[Progress, None, object]) -> object:
    """Drain a use-case generator and return its result (for callers that need no progress)."""
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value
