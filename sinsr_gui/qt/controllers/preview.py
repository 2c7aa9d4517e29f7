"""Previews: upscale the part of the photo in view (or a drawn rectangle) in seconds, exactly as the run will.

``engine.photo.upscale_region`` runs the tiles of the whole-photo plan that touch the region, so the preview
equals the final result there (also at x2/x3). It runs on the decoded :class:`~sinsr_gui.engine.photo.Photo`
the compare view shows: no second read. The region is shrunk about its centre to what takes about
``PREVIEW_TARGET_S`` at the expected speed (``engine.speed``: measured here, or a first estimate; where there is
none, a GPU model's first run, from the model's memory per pixel).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QImage

from sinsr_gui.engine.options import SCALES, RunOptions
from sinsr_gui.engine.types import ModelInfo, ModelRequest, Photo, Progress
from sinsr_gui.errors import Cancelled
from sinsr_gui.qt.model_status import ModelStatus, affects_every_photo
from sinsr_gui.qt.text import took
from sinsr_gui.qt.worker import TaskControl, rgb_to_qimage
from sinsr_gui.qt.worker_slot import WorkerSlot
from sinsr_gui.settings import Settings

if TYPE_CHECKING:  # the engine's use cases import torch: loaded by the task, in the worker thread
    from sinsr_gui.engine.photo import Models

PREVIEW_TARGET_S = 6.0  # a preview region is sized to take about this long, from the expected speed
# Without a speed estimate: a region whose tiles would need this much memory, a proxy for their compute
# (the descriptor's bytes per LR pixel): about 190 x 190 pixels for SinSR, 650 x 650 for the built-in models.
PREVIEW_WORK_BYTES = 2.5e9
MIN_REGION, MAX_REGION = 96**2, 1024**2


@dataclass
class PreviewOutcome:
    job_id: int
    token: int
    patch: QImage
    rect: QRect  # output pixels
    seconds: float


def preview_task(control: TaskControl[ModelInfo], *, models: Models, request: ModelRequest, job_id: int,
                 token: int, photo: Photo, region: tuple[int, int, int, int], run: RunOptions
                 ) -> Generator[ModelInfo | Progress, None, PreviewOutcome]:
    """Load the model (yields what was loaded, once), then upscale the region's tiles (yields progress)."""
    from sinsr_gui.engine.photo import describe, upscale_region

    model, notice = models.get(request)
    yield describe(model, notice)
    result = yield from upscale_region(model, photo, region, run, cancel=control.cancel, notice=notice)
    x, y, w, h = result.rect
    return PreviewOutcome(job_id, token, rgb_to_qimage(result.rgb, result.alpha), QRect(x, y, w, h), result.seconds)


def fit_region(region: tuple[int, int, int, int], budget: int) -> tuple[int, int, int, int, bool]:
    """Shrink ``region`` (x0, y0, x1, y1) about its centre to at most ``budget`` pixels; True if it shrank."""
    x0, y0, x1, y1 = region
    w, h = x1 - x0, y1 - y0
    if w * h <= budget:
        return x0, y0, x1, y1, False
    f = math.sqrt(budget / (w * h))
    nw, nh = max(16, min(w, int(w * f))), max(16, min(h, int(h * f)))
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    nx0, ny0 = max(x0, cx - nw // 2), max(y0, cy - nh // 2)
    return nx0, ny0, min(x1, nx0 + nw), min(y1, ny0 + nh), True


class PreviewController(QObject):
    """One preview at a time; a preview of a photo no longer shown is dropped (:meth:`invalidate`)."""

    ready = Signal(int, QImage, QRect)  # job id, the patch, where it goes (output pixels)
    progressChanged = Signal(str, int, int)
    busyChanged = Signal(bool)
    message = Signal(str, str)
    error = Signal(str, str)

    def __init__(self, settings: Settings, status: ModelStatus, models: Models,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings, self.status, self.models = settings, status, models
        self.slot = WorkerSlot("preview", self)
        self._token = 0
        self._model_loaded = False

    @property
    def busy(self) -> bool:
        return self.slot.busy

    def invalidate(self) -> None:
        """The photo shown changed: a preview still running belongs to the previous one."""
        self._token += 1

    def cancel(self) -> bool:
        self.slot.cancel()
        return self.slot.busy

    def budget(self) -> int:
        """LR pixels a preview may cover."""
        rate = self.status.seconds_per_megapixel()
        if rate:
            pixels = PREVIEW_TARGET_S / rate * 1e6
        else:
            descriptor, _ = self.status.expected()
            per_pixel = descriptor.tile_bytes[1] if descriptor is not None else PREVIEW_WORK_BYTES / MIN_REGION
            pixels = PREVIEW_WORK_BYTES / per_pixel
        return int(min(MAX_REGION, max(MIN_REGION, pixels)))

    def start(self, job_id: int, photo: Photo, rect: QRect, view_scale: float) -> bool:
        """Preview ``rect`` (output pixels of a view showing ``photo`` at ``view_scale``)."""
        if self.slot.busy or rect.isEmpty():
            return False
        width, height = photo.size
        x0 = max(0, math.floor(rect.left() / view_scale))
        y0 = max(0, math.floor(rect.top() / view_scale))
        x1 = min(width, math.ceil((rect.right() + 1) / view_scale))
        y1 = min(height, math.ceil((rect.bottom() + 1) / view_scale))
        if x1 <= x0 or y1 <= y0:
            return False
        x0, y0, x1, y1, shrunk = fit_region((x0, y0, x1, y1), self.budget())
        options = self.settings.to_options()
        # Previews sit on the view's grid: a shown result's scale wins over a since-changed setting.
        scale = round(view_scale) if round(view_scale) in SCALES else options.run.scale
        self._token += 1
        self._model_loaded = False
        task = functools.partial(preview_task, models=self.models, request=options.model, job_id=job_id,
                                 token=self._token, photo=photo, region=(x0, y0, x1, y1),
                                 run=dataclasses.replace(options.run, scale=scale))
        if not self.slot.start(task, on_progress=self._on_progress, on_yielded=self._on_model_loaded,
                               on_succeeded=self._on_succeeded, on_failed=self._on_failed,
                               on_finished=lambda: self.busyChanged.emit(False)):
            return False
        self.busyChanged.emit(True)
        self.progressChanged.emit("Preview: loading the model…", 0, 0)
        where = "the centre " if shrunk else ""
        self.message.emit(f"Previewing {where}{x1 - x0} × {y1 - y0} pixels…",
                          "Zoom in to preview a smaller part." if shrunk else "")
        return True

    def _on_progress(self, done: int, total: int) -> None:
        self.progressChanged.emit(f"Preview: tile {done} of {total}", done, total)

    def _on_model_loaded(self, info: ModelInfo) -> None:
        """The task's one yielded value besides its progress: the model is ready."""
        self.status.set_loaded(info)
        self._model_loaded = True

    def _on_succeeded(self, outcome: PreviewOutcome) -> None:
        if outcome.token != self._token:
            return  # the user moved on to another photo
        self.ready.emit(outcome.job_id, outcome.patch, outcome.rect)
        self.message.emit(f"Preview ready in {took(outcome.seconds)}. Ctrl+Return upscales the whole photo.", "")

    def _on_failed(self, message: str, error: BaseException | None) -> None:
        if isinstance(error, Cancelled):
            self.message.emit("Preview cancelled.", "")
        elif affects_every_photo(error, self._model_loaded):
            self.error.emit(message, "Cannot preview")
        else:
            self.message.emit("The preview failed.", message)
