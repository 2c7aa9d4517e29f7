"""Upscaling the queue: one photo at a time, through the engine's one sequence for a photo file
(``engine.photo.load_and_run``: load, read, upscale, save, release; the command line runs the same one).

The controller owns one :class:`~sinsr_gui.qt.worker_slot.WorkerSlot`. Each job's task loads (or reuses) the
model, takes the decoded photo from the shared :class:`~sinsr_gui.engine.photo.PhotoCache` (the same one the
thumbnail and the compare view came from), upscales it, and, when the run saves automatically
(``settings.auto_save``: "always", or "batch" when several photos run), saves it and, in a batch, releases
its pixels. Throughput is recorded per descriptor kind and device, for the next estimate. The job's state
changes through the queue's transitions, which tell the views.

A failure of one photo's file marks that job failed and the queue goes on; a failure that would repeat for
every photo (the model, the device, the weights, out of memory) stops the queue with one dialog. Cancel
stops within one tile; the cancel policy (a photo whose last tile finished is kept) is the engine's.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage

from sinsr_gui.engine.types import ModelInfo, PhotoOptions, Progress, UpscaleResult
from sinsr_gui.errors import Cancelled
from sinsr_gui.qt.messages import user_message
from sinsr_gui.qt.model_status import ModelStatus, affects_every_photo
from sinsr_gui.qt.text import clock, count, format_duration, took
from sinsr_gui.qt.worker import TaskControl, rgb_to_qimage
from sinsr_gui.qt.worker_slot import WorkerSlot
from sinsr_gui.queue import PhotoQueue
from sinsr_gui.settings import Settings

if TYPE_CHECKING:  # the engine's use cases import torch: loaded by the task, in the worker thread
    from sinsr_gui.engine.photo import Models, PhotoCache

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    """A finished photo. ``result.rgb`` is None when a batch saved it and released its pixels."""

    job_id: int
    result: UpscaleResult
    display: QImage
    saved_path: Path | None = None
    save_error: str | None = None


def run_task(control: TaskControl, *, models: Models, photos: PhotoCache, job_id: int, path: Path,
             options: PhotoOptions, save_to: Path | None, protected: tuple[Path, ...], release: bool
             ) -> Generator[ModelInfo | Progress, None, RunOutcome]:
    """The engine's sequence for one photo (a batch saves, then releases the pixels), and its image to show."""
    from sinsr_gui.engine.photo import load_and_run

    run = yield from load_and_run(models, options.model, path, options, dest=save_to, photos=photos,
                                  cancel=control.cancel, protected=protected, release=release)
    if run.save_error is not None:
        log.warning("auto-save of %s failed: %s", path, run.save_error)
    display = rgb_to_qimage(run.result.rgb, run.result.alpha)  # made once, before the pixels may go
    return RunOutcome(job_id, run.kept, display, run.saved_path,
                      user_message(run.save_error) if run.save_error is not None else None)


class RunController(QObject):
    """Runs the waiting jobs of ``queue`` in order."""

    resultReady = Signal(int, QImage)  # job id, the result to show
    progressChanged = Signal(str, int, int)  # text, tiles done, total (0: busy, no count yet)
    busyChanged = Signal(bool)
    message = Signal(str, str)  # a short sentence for the status bar, and the whole text
    error = Signal(str, str)  # message, title: nothing in the queue can run (a dialog)
    measured = Signal(str, str, float, float)  # descriptor kind, device, seconds, megapixels: a speed to record

    def __init__(self, queue: PhotoQueue, settings: Settings, status: ModelStatus, models: Models,
                 photos: PhotoCache, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue, self.settings, self.status = queue, settings, status
        self.models, self.photos = models, photos
        self.slot = WorkerSlot("upscale", self)
        self._processing = False
        self._batch = False
        self._counts = {"done": 0, "failed": 0}
        self._job_id: int | None = None
        self._model_loaded = False
        self.tiles: tuple[int, int] = (0, 0)
        self._tiles_started: float | None = None
        self._job_started = 0.0
        self._busy = False
        self._tick = QTimer(self, interval=1000)
        self._tick.timeout.connect(self._report_progress)

    # --------------------------------------------------------------------------------------------- API
    @property
    def busy(self) -> bool:
        return self._processing or self.slot.busy

    @property
    def batch(self) -> bool:
        """Whether the current (or last) run has several photos."""
        return self._batch

    @property
    def running_id(self) -> int | None:
        return self._job_id

    def start(self) -> None:
        """Upscale every waiting photo, in queue order, one at a time."""
        waiting = self.queue.waiting()
        if not waiting and not self.slot.busy:
            self.message.emit("Add photos first: drop them on the window or press Ctrl+O." if not len(self.queue)
                              else "Nothing is waiting. Select a photo and press Retry (Ctrl+Shift+R).", "")
            return
        if not self._processing:
            self._processing = True
            self._batch = len(waiting) + (1 if self.slot.busy else 0) > 1
            self._counts = {"done": 0, "failed": 0}
            estimate = self.status.estimate_seconds([j.size for j in waiting])
            what = waiting[0].path.name if len(waiting) == 1 else count(len(waiting), "photo")
            when = self.status.describe_estimate(estimate)
            warning = self.status.long_run_warning(estimate)
            self.message.emit(f"Upscaling {what}: {when}." + (" This will take a while." if warning else ""),
                              f"Upscaling {what}: {when}. {warning}".strip())
        self._start_next()

    def cancel(self) -> bool:
        """Stop the running photo within one tile (the rest of the queue waits); True if one was running."""
        self._processing = False
        self.slot.cancel()
        self._update_busy()
        return self.slot.busy

    def stop(self) -> None:
        """Start nothing more (closing); the running photo is cancelled by the slot's shutdown."""
        self._processing = False

    def forget(self, job_id: int) -> None:
        """``job_id`` was removed from the queue: stop it if it runs (its outcome is dropped)."""
        if job_id == self._job_id:
            self.slot.cancel()

    # ----------------------------------------------------------------------------------------- running
    def _start_next(self) -> None:
        if self.slot.busy or not self._processing:
            return
        job = self.queue.next_waiting()
        if job is None:
            self._finish()
            return
        s = self.settings.copy()
        options = s.to_options()
        save_to = None
        if s.auto_save == "always" or (s.auto_save == "batch" and self._batch):
            try:
                save_to = self.queue.output_path(job, options.output, options.run.scale, s.output_folder())
            except ValueError as exc:
                self.message.emit("Results are not saved automatically: the file name is invalid.", str(exc))
        task = functools.partial(run_task, models=self.models, photos=self.photos, job_id=job.id, path=job.path, options=options, save_to=save_to,
                                 protected=self.queue.inputs(), release=self._batch)
        if not self.slot.start(task, name=f"upscale {job.path.name}", on_progress=self._on_progress,
                               on_yielded=self._on_model_loaded, on_succeeded=self._on_succeeded,
                               on_failed=self._on_failed, on_finished=self._on_finished):
            self._processing = False
            self._update_busy()
            return
        self._job_id, self._model_loaded = job.id, False
        self.tiles, self._tiles_started, self._job_started = (0, 0), None, time.perf_counter()
        self._tick.start()
        self.queue.start(job.id)
        self._update_busy()
        self._report_progress()

    def _finish(self) -> None:
        self._processing = False
        self._tick.stop()
        done, failed = self._counts["done"], self._counts["failed"]
        if self._batch and (done or failed):
            text = f"Finished: {count(done, 'photo')} upscaled" + (f", {failed} failed" if failed else "") + "."
            unsaved = len(self.queue.unsaved())
            if unsaved:
                text += f" {unsaved} not saved yet (Ctrl+Alt+S)."
            self.message.emit(text, "")
        self._update_busy()

    def _update_busy(self) -> None:
        if self.busy != self._busy:
            self._busy = self.busy
            self.busyChanged.emit(self._busy)

    # ---------------------------------------------------------------------------------- worker events
    def _on_progress(self, done: int, total: int) -> None:
        if self._tiles_started is None:
            self._tiles_started = time.perf_counter()  # the model is loaded and the photo read
        self.tiles = (done, total)
        self._report_progress()

    def _on_model_loaded(self, info: ModelInfo) -> None:
        """The task's one yielded value besides its progress (``load_and_run``): the model is ready."""
        self.status.set_loaded(info)
        self._model_loaded = True

    def _on_succeeded(self, outcome: RunOutcome) -> None:
        result = outcome.result
        message = (f"Not saved: {outcome.save_error}" if outcome.save_error else
                   "" if outcome.saved_path else "Not saved yet (Ctrl+S saves it)")
        # At once, not when the worker's "finished" arrives: the result can be saved from this moment.
        job = self.queue.finish(outcome.job_id, result, saved_path=outcome.saved_path, message=message)
        if job is None:
            return  # removed while it ran
        if outcome.save_error:
            self.message.emit(f"{job.path.name} was not saved.", outcome.save_error)
        self._counts["done"] += 1
        width, height = result.input_size
        self.measured.emit(result.model.kind, result.model.device, result.seconds, width * height / 1e6)
        self.resultReady.emit(job.id, outcome.display)
        outcome.display = QImage()  # the view holds what it shows; a batch must not keep every QImage
        if not self._batch and not outcome.save_error:
            self.message.emit(f"{job.path.name} upscaled in {took(result.seconds)}. Ctrl+S saves it.", "")

    def _on_failed(self, message: str, error: BaseException | None) -> None:
        cancelled = isinstance(error, Cancelled)
        job = (self.queue.cancel if cancelled else self.queue.fail)(self._job_id, message)
        if job is None:
            return
        if cancelled:
            self.message.emit(f"Stopped {job.path.name}. Retry (Ctrl+Shift+R) starts it again.", "")
            return
        self._counts["failed"] += 1
        if affects_every_photo(error, self._model_loaded):
            self._processing = False  # every other photo would fail the same way
            self.error.emit(message, "Cannot upscale")
        else:
            self.message.emit(f"{job.path.name} failed; hover it in the queue to see why.", message)

    def _on_finished(self) -> None:
        self._job_id = None
        if self._processing:
            self._start_next()
        else:
            self._finish()

    def _report_progress(self) -> None:
        job = self.queue.get(self._job_id)
        if job is None:
            return
        done, total = self.tiles
        now = time.perf_counter()
        parts = [job.path.name]
        if self._tiles_started is None:
            parts.append("reading the photo…" if self._model_loaded else "loading the model…")
        elif total and done >= total:  # the last tile is done: colour fix, resize, saving are left
            parts.append("finishing…")
        else:
            parts.append(f"tile {done} of {total}")
        parts.append(f"{clock(now - self._job_started)} elapsed")
        left = None
        if total and done >= total:
            pass  # no time left to count down while it finishes
        elif done and total and self._tiles_started is not None:
            left = (now - self._tiles_started) / done * (total - done)
        else:
            estimate = self.status.estimate_seconds([job.size])
            if estimate is not None:
                left = max(0.0, estimate - (now - (self._tiles_started or now)))
        if left is not None:
            parts.append(f"{format_duration(left)} left")
        waiting = len(self.queue.waiting())
        if waiting:
            parts.append(f"{waiting} more waiting")
        self.progressChanged.emit(" · ".join(parts), done, total)
