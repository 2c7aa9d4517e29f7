"""What a newcomer stumbled on in the app (issue 20), one test per stumble, each failing if it came back:

1. a batch says where its results went (with Open folder) and how many failed; the first automatic save next
   to the photos is a choice the user sees;
2. single-key shortcuts (A, S, B, Space) work while a list or combo box has the focus;
3. A/B after a batch that saved and released its results;
4. Retry keeps zoom, pan and the old result on screen until the new one arrives;
5. an unreadable file shows its reason in the view; "Added N photos" counts the readable ones;
6. the status bar's fields never overlap, long text is elided (whole in the tooltip), and the progress does not
   sit at "tile 2 of 2" while the photo is finished;
7. the first-run offer is a one-line banner shown once, the panel's help text is in the normal colour;
8. technical settings under a collapsed "Advanced", options that do not apply hidden, no cut-off Format box;
9. Save after an automatic save says where the file is instead of writing a copy;
10. wording: shortcuts dialog, "Get them", the CLI's --help and its errors, the log;
11. the zoom percentage is relative to the original photo.

The built-in Faithful model runs the photos (a few milliseconds per tile), so the runs are quick.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import logging  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QEvent, QObject, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QPalette  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QStyle, QStyleOptionComboBox  # noqa: E402

from sinsr_gui import paths  # noqa: E402
from sinsr_gui.qt import dialogs, messages  # noqa: E402
from sinsr_gui.settings import Settings  # noqa: E402
from tests import test_qt_app as app_tests  # noqa: E402
from tests.test_qt_app import idle, job_named, photo  # noqa: E402

# The app tests' fixtures: a window with questions answered, waits that say what the window showed.
answers, wait, trigger, make_window = app_tests.answers, app_tests.wait, app_tests.trigger, app_tests.make_window
shared_cache, restore_application_look = app_tests.shared_cache, app_tests.restore_application_look


def faithful(**changes: object) -> Settings:
    """The quick built-in model, past the first-run offer and the where-to-save question."""
    s = Settings(model="faithful", device="cpu", first_run_done=True, auto_save_confirmed=True)
    for k, v in changes.items():
        setattr(s, k, v)
    return s


def broken(path: Path) -> Path:
    path.write_bytes(b"this is not a JPEG")
    return path


@pytest.fixture
def opened(monkeypatch):
    """Folders the app asked the desktop to open."""
    folders: list[Path] = []
    monkeypatch.setattr(dialogs, "open_folder", lambda folder: folders.append(Path(folder)) or True)
    return folders


class ClaimKeys(QObject):
    """Makes a widget claim plain keys before the window's shortcuts (it accepts the ShortcutOverride), as a
    list's or combo box's type-ahead search does where the window is not the active one for Qt's shortcut
    map (seen under a bare X server): the key then goes to the widget, not to the action."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.ShortcutOverride and not event.modifiers() and event.text().strip(" "):
            event.accept()
            return True
        return False


def focus(qtbot, window, widget) -> None:
    window.activateWindow()
    widget.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget, timeout=5000)


def run_batch(window, trigger, wait) -> None:
    trigger(window.commands.upscale)
    wait(lambda: idle(window) and not any(j.state in ("waiting", "running") for j in window.queue), "the run")


# ------------------------------------------------------------------------------------------------------ 1
def test_a_batch_says_where_results_went_and_how_many_failed(qtbot, make_window, tmp_path, answers, opened, wait,
                                                              trigger, caplog):
    for i in range(2):
        photo(tmp_path / f"p{i}.png", 24, 20, seed=i)
    broken(tmp_path / "p2.jpg")
    window = make_window(faithful(auto_save_confirmed=False))
    window.add_paths([tmp_path])
    wait(lambda: not window._adding, "every added photo to be read")
    with caplog.at_level(logging.INFO, logger="sinsr_gui.qt.main_window"):
        run_batch(window, trigger, wait)
    # The first automatic save next to the photos was a question, answered "Save next to the photos".
    assert answers["chosen"] == ["Where should the results go?"] and window.settings.auto_save_confirmed
    saved = sorted(p.name for p in tmp_path.glob("*_x4.png"))
    assert saved == ["p0_x4.png", "p1_x4.png"]
    text = window.banner.text()
    assert "2 photos upscaled" in text and str(tmp_path) in text, text
    assert "1 failed" in text and "cannot be read" in text, text
    window.banner.buttons()["Open folder"].click()
    assert opened == [tmp_path]
    logged = caplog.text
    assert all(str(tmp_path / name) in logged for name in saved)  # the log lists what the batch saved

    window.retry_jobs([j.id for j in window.queue if j.state == "done"])  # a second batch: not asked again
    wait(lambda: idle(window) and all(j.state != "waiting" for j in window.queue), "the second run")
    assert answers["chosen"] == ["Where should the results go?"]


def test_the_first_automatic_save_can_be_declined(qtbot, make_window, tmp_path, monkeypatch, wait, trigger):
    for i in range(2):
        photo(tmp_path / f"k{i}.png", 16, 16, seed=i)
    monkeypatch.setattr(dialogs, "choose", lambda parent, title, text, options: "keep")
    window = make_window(faithful(auto_save_confirmed=False))
    window.add_paths([tmp_path])
    run_batch(window, trigger, wait)
    assert window.settings.auto_save == "never" and window.settings_panel.auto_save_combo.currentData() == "never"
    assert not list(tmp_path.glob("*_x4.*")) and len(window.queue.unsaved()) == 2
    assert "2 not saved yet" in window.banner.text()


# ------------------------------------------------------------------------------------------------------ 2
def test_single_key_shortcuts_are_not_taken_by_a_focused_list(qtbot, make_window, tmp_path, wait):
    window = make_window(faithful())
    window.add_paths([photo(tmp_path / "k.png", 24, 20)])
    wait(lambda: window.display.current is not None, "the photo to be shown")
    combo, queue = window.settings_panel.model_combo, window.queue_panel.list
    claim = ClaimKeys()
    for widget in (combo, queue):
        widget.installEventFilter(claim)
    focus(qtbot, window, combo)
    QTest.keyClick(combo, Qt.Key.Key_B)
    assert window.compare_view.mode().value == "side_by_side"
    QTest.keyClick(combo, Qt.Key.Key_S)
    assert window.compare_view.mode().value == "split"
    previous = []
    window.commands.compare_previous.setEnabled(True)
    window.commands.compare_previous.triggered.connect(lambda *_: previous.append(True))
    QTest.keyClick(combo, Qt.Key.Key_A)  # it used to select "Automatic"
    assert previous == [True] and combo.currentData() == "faithful"

    focus(qtbot, window, queue)
    QTest.keyPress(queue, Qt.Key.Key_Space)  # held: "before" everywhere, whatever has the focus
    assert window.compare_view.is_flipped()
    QTest.keyRelease(queue, Qt.Key.Key_Space)
    assert not window.compare_view.is_flipped()

    field = window.settings_panel.pattern_edit  # a text field keeps its letters
    focus(qtbot, window, field)
    QTest.keyClick(field, Qt.Key.Key_B)
    assert window.compare_view.mode().value == "split" and field.text().endswith("b")


# ------------------------------------------------------------------------------------------------------ 3
def test_a_b_after_a_batch_that_released_its_results(qtbot, make_window, tmp_path, wait, trigger):
    for i in range(2):
        photo(tmp_path / f"ab{i}.png", 24, 20, seed=i)
    window = make_window(faithful())
    window.add_paths([tmp_path])
    run_batch(window, trigger, wait)
    first = job_named(window, "ab0.png")
    assert not first.in_memory  # the batch saved it and let the pixels go
    window.queue_panel.set_current(first.id)
    wait(lambda: window.display.current is not None and window.display.current.job_id == first.id, "the result")
    compare = window.commands.compare_previous
    assert not compare.isEnabled() and "after Retry" in compare.text()  # the menu says why it is greyed

    window.preferences.update({"model": "photo"})
    trigger(window.commands.retry)
    wait(lambda: idle(window) and first.state == "done", "the retry")
    trigger(compare)
    assert compare.isChecked()
    left, right = window.compare_view.labels()
    assert left.startswith("A: Faithful") and right.startswith("B: Photo"), (left, right)


# ------------------------------------------------------------------------------------------------------ 4, 6
def test_retry_keeps_the_view_and_the_old_result_until_the_new_one(qtbot, make_window, tmp_path, wait, trigger):
    window = make_window(faithful(auto_save="never", tile=16))
    window.add_paths([photo(tmp_path / "r.png", 40, 32)])
    job = job_named(window, "r.png")
    progress: list[tuple[str, int, int]] = []
    window.runner.progressChanged.connect(lambda text, done, total: progress.append((text, done, total)))
    run_batch(window, trigger, wait)
    cv = window.compare_view
    wait(lambda: cv.has_after(), "the result in the view")
    cv.set_zoom(2.0, QPointF(10, 10))
    zoom, fit, centre = cv.view_state()

    states = []
    window.runner.resultReady.connect(lambda *_: states.append((cv.has_after(), cv.zoom(), cv.view_state()[2])))
    trigger(window.commands.retry)
    assert cv.has_after() and cv.zoom() == zoom  # the old result stays while the new one is made
    assert "upscaling again" in cv.labels()[1]  # the caption says the result shown is the earlier one
    wait(lambda: idle(window) and job.state == "done", "the retry")
    assert states and states[0][0] and states[0][1] == zoom
    assert cv.zoom() == zoom and not cv.is_fit()
    now = cv.view_state()[2]
    assert abs(now.x() - centre.x()) <= 1 and abs(now.y() - centre.y()) <= 1  # the same part in view
    assert "upscaling again" not in cv.labels()[1]

    # 6: after the last tile the progress says "finishing…" with a busy bar, never "tile 4 of 4 · 1 s left".
    tiles = [(d, t) for _text, d, t in progress if t]
    assert tiles and tiles[-1][0] == tiles[-1][1] > 1
    assert not [text for text, d, t in progress if t and d == t and f"tile {d} of {t}" in text]
    assert any("finishing…" in text and "left" not in text for text, d, t in progress if t and d == t)


# ------------------------------------------------------------------------------------------------------ 5
def test_an_unreadable_file_says_why_in_the_view(qtbot, make_window, tmp_path, answers, wait):
    for i in range(2):
        photo(tmp_path / f"u{i}.png", 16, 16, seed=i)
    bad = broken(tmp_path / "u2.jpg")
    window = make_window(faithful())
    window.add_paths([tmp_path])
    wait(lambda: not window._adding, "every added photo to be read")
    added = [m for m in answers["status"] if m.startswith("Added")]
    assert added == ["Added 2 photos; 1 file cannot be read (marked Unreadable)."], added
    job = job_named(window, bad.name)
    window.queue_panel.set_current(job.id)
    problem = window.compare_view.problem()
    assert problem is not None and bad.name in problem[0] and problem[1] == job.message and job.message


# ------------------------------------------------------------------------------------------------------ 6
def test_status_bar_fields_never_overlap_and_elide_long_text(qtbot, make_window):
    window = make_window(faithful())
    window.resize(1000, 600)
    status = window.status
    long = "SinSR is not installed, so the built-in Photo model is used; " * 3
    status.say(long[:95])
    status.show_progress("0003.jpg · tile 2 of 9 · 0:04 elapsed · about 12 s left · 3 more waiting", 2, 9)
    status.model_label.set_full_text("Real-ESRGAN general v3 (community) · CUDA:0 · bf16")
    qtbot.waitUntil(lambda: status.progress_visible)
    fields = [status.message_label, status.progress_label, status.progress_bar, status.cancel_button,
              status.model_label, status.pixel_label, status.zoom_label]
    for left, right in zip(fields, fields[1:]):
        assert left.geometry().right() < right.geometry().left(), (left, right)
    for label in (status.message_label, status.progress_label, status.model_label):
        assert label.is_elided() and label.text().endswith("…"), label.text()
        assert label.full_text() in label.toolTip()
    status.show_progress("0003.jpg · finishing…", 9, 9)
    assert status.progress_bar.maximum() == 0  # busy, not "9 of 9" standing still


# ------------------------------------------------------------------------------------------------------ 7
def test_first_run_is_a_banner_shown_once(qtbot, make_window, qapp):
    window = make_window(Settings(device="cpu"))  # nothing installed, never launched
    assert window.banner.kind == "first_run" and "Photo" in window.banner.text()
    assert not window.first_run_dock.isVisible()  # no side panel taking a quarter of the window
    assert window.settings.first_run_done  # remembered: the next launch does not offer it again
    again = make_window(window.settings.copy())
    assert again.banner.kind != "first_run" and not again.first_run_dock.isVisible()
    trigger_get = again.commands.get_model  # still in the Model menu
    trigger_get.trigger()
    assert again.first_run_dock.isVisible()

    window.banner.dismiss()
    assert not window.banner.isVisible()
    panel = window.first_run_panel
    assert not [w for w in panel.findChildren(QLabel) if w.text() == "Choose how to upscale"]
    qapp.setStyleSheet(paths.resource_path("style.qss").read_text(encoding="utf-8"))
    hint = next(w for w in panel.findChildren(QLabel) if "screenshots" in w.text())
    intro = next(w for w in panel.findChildren(QLabel) if w.text().startswith("The app works now"))
    for label in (hint, intro):
        label.ensurePolished()
    role = QPalette.ColorRole.WindowText
    assert hint.palette().color(role) == intro.palette().color(role)  # help to read, not greyed out


# ------------------------------------------------------------------------------------------------------ 8
def test_settings_keep_technical_options_under_advanced(qtbot, make_window):
    window = make_window(faithful())
    panel = window.settings_panel
    technical = [panel.precision_combo, panel.tile_spin, panel.overlap_spin, panel.seed_spin, panel.pattern_edit]
    assert all(panel.advanced_box.isAncestorOf(w) for w in technical)
    assert not panel.advanced_box.isVisible()  # collapsed
    panel.advanced_button.click()
    assert panel.advanced_box.isVisible()

    def shown(widget) -> bool:
        return widget.isVisibleTo(panel)

    for model, seed, sampler in (("faithful", False, False), ("photo", False, False), ("sinsr", True, False),
                                 ("resshift", True, True)):
        panel.model_combo.setCurrentIndex(panel.model_combo.findData(model))
        assert (shown(panel.seed_spin), shown(panel.sampler_combo)) == (seed, sampler), model

    combo = panel.format_combo  # every entry fits the box, at the dock's width
    qtbot.waitUntil(lambda: combo.width() > 0)
    for i in range(combo.count()):
        option = QStyleOptionComboBox()
        combo.initStyleOption(option)
        room = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                            QStyle.SubControl.SC_ComboBoxEditField, combo).width()
        assert combo.fontMetrics().horizontalAdvance(combo.itemText(i)) <= room, combo.itemText(i)


# ------------------------------------------------------------------------------------------------------ 9
def test_save_after_an_automatic_save_says_where_the_file_is(qtbot, make_window, tmp_path, opened, wait, trigger):
    for i in range(2):
        photo(tmp_path / f"s{i}.png", 16, 16, seed=i)
    window = make_window(faithful())
    window.add_paths([tmp_path])
    run_batch(window, trigger, wait)
    files = sorted(tmp_path.iterdir())
    first = job_named(window, "s0.png")
    window.queue_panel.set_current(first.id)
    trigger(window.commands.save)
    assert sorted(tmp_path.iterdir()) == files  # no "s0_x4 (1).png"
    assert f"s0_x4.png is already saved in {tmp_path}" in window.banner.text()
    window.banner.buttons()["Open folder"].click()
    assert opened == [tmp_path]

    # The same result made again (same model and settings) and saved: the identical file is kept, no copy.
    window.preferences.update({"auto_save": "never"})
    trigger(window.commands.retry)
    wait(lambda: idle(window) and first.state == "done" and first.in_memory, "the retry")
    trigger(window.commands.save)
    wait(lambda: not window.saver.busy and first.saved_path is not None, "the save")
    assert sorted(tmp_path.iterdir()) == files and first.saved_path == tmp_path / "s0_x4.png"
    assert "already saved" in window.banner.text()


# ------------------------------------------------------------------------------------------------------ 10
def test_wording_of_shortcuts_remedies_and_log(qtbot, make_window, caplog):
    window = make_window(faithful())
    dialog = dialogs.ShortcutsDialog(window.commands.shortcut_actions, parent=window)
    rows = {dialog.table.item(r, 0).text(): dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert rows["Quit"] == "Ctrl+Q"
    assert not [k for k in rows.values() if "Exit" in k or ", " in k], rows
    from sinsr_gui.cli import messages as cli_messages

    for book in (messages.PHRASES, cli_messages.PHRASES):
        said = [fn("sinsr_v1,vq_f4") for fn in book.values()]
        assert not [s for s in said if " them " in f" {s} "], said  # "them" with nothing before it

    with caplog.at_level(logging.INFO, logger="sinsr_gui.qt.status_area"):
        window.status.say("p.png was not saved.", "p.png was not saved. Choose another folder in Settings > Save to.")
        window.status.say("Queue order changed.")
    lines = [r.getMessage() for r in caplog.records if r.name == "sinsr_gui.qt.status_area"]
    assert lines == ["p.png was not saved. Choose another folder in Settings > Save to.", "Queue order changed."]


def test_cli_help_and_errors_read_well(tmp_path, capsys):
    from sinsr_gui.cli.upscale import build_parser, main

    text = build_parser().format_help()
    flat = " ".join(text.split())
    assert ".;" not in flat and ".." not in flat.replace("...", ""), flat
    bad = broken(tmp_path / "broken.jpg")
    shutil.copy(bad, tmp_path / "also broken.jpg")
    assert main([str(tmp_path), "--model", "faithful", "--device", "cpu", "--no-progress", "-o",
                 str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err
    for name in ("broken.jpg", "also broken.jpg"):
        assert err.count(f'Cannot read "{name}"') == 1, err  # once per file, not three times
    assert "failed: 2" in err


# ------------------------------------------------------------------------------------------------------ 11
def test_zoom_is_relative_to_the_original_photo(qtbot, make_window, tmp_path, wait):
    window = make_window(faithful())
    window.add_paths([photo(tmp_path / "z.png", 56, 40)])
    wait(lambda: window.display.current is not None, "the photo to be shown")
    cv = window.compare_view
    cv.zoom_actual()  # one result pixel per screen pixel: the photo is at 4x its own size
    assert window.status.zoom_label.full_text() == "400 %"
    cv.set_zoom(0.25)
    assert window.status.zoom_label.full_text() == "100 %"  # the photo at its own size
    cv.zoom_to_fit()
    assert window.status.zoom_label.full_text() == f"{cv.zoom() * 400:.0f} %"
