"""One worker at a time: the pattern every controller uses to run its work off the GUI thread.

A :class:`WorkerSlot` owns at most one :class:`~sinsr_gui.qt.worker.Worker` and its QThread. ``start`` runs a
task with callbacks for the worker's signals, always called on the GUI thread and in the worker's order
(started, progress/yielded, succeeded or failed, finished); ``busy`` is True from ``start`` until the
``finished`` callback has run, so a controller may start its next task from there. The thread winds down
after that: the slot keeps it until it has finished, so a QThread is never destroyed while running, and
``idle`` says when the slot has neither a worker nor a thread left. ``shutdown`` cancels and waits.

``start`` is generic in the task's types (:data:`~sinsr_gui.qt.worker.Task`): ``on_yielded`` takes what the
task declares it yields and ``on_succeeded`` what it returns, so a controller's handlers are typed with the
task's own values (``Saved | NotSaved``, ``Thumbnail``, ``ModelInfo``) and need not sniff them.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, overload

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from sinsr_gui.qt.worker import GeneratorTask, R, Task, Worker, Y, start_in_thread

log = logging.getLogger(__name__)

# Every thread a slot started, until it is seen finished. A QThread destroyed while running aborts the whole
# process, and a slot can go before its last thread has quit (a controller dropped right after its task's
# ``finished`` callback: the thread still has its last lines to run). This list outlives every slot; it is
# pruned whenever any slot starts or reaps, and the threads still in it are waited for at exit.
_STARTED: list[tuple[QThread, Worker]] = []


def _prune_started() -> None:
    _STARTED[:] = [(t, w) for t, w in _STARTED if not t.isFinished()]


@atexit.register
def _wait_for_started_threads() -> None:
    for thread, _ in _STARTED:
        thread.wait(5_000)


@dataclass
class _Callbacks(Generic[Y, R]):
    """The running task's callbacks, typed with its ``Y`` (yielded) and ``R`` (result)."""

    started: Callable[[], object] | None = None
    progress: Callable[[int, int], object] | None = None
    yielded: Callable[[Y], object] | None = None
    succeeded: Callable[[R], object] | None = None
    failed: Callable[[str, BaseException | None], object] | None = None  # the user's sentence, the exception
    finished: Callable[[], object] | None = None


class WorkerSlot(QObject):
    """At most one running worker, plus the threads still winding down."""

    idle = Signal()  # no worker and no thread left (e.g. the window may close now)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._worker: Worker | None = None
        # The running task's: a slot runs tasks of several types in turn (e.g. inspect, then install).
        self._calls: _Callbacks[Any, Any] = _Callbacks()
        self._threads: list[tuple[QThread, Worker]] = []  # kept together until the thread has finished
        self._closed = False

    # ------------------------------------------------------------------------------------------- state
    @property
    def busy(self) -> bool:
        """A task is running (its ``finished`` callback has not run yet)."""
        return self._worker is not None

    @property
    def active(self) -> bool:
        """Busy, or a thread is still winding down."""
        return self.busy or bool(self._threads)

    @property
    def cancelled(self) -> bool:
        """A cancel was asked of the running task."""
        return self._worker is not None and self._worker.cancelled

    @property
    def threads(self) -> list[QThread]:
        return [t for t, _ in self._threads]

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------------------------------- control
    # A generator task's result is what it returns, not the generator: two signatures say so to a type checker.
    @overload
    def start(self, task: GeneratorTask[Y, R], *, name: str | None = None,
              on_started: Callable[[], object] | None = None,
              on_progress: Callable[[int, int], object] | None = None,
              on_yielded: Callable[[Y], object] | None = None,
              on_succeeded: Callable[[R], object] | None = None,
              on_failed: Callable[[str, BaseException | None], object] | None = None,
              on_finished: Callable[[], object] | None = None) -> bool: ...

    @overload
    def start(self, task: Task[Y, R], *, name: str | None = None,
              on_started: Callable[[], object] | None = None,
              on_progress: Callable[[int, int], object] | None = None,
              on_yielded: Callable[[Y], object] | None = None,
              on_succeeded: Callable[[R], object] | None = None,
              on_failed: Callable[[str, BaseException | None], object] | None = None,
              on_finished: Callable[[], object] | None = None) -> bool: ...

    def start(self, task: Task[Any, Any], *, name: str | None = None,
              on_started: Callable[[], object] | None = None,
              on_progress: Callable[[int, int], object] | None = None,
              on_yielded: Callable[[Any], object] | None = None,
              on_succeeded: Callable[[Any], object] | None = None,
              on_failed: Callable[[str, BaseException | None], object] | None = None,
              on_finished: Callable[[], object] | None = None) -> bool:
        """Run ``task`` in a new thread; False (and nothing runs) while busy or after ``shutdown``.
        ``on_yielded`` gets each value the task yields but its progress, ``on_succeeded`` its result."""
        if self._closed:
            log.info("not starting %s: shutting down", name or self.name)
            return False
        if self._worker is not None:
            log.warning("not starting %s: %s is still running", name or self.name, self._worker.name)
            return False
        worker = Worker(task, name=name or self.name)
        self._worker = worker
        self._calls = _Callbacks(on_started, on_progress, on_yielded, on_succeeded, on_failed, on_finished)
        queued = Qt.ConnectionType.QueuedConnection  # bound methods of this GUI-thread object: run here
        worker.started.connect(self._on_started, queued)
        worker.progress.connect(self._on_progress, queued)
        worker.yielded.connect(self._on_yielded, queued)
        worker.succeeded.connect(self._on_succeeded, queued)
        worker.failed.connect(self._on_failed, queued)
        worker.finished.connect(self._on_finished, queued)
        thread = start_in_thread(worker)
        thread.finished.connect(self._on_thread_finished, queued)
        self._threads.append((thread, worker))
        _prune_started()
        _STARTED.append((thread, worker))
        return True

    def cancel(self) -> None:
        """Ask the running task to stop (within one tile); its callbacks still arrive."""
        if self._worker is not None:
            self._worker.cancel()

    def shutdown(self, timeout_ms: int = 60_000, *, cancel: bool = True) -> bool:
        """Refuse new work, cancel the running task (unless ``cancel`` is False: e.g. a quick atomic save),
        wait for the threads and deliver the callbacks still queued. True when every thread stopped in time."""
        self._closed = True
        if cancel:
            self.cancel()
        ok = all(thread.wait(timeout_ms) for thread, _ in self._threads)
        QCoreApplication.sendPostedEvents()
        self._reap()
        return ok

    # ------------------------------------------------------------------------------------ signal relays
    @Slot()
    def _on_started(self) -> None:
        if self._calls.started:
            self._calls.started()

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if self._calls.progress:
            self._calls.progress(done, total)

    @Slot(object)
    def _on_yielded(self, value: object) -> None:
        # ``value`` is the task's Y: the worker sent progress to its own signal, and only this task's values here.
        if self._calls.yielded:
            self._calls.yielded(value)

    @Slot(object)
    def _on_succeeded(self, result: object) -> None:
        if self._calls.succeeded:
            self._calls.succeeded(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._calls.failed:
            self._calls.failed(message, self._worker.error if self._worker is not None else None)

    @Slot()
    def _on_finished(self) -> None:
        # The worker's last signal: from here the slot is free, even though its thread is still quitting.
        done, self._calls, self._worker = self._calls.finished, _Callbacks(), None
        if done:
            done()
        self._reap()

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self.sender()
        if isinstance(thread, QThread):
            thread.wait()  # it emitted finished as its very last act: this returns at once
        self._reap()

    def _reap(self) -> None:
        had = bool(self._threads)
        self._threads = [(t, w) for t, w in self._threads if not t.isFinished()]
        _prune_started()
        if had and not self.active:
            self.idle.emit()
