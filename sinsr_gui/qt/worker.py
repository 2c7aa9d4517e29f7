"""Long work off the GUI thread: a ``Worker`` QObject moved to a ``QThread``, with a fixed signal vocabulary,
and the conversion of engine pixels to ``QImage``.

A task is a function ``task(control)`` (a :data:`Task`). It either returns a value, or is a generator (the
engine's use cases are): each :class:`~sinsr_gui.engine.types.Progress` it yields becomes
``progress(done, total)``, anything else it yields becomes ``yielded(value)``, and its return value is the
result. ``control.cancel`` is a ``threading.Event`` the engine checks between tiles; ``control.report(value)``
lets callback-style code (downloads) send values the same way.

The channel is typed at the task: a task declares what it yields besides its progress and what it returns,
as ``-> Generator[Saved | NotSaved | Progress, None, int]`` (a :data:`GeneratorTask`) or as
``task(control: TaskControl[DownloadProgress]) -> list[Path]`` (a :data:`Task`; ``TaskControl[NoReturn]``
when it has nothing to tell but its progress). :meth:`~sinsr_gui.qt.worker_slot.WorkerSlot.start` binds those
types to the callbacks, so a controller's ``on_yielded`` takes exactly what its task yields and never sorts
values by their type. Only the Qt signal in between carries ``object``.

Signals, always in this order: ``started``, then any ``progress``/``yielded``, then exactly one of
``succeeded(result)`` or ``failed(message)``, then ``finished``. ``failed`` carries one sentence for the user
(:func:`sinsr_gui.qt.messages.user_message`); the exception is kept in ``worker.error`` and the traceback of
unexpected ones goes to the log. Start workers through :class:`sinsr_gui.qt.worker_slot.WorkerSlot`.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar, Union

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage

from sinsr_gui.engine.types import Progress
from sinsr_gui.errors import Cancelled, UserError
from sinsr_gui.qt.messages import user_message

log = logging.getLogger(__name__)


Y = TypeVar("Y")  # what a task yields besides its progress
R = TypeVar("R")  # what a task returns


class TaskControl(Generic[Y]):
    """What a running task may use: the cancel flag, and a thread-safe way to report its progress and the
    values it declares (``Y``)."""

    def __init__(self, cancel: threading.Event, report: Callable[[Y | Progress], None]) -> None:
        self.cancel = cancel
        self.report = report


# ``task(control)`` returns its result ``R``. A generator task (the engine's use cases are) yields its progress
# and its declared ``Y`` values, then returns ``R``; a plain task reports them through ``control.report``.
# (``Union``: the alias is evaluated at import, on every supported Python.)
Task = Callable[[TaskControl[Y]], R]
GeneratorTask = Callable[[TaskControl[Y]], Generator[Union[Y, Progress], None, R]]  # noqa: UP007


class Worker(QObject):
    """Runs one task in whatever thread it was moved to (see :func:`start_in_thread`)."""

    started = Signal()
    progress = Signal(int, int)
    yielded = Signal(object)  # the task's declared Y (as object through Qt; WorkerSlot hands it to a typed callback)
    succeeded = Signal(object)  # its R
    failed = Signal(str)
    finished = Signal()

    def __init__(self, task: Task[Any, Any], *, name: str = "task") -> None:
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

    def report(self, value: object) -> None:
        # The one place values are told apart: progress has its own signal, the rest is the task's declared Y.
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

    def _drive(self, gen: Generator[object, Any, object]) -> object:
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
