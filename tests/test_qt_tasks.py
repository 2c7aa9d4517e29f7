"""sinsr_gui.qt.tasks: one model run at a time, an Upscale pressed during a preview, and the close protocol."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from sinsr_gui.qt.tasks import Tasks  # noqa: E402


class FakeRun:
    def __init__(self) -> None:
        self.busy, self.cancelled, self.stopped = False, 0, 0

    def cancel(self) -> bool:
        self.cancelled += 1
        was, self.busy = self.busy, False
        return was

    def stop(self) -> None:
        self.stopped += 1


class FakeSlot:
    def __init__(self, active: bool = False) -> None:
        self.active, self.cancels, self.shutdowns = active, 0, []

    def cancel(self) -> None:
        self.cancels += 1

    def shutdown(self, timeout_ms: int, *, cancel: bool = True) -> bool:
        self.shutdowns.append(cancel)
        return True


@pytest.fixture
def parts(qtbot):
    runner, previewer = FakeRun(), FakeRun()
    work, save = FakeSlot(), FakeSlot()
    return runner, previewer, work, save, Tasks(runner, previewer, [work, save], finishing=save)


def test_one_model_run_at_a_time_and_a_run_asked_during_a_preview_waits_for_it(parts):
    runner, previewer, _work, _save, tasks = parts
    assert not tasks.model_busy and tasks.run_after_preview()  # nothing running: the run may start now
    previewer.busy = True
    assert tasks.model_busy
    assert not tasks.run_after_preview() and previewer.cancelled == 1  # the preview is stopped first
    assert not previewer.busy and tasks.take_pending_run()  # the model is free: the run starts, once
    assert not tasks.take_pending_run()
    runner.busy = True
    assert tasks.model_busy


def test_esc_forgets_a_remembered_run(parts):
    _runner, previewer, _work, _save, tasks = parts
    previewer.busy = True
    tasks.run_after_preview()
    previewer.busy = True  # still winding down
    assert tasks.cancel_model_runs()
    assert not tasks.take_pending_run()


def test_closing_stops_everything_but_a_save_and_waits(parts):
    runner, previewer, work, save, tasks = parts
    work.active = True
    assert tasks.active
    previewer.busy = True
    tasks.run_after_preview()
    tasks.stop()
    assert runner.stopped == 1 and work.cancels == 1 and save.cancels == 0  # a save is quick and atomic
    assert not tasks.take_pending_run()  # nothing starts after a close began
    assert tasks.shutdown(10)
    assert work.shutdowns == [True] and save.shutdowns == [False]
