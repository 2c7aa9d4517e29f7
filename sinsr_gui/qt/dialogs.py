"""Small dialogs: About, Keyboard shortcuts, errors and questions, and the crash handler.

Every question the app asks goes through :func:`ask` / :func:`ask_save_discard`, so tests can answer them
without a modal dialog.
"""

from __future__ import annotations

import datetime as _dt
import html
import logging
import platform
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QUrl, Signal, qVersion
from PySide6.QtGui import QAction, QDesktopServices, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHeaderView,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from sinsr_gui import __version__, paths

if TYPE_CHECKING:
    from sinsr_gui.engine.descriptor import ModelDescriptor

log = logging.getLogger(__name__)

APP_TITLE = "SinSR Upscaler"

LICENCES_HTML = """
<p><b>This app</b> (SinSR GUI): MIT licence.</p>
<p><b>SinSR v1 weights</b> (Wang et al., CVPR 2024): <a href="https://creativecommons.org/licenses/by-nc-sa/4.0/">
CC BY-NC-SA 4.0</a>: non-commercial use only, with attribution; adaptations shared alike.</p>
<p><b>VQ-f4 autoencoder / ResShift</b> (Yue et al.): <a href="https://github.com/zsyOAOA/ResShift/blob/master/LICENSE">
S-Lab License 1.0</a>: non-commercial use only.</p>
<p>Images you make with the SinSR model are for non-commercial use. The built-in models Photo and Faithful are
the project's own (see their model cards).</p>
<p><b>Most detail</b> (built-in) is Real-ESRGAN x4plus, <a href="https://github.com/xinntao/Real-ESRGAN">
BSD 3-Clause licence</a>: usable commercially; its notice is below.</p>
"""


def notices_html() -> str:
    """The licence notices that ship with the app (resources/licenses/*.txt), whole, as the BSD licence asks."""
    texts = [path.read_text(encoding="utf-8") for path in sorted(paths.resource_path("licenses").glob("*.txt"))]
    return "".join(f"<pre>{html.escape(text)}</pre>" for text in texts)


def app_icon() -> QIcon:
    icon = QIcon()
    for png in sorted(paths.resource_path("icons").glob("sinsr-gui-*.png")):
        icon.addFile(str(png))
    return icon


# ------------------------------------------------------------------------------------------ questions
def ask(parent: QWidget | None, title: str, text: str, yes: str = "Yes", no: str = "Cancel") -> bool:
    """A yes/no question with plain-word buttons; True for yes."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
    yes_button = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(no, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(yes_button)
    box.exec()
    return box.clickedButton() is yes_button


def choose(parent: QWidget | None, title: str, text: str, options: list[tuple[str, str]]) -> str | None:
    """A question with one plain-word button per option (key, label), the first the default; the key of the
    button pressed, or None when the dialog was closed (Esc)."""
    box = QMessageBox(QMessageBox.Icon.Question, title, title, QMessageBox.StandardButton.NoButton, parent)
    box.setInformativeText(text)  # the question itself heads the dialog (window titles are easy to miss)
    buttons = {box.addButton(label, QMessageBox.ButtonRole.AcceptRole): key for key, label in options}
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(next(iter(buttons)))
    box.setEscapeButton(cancel)
    box.exec()
    return buttons.get(box.clickedButton())


def ask_save_discard(parent: QWidget | None, title: str, text: str) -> str:
    """'save', 'discard' or 'cancel' (the safe default)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, parent)
    save = box.addButton("Save all", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(save)
    box.setEscapeButton(cancel)
    box.exec()
    clicked = box.clickedButton()
    return "save" if clicked is save else "discard" if clicked is discard else "cancel"


def show_error(parent: QWidget | None, message: str, title: str = "Something went wrong") -> None:
    """One clear sentence; a button opens the log folder for the details."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    logs = box.addButton("Show log folder", QMessageBox.ButtonRole.HelpRole)
    box.exec()
    if box.clickedButton() is logs:
        open_folder(paths.log_dir())


SAVE_FORMATS = {"PNG": "PNG image (*.png)", "JPEG": "JPEG image (*.jpg *.jpeg)", "WEBP": "WebP image (*.webp)",
                "TIFF": "TIFF image (*.tif *.tiff)"}


def ask_save_path(parent: QWidget | None, suggested: Path, fmt: str) -> tuple[Path, str] | None:
    """"Save as": the file and format chosen (the suffix typed wins over the filter), or None. The dialog
    itself asks before replacing a file."""
    from sinsr_gui.engine.imageio import OUTPUT_SUFFIXES, normalize_format

    name, chosen = QFileDialog.getSaveFileName(parent, "Save result as", str(suggested),
                                               ";;".join(SAVE_FORMATS.values()), SAVE_FORMATS[fmt])
    if not name:
        return None
    dest = Path(name)
    fmt = next((f for f, label in SAVE_FORMATS.items() if label == chosen), fmt)
    try:
        fmt = normalize_format(dest.suffix) if dest.suffix else fmt
    except ValueError:
        dest = dest.with_suffix(OUTPUT_SUFFIXES[fmt])
    return dest, fmt


def open_folder(folder: Path) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


# ---------------------------------------------------------------------------------------------- about
def versions() -> dict[str, str]:
    import PySide6

    info = {"SinSR GUI": __version__, "Python": platform.python_version(), "Qt": qVersion(),
            "PySide6": PySide6.__version__}
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch  # noqa: F811 - imported here only when the app has not loaded it yet
        except ImportError:
            torch = None
    info["PyTorch"] = getattr(torch, "__version__", "not installed")
    info["System"] = f"{platform.system()} {platform.release()} ({platform.machine()})"
    return info


class AboutDialog(QDialog):
    """Versions, the device, and the model in use (``descriptor``: its name, purpose and licence)."""

    def __init__(self, device: str, model: str, descriptor: ModelDescriptor | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_TITLE}")
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>&nbsp;{html.escape(v)}</td></tr>"
                       for k, v in {**versions(), "Device": device, "Model": model}.items())
        card = ""
        if descriptor is not None:
            card = (f"<p><b>{html.escape(descriptor.display_name)}</b>: {html.escape(descriptor.summary)} "
                    f"Licence: {html.escape(descriptor.licence)}.</p>")
        text = QTextBrowser()
        text.setOpenExternalLinks(True)
        text.setHtml(f"<h2>{APP_TITLE}</h2><p>Makes photos 4× bigger with natural detail, offline, using the "
                     f"SinSR one-step diffusion model.</p><table>{rows}</table>{LICENCES_HTML}{card}"
                     f"<h3>Notices</h3>{notices_html()}")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)
        self.resize(560, 520)


VIEW_SHORTCUTS = [  # keys the compare view handles itself (not actions)
    ("Show the original while held (compare view)", "Space"),
    ("Zoom in / out (compare view)", "+ / − or mouse wheel"),
    ("Move around", "Drag with the mouse"),
]


def keys_text(keys: list[QKeySequence]) -> str:
    """The keys as "Ctrl+Return or Ctrl+Enter": keys a keyboard has, not the Help, media or remote-control
    keys (Exit, Paste) that platforms add to some standard shortcuts; the first two at most."""
    typed = [k for k in keys if not k.isEmpty() and k[0].key().value < Qt.Key.Key_Help.value]
    return " or ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in typed[:2])


class ShortcutsDialog(QDialog):
    """Lists every action that has a shortcut, with its key(s) in the platform's notation."""

    def __init__(self, actions: list[QAction], extra: list[tuple[str, str]] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [(a.text().replace("&", ""), keys_text(a.shortcuts())) for a in actions if a.shortcuts()]
        rows += list(extra)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        for r, (name, keys) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(name))
            self.table.setItem(r, 1, QTableWidgetItem(keys))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(460, 560)


# ---------------------------------------------------------------------------------------------- crashes
def write_crash_report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
                       thread_name: str = "main") -> Path | None:
    """Write the traceback and versions to ``log_dir()/crash-<time>.txt``; return its path (None if impossible)."""
    try:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = paths.log_dir() / f"crash-{stamp}.txt"
        lines = [f"{APP_TITLE} crash report, {_dt.datetime.now().isoformat(timespec='seconds')}",
                 f"Thread: {thread_name}", *[f"{k}: {v}" for k, v in versions().items()], "",
                 "".join(traceback.format_exception(exc_type, exc, tb))]
        path.write_text("\n".join(lines), encoding="utf-8")
        return path
    except Exception:  # noqa: BLE001 - the crash handler itself must never raise
        return None


class CrashHandler(QObject):
    """Installs sys.excepthook and threading.excepthook: every uncaught error gets a report file and a dialog.

    The dialog is shown on the GUI thread (a queued signal), whatever thread crashed.
    """

    crashed = Signal(str, str)  # message, report path

    def __init__(self, parent_window: Callable[[], QWidget | None] = lambda: None) -> None:
        super().__init__()
        self._parent_window = parent_window
        self._previous = (sys.excepthook, threading.excepthook)
        self._showing = False
        self.crashed.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook

    def uninstall(self) -> None:
        sys.excepthook, threading.excepthook = self._previous

    def _excepthook(self, exc_type, exc, tb) -> None:
        self._handle(exc_type, exc, tb, threading.current_thread().name)

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        self._handle(args.exc_type, args.exc_value, args.exc_traceback,
                     args.thread.name if args.thread else "thread")

    def _handle(self, exc_type, exc, tb, thread_name: str) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous[0](exc_type, exc, tb)
            return
        log.critical("Uncaught error in %s", thread_name, exc_info=(exc_type, exc, tb))
        report = write_crash_report(exc_type, exc, tb, thread_name)
        self.crashed.emit(f"{exc_type.__name__}: {exc}", str(report or paths.log_dir()))

    def _show(self, message: str, report: str) -> None:
        if self._showing:  # one dialog at a time; a crash loop must not stack dialogs
            return
        self._showing = True
        try:
            box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected error",
                              "Sorry, something unexpected went wrong. Your queued photos and any results "
                              "already saved are safe; it is best to save your work and restart the app.\n\n"
                              f"A report was written to:\n{report}", QMessageBox.StandardButton.Ok,
                              self._parent_window())
            box.setDetailedText(message)
            logs = box.addButton("Show log folder", QMessageBox.ButtonRole.HelpRole)
            box.exec()
            if box.clickedButton() is logs:
                open_folder(paths.log_dir())
        finally:
            self._showing = False


_restyling = False


def follow_palette_change(event: QEvent) -> None:
    """Style sheets resolve palette() colours once: re-apply the app's on a light/dark switch so they follow it."""
    global _restyling
    if event.type() not in (QEvent.Type.ThemeChange, QEvent.Type.ApplicationPaletteChange) or _restyling:
        return
    app = QApplication.instance()
    if isinstance(app, QApplication) and app.styleSheet():
        _restyling = True
        try:
            app.setStyleSheet(app.styleSheet())
        finally:
            _restyling = False
