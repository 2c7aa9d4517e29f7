"""sinsr_gui.qt.queue_events: the Qt-free queue's one change event as signals the views connect to."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from sinsr_gui.qt.queue_events import QueueEvents  # noqa: E402
from sinsr_gui.queue import PhotoQueue  # noqa: E402


def test_every_queue_change_becomes_a_signal(qtbot, tmp_path):
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"not read here")
    queue = PhotoQueue(tmp_path / "Pictures")
    events = QueueEvents(queue)
    seen: list[tuple] = []
    events.added.connect(lambda ids: seen.append(("added", ids)))
    events.jobChanged.connect(lambda i: seen.append(("job", i)))
    events.reordered.connect(lambda: seen.append(("order",)))
    events.removed.connect(lambda ids: seen.append(("removed", ids)))
    a, b = queue.add([tmp_path / "a.png", tmp_path / "b.png"])[0]
    queue.start(a.id)
    queue.fail(a.id, "Cannot read it.")  # at the moment of the change, on this thread
    queue.reorder([b.id])
    queue.remove([a.id])
    assert seen == [("added", [a.id, b.id]), ("job", a.id), ("job", a.id), ("order",), ("removed", [a.id])]
