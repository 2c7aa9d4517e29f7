"""The app's Qt-free queue: adding (dedupe, natural order), order, the state transitions and their one change
event, retry, and where results go."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sinsr_gui.engine.options import OutputOptions
from sinsr_gui.queue import RETRYABLE, STATES, InvalidTransition, JobState, PhotoQueue, QueueEvent


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not read here")
    return path


class _Result:  # what the queue reads of an UpscaleResult: its pixels (None once released), the input size
    def __init__(self, rgb: np.ndarray | None = None, *, released: bool = False) -> None:
        self.rgb = None if released else (rgb if rgb is not None else np.zeros((1, 1, 3)))
        self.input_size = (1, 1)


def finish(queue: PhotoQueue, job, result=None, **kwargs):
    queue.start(job.id)
    return queue.finish(job.id, result if result is not None else _Result(), **kwargs)


def put_in(queue: PhotoQueue, job, state: JobState) -> None:
    """Move a waiting job to ``state`` by the queue's own transitions."""
    if state is JobState.WAITING:
        return
    queue.start(job.id)
    if state is JobState.DONE:
        queue.finish(job.id, _Result(), message="why")
    elif state is JobState.FAILED:
        queue.fail(job.id, "why")
    elif state is JobState.CANCELLED:
        queue.cancel(job.id, "why")


@pytest.fixture
def queue(tmp_path) -> PhotoQueue:
    return PhotoQueue(pictures=tmp_path / "Pictures")


def test_add_dedupes_and_keeps_folders_in_natural_order(queue, tmp_path):
    for name in ("p10.png", "p2.png", "p1.jpg", ".hidden.png", "notes.txt"):
        touch(tmp_path / "in" / name)
    added, missing = queue.add([tmp_path / "in", tmp_path / "nowhere.png"])
    assert [j.path.name for j in added] == ["p1.jpg", "p2.png", "p10.png"]
    assert missing == [tmp_path / "nowhere.png"]
    assert all(j.root == tmp_path / "in" and j.state == "waiting" for j in added)
    again, _ = queue.add([tmp_path / "in" / "sub" / ".." / "p2.png", tmp_path / "in"])  # the same files
    assert again == [] and len(queue) == 3
    assert len({j.id for j in queue}) == 3


def test_remove_reorder_and_next_waiting(queue, tmp_path):
    a, b, c = (queue.add([touch(tmp_path / f"{n}.png")])[0][0] for n in "abc")
    queue.reorder([c.id, a.id])  # b, not named, keeps its place after them
    assert [j.path.stem for j in queue] == ["c", "a", "b"]
    assert queue.next_waiting() is c
    queue.start(c.id)
    assert queue.next_waiting() is a and [j.path.stem for j in queue.waiting()] == ["a", "b"]
    assert [j.path.stem for j in queue.remove([a.id, 999])] == ["a"]
    assert a.id not in queue and queue.get(a.id) is None and queue.get(None) is None
    assert queue.inputs() == (c.path, b.path)
    assert queue.counts() == {"running": 1, "waiting": 1}


def test_retry_puts_finished_jobs_back_and_drops_their_result(queue, tmp_path):
    jobs = [queue.add([touch(tmp_path / f"{s}.png")])[0][0] for s in STATES]
    for job, state in zip(jobs, STATES):
        put_in(queue, job, state)
    retried = queue.retry([j.id for j in jobs])
    assert sorted(j.path.stem for j in retried) == sorted(RETRYABLE)
    assert all(j.state == "waiting" and j.message == "" and j.result is None for j in retried)
    assert [j.state for j in jobs[:2]] == ["waiting", "running"]  # not finished: untouched


def test_retry_keeps_the_last_result_for_comparison_and_results_can_be_swapped(queue, tmp_path):
    job = queue.add([touch(tmp_path / "p.png")])[0][0]
    first, second = _Result(np.zeros((1, 1, 3))), _Result(np.ones((1, 1, 3)))
    finish(queue, job, first)
    assert queue.retry_drops_unsaved([job.id]) == []  # the unsaved result is kept, as "previous"
    queue.retry([job.id])
    assert job.previous is first and job.result is None and job.state == "waiting"
    finish(queue, job, second)
    assert queue.retry_drops_unsaved([job.id]) == [job]  # a second retry would drop the unsaved first one
    assert queue.swap_results(job.id) is job
    assert job.result is first and job.previous is second
    queue.saved(job.id, tmp_path / "first.png")
    queue.swap_results(job.id)
    assert job.result is second and job.saved_path is None and job.previous_saved == tmp_path / "first.png"
    released = queue.add([touch(tmp_path / "r.png")])[0][0]
    finish(queue, released, _Result(released=True))  # pixels gone (not saved: nothing to read back)
    queue.retry([released.id])
    assert released.previous is None  # nothing in memory to compare with
    assert queue.swap_results(released.id) is None


def test_unsaved_and_released_results(queue, tmp_path):
    kept, saved, released = (queue.add([touch(tmp_path / f"{n}.png")])[0][0] for n in ("kept", "saved", "released"))
    finish(queue, kept)
    finish(queue, saved, saved_path=tmp_path / "out.png")
    finish(queue, released, _Result(released=True), saved_path=tmp_path / "out.png")
    assert queue.unsaved() == [kept]
    assert kept.in_memory and saved.in_memory and not released.in_memory


def test_output_path_rule(queue, tmp_path):
    root = tmp_path / "in"
    deep = queue.add([touch(root / "a" / "b" / "p.jpg"), root])[0][0]  # named first: its folder is its root
    out = OutputOptions(fmt="PNG", name_pattern="{stem}_x{scale}")
    assert queue.output_path(deep, out, 4, None) == root / "a" / "b" / "p_x4.png"  # beside the photo
    assert queue.output_path(deep, out, 4, tmp_path / "out") == tmp_path / "out" / "p_x4.png"
    nested = PhotoQueue(tmp_path / "Pictures")
    mirrored = nested.add([root])[0][0]  # found below a dropped folder: its sub-folders are mirrored
    assert nested.output_path(mirrored, out, 2, tmp_path / "out") == tmp_path / "out" / "a" / "b" / "p_x2.png"
    pasted = queue.add([touch(tmp_path / "cache" / "Pasted image.png")], pasted=True)[0][0]
    assert queue.output_path(pasted, out, 4, None) == tmp_path / "Pictures" / "Pasted image_x4.png"
    assert queue.output_path(pasted, out, 4, tmp_path / "out") == tmp_path / "out" / "Pasted image_x4.png"
    with pytest.raises(ValueError):
        queue.output_path(deep, OutputOptions(name_pattern="{nope}"), 4, None)


def test_the_queue_needs_neither_qt_nor_torch():
    code = "import sys, sinsr_gui.queue; print(sorted(m for m in ('PySide6', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_transitions_follow_the_rules_and_emit_one_event_each(queue, tmp_path):
    events: list[QueueEvent] = []
    unsubscribe = queue.subscribe(events.append)
    a, b = queue.add([touch(tmp_path / "a.png"), touch(tmp_path / "b.png")])[0]
    assert events == [QueueEvent("added", (a.id, b.id))]
    with pytest.raises(InvalidTransition):
        queue.finish(a.id, _Result())  # never started
    with pytest.raises(InvalidTransition):
        queue.cancel(a.id, "Cancelled.")
    assert a.state is JobState.WAITING and len(events) == 1  # a refused transition changes nothing
    queue.start(a.id)
    with pytest.raises(InvalidTransition):
        queue.start(a.id)  # one run at a time per photo
    done = queue.finish(a.id, _Result(), saved_path=tmp_path / "a_x4.png")
    assert done is a and a.state == "done" and a.message == f"Saved as {tmp_path / 'a_x4.png'}"
    queue.fail(b.id, "Cannot read it.")  # a waiting photo whose file cannot be read
    assert b.state is JobState.FAILED and b.message == "Cannot read it."
    queue.reorder([b.id])
    queue.remove([b.id])
    assert [(e.kind, e.ids) for e in events[1:]] == [
        ("job", (a.id,)), ("job", (a.id,)), ("job", (b.id,)), ("order", (b.id, a.id)), ("removed", (b.id,))]
    unsubscribe()
    queue.retry([a.id])
    assert len(events) == 6  # unsubscribed


def test_a_job_removed_while_running_ends_quietly(queue, tmp_path):
    job = queue.add([touch(tmp_path / "a.png")])[0][0]
    queue.start(job.id)
    queue.remove([job.id])
    assert queue.finish(job.id, _Result()) is None and queue.cancel(job.id, "x") is None
    assert queue.fail(job.id, "x") is None


def test_state_and_size_are_read_only_outside_the_queue(queue, tmp_path):
    job = queue.add([touch(tmp_path / "a.png")])[0][0]
    with pytest.raises(AttributeError):
        job.state = "done"
    with pytest.raises(AttributeError):
        job.size = (3, 2)  # the queue says when it becomes known (note_size)
    assert job.state == "waiting" and str(job.state) == "waiting"  # reads as its name
    assert job.size is None


def test_a_photo_s_size_is_noted_once_through_the_queue_with_one_event(queue, tmp_path):
    events: list[QueueEvent] = []
    a, b = queue.add([touch(tmp_path / "a.png"), touch(tmp_path / "b.png")])[0]
    queue.subscribe(events.append)
    assert queue.note_size(a.id, (640, 480)) is a and a.size == (640, 480)
    assert events == [QueueEvent("job", (a.id,))]
    queue.note_size(a.id, (1, 1))  # the view decoded it after the thumbnail: known already, no event
    assert a.size == (640, 480) and len(events) == 1
    assert queue.note_size(99, (1, 1)) is None and len(events) == 1  # removed meanwhile: nothing to tell
    finish(queue, b)  # a finished run knows its input's size too
    assert b.size == (1, 1)
