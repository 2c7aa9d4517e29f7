"""Queue thumbnails: each photo is decoded once, through the shared PhotoCache, and shrunk with
``engine.photo.thumbnail``, so orientation and colour are those of the display and the run. A photo that
cannot be read is reported at once (``unreadable``), not when its turn to run comes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from sinsr_gui.errors import UserError
from sinsr_gui.qt.messages import user_message
from sinsr_gui.qt.worker import TaskControl, rgba8_to_qimage
from sinsr_gui.qt.worker_slot import WorkerSlot

if TYPE_CHECKING:  # the engine's use cases import torch: loaded by the task, in the worker thread
    from sinsr_gui.engine.photo import PhotoCache

log = logging.getLogger(__name__)
THUMBNAIL_SIDE = 256


@dataclass
class Thumbnail:
    job_id: int
    image: QImage | None
    size: tuple[int, int] | None  # (width, height) as displayed
    error: str | None = None  # the reader's sentence when it cannot be read


def thumbnail_task(control: TaskControl[Thumbnail], *, photos: PhotoCache, items: list[tuple[int, Path]]
                   ) -> Generator[Thumbnail, None, None]:
    """One ``Thumbnail`` for each item, in order: the picture, or why the file cannot be read."""
    from sinsr_gui.engine.photo import thumbnail

    for job_id, path in items:
        if control.cancel.is_set():
            return None
        try:
            photo = photos.get(path)
            yield Thumbnail(job_id, rgba8_to_qimage(thumbnail(photo, THUMBNAIL_SIDE)), photo.size)
        except Exception as exc:  # noqa: BLE001 - one unreadable file must not stop the others
            if not isinstance(exc, UserError | OSError):
                log.exception("no thumbnail for %s", path)
            yield Thumbnail(job_id, None, None, user_message(exc))
    return None


class ThumbnailController(QObject):
    """Reads thumbnails in the order photos were added, one worker at a time."""

    ready = Signal(int, QImage, object)  # job id, thumbnail, (width, height)
    unreadable = Signal(int, str)  # job id, the reader's sentence

    def __init__(self, photos: PhotoCache, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.photos = photos
        self.slot = WorkerSlot("thumbnails", self)
        self._pending: list[tuple[int, Path]] = []
        self._forgotten: set[int] = set()

    def add(self, items: list[tuple[int, Path]]) -> None:
        self._pending += items
        self._start_pending()

    def forget(self, ids: list[int]) -> None:
        """These jobs left the queue: no thumbnail for them."""
        self._forgotten.update(ids)
        self._pending = [(i, p) for i, p in self._pending if i not in self._forgotten]

    def _start_pending(self) -> None:
        if self.slot.busy or not self._pending:
            return
        items, self._pending = self._pending, []
        self.slot.start(functools.partial(thumbnail_task, photos=self.photos, items=items),
                        on_yielded=self._on_thumbnail, on_finished=self._start_pending)

    def _on_thumbnail(self, thumb: Thumbnail) -> None:
        if thumb.job_id in self._forgotten:
            return
        if thumb.error is not None:
            self.unreadable.emit(thumb.job_id, thumb.error)
        elif thumb.image is not None:
            self.ready.emit(thumb.job_id, thumb.image, thumb.size)
