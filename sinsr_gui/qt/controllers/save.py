"""Saving results: Save, Save as and Save all, through ``engine.photo.save_result``. Never over an input.

A result still in memory is saved from memory. One a batch already saved and released is read back from
its saved copy with ``engine.photo.reopen_saved`` when that copy is lossless; from a JPEG or WebP copy it
cannot be (encoding it again would lose quality), so the controller offers to upscale the photo again
(``upscaleAgainOffered``) instead.
"""

from __future__ import annotations

import dataclasses
import filecmp
import functools
import logging
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from sinsr_gui.engine.options import OutputOptions
from sinsr_gui.engine.types import Progress, UpscaleResult
from sinsr_gui.errors import Remedy, UserError
from sinsr_gui.qt.messages import user_message
from sinsr_gui.qt.text import count
from sinsr_gui.qt.worker import TaskControl
from sinsr_gui.qt.worker_slot import WorkerSlot
from sinsr_gui.queue import Job, PhotoQueue
from sinsr_gui.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class SaveItem:
    job_id: int
    result: UpscaleResult  # rgb None when released after a batch auto-save
    dest: Path
    saved_before: Path | None


@dataclass
class Saved:
    job_id: int
    path: Path
    existing: bool = False  # the same bytes were already there (saved before): nothing new was written


@dataclass
class NotSaved:
    job_id: int
    error: BaseException


SaveEvent = Saved | NotSaved  # what the save task yields for each item, besides its progress


def _pixels(item: SaveItem) -> UpscaleResult:
    from sinsr_gui.engine.photo import reopen_saved

    if item.result.rgb is not None:
        return item.result
    if item.saved_before is None:
        raise UserError("This result is no longer in memory.", Remedy("upscale_again"))
    return reopen_saved(item.result, item.saved_before)


def _unless_duplicate(item: SaveItem, path: Path) -> Saved:
    """A save that had to pick another name because ``item.dest`` exists, but wrote the very same bytes
    (the result was saved there before, e.g. by a batch), keeps the existing file instead of a copy."""
    if path != item.dest and item.dest.is_file() and filecmp.cmp(path, item.dest, shallow=False):
        path.unlink()  # the copy this save just wrote, never anything else
        return Saved(item.job_id, item.dest, existing=True)
    return Saved(item.job_id, path)


def save_task(control: TaskControl[SaveEvent], *, items: list[SaveItem], output: OutputOptions,
              protected: tuple[Path, ...]) -> Generator[SaveEvent | Progress, None, int]:
    """Save each item in turn; yields ``Saved`` or ``NotSaved`` for each (one failure does not stop the rest)."""
    from sinsr_gui.engine.photo import save_result

    for i, item in enumerate(items):
        if control.cancel.is_set():
            break
        try:
            path = save_result(_pixels(item), item.dest, output, protected=protected)
            yield _unless_duplicate(item, path)
        except Exception as exc:  # noqa: BLE001 - reported per file
            if not isinstance(exc, UserError | OSError):
                log.exception("saving %s failed", item.dest)
            yield NotSaved(item.job_id, exc)
        yield Progress(i + 1, len(items))
    return len(items)


class SaveController(QObject):
    """Saves results of ``queue``'s jobs with the output settings."""

    busyChanged = Signal(bool)
    message = Signal(str, str)
    failed = Signal(str)  # one sentence for a dialog
    upscaleAgainOffered = Signal(int, str)  # job id, why its result cannot be saved again
    done = Signal(bool)  # a save finished; True when everything was saved
    alreadySaved = Signal(object)  # Path: Save on a result already saved there (nothing was written)

    def __init__(self, queue: PhotoQueue, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue, self.settings = queue, settings
        self.slot = WorkerSlot("save", self)
        self.last_folder: Path | None = None
        self._errors: list[str] = []
        self._unsaved = 0  # results that cannot be saved again (lossy copy): offered to upscale again

    @property
    def busy(self) -> bool:
        return self.slot.busy

    # --------------------------------------------------------------------------------------------- API
    def output_path(self, job: Job, fmt: str | None = None) -> Path:
        """Where Save puts ``job``'s result (raises ValueError for a bad name pattern)."""
        output = self.settings.to_options().output
        if fmt is not None:
            output = dataclasses.replace(output, fmt=fmt)
        return self.queue.output_path(job, output, job.result.scale, self.settings.output_folder())

    def save(self, job: Job | None) -> None:
        """Save (Ctrl+S): the result of ``job``, once."""
        if job is None or job.result is None:
            self.message.emit("Nothing to save yet: upscale the photo first (Ctrl+Return).", "")
        elif job.saved_path is not None:
            self.message.emit(f"Already saved as {job.saved_path.name}. Save as… makes another copy.",
                              f"Saved as {job.saved_path}.")
            self.alreadySaved.emit(job.saved_path)
        else:
            self._start([job])

    def save_all(self) -> bool:
        """Save every result not saved yet; False when there was nothing to save."""
        jobs = self.queue.unsaved()
        if not jobs:
            self.message.emit("Every result is already saved.", "")
            return False
        return self._start(jobs)

    def save_as_problem(self, job: Job) -> str | None:
        """Why "Save as" cannot write ``job``'s result (its pixels are only in a lossy copy), or None."""
        from sinsr_gui.engine.photo import check_reopenable

        if job.in_memory or job.saved_path is None:
            return None
        try:
            check_reopenable(job.saved_path)
        except UserError as exc:
            return str(exc)  # one sentence: the window offers "Upscale again" itself
        return None

    def save_as(self, job: Job, dest: Path, fmt: str) -> bool:
        """Save ``job``'s result as ``dest`` in ``fmt`` (the file dialog already asked before replacing)."""
        return self._start([job], dest=dest, fmt=fmt, overwrite=True)

    # ----------------------------------------------------------------------------------------- running
    def _start(self, jobs: list[Job], *, dest: Path | None = None, fmt: str | None = None,
               overwrite: bool = False) -> bool:
        if self.slot.busy:
            self.message.emit("Still saving the previous results…", "")
            return False
        output = dataclasses.replace(self.settings.to_options().output, overwrite=overwrite)
        if fmt is not None:
            output = dataclasses.replace(output, fmt=fmt)
        try:
            items = [SaveItem(j.id, j.result, dest or self.output_path(j, fmt), j.saved_path)
                     for j in jobs if j.result is not None]
        except ValueError as exc:
            self.failed.emit(str(exc))
            return False
        self._errors, self._unsaved = [], 0
        task = functools.partial(save_task, items=items, output=output, protected=self.queue.inputs())
        if not self.slot.start(task, on_yielded=self._on_item, on_failed=lambda m, _e: self._errors.append(m),
                               on_finished=self._on_finished):
            return False
        self.busyChanged.emit(True)
        self.message.emit(f"Saving {count(len(items), 'result')}…", "")
        return True

    def _on_item(self, event: SaveEvent) -> None:
        """One item of the save task: saved (perhaps already there), or not, and why."""
        match event:
            case Saved(job_id, path, existing):
                self.last_folder = path.parent
                self.queue.saved(job_id, path)
                if existing:
                    self.message.emit(f"Already saved as {path.name}: no copy made.", f"Already saved as {path}.")
                    self.alreadySaved.emit(path)
                else:
                    self.message.emit(f"Saved {path.name} (File > Open output folder shows it).",
                                      f"Saved as {path}.")
            case NotSaved(job_id, error):
                remedy = getattr(error, "remedy", None)
                if remedy is not None and remedy.action == "upscale_again":
                    self._unsaved += 1
                    self.upscaleAgainOffered.emit(job_id, str(error))
                else:
                    self._errors.append(user_message(error))

    def _on_finished(self) -> None:
        errors, self._errors = self._errors, []
        self.busyChanged.emit(False)
        if errors:
            self.failed.emit(errors[0] if len(errors) == 1 else
                             f"{len(errors)} results could not be saved. The first: {errors[0]}")
        self.done.emit(not errors and not self._unsaved)
