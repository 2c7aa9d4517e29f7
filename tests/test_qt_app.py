"""The desktop app end to end, with the tiny case_a SinSR model: drop -> preview -> upscale -> save, cancel and
retry, errors, worker signal order, responsiveness, the first-run download, model release, closing safely.

Runs offscreen. Model runs are kept few and small (one 64x64 latent tile costs about 1 s on an idle core).
Every wait goes through the ``wait`` fixture, which on a timeout fails with the errors the window showed and
the status-bar messages it displayed; actions are triggered (``trigger``) only once a user could, i.e. once
they are enabled. Each flow's controller is also tested on its own, in test_qt_controllers.py.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import functools  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QMimeData, QObject, QPointF, Qt, QTimer, QUrl, Slot  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QTextBrowser, QWidget  # noqa: E402

from sinsr_gui.engine.imageio import ImageReadError  # noqa: E402
from sinsr_gui.engine.models import ModelCache  # noqa: E402
from sinsr_gui.engine.photo import PhotoCache, Progress  # noqa: E402
from sinsr_gui.qt import dialogs, messages  # noqa: E402
from sinsr_gui.qt.controllers.run import run_task  # noqa: E402
from sinsr_gui.qt.main_window import MainWindow  # noqa: E402
from sinsr_gui.qt.worker import Worker, start_in_thread  # noqa: E402
from sinsr_gui.qt.worker_slot import WorkerSlot  # noqa: E402
from sinsr_gui.queue import QueueEvent  # noqa: E402
from sinsr_gui.settings import Settings  # noqa: E402
from tests.http_server import AUTOENCODER_FIXTURE, UNET_FIXTURE, FileServer, isolate, make_registry  # noqa: E402
from tests.qt_support import qimage_array  # noqa: E402

CASE_A = Path(__file__).parent / "fixtures" / "case_a"
RUN_TIMEOUT_MS = 120_000  # generous: the CI machine is shared with a training job
STATUS_LIMIT = 100  # characters: longer status-bar messages get cut off in a normal-sized window


# ------------------------------------------------------------------------------------------------ fixtures
def case_a_settings(**changes: object) -> Settings:
    s = Settings(model="sinsr", device="cpu", precision="fp32", sinsr_unet=str(CASE_A / "unet_ckpt.pth"),
                 sinsr_autoencoder=str(CASE_A / "autoencoder_ckpt.pth"), sinsr_config=str(CASE_A / "config.json"))
    for k, v in changes.items():
        setattr(s, k, v)
    return s


@pytest.fixture(scope="module")
def shared_cache() -> ModelCache:
    """One loaded case_a model for the whole module: loading is not what these tests are about."""
    return ModelCache()


@pytest.fixture(autouse=True)
def restore_application_look(qapp):
    """app.run() installs the app's style sheet on the shared QApplication; other test files expect none."""
    sheet = qapp.styleSheet()
    yield
    qapp.setStyleSheet(sheet)


@pytest.fixture(autouse=True)
def answers(monkeypatch):
    """Answer the app's questions without modal dialogs; record errors shown to the user (and, through
    make_window, every status-bar message)."""
    shown: dict[str, list] = {"errors": [], "asked": [], "chosen": [], "status": []}
    monkeypatch.setattr(dialogs, "ask", lambda parent, title, text, **kw: shown["asked"].append(title) or True)
    monkeypatch.setattr(dialogs, "ask_save_discard", lambda *a, **kw: "discard")
    monkeypatch.setattr(dialogs, "choose", lambda parent, title, text, options: shown["chosen"].append(title)
                        or options[0][0])
    monkeypatch.setattr(dialogs, "show_error", lambda parent, message, title="": shown["errors"].append(message))
    monkeypatch.setattr(dialogs, "open_folder", lambda folder: True)
    return shown


@pytest.fixture
def wait(qtbot, answers):
    """``wait(condition, what)``: wait for ``condition()``; on a timeout, fail with what the window told the
    user meanwhile (error dialogs and status-bar messages), which is what explains a stuck run."""

    def wait(condition, what: str, timeout: int = RUN_TIMEOUT_MS) -> None:
        try:
            qtbot.waitUntil(lambda: bool(condition()), timeout=timeout)
        except TimeoutError:
            status = [m for m in answers["status"] if m]
            pytest.fail(f"timed out after {timeout} ms waiting for {what}; errors shown: {answers['errors']}; "
                        f"status-bar messages: {status}")

    return wait


@pytest.fixture
def trigger(wait):
    """Trigger an action the way a user can: once it is enabled."""

    def trigger(action) -> None:
        wait(action.isEnabled, f"{action.text().replace('&', '')!r} to be enabled")
        action.trigger()

    return trigger


@pytest.fixture
def make_window(qtbot, shared_cache, answers):
    windows: list[MainWindow] = []

    def make(settings: Settings | None = None, **kwargs) -> MainWindow:
        kwargs.setdefault("cache", shared_cache)
        kwargs.setdefault("persist", False)
        window = MainWindow(settings if settings is not None else case_a_settings(), **kwargs)
        window.statusBar().messageChanged.connect(answers["status"].append)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:  # never leave a QThread running past a test
        assert window.shutdown(RUN_TIMEOUT_MS)
    too_long = [m for m in answers["status"] if len(m) > STATUS_LIMIT]
    assert not too_long, f"status-bar messages too long to show in full: {too_long}"


def photo(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """A small photo-like PNG: smooth gradients, an edge and some texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width, y / height, 0.5 + 0.4 * np.sin(x / 3.0) * np.cos(y / 4.0)], axis=-1)
    rgb[(x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 4) ** 2] = (0.9, 0.8, 0.2)
    rgb += rng.normal(0, 0.02, rgb.shape)
    Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


def drop(target: QWidget, files: list[Path]) -> None:
    """What a drag from the file manager delivers to the widget under the mouse: file URLs in the mime data,
    an enter then a drop (Qt passes them up to the nearest parent that accepts drops)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in files])
    centre = target.rect().center()
    drag = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    try:  # Qt 6.12 takes a QPointF and deprecates the QPoint form, the only one up to 6.11
        enter = QDragEnterEvent(QPointF(centre), *drag)
    except TypeError:
        enter = QDragEnterEvent(centre, *drag)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(centre), *drag)
    QApplication.sendEvent(target, event)
    assert event.isAccepted()


def job_named(window: MainWindow, name: str):
    return next(j for j in window.queue if j.path.name == name)


def idle(window: MainWindow) -> bool:
    return not window.is_busy()


# ------------------------------------------------------------------------------------------ the main flow
def test_drop_preview_upscale_save(qtbot, make_window, tmp_path, monkeypatch, wait, trigger):
    src = photo(tmp_path / "photo.png", 56, 40)
    original = src.read_bytes()
    from sinsr_gui.engine import photo as engine_photo

    decoded: list[Path] = []
    real_read = engine_photo.read_photo
    monkeypatch.setattr(engine_photo, "read_photo", lambda path, **kw: decoded.append(Path(path)) or real_read(path, **kw))
    window = make_window()
    drop(window.compare_view.views()[0].viewport(), [src])  # onto the (empty) photo area
    job = job_named(window, "photo.png")
    assert window.windowTitle().startswith("SinSR Upscaler — photo.png")
    wait(lambda: window.display.current is not None, "the photo to be shown in the compare view")
    assert (window.compare_view.output_size().width(), window.compare_view.output_size().height()) == (224, 160)
    wait(lambda: job.size == (56, 40), "the thumbnail")

    # Preview the region in view: the patch lands in place via set_after_region.
    patches = []
    real = window.compare_view.set_after_region
    monkeypatch.setattr(window.compare_view, "set_after_region",
                        lambda patch, rect: (patches.append((patch.copy(), rect)), real(patch, rect)))
    trigger(window.commands.preview)
    wait(lambda: bool(patches) and not window.previewer.busy, "the preview")
    patch, rect = patches[0]
    assert (rect.x(), rect.y(), rect.width(), rect.height()) == (0, 0, 224, 160)  # the whole photo is in view
    assert (patch.width(), patch.height()) == (224, 160)
    assert not window.compare_view.has_after()  # a preview is not a result

    trigger(window.commands.upscale)
    wait(lambda: job.state == "done", "the upscale")
    assert window.compare_view.has_after()
    assert window.queue_panel.state(job.id) == "done"
    # The preview ran the same tiles with the same noise, so it showed exactly the final pixels.
    result = (np.clip(job.result.rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(qimage_array(patch), result)
    assert window.isWindowModified()  # an unsaved result: closing would ask
    # The run was measured, so the next one gets a time estimate.
    assert window.settings.seconds_per_megapixel("sinsr", "cpu") is not None
    assert window.model_status.estimate_seconds([job.size]) is not None
    # Read once: the thumbnail, the compare view, the preview and the run all used one decode.
    assert decoded.count(src) == 1, decoded

    trigger(window.commands.save)
    wait(lambda: job.saved_path is not None, "the save")
    saved = job.saved_path
    assert saved == tmp_path / "photo_x4.png" and saved.is_file()
    with Image.open(saved) as img:
        assert img.size == (224, 160)
    assert src.read_bytes() == original  # the input is untouched
    assert not window.isWindowModified()


def test_save_is_enabled_the_moment_a_result_arrives(qtbot, make_window, tmp_path, monkeypatch, wait, trigger):
    """Regression (a flaky run of the test above): the worker's ``finished`` reaches the GUI thread after
    ``succeeded``, so on a loaded machine a user (or a test) sees the photo done while ``finished`` is still
    queued. Save must work from that moment: here ``finished`` of the upscale is held back entirely."""
    held: list[WorkerSlot] = []
    real_finished = WorkerSlot._on_finished

    def hold_back(slot: WorkerSlot) -> None:
        if slot.name == "upscale":
            held.append(slot)
        else:
            real_finished(slot)

    monkeypatch.setattr(WorkerSlot, "_on_finished", hold_back)
    src = photo(tmp_path / "quick.png", 24, 20, seed=5)
    window = make_window()
    window.add_paths([src])
    job = job_named(window, "quick.png")
    trigger(window.commands.upscale)
    wait(lambda: job.state == "done", "the upscale")
    assert window.runner.slot.busy  # the worker's "finished" has not been processed
    assert window.commands.save.isEnabled(), "Save stays disabled until the worker's finished signal arrives"
    trigger(window.commands.save)
    wait(lambda: job.saved_path is not None, "the save")
    wait(lambda: bool(held), "the held-back finished signal")
    for slot in held:
        real_finished(slot)
    wait(lambda: idle(window), "the window to be idle")


def test_two_results_of_one_photo_compared_with_the_same_slider(qtbot, make_window, tmp_path, wait, trigger):
    """Upscale, change the seed, upscale again: the first result is kept and the two are compared (A/B) with
    labels saying which is which; "Keep the previous result" makes the first one the photo's result again."""
    src = photo(tmp_path / "ab.png", 24, 20, seed=6)
    window = make_window(case_a_settings(seed=1))
    window.add_paths([src])
    job = job_named(window, "ab.png")
    wait(lambda: window.display.current is not None, "the photo to be shown")
    assert window.compare_view.labels()[0] == "Before (bicubic ×4)"  # fair at every zoom, and it says so
    assert not window.commands.compare_previous.isEnabled()  # nothing to compare with yet
    trigger(window.commands.upscale)
    wait(lambda: job.state == "done", "the first upscale")
    first = job.result
    assert window.compare_view.labels() == ("Before (bicubic ×4)", "SinSR v1, seed 1")

    window.preferences.update({"seed": 2})
    trigger(window.commands.retry)
    wait(lambda: job.state == "done" and job.result is not first, "the second upscale")
    assert job.previous is first and not np.array_equal(job.result.rgb, first.rgb)
    wait(lambda: window.commands.compare_previous.isEnabled(), "A/B to be offered")
    window.commands.compare_previous.trigger()  # a checkable action: now checked
    assert window.commands.compare_previous.isChecked()
    assert window.compare_view.labels() == ("A: SinSR v1, seed 1", "B: SinSR v1, seed 2")
    assert window.compare_view.output_size().width() == 96  # both results on the same grid

    trigger(window.commands.swap_results)
    wait(lambda: job.result is first and job.previous is not None, "the swap")
    trigger(window.commands.save)
    wait(lambda: job.saved_path is not None, "the save")
    with Image.open(job.saved_path) as img:  # the kept (first) result is what was saved
        assert np.array_equal(np.asarray(img), (np.clip(first.rgb, 0, 1) * 255 + 0.5).astype(np.uint8))


def test_before_can_show_the_original_pixels(qtbot, make_window, tmp_path, wait):
    src = photo(tmp_path / "raw.png", 24, 20, seed=7)
    window = make_window()
    window.add_paths([src])
    wait(lambda: window.display.current is not None, "the photo to be shown")
    window.commands.before_original.trigger()
    wait(lambda: window.display.current is not None and window.compare_view.labels()[0].startswith(
        "Before (original"), "the original pixels")
    assert window.settings.before_view == "original"
    assert window.display.current.before.width() == 24  # the photo's own pixels, stretched by the view
    assert window.compare_view.output_size().width() == 96


def test_unreadable_file_fails_at_once_and_others_run(qtbot, make_window, tmp_path, answers, wait, trigger):
    good = photo(tmp_path / "good.png", 40, 40, seed=1)
    gone = photo(tmp_path / "gone.png", 40, 40, seed=6)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing an image would have")
    window = make_window(case_a_settings(auto_save="batch"))
    drop(window, [good, gone, bad])
    good_job, gone_job, bad_job = (job_named(window, n) for n in ("good.png", "gone.png", "broken.png"))
    # Unreadable: shown as failed as soon as its thumbnail could not be read, not "Waiting" until the run.
    wait(lambda: bad_job.state == "failed", "the unreadable file to show as failed")
    assert window.queue_panel.state(bad_job.id) == "failed"
    tip = window.queue_panel.tooltip(bad_job.id)
    assert 'Cannot read "broken.png"' in tip and "damaged" in tip  # the reader's one clear sentence
    assert "Unreadable" in tip
    wait(lambda: gone_job.size is not None, "the thumbnail of gone.png")
    gone.unlink()  # read for its thumbnail, then moved away: it fails when its turn comes
    assert good_job.state == gone_job.state == "waiting"

    trigger(window.commands.upscale)
    wait(lambda: idle(window) and good_job.state == "done" and gone_job.state == "failed", "the run")
    assert bad_job.state == "failed"
    assert not answers["errors"]  # a bad file is not a modal error: the queue goes on
    # Several photos in one run: each result is saved as soon as it is ready...
    assert good_job.saved_path == tmp_path / "good_x4.png" and good_job.saved_path.is_file()
    assert good_job.result.rgb is None  # ...and released from memory
    assert "gone.png" in window.queue_panel.tooltip(gone_job.id)
    assert not window.isWindowModified()


def test_a_photo_s_size_reaches_its_row_through_the_queue(qtbot, make_window, tmp_path, wait):
    """The thumbnail and the view both decode the photo; its size is set once, by the queue, and its row
    follows the queue's one change event (the window never writes a job itself)."""
    window = make_window()
    events: list[QueueEvent] = []
    window.queue.subscribe(events.append)
    drop(window, [photo(tmp_path / "sized.png", 30, 20)])
    job = job_named(window, "sized.png")
    wait(lambda: job.size == (30, 20) and window.display.current is not None and not window.thumbnails.slot.busy,
         "the thumbnail and the photo shown")
    assert [e for e in events if job.id in e.ids] == [QueueEvent("added", (job.id,)), QueueEvent("job", (job.id,))]
    row = window.queue_panel.list.item(window.queue_panel.item_ids().index(job.id))
    assert "30 × 20" in row.text()


def test_cancel_mid_run_then_retry_then_close_with_unsaved_work(qtbot, make_window, tmp_path, monkeypatch, wait,
                                                                trigger):
    src = photo(tmp_path / "wide.png", 150, 64, seed=2)  # with 64 px tiles: 3 (a cancel lands before the last)
    window = make_window(case_a_settings(tile=64, overlap=16))
    window.add_paths([src])
    job = job_named(window, "wide.png")
    seen: list[tuple[int, int]] = []
    window.runner.progressChanged.connect(lambda _text, d, t: t and seen.append((d, t)))
    trigger(window.commands.upscale)
    wait(lambda: window.runner.tiles[1] > 0, "the first tile to start")
    trigger(window.commands.cancel)  # Esc
    wait(lambda: idle(window), "the run to stop")
    assert job.state == "cancelled"
    assert window.queue_panel.state(job.id) == "cancelled"
    assert seen and max(d for d, _ in seen) < seen[-1][1]  # stopped before the last tile
    assert not window.status.progress_visible

    # The queue still works: retry runs the photo to the end.
    window.queue_panel.set_current(job.id)
    trigger(window.commands.retry)
    wait(lambda: job.state == "done", "the retried upscale")
    assert job.result is not None and job.result.rgb.shape == (256, 600, 3)

    # Closing with an unsaved result asks first: "Cancel" keeps the window, "Save all" saves, then closes.
    choices = iter(["cancel", "save"])
    monkeypatch.setattr(dialogs, "ask_save_discard", lambda *a, **kw: next(choices))
    window.close()
    assert window.isVisible() and job.saved_path is None
    window.close()
    wait(lambda: not window.isVisible(), "the window to close after saving")
    assert job.saved_path == tmp_path / "wide_x4.png" and job.saved_path.is_file()


def test_save_as_after_a_batch_saved_a_jpeg_offers_to_upscale_again(qtbot, make_window, tmp_path, answers, wait,
                                                                    trigger):
    files = [photo(tmp_path / f"j{i}.png", 16, 16, seed=i) for i in range(2)]
    window = make_window(case_a_settings(auto_save="batch", fmt="JPEG"))
    window.add_paths(files)
    first = job_named(window, "j0.png")
    trigger(window.commands.upscale)
    wait(lambda: idle(window) and all(j.state == "done" for j in window.queue), "the batch")
    assert first.saved_path == tmp_path / "j0_x4.jpg" and not first.in_memory
    window.queue_panel.set_current(first.id)
    trigger(window.commands.save_as)  # not re-encoded from the JPEG: the app offers to upscale it again
    assert answers["asked"] == ["Cannot save this result again"]
    wait(lambda: idle(window) and first.state == "done", "the photo to be upscaled again")
    assert first.in_memory and first.saved_path is None  # a single photo: kept for "Save as"


def test_about_and_log_folder(qtbot, make_window, monkeypatch, trigger):
    from sinsr_gui.engine.models import descriptor_for

    shown = []
    monkeypatch.setattr(dialogs.AboutDialog, "exec", lambda self: shown.append(self.findChild(QTextBrowser)
                                                                               .toPlainText()) or 0)
    window = make_window()
    trigger(window.commands.about)
    d = descriptor_for("sinsr")
    assert d.display_name in shown[0] and d.licence.split(",")[0] in shown[0] and "PyTorch" in shown[0]
    # The built-in Real-ESRGAN's BSD notice, whole: its licence asks binary copies to carry it.
    assert "Copyright (c) 2021, Xintao Wang" in shown[0] and "Redistributions in binary form" in shown[0]
    opened = []
    monkeypatch.setattr(dialogs, "open_folder", opened.append)
    trigger(window.commands.log)
    assert opened and opened[0].name == "log"


def test_closing_during_a_run_asks_cancels_and_waits(qtbot, make_window, tmp_path, answers, wait, trigger):
    src = photo(tmp_path / "long.png", 150, 64, seed=3)  # 3 tiles
    window = make_window(case_a_settings(tile=64, overlap=16))
    window.add_paths([src])
    trigger(window.commands.upscale)
    wait(lambda: window.runner.tiles[1] > 0, "the first tile to start")
    threads = [t for slot in window.slots for t in slot.threads]
    window.close()
    assert "Stop upscaling?" in answers["asked"]
    assert window.isVisible()  # not yet: its worker is still finishing the current tile
    wait(lambda: not window.isVisible(), "the window to close")
    assert all(t.isFinished() for t in threads)  # no QThread is destroyed while running
    assert job_named(window, "long.png").state == "cancelled"


# --------------------------------------------------------------------------------------------- the worker
class Recorder(QObject):
    """Receives a worker's signals in the GUI thread (queued), in the order they arrive."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.events: list[tuple] = []
        worker.started.connect(self.on_started)
        worker.progress.connect(self.on_progress)
        worker.yielded.connect(self.on_yielded)
        worker.succeeded.connect(self.on_succeeded)
        worker.failed.connect(self.on_failed)
        worker.finished.connect(self.on_finished)

    @Slot()
    def on_started(self) -> None:
        self.events.append(("started",))

    @Slot(int, int)
    def on_progress(self, done: int, total: int) -> None:
        self.events.append(("progress", done, total))

    @Slot(object)
    def on_yielded(self, value: object) -> None:
        self.events.append(("yielded", value))

    @Slot(object)
    def on_succeeded(self, result: object) -> None:
        self.events.append(("succeeded", result))

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self.events.append(("failed", message))

    @Slot()
    def on_finished(self) -> None:
        self.events.append(("finished",))


def _run(qtbot, worker: Worker, expected_signals: list) -> Recorder:
    recorder = Recorder(worker)
    with qtbot.waitSignals(expected_signals, order="strict", timeout=RUN_TIMEOUT_MS):
        thread = start_in_thread(worker)
    assert thread.wait(RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: recorder.events and recorder.events[-1] == ("finished",))
    return recorder


def test_worker_signal_order_on_success(qtbot):
    def task(control):
        for done in range(3):
            yield Progress(done, 2)
        yield (1, 2)  # not progress: only engine.photo.Progress is (no tuple sniffing)
        return "the result"

    worker = Worker(task)
    rec = _run(qtbot, worker, [worker.started, worker.progress, worker.progress, worker.progress,
                               worker.yielded, worker.succeeded, worker.finished])
    assert rec.events == [("started",), ("progress", 0, 2), ("progress", 1, 2), ("progress", 2, 2),
                          ("yielded", (1, 2)), ("succeeded", "the result"), ("finished",)]


def test_worker_signal_order_on_failure(qtbot, caplog):
    def task(control):
        yield Progress(0, 1)
        raise ImageReadError('Cannot read "x.png": the file is empty (0 bytes); copy or download it again.')

    worker = Worker(task)
    rec = _run(qtbot, worker, [worker.started, worker.progress, worker.failed, worker.finished])
    assert rec.events[-2:] == [("failed", 'Cannot read "x.png": the file is empty (0 bytes); copy or download '
                                          "it again."), ("finished",)]
    assert isinstance(worker.error, ImageReadError)

    def buggy(control):
        raise ZeroDivisionError("a bug")

    worker = Worker(buggy)
    with caplog.at_level(logging.INFO):
        rec = _run(qtbot, worker, [worker.started, worker.failed, worker.finished])
    message = rec.events[1][1]
    assert "ZeroDivisionError" in message and "Show log folder" in message  # no traceback in the message
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)  # it is in the log


def test_gui_stays_responsive_while_the_model_runs(qtbot, tmp_path, shared_cache):
    src = photo(tmp_path / "busy.png", 224, 224, seed=4)  # several tiles: long enough to sample the GUI thread
    options = case_a_settings().to_options()
    shared_cache.get(options.model)  # load first: the tiles are the long part
    worker = Worker(functools.partial(run_task, models=shared_cache, photos=PhotoCache(), job_id=1, path=src,
                                      options=options, save_to=None, protected=(), release=False))
    ticks: list[float] = []
    timer = QTimer(interval=20)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    # A busy machine makes the run slow and the scheduler late, so neither is bounded in absolute time: the
    # test asks that the GUI thread kept ticking through the run, never silent for a large part of it (a model
    # on the GUI thread, or one holding the GIL, leaves it silent for a whole tile or the whole run).
    started = time.perf_counter()
    with qtbot.waitSignal(worker.succeeded, timeout=10 * RUN_TIMEOUT_MS):
        thread = start_in_thread(worker)
    run_s = time.perf_counter() - started
    timer.stop()
    assert thread.wait(10 * RUN_TIMEOUT_MS)
    gaps = np.diff(ticks)
    assert len(gaps) >= 10, f"the GUI thread ticked {len(ticks)} times in a {run_s:.1f} s run"
    assert gaps.max() < min(2.0, 0.25 * run_s), (
        f"the GUI thread was silent for {gaps.max() * 1000:.0f} ms of a {run_s:.1f} s run")


# ------------------------------------------------------------------------------------- models and weights
def test_model_cache_released_when_model_or_device_changes(qtbot, make_window):
    cache = ModelCache()
    window = make_window(case_a_settings(), cache=cache)

    def request():
        return window.settings.to_options().model

    cache.get(request())
    assert cache.loaded == request()
    panel = window.settings_panel
    panel.precision_combo.setCurrentIndex(panel.precision_combo.findData("auto"))  # a user edit
    assert window.settings.precision == "auto"
    assert cache.loaded is None  # released at once, not at the next run

    cache.get(request())
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("auto"))
    assert cache.loaded is None
    cache.get(request())
    panel.seed_spin.setValue(4321)  # not a model setting: the model stays loaded
    assert cache.loaded == request()


def test_first_run_panel_and_model_picker(qtbot, make_window):
    from sinsr_gui.engine.devices import resolve_device
    from sinsr_gui.engine.models import descriptor_for

    window = make_window(Settings())  # nothing installed, nothing configured
    assert window.banner.kind == "first_run" and not window.first_run_dock.isVisible()  # offered in one line
    # Without a GPU (CI), the offer says what SinSR would cost on this processor before the download.
    note = window.model_status.sinsr_speed_note()
    no_gpu = resolve_device("auto").type == "cpu"
    assert bool(note) == no_gpu and ("without a graphics card it takes" in window.banner.text()) == no_gpu
    window.banner.buttons()["Get SinSR…"].click()
    assert window.first_run_dock.isVisible()
    panel = window.first_run_panel
    assert panel.speed_note.text() == note and panel.speed_note.isVisible() == bool(note)
    assert not panel.download_button.isEnabled()  # no download without explicit consent
    panel.consent_check.setChecked(True)
    assert panel.download_button.isEnabled()
    # The built-in models, by their descriptors' names, with which to pick when in one line.
    for kind in ("photo", "faithful", "detail"):
        d = descriptor_for(kind)
        button = panel.builtin_buttons[kind]
        assert d.display_name in button.text() and d.summary in button.toolTip() and button.isEnabled()
    hint = [w.text() for w in panel.findChildren(QLabel) if "Faithful" in w.text() and "Photo" in w.text()]
    assert len(hint) == 1 and "\n" not in hint[0] and "screenshots" in hint[0] and "Most detail" in hint[0]
    # The picker: Automatic, SinSR, Photo and Faithful, installed or not, each described in its tooltip.
    combo = window.settings_panel.model_combo
    for kind in ("sinsr", "photo", "faithful", "detail"):
        d, i = descriptor_for(kind), combo.findData(kind)
        assert i >= 0 and d.display_name in combo.itemText(i)
        assert combo.itemData(i, Qt.ItemDataRole.ToolTipRole) == d.summary
    assert "not installed" in combo.itemText(combo.findData("sinsr"))
    assert "· installed" in combo.itemText(combo.findData("photo"))
    assert "Photo" in combo.itemText(combo.findData("auto"))  # what Automatic means now

    panel.builtin_buttons["faithful"].click()
    assert window.settings.model == "faithful" and window.settings.first_run_done
    assert not window.first_run_dock.isVisible()
    assert combo.currentData() == "faithful"

    configured = make_window(case_a_settings())
    assert not configured.first_run_dock.isVisible()


def test_first_run_offers_most_detail_beside_photo_on_a_processor(qtbot, make_window):
    """On a CPU "auto" runs Photo (fast); the first-run line names the crisper built-in and switches to it."""
    from sinsr_gui.engine.devices import resolve_device

    window = make_window(Settings(device="cpu"))
    assert resolve_device(window.settings.device).type == "cpu"
    text = window.banner.text()
    assert text.startswith("You are using Photo (built-in)") and "Most detail (built-in), which is crisper" in text
    window.banner.buttons()["Use Most detail"].click()
    assert window.settings.model == "detail" and window.settings_panel.model_combo.currentData() == "detail"
    assert not window.banner.isVisible() and window.status.model_label.text().startswith("Most detail")


def test_after_a_photo_result_most_detail_is_offered_once_and_compared(qtbot, make_window, tmp_path, wait,
                                                                         trigger):
    """On a processor Automatic runs Photo, the fast one. After its first result on a photo small enough for
    Most detail to take at most about a minute, one line offers Most detail; "Try Most detail" upscales the same
    photo again with it and keeps the Photo result to compare (A/B). The offer is made once."""
    from sinsr_gui.qt.model_status import DETAIL_OFFER_MAX_S

    src = photo(tmp_path / "small.png", 40, 30, seed=3)
    window = make_window(Settings(device="cpu", first_run_done=True))  # Automatic, no SinSR
    window.add_paths([src])
    job = job_named(window, "small.png")
    wait(lambda: window.display.current is not None, "the photo to be shown")
    assert not window.banner.isVisible()
    trigger(window.commands.upscale)
    wait(lambda: job.state == "done", "the Photo upscale")
    first = job.result
    assert first.model.kind == "photo"
    wait(lambda: window.banner.kind == "detail_offer", "the Most detail offer")
    text = window.banner.text()
    assert text.startswith("For a crisper small.png, Most detail (built-in) would take about ") and \
        "the result you have now stays" in text
    assert window.settings.detail_offer_done and DETAIL_OFFER_MAX_S == 60.0
    window.banner.buttons()["Try Most detail"].click()
    assert window.settings.model == "detail" and not window.banner.isVisible()
    wait(lambda: job.state == "done" and job.result is not first, "the Most detail upscale")
    assert job.result.model.kind == "detail" and job.previous is first
    wait(lambda: window.commands.compare_previous.isEnabled(), "A/B to be offered")
    window.commands.compare_previous.trigger()
    assert window.compare_view.labels()[0].startswith("A: Photo") and \
        window.compare_view.labels()[1].startswith("B: Most detail")
    wait(lambda: idle(window), "the window to be idle")

    # Shown once: a later Photo result in Automatic offers nothing.
    window.preferences.update({"model": "auto"})
    trigger(window.commands.retry)
    wait(lambda: job.state == "done" and job.result.model.kind == "photo", "Photo again")
    wait(lambda: idle(window), "the window to be idle")
    assert window.banner.kind != "detail_offer"


def test_no_most_detail_offer_for_a_large_photo_or_a_chosen_model(qtbot, make_window):
    """The offer's rule (ModelStatus.detail_offer): Automatic, Photo on the processor, not shown before, and Most
    detail's estimate for this photo at most a minute."""
    status = make_window(Settings(device="cpu", first_run_done=True)).model_status
    assert status.detail_offer("a.png", (200, 150), "photo", "cpu")  # 0.03 MP: seconds
    assert not status.detail_offer("big.jpg", (4000, 3000), "photo", "cpu")  # 12 MP: about 20 min
    assert not status.detail_offer("a.png", (200, 150), "faithful", "cpu")
    assert not status.detail_offer("a.png", (200, 150), "photo", "cuda:0")
    status.settings.model = "photo"  # chosen on purpose
    assert not status.detail_offer("a.png", (200, 150), "photo", "cpu")
    status.settings.model, status.settings.detail_offer_done = "auto", True
    assert not status.detail_offer("a.png", (200, 150), "photo", "cpu")


def test_a_settings_file_from_before_keeps_working(qtbot, make_window):
    """Earlier versions stored the built-in model as "compact": it is the Faithful model now."""
    window = make_window(Settings.from_dict({"model": "compact", "device": "cpu", "first_run_done": True}))
    assert window.settings.model == "faithful"
    assert window.settings_panel.model_combo.currentData() == "faithful"
    assert window.status.model_label.text().startswith("Faithful")


def test_first_run_download_resumes_and_installs(qtbot, make_window, tmp_path, monkeypatch, isolated_home, wait):
    isolate(monkeypatch, isolated_home)
    unet, vq = UNET_FIXTURE.read_bytes(), AUTOENCODER_FIXTURE.read_bytes()
    with FileServer() as server:
        registry = make_registry(server.base_url)
        server.serve("/" + registry.get("sinsr_v1").filename, unet, drop_after=len(unet) // 3)  # breaks once
        server.serve("/" + registry.get("vq_f4").filename, vq)
        window = make_window(Settings(), registry=registry)
        panel = window.first_run_panel
        window.banner.buttons()["Get SinSR…"].click()
        assert window.first_run_dock.isVisible()
        panel.consent_check.setChecked(True)
        panel.download_button.click()
        wait(lambda: not window.weights.busy, "the first download attempt")
        # The connection dropped: the partial file is kept and the panel offers to resume.
        assert panel.download_button.text() == "Resume download"
        assert window.first_run_dock.isVisible() and not window.weights.sinsr_available()
        assert "sinsr-upscale" not in panel.message_label.text()  # the app's words, not the terminal's

        wait(panel.download_button.isEnabled, "Resume download to be enabled")
        panel.download_button.click()
        wait(lambda: not window.weights.busy, "the resumed download")
        resumed = [r for r in server.requests if r.path.endswith(registry.get("sinsr_v1").filename)][-1]
        assert resumed.range == f"bytes={len(unet) // 3}-"  # continued where it stopped
        assert window.weights.sinsr_available()
        assert "ready" in panel.message_label.text()
        assert "· installed" in window.settings_panel.model_combo.itemText(
            window.settings_panel.model_combo.findData("sinsr"))
        assert "progress" not in panel.progress_label.text()
        assert "MB" in panel.progress_label.text() or "KB" in panel.progress_label.text()  # bytes were shown
        wait(lambda: not window.first_run_dock.isVisible(), "the first-run panel to hide", timeout=10_000)


def test_app_phrases_name_real_menus_and_settings(qtbot, make_window):
    """Every "Menu > Item" and "Settings > Row" the app's remedies name exists in the window."""
    window = make_window()
    places = {menu.title().replace("&", ""): [a.text().replace("&", "") for a in menu.actions()]
              for menu in (action.menu() for action in window.menuBar().actions()) if menu is not None}
    places["Settings"] = [w.text() for w in window.settings_panel.findChildren(QLabel) if w.text()]
    texts = [fn("cpu") for fn in messages.PHRASES.values()] + [fn("cuda") for fn in messages.PHRASES.values()]
    named = [(m.group(1), text[m.end():]) for text in texts for m in re.finditer(r"\b(\w+) > ", text)]
    assert named, "the phrases name no menus at all"
    for place, rest in named:
        assert place in places, f"no {place!r} menu or panel"
        assert any(rest.startswith(item) for item in places[place]), f"{place} has nothing called {rest!r}"


# ------------------------------------------------------------------------------------------------ the rest
def test_queue_reorder_remove_and_paste(qtbot, make_window, tmp_path, isolated_home, wait, trigger):
    files = [photo(tmp_path / f"p{i}.png", 20, 16, seed=i) for i in range(3)]
    window = make_window()
    assert window.add_paths([tmp_path]) == 3  # a folder: its images, in natural order
    assert window.add_paths([files[0]]) == 0  # already queued
    ids = window.queue_panel.item_ids()
    assert [window.queue.get(i).path.name for i in ids] == ["p0.png", "p1.png", "p2.png"]
    wait(lambda: all(j.size == (20, 16) for j in window.queue), "thumbnails and sizes")
    window.queue_panel.list.setCurrentRow(0)
    window.queue_panel.move_selected(1)
    assert [window.queue.get(i).path.name for i in window.queue_panel.item_ids()] == ["p1.png", "p0.png", "p2.png"]
    assert [j.path.name for j in window.queue] == ["p1.png", "p0.png", "p2.png"]  # runs in this order
    window.queue_panel.set_current(ids[2])
    window.remove_selected()
    assert sorted(j.path.name for j in window.queue) == ["p0.png", "p1.png"]

    image = QImage(12, 10, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkCyan)
    QApplication.clipboard().setImage(image)
    trigger(window.commands.paste)
    pasted = [j for j in window.queue if j.pasted]
    assert len(pasted) == 1 and pasted[0].path.suffix == ".png"
    assert pasted[0].path.is_relative_to(isolated_home)  # kept in the app's cache folder, not next to anything
    with Image.open(pasted[0].path) as img:
        assert img.size == (12, 10)


def test_every_main_action_has_a_listed_shortcut(qtbot, make_window):
    window = make_window()
    c = window.commands
    actions = [c.open, c.paste, c.upscale, c.preview, c.preview_region, c.cancel, c.save, c.save_as, c.save_all,
               c.retry, c.remove, c.split, c.side, c.zoom_in, c.zoom_out, c.zoom_fit, c.zoom_actual, c.shortcuts,
               c.quit]
    assert all(a.shortcuts() for a in actions), [a.text() for a in actions if not a.shortcuts()]
    dialog = dialogs.ShortcutsDialog(c.shortcut_actions, parent=window)
    listed = {dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}
    assert {a.text().replace("&", "") for a in actions} <= listed
    keys = [k.toString() for a in c.shortcut_actions for k in a.shortcuts()]
    assert len(keys) == len(set(keys)), "two actions share a shortcut"


def test_settings_saved_on_change_and_close(qtbot, make_window, wait):
    from sinsr_gui.settings import load_settings

    window = make_window(case_a_settings(), persist=True)
    window.settings_panel.scale_combo.setCurrentIndex(window.settings_panel.scale_combo.findData(2))
    wait(lambda: load_settings().scale == 2, "the settings file to be written")  # shortly after the change
    window.close()
    stored = load_settings()
    assert stored.window_geometry and stored.window_state  # layout remembered for next time
    assert stored.sinsr_unet == window.settings.sinsr_unet


def test_crash_handler_writes_a_report(qtbot, monkeypatch, isolated_home):
    shown = []
    monkeypatch.setattr(dialogs.QMessageBox, "exec", lambda self: shown.append(self.text()) or 0)
    handler = dialogs.CrashHandler()
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        handler._excepthook(type(exc), exc, exc.__traceback__)
    reports = list((isolated_home / "log").glob("crash-*.txt"))
    assert len(reports) == 1 and "RuntimeError: boom" in reports[0].read_text()
    qtbot.waitUntil(lambda: bool(shown))  # the dialog is shown on the GUI thread
    assert str(reports[0]) in shown[0]


def test_files_can_be_dropped_anywhere(qtbot, make_window, tmp_path):
    window = make_window()
    targets = [window.queue_panel.list.viewport(), window.settings_panel.seed_spin, window.statusBar()]
    for i, target in enumerate(targets):
        drop(target, [photo(tmp_path / f"d{i}.png", 8, 8)])
        assert len(window.queue) == i + 1, type(target).__name__


def test_run_entry_point_opens_paths_and_exits_cleanly(qtbot, tmp_path, isolated_home):
    """``sinsr-gui PATH`` (sinsr_gui.qt.app.run): the path is queued, the log file is set up, exit code 0."""
    import sys

    from sinsr_gui.qt import app as app_module

    src = photo(tmp_path / "cli.png", 16, 16)
    seen: dict[str, object] = {}

    def close_soon() -> None:
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        seen["queued"] = [j.path for j in window.queue]
        seen["icon"] = not window.windowIcon().isNull()
        window.close()

    QTimer.singleShot(300, close_soon)
    hook = sys.excepthook
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        assert app_module.run([str(src)]) == 0
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
    assert seen == {"queued": [src], "icon": True}
    assert (isolated_home / "log" / app_module.LOG_FILE).is_file()
    assert sys.excepthook is hook  # the crash handler is removed again
