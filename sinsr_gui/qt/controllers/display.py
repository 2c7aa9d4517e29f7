"""The photo shown in the compare view: decoded once, through the shared PhotoCache, in a worker.

The :class:`~sinsr_gui.engine.photo.Photo` it keeps (``current.photo``) is the very object the thumbnail
was made from and the run and previews use. The result shown beside it comes from memory, or, once a batch
saved and released it, from the saved file.

"Before" is fair at every zoom: by default the photo enlarged with bicubic onto the output's pixel grid, so
both sides are compared pixel for pixel (a view that stretches the original shows nearest-neighbour blocks
from 200 % on, which flatters any model); or, on request, the original pixels. A job that was upscaled
again also brings its previous result, for comparing two results (A/B).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from sinsr_gui.engine.types import Photo, UpscaleResult
from sinsr_gui.qt.worker import TaskControl, rgb_to_qimage
from sinsr_gui.qt.worker_slot import WorkerSlot
from sinsr_gui.queue import Job

if TYPE_CHECKING:  # the engine's use cases import torch: loaded by the task, in the worker thread
    from sinsr_gui.engine.photo import PhotoCache

log = logging.getLogger(__name__)


MAX_ENLARGED_PIXELS = 100_000_000  # beyond this "before" stays the original pixels (memory)


@dataclass
class Shown:
    job_id: int
    token: int
    photo: Photo
    before: QImage
    after: QImage | None
    before_label: str = "Before"
    previous: QImage | None = None  # the job's previous result, for A/B
    after_label: str = "After"
    previous_label: str = ""


def before_image(photo: Photo, scale: int, view: str) -> tuple[QImage, str]:
    """The "before" side: ``photo`` enlarged ``scale`` times with bicubic (view "enlarged"), or its pixels."""
    from PIL import Image

    width, height = photo.size
    out = (round(width * scale), round(height * scale))
    if view == "enlarged" and out[0] * out[1] <= MAX_ENLARGED_PIXELS:
        rgb = (photo.rgb.clip(0, 1) * 255 + 0.5).astype("uint8")
        big = Image.fromarray(rgb).resize(out, Image.Resampling.BICUBIC)
        alpha = None
        if photo.alpha is not None:
            alpha = Image.fromarray((photo.alpha.clip(0, 1) * 255 + 0.5).astype("uint8")).resize(
                out, Image.Resampling.BICUBIC)
        import numpy as np

        return (rgb_to_qimage(np.asarray(big, dtype=np.float32) / 255.0,
                              None if alpha is None else np.asarray(alpha, dtype=np.float32) / 255.0),
                f"Before (bicubic ×{scale})")
    why = "" if view == "original" else ": too large to enlarge"
    return rgb_to_qimage(photo.rgb, photo.alpha), f"Before (original pixels{why})"


def _result_image(result: UpscaleResult | None, saved_path: Path | None) -> QImage | None:
    """A result from memory, or, once a run saved and released it, from its saved file (None: neither)."""
    from sinsr_gui.engine.imageio import ImageReadError
    from sinsr_gui.engine.photo import read_photo

    if result is not None and result.rgb is not None:
        return rgb_to_qimage(result.rgb, result.alpha)
    if saved_path is not None:
        try:
            saved = read_photo(saved_path)
            return rgb_to_qimage(saved.rgb, saved.alpha)
        except ImageReadError as exc:  # moved or deleted since: show the original only
            log.info("cannot show the saved result %s: %s", saved_path, exc)
    return None


def display_task(control: TaskControl[NoReturn], *, photos: PhotoCache, job_id: int, token: int, path: Path,
                 result: UpscaleResult | None, saved_path: Path | None, previous: UpscaleResult | None = None,
                 previous_saved: Path | None = None, scale: int = 4, before_view: str = "enlarged") -> Shown:
    photo = photos.get(path)
    after = _result_image(result, saved_path)
    scale = result.scale if result is not None else scale
    before, before_label = before_image(photo, scale, before_view)
    shown = Shown(job_id, token, photo, before, after, before_label,
                  after_label=result.label if result is not None and hasattr(result, "label") else "After")
    if previous is not None:  # kept in memory, or released by a run that saved it: read back for A/B
        shown.previous = _result_image(previous, previous_saved)
        shown.previous_label = previous.label
    return shown


class DisplayController(QObject):
    """Loads the current job's photo (and result); a newer request replaces an older one."""

    shown = Signal(object)  # Shown
    failed = Signal(int, str)  # job id, why it cannot be shown

    def __init__(self, photos: PhotoCache, parent: QObject | None = None, *,
                 view: Callable[[], tuple[int, str]] | None = None) -> None:
        super().__init__(parent)
        self.photos = photos
        # () -> (scale, before view) at the time a photo is opened; the window passes its settings' values.
        self.view = view or (lambda: (4, "enlarged"))
        self.slot = WorkerSlot("display", self)
        self.current: Shown | None = None
        self._token = 0
        self._job_id = -1
        self._pending: Job | None = None
        self._running_token = -1

    def show(self, job: Job | None) -> None:
        """Show ``job`` (None: nothing); ``current`` is None until its photo is decoded."""
        self._token += 1
        self.current = None
        self._job_id = job.id if job is not None else -1
        self._pending = job
        if self.slot.busy:
            self.slot.cancel()  # decoding is not interruptible: its outcome is dropped, then this one starts
        else:
            self._start_pending()

    def _start_pending(self) -> None:
        job, self._pending = self._pending, None
        if job is None:
            return
        self._running_token = self._token
        scale, before_view = self.view()
        task = functools.partial(display_task, photos=self.photos, job_id=job.id, token=self._token,
                                 path=job.path, result=job.result, saved_path=job.saved_path,
                                 previous=job.previous, previous_saved=job.previous_saved, scale=scale,
                                 before_view=before_view)
        self.slot.start(task, name="open", on_succeeded=self._on_shown, on_failed=self._on_failed,
                        on_finished=self._start_pending)

    def _on_shown(self, shown: Shown) -> None:
        if shown.token == self._token:
            self.current = shown
            self.shown.emit(shown)

    def _on_failed(self, message: str, _error: BaseException | None) -> None:
        if self._running_token == self._token:  # not superseded
            self.failed.emit(self._job_id, message)
