"""The desktop app end to end, with the tiny case_a SinSR model: drop -> preview -> upscale -> save, cancel and
retry, errors, worker signal order, responsiveness, the first-run download, model release, closing safely.

Runs offscreen. Model runs are kept few and small (one 64x64 latent tile costs about 1 s on an idle core).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import functools  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QMimeData, QObject, QPointF, Qt, QTimer, QUrl, Slot  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from sinsr_gui.engine.imageio import ImageReadError  # noqa: E402
from sinsr_gui.engine.models import ModelCache  # noqa: E402
from sinsr_gui.qt import dialogs  # noqa: E402
from sinsr_gui.qt.main_window import MainWindow, model_request_for  # noqa: E402
from sinsr_gui.qt.worker import Worker, start_in_thread, upscale_task  # noqa: E402
from sinsr_gui.settings import Settings  # noqa: E402
from tests.http_server import AUTOENCODER_FIXTURE, UNET_FIXTURE, FileServer, isolate, make_registry  # noqa: E402

CASE_A = Path(__file__).parent / "fixtures" / "case_a"
RUN_TIMEOUT_MS = 120_000  # generous: the CI machine is shared with a training job


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
    """Answer the app's questions without modal dialogs; record errors shown to the user."""
    shown: dict[str, list] = {"errors": [], "asked": []}
    monkeypatch.setattr(dialogs, "ask", lambda parent, title, text, **kw: shown["asked"].append(title) or True)
    monkeypatch.setattr(dialogs, "ask_save_discard", lambda *a, **kw: "discard")
    monkeypatch.setattr(dialogs, "show_error", lambda parent, message, title="": shown["errors"].append(message))
    monkeypatch.setattr(dialogs, "open_folder", lambda folder: True)
    return shown


@pytest.fixture
def make_window(qtbot, shared_cache):
    windows: list[MainWindow] = []

    def make(settings: Settings | None = None, **kwargs) -> MainWindow:
        kwargs.setdefault("cache", shared_cache)
        kwargs.setdefault("persist", False)
        window = MainWindow(settings if settings is not None else case_a_settings(), **kwargs)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:  # never leave a QThread running past a test
        assert window.shutdown(RUN_TIMEOUT_MS)


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
    pos = QPointF(target.rect().center())
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, event)
    assert event.isAccepted()


def job_named(window: MainWindow, name: str):
    return next(j for j in window.jobs.values() if j.path.name == name)


def wait_idle(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.active_workers() and window._job_worker is None, timeout=RUN_TIMEOUT_MS)


def qimage_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    buf = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return buf[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


# ------------------------------------------------------------------------------------------ the main flow
def test_drop_preview_upscale_save(qtbot, make_window, tmp_path, monkeypatch):
    src = photo(tmp_path / "photo.png", 56, 40)
    original = src.read_bytes()
    window = make_window()
    drop(window.compare_view.views()[0].viewport(), [src])  # onto the (empty) photo area
    job = job_named(window, "photo.png")
    assert window.windowTitle().startswith("SinSR Upscaler — photo.png")
    qtbot.waitUntil(lambda: window._current is not None, timeout=RUN_TIMEOUT_MS)  # shown in the compare view
    assert (window.compare_view.output_size().width(), window.compare_view.output_size().height()) == (224, 160)

    # Preview the region in view: the patch lands in place via set_after_region.
    patches = []
    real = window.compare_view.set_after_region
    monkeypatch.setattr(window.compare_view, "set_after_region",
                        lambda patch, rect: (patches.append((patch.copy(), rect)), real(patch, rect)))
    window.preview_action.trigger()
    qtbot.waitUntil(lambda: bool(patches) and window._preview_worker is None, timeout=RUN_TIMEOUT_MS)
    patch, rect = patches[0]
    assert (rect.x(), rect.y(), rect.width(), rect.height()) == (0, 0, 224, 160)  # the whole photo is in view
    assert (patch.width(), patch.height()) == (224, 160)
    assert not window.compare_view.has_after()  # a preview is not a result

    window.upscale_action.trigger()
    qtbot.waitUntil(lambda: job.state == "done", timeout=RUN_TIMEOUT_MS)
    assert window.compare_view.has_after()
    assert window.queue_panel.state(job.id) == "done"
    # The preview used the same slice of the same noise field, so it showed exactly the final pixels.
    result = (np.clip(job.result.rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(qimage_array(patch), result)
    assert window.isWindowModified()  # an unsaved result: closing would ask
    # The run was measured, so the next one gets a time estimate.
    assert window.settings.seconds_per_megapixel("sinsr", "cpu") is not None
    assert window._estimate_seconds([job]) is not None

    window.save_action.trigger()
    qtbot.waitUntil(lambda: job.saved_path is not None, timeout=RUN_TIMEOUT_MS)
    saved = job.saved_path
    assert saved == tmp_path / "photo_x4.png" and saved.is_file()
    with Image.open(saved) as img:
        assert img.size == (224, 160)
    assert src.read_bytes() == original  # the input is untouched
    assert not window.isWindowModified()


def test_corrupt_file_fails_clearly_while_others_run(qtbot, make_window, tmp_path, answers):
    good = photo(tmp_path / "good.png", 40, 40, seed=1)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing an image would have")
    window = make_window(case_a_settings(auto_save="batch"))
    drop(window, [good, bad])
    window.upscale_action.trigger()
    wait_idle(qtbot, window)
    good_job, bad_job = job_named(window, "good.png"), job_named(window, "broken.png")
    assert bad_job.state == "failed"
    assert window.queue_panel.state(bad_job.id) == "failed"
    tip = window.queue_panel.tooltip(bad_job.id)
    assert 'Cannot read "broken.png"' in tip and "damaged" in tip  # the reader's one clear sentence
    assert not answers["errors"]  # a bad file is not a modal error: the queue goes on
    assert good_job.state == "done"
    # Several photos in one run: each result is saved as soon as it is ready.
    assert good_job.saved_path == tmp_path / "good_x4.png" and good_job.saved_path.is_file()
    assert good_job.result.rgb is None  # ...and released from memory
    assert not window.isWindowModified()


def test_cancel_mid_run_then_retry_then_close_with_unsaved_work(qtbot, make_window, tmp_path, monkeypatch):
    src = photo(tmp_path / "wide.png", 100, 64, seed=2)  # with 64 px tiles: 2 tiles
    window = make_window(case_a_settings(tile=64, overlap=16))
    window.add_paths([src])
    job = job_named(window, "wide.png")
    seen: list[tuple[int, int]] = []
    window.upscale_action.trigger()
    window._job_worker.progress.connect(lambda d, t: seen.append((d, t)))
    qtbot.waitUntil(lambda: window._tiles[1] > 0, timeout=RUN_TIMEOUT_MS)  # the first tile is running
    window.cancel_action.trigger()  # Esc
    wait_idle(qtbot, window)
    assert job.state == "cancelled"
    assert window.queue_panel.state(job.id) == "cancelled"
    assert seen and max(d for d, _ in seen) < seen[-1][1]  # stopped before the last tile
    assert not window.progress_bar.isVisible()

    # The queue still works: retry runs the photo to the end.
    window.queue_panel.set_current(job.id)
    window.retry_action.trigger()
    qtbot.waitUntil(lambda: job.state == "done", timeout=RUN_TIMEOUT_MS)
    assert job.result is not None and job.result.rgb.shape == (256, 400, 3)

    # Closing with an unsaved result asks first: "Cancel" keeps the window, "Save all" saves, then closes.
    choices = iter(["cancel", "save"])
    monkeypatch.setattr(dialogs, "ask_save_discard", lambda *a, **kw: next(choices))
    window.close()
    assert window.isVisible() and job.saved_path is None
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=RUN_TIMEOUT_MS)
    assert job.saved_path == tmp_path / "wide_x4.png" and job.saved_path.is_file()


def test_closing_during_a_run_asks_cancels_and_waits(qtbot, make_window, tmp_path, answers):
    src = photo(tmp_path / "long.png", 100, 64, seed=3)
    window = make_window(case_a_settings(tile=64, overlap=16))
    window.add_paths([src])
    window.upscale_action.trigger()
    qtbot.waitUntil(lambda: window._tiles[1] > 0, timeout=RUN_TIMEOUT_MS)
    threads = [t for _, t in window._runs]
    window.close()
    assert "Stop upscaling?" in answers["asked"]
    assert window.isVisible()  # not yet: its worker is still finishing the current tile
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=RUN_TIMEOUT_MS)
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
            yield done, 2
        return "the result"

    worker = Worker(task)
    rec = _run(qtbot, worker, [worker.started, worker.progress, worker.progress, worker.progress,
                               worker.succeeded, worker.finished])
    assert rec.events == [("started",), ("progress", 0, 2), ("progress", 1, 2), ("progress", 2, 2),
                          ("succeeded", "the result"), ("finished",)]


def test_worker_signal_order_on_failure(qtbot, caplog):
    def task(control):
        yield 0, 1
        raise ImageReadError('Cannot read "x.png": the file is empty (0 bytes); copy or download it again.')

    worker = Worker(task)
    rec = _run(qtbot, worker, [worker.started, worker.progress, worker.failed, worker.finished])
    assert rec.events[-2:] == [("failed", 'Cannot read "x.png": the file is empty (0 bytes); copy or download '
                                          "it again."), ("finished",)]

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
    s = case_a_settings()
    request = model_request_for(s)
    shared_cache.get(request)  # load first: the tiles are the long part
    worker = Worker(functools.partial(upscale_task, cache=shared_cache, request=request, job_id=1, path=src,
                                      settings=s, save_to=None, protected=()))
    ticks: list[float] = []
    timer = QTimer(interval=20)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    with qtbot.waitSignal(worker.succeeded, timeout=RUN_TIMEOUT_MS):
        thread = start_in_thread(worker)
    timer.stop()
    assert thread.wait(RUN_TIMEOUT_MS)
    gaps = np.diff(ticks)
    assert len(gaps) >= 10, "the run was too short to say anything"
    lateness = gaps.max() - 0.020
    assert lateness < 0.100, f"the GUI thread stalled for {lateness * 1000:.0f} ms"


# ------------------------------------------------------------------------------------- models and weights
def test_model_cache_released_when_model_or_device_changes(qtbot, make_window):
    cache = ModelCache()
    window = make_window(case_a_settings(), cache=cache)
    request = window.model_request()
    cache.get(request)
    assert cache.loaded == request
    panel = window.settings_panel
    panel.precision_combo.setCurrentIndex(panel.precision_combo.findData("auto"))  # a user edit
    assert window.settings.precision == "auto"
    assert cache.loaded is None  # released at once, not at the next run

    cache.get(window.model_request())
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("auto"))
    assert cache.loaded is None
    cache.get(window.model_request())
    panel.seed_spin.setValue(4321)  # not a model setting: the model stays loaded
    assert cache.loaded == window.model_request()


def test_first_run_panel_only_without_weights(qtbot, make_window):
    window = make_window(Settings())  # nothing installed, nothing configured
    assert window.first_run_dock.isVisible()
    panel = window.first_run_panel
    assert not panel.download_button.isEnabled()  # no download without explicit consent
    panel.consent_check.setChecked(True)
    assert panel.download_button.isEnabled()
    assert "not installed" in window.settings_panel.model_combo.itemText(
        window.settings_panel.model_combo.findData("sinsr"))

    configured = make_window(case_a_settings())
    assert not configured.first_run_dock.isVisible()


def test_first_run_download_resumes_and_installs(qtbot, make_window, tmp_path, monkeypatch, isolated_home):
    isolate(monkeypatch, isolated_home)
    unet, vq = UNET_FIXTURE.read_bytes(), AUTOENCODER_FIXTURE.read_bytes()
    with FileServer() as server:
        registry = make_registry(server.base_url)
        server.serve("/" + registry.get("sinsr_v1").filename, unet, drop_after=len(unet) // 3)  # breaks once
        server.serve("/" + registry.get("vq_f4").filename, vq)
        window = make_window(Settings(), registry=registry)
        panel = window.first_run_panel
        assert window.first_run_dock.isVisible()
        panel.consent_check.setChecked(True)
        panel.download_button.click()
        qtbot.waitUntil(lambda: window._weights_worker is None, timeout=RUN_TIMEOUT_MS)
        # The connection dropped: the partial file is kept and the panel offers to resume.
        assert panel.download_button.text() == "Resume download"
        assert window.first_run_dock.isVisible() and not window.sinsr_available()

        panel.download_button.click()
        qtbot.waitUntil(lambda: window._weights_worker is None, timeout=RUN_TIMEOUT_MS)
        resumed = [r for r in server.requests if r.path.endswith(registry.get("sinsr_v1").filename)][-1]
        assert resumed.range == f"bytes={len(unet) // 3}-"  # continued where it stopped
        assert window.sinsr_available()
        assert "ready" in panel.message_label.text()
        assert "installed" in window.settings_panel.model_combo.itemText(
            window.settings_panel.model_combo.findData("sinsr"))
        assert "progress" not in panel.progress_label.text()
        assert "MB" in panel.progress_label.text() or "KB" in panel.progress_label.text()  # bytes were shown
        qtbot.waitUntil(lambda: not window.first_run_dock.isVisible(), timeout=10_000)


# ------------------------------------------------------------------------------------------------ the rest
def test_queue_reorder_remove_and_paste(qtbot, make_window, tmp_path, isolated_home):
    files = [photo(tmp_path / f"p{i}.png", 20, 16, seed=i) for i in range(3)]
    window = make_window()
    assert window.add_paths([tmp_path]) == 3  # a folder: its images, in natural order
    assert window.add_paths([files[0]]) == 0  # already queued
    ids = window.queue_panel.item_ids()
    assert [window.jobs[i].path.name for i in ids] == ["p0.png", "p1.png", "p2.png"]
    qtbot.waitUntil(lambda: all(j.size == (20, 16) for j in window.jobs.values()))  # thumbnails + sizes read
    window.queue_panel.list.setCurrentRow(0)
    window.queue_panel.move_selected(1)
    assert [window.jobs[i].path.name for i in window.queue_panel.item_ids()] == ["p1.png", "p0.png", "p2.png"]
    assert [j.path.name for j in window._ordered_jobs()] == ["p1.png", "p0.png", "p2.png"]  # runs in this order
    window.queue_panel.set_current(ids[2])
    window.remove_selected()
    assert sorted(j.path.name for j in window.jobs.values()) == ["p0.png", "p1.png"]

    image = QImage(12, 10, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkCyan)
    QApplication.clipboard().setImage(image)
    window.paste_action.trigger()
    pasted = [j for j in window.jobs.values() if j.pasted]
    assert len(pasted) == 1 and pasted[0].path.suffix == ".png"
    assert pasted[0].path.is_relative_to(isolated_home)  # kept in the app's cache folder, not next to anything
    with Image.open(pasted[0].path) as img:
        assert img.size == (12, 10)


def test_every_main_action_has_a_listed_shortcut(qtbot, make_window):
    window = make_window()
    actions = [window.open_action, window.paste_action, window.upscale_action, window.preview_action,
               window.preview_region_action, window.cancel_action, window.save_action, window.save_as_action,
               window.save_all_action, window.retry_action, window.remove_action, window.split_action,
               window.side_action, window.zoom_in_action, window.zoom_out_action, window.zoom_fit_action,
               window.zoom_actual_action, window.shortcuts_action, window.quit_action]
    assert all(a.shortcuts() for a in actions), [a.text() for a in actions if not a.shortcuts()]
    dialog = dialogs.ShortcutsDialog(window.shortcut_actions, parent=window)
    listed = {dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}
    assert {a.text().replace("&", "") for a in actions} <= listed
    keys = [k.toString() for a in window.shortcut_actions for k in a.shortcuts()]
    assert len(keys) == len(set(keys)), "two actions share a shortcut"


def test_settings_saved_on_change_and_close(qtbot, make_window):
    from sinsr_gui.settings import load_settings

    window = make_window(case_a_settings(), persist=True)
    window.settings_panel.scale_combo.setCurrentIndex(window.settings_panel.scale_combo.findData(2))
    qtbot.waitUntil(lambda: load_settings().scale == 2)  # saved shortly after the change
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
        assert len(window.jobs) == i + 1, type(target).__name__


def test_run_entry_point_opens_paths_and_exits_cleanly(qtbot, tmp_path, isolated_home):
    """``sinsr-gui PATH`` (sinsr_gui.qt.app.run): the path is queued, the log file is set up, exit code 0."""
    import sys

    from sinsr_gui.qt import app as app_module

    src = photo(tmp_path / "cli.png", 16, 16)
    seen: dict[str, object] = {}

    def close_soon() -> None:
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        seen["queued"] = [j.path for j in window.jobs.values()]
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
