"""The Qt face of the queue's one change event: :class:`sinsr_gui.queue.PhotoQueue` is Qt-free and calls its
subscribers; this relays each :class:`~sinsr_gui.queue.QueueEvent` as a signal the views connect to.

The queue is only changed on the GUI thread (controllers change it from their worker callbacks, which run
there), so the signals are emitted there too, at the moment of the change.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from sinsr_gui.queue import PhotoQueue, QueueEvent


class QueueEvents(QObject):
    """Signals for ``queue``'s changes, named for what happened."""

    changed = Signal(object)  # every QueueEvent
    jobChanged = Signal(int)  # a job's state, message, result or size: refresh its row and the actions
    added = Signal(list)  # job ids
    removed = Signal(list)  # job ids
    reordered = Signal()

    def __init__(self, queue: PhotoQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        unsubscribe = queue.subscribe(self._relay)
        self.destroyed.connect(lambda *_: unsubscribe())  # a queue that outlives its window calls nothing dead

    def _relay(self, event: QueueEvent) -> None:
        self.changed.emit(event)
        if event.kind == "job":
            for job_id in event.ids:
                self.jobChanged.emit(job_id)
        elif event.kind == "added":
            self.added.emit(list(event.ids))
        elif event.kind == "removed":
            self.removed.emit(list(event.ids))
        else:
            self.reordered.emit()
