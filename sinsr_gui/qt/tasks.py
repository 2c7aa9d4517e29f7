"""What the app is doing now, in one object: the rule "one model run at a time" (the queue's run or a preview)
and the close protocol (stop the work, let a save finish, close once every worker thread has ended).

The window asks it instead of looking at each controller: ``model_busy`` for the actions, ``run_after_preview``
when Upscale is pressed during a preview, ``stop`` when closing with work running, ``shutdown`` to stop and
wait (the app's exit and the tests).
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QObject

from sinsr_gui.qt.worker_slot import WorkerSlot


class ModelRun(Protocol):
    """A controller that runs the model: the queue's runner or the previewer."""

    @property
    def busy(self) -> bool: ...

    def cancel(self) -> bool: ...


class QueueRun(ModelRun, Protocol):
    """The queue's runner, which can also be told to start nothing more."""

    def stop(self) -> None: ...


class Tasks(QObject):
    """The state of the work behind the window. ``slots``: every controller's worker slot; ``finishing``: the
    slot whose task is never cancelled when closing (a save: quick and atomic)."""

    def __init__(self, runner: QueueRun, previewer: ModelRun, slots: list[WorkerSlot], *, finishing: WorkerSlot,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner, self.previewer = runner, previewer
        self.slots, self.finishing = slots, finishing
        self._run_pending = False  # Upscale was pressed during a preview: it starts when the preview ends

    @property
    def model_busy(self) -> bool:
        """The model is running for the queue or a preview (a second model run must wait)."""
        return self.runner.busy or self.previewer.busy

    @property
    def active(self) -> bool:
        """Some work is running or a worker thread is still winding down."""
        return any(slot.active for slot in self.slots)

    def run_after_preview(self) -> bool:
        """Upscale was asked for: False (and the preview is stopped, the run remembered) while a preview runs."""
        if not self.previewer.busy:
            return True
        self._run_pending = True
        self.previewer.cancel()
        return False

    def take_pending_run(self) -> bool:
        """True once, when a remembered run may start now (the model is free)."""
        if self._run_pending and not self.model_busy:
            self._run_pending = False
            return True
        return False

    def cancel_model_runs(self) -> bool:
        """Esc: stop the running upscale and any preview, and forget a remembered run; True if one was running."""
        self._run_pending = False
        stopped = [self.runner.cancel(), self.previewer.cancel()]
        return any(stopped)

    def stop(self) -> None:
        """Closing: start nothing more and cancel every task but a save; the threads end on their own."""
        self.runner.stop()
        self._run_pending = False
        for slot in self.slots:
            if slot is not self.finishing:
                slot.cancel()

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """:meth:`stop`, then wait for every thread (blocking). True when all stopped in time."""
        self.stop()
        return all([slot.shutdown(timeout_ms, cancel=slot is not self.finishing) for slot in self.slots])
