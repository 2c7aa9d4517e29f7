"""Starting the desktop app: logging, the QApplication, the crash handler, the main window.

``run(argv)`` is what ``sinsr-gui`` / ``python -m sinsr_gui`` call; paths given on the command line are added
to the queue.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import signal
import sys
from pathlib import Path

from sinsr_gui import __version__, paths

LOG_FILE = "sinsr-gui.log"
log = logging.getLogger(__name__)


def setup_logging(level: int = logging.INFO) -> Path:
    """Log to a rotating file in the log folder (details and tracebacks live there, not in dialogs)."""
    path = paths.log_dir() / LOG_FILE
    root = logging.getLogger()
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) and Path(h.baseFilename) == path
               for h in root.handlers):
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    return path


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sinsr-gui", description="Upscale photos 4x with SinSR.")
    parser.add_argument("paths", nargs="*", help="photos or folders to add to the queue")
    parser.add_argument("--version", action="version", version=f"sinsr-gui {__version__}")
    # Qt's own options (e.g. -platform, -style) are left for QApplication.
    args, _unknown = parser.parse_known_args(argv)
    return args


def create_application(argv: list[str]):
    """The QApplication with the app's name, icon and style sheet (High-DPI is on by default in Qt 6)."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from sinsr_gui.qt.dialogs import app_icon

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "sinsr-gui", *argv])
    QCoreApplication.setApplicationName("SinSR Upscaler")
    QCoreApplication.setOrganizationName("sinsr-gui")
    QCoreApplication.setApplicationVersion(__version__)
    app.setDesktopFileName("sinsr-gui")  # lets Linux desktops match the window to its .desktop entry and icon
    icon = app_icon()
    if not icon.isNull():
        app.setWindowIcon(icon)
    qss = paths.resource_path("style.qss")
    try:
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
    except OSError:
        log.info("no style sheet at %s", qss)
    return app


def run(argv: list[str] | None = None) -> int:
    """Start the app; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    log_path = setup_logging()
    log.info("starting sinsr-gui %s (log: %s)", __version__, log_path)

    app = create_application(argv)
    from PySide6.QtCore import QTimer

    from sinsr_gui.qt.dialogs import CrashHandler
    from sinsr_gui.qt.main_window import MainWindow

    window: MainWindow | None = None
    crash = CrashHandler(lambda: window)
    crash.install()
    try:
        window = MainWindow()
        window.show()
        if args.paths:
            window.add_paths([Path(p) for p in args.paths])
        # Ctrl+C in a terminal closes the window the normal way (asking about unsaved work). Python only
        # runs signal handlers between bytecodes, so a no-op timer gives it regular chances while Qt waits.
        signal.signal(signal.SIGINT, lambda *_: QTimer.singleShot(0, window.close))
        wake = QTimer()
        wake.timeout.connect(lambda: None)
        wake.start(250)
        code = app.exec()
        wake.stop()
        # The window waited for its workers before closing; this only catches a quit from elsewhere.
        window.shutdown()
        return int(code)
    finally:
        crash.uninstall()
        signal.signal(signal.SIGINT, signal.default_int_handler)
