"""Saving results: Save, Save as, Save all, and the output folder. Never over an input.

A mixin of :class:`sinsr_gui.qt.main_window.MainWindow`: it uses the window's state and
widgets.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

from PySide6.QtCore import QStandardPaths, Slot
from PySide6.QtWidgets import (
    QFileDialog,
)

from sinsr_gui.qt import dialogs
from sinsr_gui.qt.window_common import (
    Job,
    _count,
)
from sinsr_gui.qt.worker import (
    Saved,
    Worker,
    save_task,
)
from sinsr_gui.settings import Settings


class SavingMixin:
    """Saving results for the main window."""

    def _output_path(self, job: Job, settings: Settings, scale: int) -> Path:
        from sinsr_gui.engine.imageio import output_path_for

        out_dir = Path(settings.output_dir).expanduser() if settings.output_dir else None
        if out_dir is not None and job.root != job.path.parent:
            with contextlib.suppress(ValueError):  # not below the root: no sub-folder to mirror
                out_dir = out_dir / job.path.parent.relative_to(job.root)
        if out_dir is None and job.pasted:
            # Pasted images live in the app's cache folder, which nobody would think of looking in.
            pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
            out_dir = Path(pictures) if pictures else Path.home()
        return output_path_for(job.path, out_dir, fmt=settings.fmt, pattern=settings.name_pattern, scale=scale)

    def _inputs(self) -> tuple[Path, ...]:
        return tuple(j.path for j in self.jobs.values())

    def save_current(self) -> None:
        job = self.jobs.get(self._current_id)
        if job is None or job.result is None:
            self.statusBar().showMessage("Nothing to save yet: upscale the photo first (Ctrl+Return).", 6000)
            return
        if job.saved_path is not None:
            self.statusBar().showMessage(f"Already saved as {job.saved_path}. Save as… makes another copy.", 8000)
            return
        self._start_save([job])

    def save_all(self) -> None:
        jobs = [j for j in self._ordered_jobs() if j.unsaved]
        if not jobs:
            self.statusBar().showMessage("Every result is already saved.", 5000)
            return
        self._start_save(jobs)

    def save_as(self) -> None:
        from sinsr_gui.engine.imageio import OUTPUT_SUFFIXES, normalize_format

        job = self.jobs.get(self._current_id)
        if job is None or job.result is None:
            self.statusBar().showMessage("Nothing to save yet: upscale the photo first (Ctrl+Return).", 6000)
            return
        suggested = self._output_path(job, self.settings, job.result.scale)
        filters = {"PNG": "PNG image (*.png)", "JPEG": "JPEG image (*.jpg *.jpeg)", "WEBP": "WebP image (*.webp)",
                   "TIFF": "TIFF image (*.tif *.tiff)"}
        name, chosen = QFileDialog.getSaveFileName(self, "Save result as", str(suggested), ";;".join(filters.values()),
                                                   filters[self.settings.fmt])
        if not name:
            return
        dest = Path(name)
        fmt = next((f for f, label in filters.items() if label == chosen), self.settings.fmt)
        try:
            fmt = normalize_format(dest.suffix) if dest.suffix else fmt
        except ValueError:
            dest = dest.with_suffix(OUTPUT_SUFFIXES[fmt])
        settings = self.settings.copy()
        settings.fmt = fmt
        # The file dialog already asked before replacing a file; inputs stay protected regardless.
        self._start_save([job], dest=dest, settings=settings, overwrite=True)

    def _start_save(self, jobs: list[Job], *, dest: Path | None = None, settings: Settings | None = None,
                    overwrite: bool = False) -> None:
        if self._save_worker is not None:
            self.statusBar().showMessage("Still saving the previous results…", 4000)
            return
        s = settings or self.settings.copy()
        items = []
        for job in jobs:
            result = job.result
            assert result is not None
            try:
                target = dest or self._output_path(job, s, result.scale)
            except ValueError as exc:
                dialogs.show_error(self, str(exc), "Cannot save")
                return
            items.append((job.id, result.rgb, result.alpha, result.like, target, job.saved_path))
        worker = Worker(functools.partial(save_task, items=items, settings=s, protected=self._inputs(),
                                          overwrite=overwrite), name="save")
        self._save_worker = worker
        self._start_worker(worker, yielded=self._on_saved, failed=self._on_save_failed,
                           finished=self._on_save_finished)
        self.statusBar().showMessage(f"Saving {_count(len(items), 'result')}…")
        self._update_actions()

    @Slot(object)
    def _on_saved(self, saved: object) -> None:
        if not isinstance(saved, Saved):
            return
        job = self.jobs.get(saved.job_id)
        self._last_saved_folder = saved.path.parent
        if job is not None:
            job.saved_path = saved.path
            self.queue_panel.set_state(job.id, job.state, f"Saved as {saved.path}")
        self.statusBar().showMessage(f"Saved {saved.path.name} in {saved.path.parent} "
                                     "(File > Open output folder shows it).", 10000)
        self._update_title()

    @Slot(str)
    def _on_save_failed(self, message: str) -> None:
        if self._close_pending:  # the user chose "Save all" to quit; it failed, so do not close
            self._close_pending = self._close_confirmed = False
        dialogs.show_error(self, message, "Not saved")

    @Slot()
    def _on_save_finished(self) -> None:
        self._save_worker = None
        self._update_actions()

    def open_output_folder(self) -> None:
        job = self.jobs.get(self._current_id)
        folder = (job.saved_path.parent if job is not None and job.saved_path else None) or self._last_saved_folder
        if folder is None and self.settings.output_dir:
            folder = Path(self.settings.output_dir)
        if folder is None:
            self.statusBar().showMessage("Nothing saved yet.", 4000)
            return
        dialogs.open_folder(folder)
