"""Preview: run the model on the region in view (or a drawn rectangle) in seconds.

A mixin of :class:`sinsr_gui.qt.main_window.MainWindow`: it uses the window's state and
widgets.
"""

from __future__ import annotations

import functools
import math

from PySide6.QtCore import QRect, Slot

from sinsr_gui.qt import dialogs
from sinsr_gui.qt.first_run import format_duration
from sinsr_gui.qt.window_common import (
    PREVIEW_MARGIN,
    PREVIEW_TARGET_S,
    _affects_every_photo,
    _fit_region,
)
from sinsr_gui.qt.worker import (
    PreviewOutcome,
    Worker,
    preview_task,
)


class PreviewMixin:
    """Preview for the main window."""

    def preview(self, region: QRect | None = None) -> None:
        """Upscale only the part in view (or ``region``, output pixels) and show it in place."""
        if self._job_worker is not None or self._preview_worker is not None:
            self.statusBar().showMessage("Wait for the current upscale to finish (or press Esc) first.", 6000)
            return
        current, job = self._current, self.jobs.get(self._current_id)
        if current is None or job is None:
            self.statusBar().showMessage("Select a photo first (and wait until it is shown).", 6000)
            return
        s = self.settings.copy()
        width, height = current.loaded.size
        view_scale = self.compare_view.output_size().width() / width
        rect = region if region is not None else self.compare_view.visible_image_rect()
        if rect.isEmpty():
            return
        x0 = max(0, math.floor(rect.left() / view_scale))
        y0 = max(0, math.floor(rect.top() / view_scale))
        x1 = min(width, math.ceil((rect.right() + 1) / view_scale))
        y1 = min(height, math.ceil((rect.bottom() + 1) / view_scale))
        x0, y0, x1, y1, shrunk = _fit_region((x0, y0, x1, y1), self._preview_budget())
        # Previews sit on the view's grid: a shown result's scale wins over a since-changed setting.
        s.scale = round(view_scale) if round(view_scale) in (2, 3, 4) else s.scale
        self._preview_token += 1
        worker = Worker(functools.partial(preview_task, cache=self.cache, request=self.model_request(s),
                                          job_id=job.id, token=self._preview_token, loaded=current.loaded,
                                          region=(x0, y0, x1, y1), margin=PREVIEW_MARGIN, settings=s),
                        name="preview")
        self._preview_worker = worker
        self._start_worker(worker, progress=self._on_preview_progress, yielded=self._on_model_info,
                           succeeded=self._on_preview_ready, failed=self._on_preview_failed,
                           finished=self._on_preview_finished)
        self.progress_bar.setRange(0, 0)
        self.progress_label.setText("Preview: loading the model…")
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            w.setVisible(True)
        note = " (the centre of the view: zoom in to preview a smaller area)" if shrunk else ""
        self.statusBar().showMessage(f"Previewing {x1 - x0} × {y1 - y0} pixels{note}…")
        self._update_actions()

    def preview_region(self) -> None:
        if self._current is None:
            self.statusBar().showMessage("Select a photo first.", 5000)
            return
        self.compare_view.start_region_selection()
        self.compare_view.setFocus()
        self.statusBar().showMessage("Drag a rectangle over the photo to preview it (Esc cancels).", 10000)

    def _on_region_selected(self, rect: QRect) -> None:
        self.preview(rect)

    def _preview_budget(self) -> int:
        """LR pixels a preview may cover: about PREVIEW_TARGET_S seconds at the measured speed."""
        kind, device = self._expected_kind(), self._expected_device()
        rate = self.settings.seconds_per_megapixel(kind, device) if kind and device else None
        if rate:
            return int(min(1024**2, max(96**2, PREVIEW_TARGET_S / rate * 1e6)))
        return 192**2 if kind != "compact" else 512**2

    @Slot(int, int)
    def _on_preview_progress(self, done: int, total: int) -> None:
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(done)
        self.progress_label.setText(f"Preview: tile {done} of {total}")

    @Slot(object)
    def _on_preview_ready(self, outcome: PreviewOutcome) -> None:
        if outcome.token != self._preview_token or outcome.job_id != self._current_id:
            return  # the user moved on to another photo
        self.compare_view.set_after_region(outcome.patch, outcome.rect)
        took = format_duration(outcome.seconds).replace("about ", "")
        self.statusBar().showMessage(f"Preview ready in {took}. Ctrl+Return upscales the whole photo.", 10000)

    @Slot(str)
    def _on_preview_failed(self, message: str) -> None:
        worker = self._preview_worker
        if worker is not None and worker.cancelled:
            self.statusBar().showMessage("Preview cancelled.", 4000)
        elif worker is not None and _affects_every_photo(worker.error):
            dialogs.show_error(self, message, "Cannot preview")
        else:
            self.statusBar().showMessage(f"Preview failed: {message}", 12000)

    @Slot()
    def _on_preview_finished(self) -> None:
        self._preview_worker = None
        if self._job_worker is None:
            self._show_progress(False)
        self._update_actions()
        if self._processing:
            self._start_next()
