"""sinsr_gui.qt.worker_slot: one worker at a time, its callbacks on the GUI thread in the worker's order, and
the typed channel: ``on_yielded`` gets exactly the values the task declares (never its progress) and
``on_succeeded`` what it returns, from a generator task and from a plain one that reports."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading  # noqa: E402
from collections.abc import Generator  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import pytest  # noqa: E402

from sinsr_gui.engine.models import ModelUnavailable  # noqa: E402
from sinsr_gui.engine.types import Progress  # noqa: E402
from sinsr_gui.errors import Remedy  # noqa: E402
from sinsr_gui.qt.messages import GET_MODEL  # noqa: E402
from sinsr_gui.qt.worker import TaskControl  # noqa: E402
from sinsr_gui.qt.worker_slot import WorkerSlot  # noqa: E402

TIMEOUT_MS = 60_000


@pytest.fixture
def wait(qtbot):
    def wait(condition, timeout: int = TIMEOUT_MS) -> None:
        qtbot.waitUntil(lambda: bool(condition()), timeout=timeout)

    return wait


@dataclass(frozen=True)
class Note:
    """A task's own value: what a controller's ``on_yielded`` is typed with."""

    text: str


def test_worker_slot_runs_one_task_at_a_time_and_keeps_its_thread_until_it_ends(qtbot, wait):
    slot = WorkerSlot("test")
    calls: list[tuple] = []
    gate = threading.Event()

    def task(control: TaskControl[str]) -> Generator[str | Progress, None, int]:
        yield Progress(0, 1)
        gate.wait(10)
        yield "hello"
        return 42

    def on(name):
        return lambda *a: calls.append((name, threading.current_thread() is threading.main_thread(), *a))

    assert slot.start(task, on_started=on("started"), on_progress=on("progress"), on_yielded=on("yielded"),
                      on_succeeded=on("succeeded"), on_failed=on("failed"), on_finished=on("finished"))
    assert slot.busy and slot.active
    assert not slot.start(lambda control: None)  # busy: refused, nothing runs
    gate.set()
    with qtbot.waitSignal(slot.idle, timeout=TIMEOUT_MS):
        pass
    assert [c[0] for c in calls] == ["started", "progress", "yielded", "succeeded", "finished"]
    assert all(c[1] for c in calls)  # every callback on the GUI thread
    assert calls[1][2:] == (0, 1) and calls[2][2] == "hello" and calls[3][2] == 42
    assert not slot.busy and not slot.active and not slot.threads


def test_worker_slot_failure_cancel_and_shutdown(qtbot, wait):
    slot = WorkerSlot("test")
    failures: list[tuple] = []

    def task(control):
        while not control.cancel.is_set():
            yield Progress(0, 1)
            control.cancel.wait(0.01)
        raise ModelUnavailable("Gone.", Remedy("get_weights", "sinsr_v1"))

    started = []
    assert slot.start(task, on_started=lambda: started.append(1), on_failed=lambda m, e: failures.append((m, e)))
    wait(lambda: started)
    assert slot.shutdown(TIMEOUT_MS)  # cancels, waits for the thread, delivers what was queued
    (message, error), = failures
    assert isinstance(error, ModelUnavailable) and message == f"Gone. Download the model files with {GET_MODEL}"
    assert not slot.active and slot.closed
    assert not slot.start(lambda control: None)  # after shutdown: refused


def test_on_yielded_gets_exactly_the_declared_values_and_on_succeeded_the_result(qtbot):
    """What crosses the Qt signal (``object``) arrives as the very value the task yielded: no copy, no
    wrapping, progress never mixed in; and a generator task's result is what it returns, not the generator."""
    first, second = Note("a"), Note("b")

    def generator_task(control: TaskControl[Note]) -> Generator[Note | Progress, None, int]:
        yield Progress(0, 2)
        yield first
        yield Progress(1, 2)
        yield second
        return 2

    def plain_task(control: TaskControl[Note]) -> str:  # callback-style code (a download) reports instead
        control.report(Progress(0, 1))
        control.report(first)
        control.report(Progress(1, 1))
        return "done"

    for task, result in ((generator_task, 2), (plain_task, "done")):
        slot = WorkerSlot("typed")
        notes: list[Note] = []
        progress: list[tuple[int, int]] = []
        results: list[object] = []
        assert slot.start(task, on_progress=lambda d, t, _p=progress: _p.append((d, t)), on_yielded=notes.append,
                          on_succeeded=results.append)
        with qtbot.waitSignal(slot.idle, timeout=TIMEOUT_MS):
            pass
        expected = [first, second] if task is generator_task else [first]
        assert len(notes) == len(expected) and all(n is e for n, e in zip(notes, expected))
        assert progress == ([(0, 2), (1, 2)] if task is generator_task else [(0, 1), (1, 1)])
        assert results == [result]


def test_a_slot_dropped_while_its_thread_runs_does_not_take_the_thread_with_it(qtbot, wait):
    """A controller (and its slot) can be dropped while its thread still runs; destroying a running QThread
    would abort the whole process, so the thread outlives the slot until it has finished."""
    import gc

    from sinsr_gui.qt import worker_slot

    release, running = threading.Event(), threading.Event()

    def task(control: TaskControl[None]) -> str:
        running.set()
        release.wait(30)
        return "done"

    slot = WorkerSlot("dropped")
    assert slot.start(task)
    assert running.wait(30)
    thread = next(t for t, _ in worker_slot._STARTED if t.objectName() == "worker:dropped")
    del slot
    gc.collect()  # the slot is gone; before the fix its QThread went with it, still running: abort
    assert thread.isRunning()
    release.set()
    wait(thread.isFinished)
    assert thread.wait(30_000)
