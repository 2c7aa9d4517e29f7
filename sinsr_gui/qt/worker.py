"""Long work off the GUI thread: a ``Worker`` QObject moved to a ``QThread``, with a fixed signal vocabulary.

A task is a function ``task(control)``. It either returns a value, or is a generator (the engine's style):
``(done, total)`` tuples it yields become ``progress``, anything else it yields becomes ``yielded``, and its
return value is the result. ``control.cancel`` is a ``threading.Event`` the engine checks between tiles;
``control.report(value)`` lets callback-style code (downloads) send ``yielded`` values too.

Signals, always in this order: ``started``, then any ``progress``/``yielded``, then exactly one of
``succeeded(result)`` or ``failed(message)``, then ``finished``. ``failed`` carries one sentence for the user;
the traceback of unexpected errors goes to the log.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QRect, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from sinsr_gui.settings import Settings

log = logging.getLogger(__name__)

CANCELLED_MESSAGE = "Cancelled."


class TaskControl:
    """What a running task may use: the cancel flag, and a thread-safe way to report intermediate values."""

    def __init__(self, cancel: threading.Event, report: Callable[[Any], None]) -> None:
        self.cancel = cancel
        self.report = report


Task = Callable[[TaskControl], Any]


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is already one clear sentence for the user (imported lazily: torch is heavy)."""
    from sinsr_gui.engine.devices import DeviceError
    from sinsr_gui.engine.imageio import ImageReadError, ImageWriteError
    from sinsr_gui.engine.models import ModelUnavailable
    from sinsr_gui.engine.tiling import OutOfMemory
    from sinsr_gui.weights.checkpoint import CheckpointError
    from sinsr_gui.weights.store import WeightsError

    return (ImageReadError, ImageWriteError, ModelUnavailable, OutOfMemory, DeviceError, CheckpointError,
            WeightsError)


def _cancel_errors() -> tuple[type[BaseException], ...]:
    from sinsr_gui.engine.tiling import UpscaleCancelled
    from sinsr_gui.weights.download import DownloadCancelled

    return (UpscaleCancelled, DownloadCancelled)


def user_message(exc: BaseException) -> str:
    """The one sentence shown to the user for ``exc``; unexpected errors point to the log."""
    if isinstance(exc, _cancel_errors()):
        return CANCELLED_MESSAGE
    if isinstance(exc, _expected_errors()):
        return str(exc)
    if isinstance(exc, MemoryError):
        return ("The computer ran out of memory. Close other programs, choose a smaller tile size, "
                "or upscale a smaller photo.")
    if isinstance(exc, OSError) and exc.strerror:
        name = f' "{exc.filename}"' if exc.filename else ""
        return f"A file operation failed{name}: {exc.strerror}. Check the disk and the folder's permissions."
    return (f"Something unexpected went wrong ({type(exc).__name__}). The details are in the log file: "
            "Help > Show log folder.")


class Worker(QObject):
    """Runs one task in whatever thread it was moved to (see :func:`start_in_thread`)."""

    started = Signal()
    progress = Signal(int, int)
    yielded = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, task: Task, *, name: str = "task") -> None:
        super().__init__()
        self._task = task
        self.name = name
        self._cancel = threading.Event()
        self.error: BaseException | None = None  # what made it fail, for the controller's decisions

    def cancel(self) -> None:
        """Ask the task to stop (thread-safe; it stops at its next check, within one tile)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def report(self, value: Any) -> None:
        self.yielded.emit(value)

    @Slot()
    def run(self) -> None:
        self.started.emit()
        try:
            outcome = self._task(TaskControl(self._cancel, self.report))
            if inspect.isgenerator(outcome):
                outcome = self._drive(outcome)
        except BaseException as exc:  # noqa: BLE001 - every failure must end in failed + finished
            self.error = exc
            if isinstance(exc, _cancel_errors() + _expected_errors()):
                log.info("%s stopped: %s", self.name, exc, exc_info=not isinstance(exc, _cancel_errors()))
            else:
                log.exception("%s failed", self.name)
            self.failed.emit(user_message(exc))
        else:
            self.succeeded.emit(outcome)
        finally:
            # Back to the GUI thread before the end, so the object can be deleted there once its thread is gone.
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())
            self.finished.emit()

    def _drive(self, gen: Any) -> Any:
        try:
            while True:
                item = next(gen)
                if (isinstance(item, tuple) and len(item) == 2
                        and all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
                    self.progress.emit(item[0], item[1])
                else:
                    self.yielded.emit(item)
        except StopIteration as stop:
            return stop.value
        finally:
            gen.close()


def start_in_thread(worker: Worker) -> QThread:
    """Move ``worker`` to a new QThread and start it; the thread quits when the worker finishes.

    The caller keeps references to both until ``thread.finished`` (then drops them); a QThread must never be
    destroyed while running, so shutdown code waits on it (see MainWindow.closeEvent).
    """
    thread = QThread()
    thread.setObjectName(f"worker:{worker.name}")
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    # Direct: quit() is thread-safe, and a queued call would need the GUI loop, which a shutdown that
    # waits on the thread is blocking.
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    thread.start()
    return thread


# ================================================================================================== tasks
# What the app's workers run. Each is a plain function of a TaskControl (a generator where there is tile
# progress); the engine and weights packages are imported inside them, so importing this module stays light.


@dataclass
class ModelInfo:
    """Yielded once the model is loaded: what runs where, and an optional notice for the user."""

    kind: str
    device: str  # e.g. "cpu", "cuda:1" (the key for throughput measurements)
    device_label: str
    precision: str
    notice: str | None


@dataclass
class JobOutcome:
    """A finished upscale. ``rgb``/``alpha`` are None once the result is saved and released (batch runs)."""

    job_id: int
    rgb: Any  # (H, W, 3) float32 [0, 1] or None
    alpha: Any  # (H, W) float32 [0, 1] or None
    like: Any  # the source's LoadedImage metadata (pixels dropped), for save_image(like=)
    display: QImage
    scale: int
    lr_size: tuple[int, int]
    seconds: float
    model: ModelInfo
    saved_path: Path | None = None
    save_error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class PreviewOutcome:
    job_id: int
    token: int
    patch: QImage
    rect: QRect  # output pixels
    seconds: float
    model: ModelInfo


@dataclass
class LoadOutcome:
    job_id: int
    token: int
    loaded: Any  # LoadedImage of the input
    before: QImage
    after: QImage | None


@dataclass
class Thumbnail:
    job_id: int
    image: QImage | None
    size: tuple[int, int] | None  # (width, height) as displayed (EXIF orientation applied)


@dataclass
class DownloadProgress:
    index: int
    count: int
    label: str
    done: int
    total: int | None
    rate: float
    eta: float | None


@dataclass
class Saved:
    job_id: int
    path: Path


def rgb_to_qimage(rgb: np.ndarray, alpha: np.ndarray | None = None) -> QImage:
    """(H, W, 3) float RGB in [0, 1] (+ (H, W) alpha) -> an 8-bit QImage that owns its pixels.

    Converted in bands straight into the QImage's buffer, so a large result needs no full-size temporaries.
    """
    height, width = rgb.shape[:2]
    channels = 3 if alpha is None else 4
    fmt = QImage.Format.Format_RGB888 if alpha is None else QImage.Format.Format_RGBA8888
    image = QImage(width, height, fmt)
    buffer = np.frombuffer(image.bits(), dtype=np.uint8).reshape(height, image.bytesPerLine())
    pixels = buffer[:, : width * channels].reshape(height, width, channels)
    for y in range(0, height, 256):
        band = np.clip(rgb[y:y + 256], 0.0, 1.0) * 255.0 + 0.5
        pixels[y:y + 256, :, :3] = band.astype(np.uint8)
        if alpha is not None:
            pixels[y:y + 256, :, 3] = (np.clip(alpha[y:y + 256], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return image


def _model_info(model: Any, notice: str | None) -> ModelInfo:
    from sinsr_gui.engine.devices import device_label

    dev = model.device
    key = dev.type if dev.index in (None, 0) else f"{dev.type}:{dev.index}"
    return ModelInfo(model.kind, key, device_label(dev), model.precision_label, notice)


def tiling_for(model: Any, settings: Settings) -> Any:
    """Tile size and overlap from the settings; 0 means automatic (the same rule as the command line)."""
    from sinsr_gui.engine.memory import default_tiling

    return default_tiling(model, tile=settings.tile, overlap=settings.overlap)


def metadata_only(loaded: Any) -> Any:
    """The LoadedImage without its pixels: what save_image needs (ICC, EXIF, DPI, grey, bit depth)."""
    return dataclasses.replace(loaded, rgb=np.zeros((1, 1, 3), np.float32), alpha=None, notes=list(loaded.notes))


def save_result(rgb: np.ndarray, alpha: np.ndarray | None, like: Any, dest: Path, settings: Settings, *,
                protected: tuple[Path, ...], overwrite: bool = False) -> Path:
    """Write a result with the output settings; never over an input (``protected``). Returns the path written."""
    from sinsr_gui.engine import jobs

    output = jobs.OutputOptions(scale=settings.scale, fmt=settings.fmt, quality=settings.quality,
                                bit_depth=settings.bit_depth or None, overwrite=overwrite,
                                name_pattern=settings.name_pattern)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return jobs.save_result(rgb, alpha, like, dest, output, protected=protected)


def upscale_task(control: TaskControl, *, cache: Any, request: Any, job_id: int, path: Path,
                 settings: Settings, save_to: Path | None, protected: tuple[Path, ...]):
    """Load (or reuse) the model, read the photo, upscale it tile by tile, optionally save it."""
    from sinsr_gui.engine import imageio, jobs

    model, notice = cache.get(request)
    info = _model_info(model, notice)
    control.report(info)
    loaded = imageio.read_image(path)
    start = time.perf_counter()
    rgb, alpha = yield from jobs.iter_upscale_loaded(model, loaded, tiling_for(model, settings),
                                                     scale=settings.scale, seed=settings.seed,
                                                     cancel=control.cancel)
    seconds = time.perf_counter() - start
    # A cancel that arrives after the last tile does not throw the finished photo away.
    display = rgb_to_qimage(rgb, alpha)
    like = metadata_only(loaded)
    outcome = JobOutcome(job_id, rgb, alpha, like, display, settings.scale, loaded.size, seconds, info,
                         notes=list(loaded.notes))
    if save_to is not None:
        try:
            outcome.saved_path = save_result(rgb, alpha, like, save_to, settings, protected=protected)
            outcome.rgb = outcome.alpha = None  # on disk now: batches must not pile results up in memory
        except (imageio.ImageWriteError, OSError) as exc:
            log.warning("auto-save of %s failed: %s", path, exc)
            outcome.save_error = user_message(exc)
    return outcome


def preview_task(control: TaskControl, *, cache: Any, request: Any, job_id: int, token: int, loaded: Any,
                 region: tuple[int, int, int, int], margin: int, settings: Settings):
    """Upscale only ``region`` (LR pixels x0, y0, x1, y1) plus a context ``margin``; return the region's patch.

    The noise is the same slice of the whole-photo noise field that a full run uses, so the preview shows
    what the full result will look like there (up to tile blending).
    """
    import torch

    from sinsr_gui.engine import imageio, jobs
    from sinsr_gui.engine.tiling import iter_upscale

    model, notice = cache.get(request)
    info = _model_info(model, notice)
    control.report(info)
    height, width = loaded.rgb.shape[:2]
    x0, y0, x1, y1 = region
    cx0, cy0 = max(0, x0 - margin), max(0, y0 - margin)
    cx1, cy1 = min(width, x1 + margin), min(height, y1 + margin)
    crop = np.ascontiguousarray(loaded.rgb[cy0:cy1, cx0:cx1])
    noise = None
    full = model.noise_field(1, height, width, torch.Generator().manual_seed(int(settings.seed)))
    if full is not None:
        m = model.size_multiple
        hp, wp = -(-(cy1 - cy0) // m) * m, -(-(cx1 - cx0) // m) * m
        # Past the photo's own padding there is no slice to take: fresh noise only feeds padding there.
        noise = torch.randn((1, full.shape[1], hp, wp), generator=torch.Generator().manual_seed(int(settings.seed) + 1))
        piece = full[:, :, cy0:cy0 + hp, cx0:cx0 + wp]
        noise[:, :, :piece.shape[2], :piece.shape[3]] = piece
    start = time.perf_counter()
    up = yield from iter_upscale(model, crop, tiling_for(model, settings), noise=noise, cancel=control.cancel)
    s = settings.scale
    if s != model.scale:
        up = imageio.resize_rgb(up, jobs.output_size_for(cx1 - cx0, cy1 - cy0, s))
    alpha = None
    if loaded.alpha is not None:
        alpha = imageio.upscale_alpha(loaded.alpha[cy0:cy1, cx0:cx1], (up.shape[1], up.shape[0]))
    ox, oy = (x0 - cx0) * s, (y0 - cy0) * s
    w, h = (x1 - x0) * s, (y1 - y0) * s
    patch_rgb = up[oy:oy + h, ox:ox + w]
    patch_alpha = alpha[oy:oy + h, ox:ox + w] if alpha is not None else None
    patch = rgb_to_qimage(patch_rgb, patch_alpha)
    return PreviewOutcome(job_id, token, patch, QRect(x0 * s, y0 * s, patch.width(), patch.height()),
                          time.perf_counter() - start, info)


def load_task(control: TaskControl, *, job_id: int, token: int, path: Path, result_rgb: Any = None,
              result_alpha: Any = None, saved_path: Path | None = None) -> LoadOutcome:
    """Read a photo for display (and for previews), plus its result from memory or from the saved file."""
    from sinsr_gui.engine import imageio

    loaded = imageio.read_image(path)
    before = rgb_to_qimage(loaded.rgb, loaded.alpha)
    after = None
    if result_rgb is not None:
        after = rgb_to_qimage(result_rgb, result_alpha)
    elif saved_path is not None:
        try:
            saved = imageio.read_image(saved_path)
            after = rgb_to_qimage(saved.rgb, saved.alpha)
        except imageio.ImageReadError as exc:  # moved or deleted since: show the original only
            log.info("cannot show the saved result %s: %s", saved_path, exc)
    return LoadOutcome(job_id, token, loaded, before, after)


def thumbnail_task(control: TaskControl, items: list[tuple[int, Path]], side: int = 256):
    """Small previews and sizes for the queue, read with Pillow's reduced decoding (fast for JPEG)."""
    from PIL import Image, ImageOps

    for job_id, path in items:
        if control.cancel.is_set():
            return None
        try:
            with Image.open(path) as img:
                size = img.size
                orientation = img.getexif().get(0x0112, 1)
                if orientation in (5, 6, 7, 8):
                    size = (size[1], size[0])
                img.draft("RGB", (side, side))
                thumb = ImageOps.exif_transpose(img)
                thumb.thumbnail((side, side))
                thumb = thumb.convert("RGBA")
                data = thumb.tobytes()
                image = QImage(data, thumb.width, thumb.height, 4 * thumb.width,
                               QImage.Format.Format_RGBA8888).copy()
            yield Thumbnail(job_id, image, size)
        except Exception as exc:  # noqa: BLE001 - unreadable files fail later, with the reader's clear message
            log.info("no thumbnail for %s: %s", path, exc)
            yield Thumbnail(job_id, None, None)
    return None


def save_task(control: TaskControl, items: list[tuple[int, Any, Any, Any, Path, Path | None]],
              settings: Settings, protected: tuple[Path, ...], overwrite: bool = False):
    """Save results ``(job_id, rgb, alpha, like, dest, saved_before)`` one after the other; yields ``Saved``
    for each. A result already released from memory (``rgb`` None) is re-encoded from ``saved_before``."""
    from sinsr_gui.engine import imageio

    errors: list[str] = []
    for i, (job_id, rgb, alpha, like, dest, saved_before) in enumerate(items):
        if control.cancel.is_set():
            break
        try:
            if rgb is None:
                if saved_before is None:
                    raise imageio.ImageWriteError("This result is no longer in memory; upscale the photo again.")
                again = imageio.read_image(saved_before)
                rgb, alpha = again.rgb, again.alpha
            written = save_result(rgb, alpha, like, dest, settings, protected=protected, overwrite=overwrite)
        except Exception as exc:  # noqa: BLE001 - one failed file must not stop the others
            if not isinstance(exc, _expected_errors() + (OSError,)):
                log.exception("saving %s failed", dest)
            errors.append(user_message(exc))
        else:
            yield Saved(job_id, written)
        yield i + 1, len(items)
    if errors:
        raise imageio.ImageWriteError(errors[0] if len(errors) == 1 else f"{len(errors)} results could not be saved. "
                              f"The first: {errors[0]}")
    return len(items)


def download_task(control: TaskControl, *, store: Any, names: list[str]) -> list[Path]:
    """Download (resuming any .part file) and verify each weights entry; reports DownloadProgress."""
    from sinsr_gui.weights.download import download

    paths_done: list[Path] = []
    for index, name in enumerate(names):
        spec = store.registry.get(name)
        last = [0.0]

        def progress(done: int, total: int | None, rate: float, eta: float | None, *, _i=index,
                     _label=spec.display_name, _last=last) -> None:
            now = time.monotonic()
            if now - _last[0] >= 0.1 or (total is not None and done >= total):  # ~10 updates a second
                _last[0] = now
                control.report(DownloadProgress(_i, len(names), _label, done, total, rate, eta))

        paths_done.append(download(name, store, accept_license=True, progress=progress, cancel=control.cancel))
    return paths_done


def import_task(control: TaskControl, *, store: Any, files: list[str]) -> list[str]:
    """Verify and copy weight files into the store; returns one line per file."""
    from sinsr_gui.weights.importer import import_file

    lines = []
    for f in files:
        if control.cancel.is_set():
            break
        result = import_file(f, store)
        spec = store.registry.get(result.name)
        lines.append(f"{Path(f).name}: imported as the {spec.display_name}.")
    return lines
