"""Long work off the GUI thread: a ``Worker`` QObject moved to a ``QThread``, with a fixed signal vocabulary,
and the conversion of engine pixels to ``QImage``.

A task is a function ``task(control)``. It either returns a value, or is a generator (the engine's use cases
are): each :class:`~sinsr_gui.engine.photo.Progress` it yields becomes ``progress(done, total)``, anything
else it yields becomes ``yielded(obj)``, and its return value is the result. ``control.cancel`` is a
``threading.Event`` the engine checks between tiles; ``control.report(value)`` lets callback-style code
(downloads) send values the same way.

Signals, always in this order: ``started``, then any ``progress``/``yielded``, then exactly one of
``succeeded(result)`` or ``failed(message)``, then ``finished``. ``failed`` carries one sentence for the user
(:func:`sinsr_gui.qt.messages.user_message`); the exception is kept in ``worker.error`` and the traceback of
unexpected ones goes to the log. Start workers through :class:`sinsr_gui.qt.worker_slot.WorkerSlot`.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from sinsr_gui.engine.types import Progress
from sinsr_gui.errors import Cancelled, UserError
from sinsr_gui.qt.messages import user_message

log = logging.getLogger(__name__)


class TaskControl:
    """What a running task may use: the cancel flag, and a thread-safe way to report intermediate values."""

    def __init__(self, cancel: threading.Event, report: Callable[[Any], None]) -> None:
        self.cancel = cancel
        self.report = report


Task = Callable[[TaskControl], Any]


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
        if isinstance(value, Progress):
            self.progress.emit(value.done, value.total)
        else:
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
            if isinstance(exc, Cancelled | UserError):
                log.info("%s stopped: %s", self.name, exc, exc_info=not isinstance(exc, Cancelled))
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
                self.report(next(gen))
        except StopIteration as stop:
            return stop.value
        finally:
            gen.close()


def start_in_thread(worker: Worker) -> QThread:
    """Move ``worker`` to a new QThread and start it; the thread quits when the worker finishes.

    The caller keeps references to both until ``thread.finished`` (a QThread must never be destroyed while
    running); :class:`~sinsr_gui.qt.worker_slot.WorkerSlot` does that.
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


# ========================================================================================= QImage conversion
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


def rgba8_to_qimage(rgba: np.ndarray) -> QImage:
    """(H, W, 4) uint8 RGBA (e.g. ``engine.photo.thumbnail``) -> a QImage that owns its pixels."""
    rgba = np.ascontiguousarray(rgba)
    height, width = rgba.shape[:2]
    return QImage(rgba.data, width, height, 4 * width, QImage.Format.Format_RGBA8888).copy()
