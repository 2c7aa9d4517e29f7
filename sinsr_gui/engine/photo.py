"""One path for a photo: the use cases every front-end calls (Qt-free).

The command line and the app both go through these functions, so a photo is read, run, previewed, cancelled
and saved the same way in both:

* :func:`read_photo`: decode a file once; the result serves the display, previews and the run;
* :func:`upscale_photo`: a generator yielding :class:`Progress`, returning an in-memory
  :class:`UpscaleResult` (pixels, alpha, and the file metadata kept apart from them);
* :func:`upscale_region`: the same for a part of the photo (previews): the tiler runs exactly the tiles of
  the whole-photo plan that touch the region, so the preview equals the final result there;
* :func:`save_result`: the one save rule (format, quality, bit depth, never over an input, atomic);
* :func:`run_photo`: the one sequence for a photo file: read (through a :class:`PhotoCache` when given),
  upscale, save when a destination is given, and release the pixels once saved when asked (a batch);
  :func:`load_and_run` loads the model first (the app's worker), :func:`process_file` is the command line's
  form (a failed save is that file's failure).

**Cancel policy** (both front-ends): a cancel takes effect between tiles. A photo whose last tile has
finished is a finished photo and is kept (the app shows it, a batch saves it): the work is already done, so
discarding it would only cost the user the time it took. Nothing partial is ever written.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from sinsr_gui.engine import imageio
from sinsr_gui.engine.colour import fix_colour, region_margin
from sinsr_gui.engine.descriptor import Upscaler
from sinsr_gui.engine.devices import device_label
from sinsr_gui.engine.memory import default_tiling
from sinsr_gui.engine.options import OutputOptions, RunOptions, resolve_format
from sinsr_gui.engine.tiling import TilingOptions, iter_upscale
from sinsr_gui.engine.types import (
    FileResult,
    ModelInfo,
    ModelRequest,
    Notice,
    Photo,
    PhotoOptions,
    Progress,
    RegionResult,
    UpscaleResult,
    output_size_for,
)
from sinsr_gui.errors import Remedy, UserError

# The plain types are defined in the torch-free engine.types; they are named here too, with the use cases.
__all__ = ["LOSSLESS_FORMATS", "FileResult", "ModelInfo", "ModelRequest", "Models", "Notice", "Photo", "PhotoCache",
           "PhotoOptions", "PhotoRun", "Progress", "RegionResult", "UpscaleResult", "check_reopenable", "describe",
           "device_key", "load_and_run", "network_input", "output_size_for", "photo_from_pil", "process_file", "read_photo",
           "reopen_saved", "run_photo", "run_to_result", "save_result", "thumbnail", "tiling_for", "upscale_photo",
           "upscale_region"]


def device_key(dev: torch.device) -> str:
    """The short name of a device in throughput records: "cpu", "cuda", "cuda:1" (index 0 is implied)."""
    return dev.type if dev.index in (None, 0) else f"{dev.type}:{dev.index}"


def describe(model: Upscaler, notice: Notice | None = None) -> ModelInfo:
    d = model.descriptor
    return ModelInfo(d.kind, d.display_name, device_key(model.device), device_label(model.device),
                     model.precision_label, d.passes, notice, d.needs_noise, getattr(model, "sampler", None))


def _split(loaded: imageio.LoadedImage) -> Photo:
    return Photo(loaded.rgb, loaded.alpha, loaded.meta)


def read_photo(path: str | Path, *, max_pixels: int = imageio.DEFAULT_MAX_PIXELS) -> Photo:
    """Decode ``path`` (raises ``ImageReadError`` with a clear message)."""
    return _split(imageio.read_image(path, max_pixels=max_pixels))


def thumbnail(photo: Photo, side: int = 256) -> np.ndarray:
    """A ``(h, w, 4)`` uint8 RGBA preview of ``photo`` fitting in ``side`` x ``side`` (aspect kept).

    Made from the decoded pixels, so orientation and colour are exactly those of the display and the run.
    """
    width, height = photo.size
    f = min(1.0, side / max(width, height))
    size = (max(1, round(width * f)), max(1, round(height * f)))
    step = max(1, int(1 / f) // 2)  # pre-shrink by striding: a 50 MP photo need not be resampled in full
    rgb = (np.clip(photo.rgb[::step, ::step], 0, 1) * 255 + 0.5).astype(np.uint8)
    alpha = photo.alpha[::step, ::step] if photo.alpha is not None else np.ones(rgb.shape[:2], np.float32)
    rgba = np.dstack([rgb, (np.clip(alpha, 0, 1) * 255 + 0.5).astype(np.uint8)])
    return np.asarray(Image.fromarray(rgba, "RGBA").resize(size, Image.Resampling.LANCZOS))


class PhotoCache:
    """Recently decoded photos by path, so one read serves the thumbnail, the display and the run.

    Bounded by ``budget_bytes`` of pixels (least recently used photos are dropped first); a file that
    changed on disk (size or modification time) is read again. Thread-safe: workers read through it.
    """

    def __init__(self, budget_bytes: int = 1 << 30) -> None:
        self.budget_bytes = budget_bytes
        self._lock = threading.Lock()
        self._items: dict[Path, tuple[tuple[int, int], Photo]] = {}  # insertion order = recency
        self._gates: dict[Path, threading.Lock] = {}  # one decode of a file at a time

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int]:
        st = path.stat()
        return st.st_size, st.st_mtime_ns

    def get(self, path: str | Path, *, max_pixels: int = imageio.DEFAULT_MAX_PIXELS) -> Photo:
        """The decoded photo at ``path`` (raises ``ImageReadError`` like :func:`read_photo`)."""
        path = Path(path)
        with self._lock:
            gate = self._gates.setdefault(path, threading.Lock())
        with gate:  # a second reader of the same file waits for the first decode and shares it
            try:
                stamp = self._stamp(path)
            except OSError:
                stamp = None  # read_photo gives the clear message
            with self._lock:
                hit = self._items.pop(path, None)
                if hit is not None and hit[0] == stamp:
                    self._items[path] = hit
                    return hit[1]
            photo = read_photo(path, max_pixels=max_pixels)
            if stamp is not None:
                self.put(path, photo, stamp)
            return photo

    def put(self, path: Path, photo: Photo, stamp: tuple[int, int] | None = None) -> None:
        """Keep ``photo`` (RGB and alpha count against the budget; the least recently used go first)."""
        if photo.nbytes > self.budget_bytes:
            return
        stamp = stamp or self._stamp(path)
        with self._lock:
            self._items.pop(path, None)
            self._items[path] = (stamp, photo)
            while self.held_bytes > self.budget_bytes:
                self._items.pop(next(iter(self._items)))

    @property
    def held_bytes(self) -> int:
        """The pixels held now, RGB and alpha: the quantity ``budget_bytes`` bounds."""
        return sum(photo.nbytes for _, photo in self._items.values())

    def forget(self, path: str | Path) -> None:
        with self._lock:
            self._items.pop(Path(path), None)
            self._gates.pop(Path(path), None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._gates.clear()


def photo_from_pil(img, path: str | Path | None = None) -> Photo:
    """A photo from an already opened Pillow image (clipboard, drag data)."""
    return _split(imageio.read_image_from_pil(img, path))


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


def _concrete(run: RunOptions, model: Upscaler) -> RunOptions:
    """``run`` with the automatic choices that depend on the model made (the colour fix)."""
    return dataclasses.replace(run, colour_fix=model.descriptor.resolve_colour_fix(run.colour_fix))


def network_input(model: Upscaler, photo: Photo, run: RunOptions) -> np.ndarray:
    """The pixels the model sees: the photo's own, or, when ``run.deblock`` asks for it (see
    :meth:`ModelDescriptor.resolve_deblock`), the photo with its JPEG block edges removed within what the file
    allows (:mod:`sinsr_gui.engine.imageio.jpeg_blocks`). Decided and made once per photo and choice, and kept
    with it, so previews of the same photo pay nothing more. The colour fix and the "before" view keep the
    photo's own pixels."""
    coding = photo.meta.jpeg
    choice = model.descriptor.resolve_deblock(run.deblock)
    if coding is None or choice == "off":
        return photo.rgb
    if photo.unblocked is None or photo.unblocked[0] != choice:
        strength = 1.0 if choice == "on" else imageio.automatic_deblock_strength(photo.rgb, coding)
        photo.unblocked = (choice, imageio.remove_blocks(photo.rgb, coding, strength) if strength > 0 else None)
    pixels = photo.unblocked[1]
    return photo.rgb if pixels is None else pixels


def upscale_photo(model: Upscaler, photo: Photo, run: RunOptions, *, cancel: threading.Event | None = None,
                  notice: Notice | None = None) -> Generator[Progress, None, UpscaleResult]:
    """Upscale a whole photo tile by tile; yields progress, returns the result in memory.

    x4 (the models' native scale) is computed; x2 and x3 are a high-quality (Lanczos) downscale of it. The
    alpha channel is enlarged on its own with a good resampler (the models see RGB only). Raises
    ``UpscaleCancelled`` between tiles when ``cancel`` is set (see the module's cancel policy).
    """
    start = time.perf_counter()
    run = _concrete(run, model)
    generator = torch.Generator().manual_seed(int(run.seed))
    rgb = yield from _progress(iter_upscale(model, network_input(model, photo, run), tiling_for(model, run),
                                            generator=generator, cancel=cancel))
    width, height = photo.size
    size = output_size_for(width, height, run.scale)
    if run.scale != model.scale:
        rgb = imageio.resize_rgb(rgb, size)
    rgb = fix_colour(rgb, photo.rgb, run.scale, run.colour_fix)
    alpha = imageio.upscale_alpha(photo.alpha, size) if photo.alpha is not None else None
    return UpscaleResult(rgb, alpha, photo.meta, run.scale, photo.size, time.perf_counter() - start,
                         describe(model, notice), notes=list(photo.notes), run=run)


def upscale_region(model: Upscaler, photo: Photo, region: tuple[int, int, int, int], run: RunOptions, *,
                   cancel: threading.Event | None = None, notice: Notice | None = None
                   ) -> Generator[Progress, None, RegionResult]:
    """Upscale only ``region = (x0, y0, x1, y1)`` (LR pixels) of ``photo``, exactly as the whole run would.

    For x2/x3 the x4 region is computed with a small margin and resampled onto the same output pixel grid as
    the whole image, and a wavelet colour fix sees the margin it needs, so the preview matches the saved
    result there too (an AdaIN colour fix uses the region's own statistics: close, not equal).
    """
    start = time.perf_counter()
    run = _concrete(run, model)
    width, height = photo.size
    x0, y0, x1, y1 = region
    s = run.scale

    def grow(box: tuple[int, int, int, int], margin: int) -> tuple[int, int, int, int]:
        return (max(0, box[0] - margin), max(0, box[1] - margin), min(width, box[2] + margin),
                min(height, box[3] + margin))

    # The colour fix needs a margin around the region, and the resampler to x2/x3 a margin around that.
    ox0, oy0, ox1, oy1 = grow(region, region_margin(run.colour_fix, s))
    cx0, cy0, cx1, cy1 = grow((ox0, oy0, ox1, oy1), 0 if s == model.scale else 3)
    generator = torch.Generator().manual_seed(int(run.seed))
    up = yield from _progress(iter_upscale(model, network_input(model, photo, run), tiling_for(model, run),
                                           generator=generator, cancel=cancel, region=(cx0, cy0, cx1, cy1)))
    if s != model.scale:
        m = model.scale
        # The source box of the output pixels s*ox0 .. s*ox1 in the computed crop's coordinates.
        box = (m * (ox0 - cx0), m * (oy0 - cy0), m * (ox1 - cx0), m * (oy1 - cy0))
        up = imageio.resize_rgb(up, ((ox1 - ox0) * s, (oy1 - oy0) * s), box=box)
    up = fix_colour(up, photo.rgb[oy0:oy1, ox0:ox1], s, run.colour_fix, origin=(oy0 * s, ox0 * s))
    out_w, out_h = (x1 - x0) * s, (y1 - y0) * s
    up = np.ascontiguousarray(up[(y0 - oy0) * s:(y0 - oy0) * s + out_h, (x0 - ox0) * s:(x0 - ox0) * s + out_w])
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
    fmt = resolve_format(output.fmt, str(result.meta.path) if result.meta.path is not None else None)
    return imageio.save_image(result.rgb, dest, like=result.meta, fmt=fmt, quality=output.quality,
                              bit_depth=bit_depth, alpha=result.alpha, overwrite=output.overwrite,
                              protected=guarded, notes=result.notes)


LOSSLESS_FORMATS = ("PNG", "TIFF")  # what we write losslessly; JPEG and WebP are lossy here


def check_reopenable(saved: Path) -> None:
    """Raise the :func:`reopen_saved` error at once (no file read) when ``saved`` is not a lossless copy."""
    try:
        fmt = imageio.normalize_format(saved.suffix.lstrip("."))
    except ValueError:
        fmt = ""
    if fmt not in LOSSLESS_FORMATS:
        raise UserError(f"This result is no longer in memory and its saved copy ({saved.name}) is a {fmt or 'lossy'} "
                        "file; saving that again would lose quality.", Remedy("upscale_again"))


def reopen_saved(result: UpscaleResult, saved: Path) -> UpscaleResult:
    """The pixels of a result that was saved and then released from memory (batches do that), for another save.

    Only from a lossless copy (PNG, TIFF): a JPEG or WebP of the result already lost detail, and encoding it
    again would lose more, so that raises a :class:`UserError` whose remedy is to upscale the photo again.
    The metadata stays the source photo's, not the saved file's.
    """
    check_reopenable(saved)
    again = imageio.read_image(saved)
    return dataclasses.replace(result, rgb=again.rgb, alpha=again.alpha, notes=list(result.notes))


class Models(Protocol):
    """Where a run gets its model: :class:`sinsr_gui.engine.models.ModelCache` (keeps the loaded one)."""

    def get(self, request: ModelRequest) -> tuple[Upscaler, Notice | None]: ...


@dataclass
class PhotoRun:
    """What :func:`run_photo` made of one file.

    ``result`` has its pixels (to show them once); ``kept`` is what a front-end holds on to afterwards: the
    result, or, when the run was asked to release it and it is saved, the result without its pixels
    (:func:`reopen_saved` brings them back). ``save_error`` is why the save failed (the photo is still
    finished: nothing is lost but the file).
    """

    result: UpscaleResult
    kept: UpscaleResult
    saved_path: Path | None = None
    save_error: UserError | OSError | None = None


def run_photo(model: Upscaler, path: Path, options: PhotoOptions, *, dest: Path | None = None,
              photos: PhotoCache | None = None, cancel: threading.Event | None = None,
              protected: tuple[Path, ...] = (), notice: Notice | None = None,
              release: bool = False) -> Generator[Progress, None, PhotoRun]:
    """Read ``path`` (from ``photos`` when given), upscale it, save it to ``dest`` when given, and with
    ``release``, let go of the pixels once they are saved; yields progress.

    Raises ``ImageReadError``, ``UpscaleCancelled`` or ``OutOfMemory``; a failed save is reported in the
    returned :class:`PhotoRun`. Nothing is written unless every tile finished; never over ``path`` or an
    input in ``protected``.
    """
    photo = photos.get(path, max_pixels=options.max_pixels) if photos is not None else read_photo(
        path, max_pixels=options.max_pixels)
    result = yield from upscale_photo(model, photo, options.run, cancel=cancel, notice=notice)
    if dest is None:
        return PhotoRun(result, result)
    try:
        written = save_result(result, dest, options.output, protected=(path, *protected))
    except (UserError, OSError) as exc:
        return PhotoRun(result, result, save_error=exc)
    kept = dataclasses.replace(result, rgb=None, alpha=None) if release else result
    return PhotoRun(result, kept, saved_path=written)


def load_and_run(models: Models, request: ModelRequest, path: Path, options: PhotoOptions, **run: Any
                 ) -> Generator[ModelInfo | Progress, None, PhotoRun]:
    """Load (or reuse) the model of ``request``, yield its :class:`ModelInfo` once it is ready, then
    :func:`run_photo` (``run``: its keyword arguments)."""
    model, notice = models.get(request)
    yield describe(model, notice)
    return (yield from run_photo(model, path, options, notice=notice, **run))


def process_file(model: Upscaler, path: Path, dest: Path, options: PhotoOptions, *,
                 cancel: threading.Event | None = None, protected: tuple[Path, ...] = (),
                 notice: Notice | None = None) -> Generator[Progress, None, FileResult]:
    """:func:`run_photo` for the command line: the file is saved to ``dest`` or fails.

    Raises ``ImageReadError``/``ImageWriteError``, ``UpscaleCancelled`` or ``OutOfMemory``.
    """
    start = time.perf_counter()
    run = yield from run_photo(model, path, options, dest=dest, cancel=cancel, protected=protected, notice=notice)
    if run.save_error is not None:
        raise run.save_error
    result = run.result
    return FileResult(path, run.saved_path, result.input_size, result.output_size, time.perf_counter() - start,
                      result.notes)


def run_to_result(gen: Generator[Progress, None, object]) -> object:
    """Drain a use-case generator and return its result (for callers that need no progress)."""
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value
