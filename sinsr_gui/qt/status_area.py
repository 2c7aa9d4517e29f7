"""The status bar: one short sentence at a time (the whole text in its tooltip and the log, never cut off),
the progress of the running work with a Cancel button, and the model, pixel and zoom labels."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton

log = logging.getLogger(__name__)
MESSAGE_MS = 10_000


class StatusArea:
    def __init__(self, bar: QStatusBar, cancel: Callable[[], None]) -> None:
        self.bar = bar
        self.progress_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop upscaling (Esc). The photo can be retried later.")
        self.cancel_button.clicked.connect(lambda _checked=False: cancel())
        self.model_label = QLabel()
        self.model_label.setToolTip("The model, device and precision in use (change them in Settings).")
        self.zoom_label = QLabel()
        self.zoom_label.setToolTip("Zoom of the comparison (Ctrl+0 fits the window, Ctrl+1 is 100 %).")
        self.pixel_label = QLabel()
        self.pixel_label.setToolTip("The pixel under the mouse, in the result and in the original.")
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            bar.addPermanentWidget(w)
            w.setVisible(False)
        for w in (self.model_label, self.pixel_label, self.zoom_label):
            bar.addPermanentWidget(w)
        bar.messageChanged.connect(lambda text: text or bar.setToolTip(""))

    def say(self, text: str, detail: str = "", timeout_ms: int = MESSAGE_MS) -> None:
        """Show ``text`` (one short sentence); ``detail``, the whole story, goes to the tooltip and the log."""
        self.bar.showMessage(text, timeout_ms)
        self.bar.setToolTip(detail or text)
        if detail:
            log.info("%s %s", text, detail)

    def show_pixel(self, x: int, y: int, scale: float) -> None:
        """The output pixel under the mouse and the original pixel it comes from (``scale`` 0: none)."""
        self.pixel_label.setText(f"x {x}, y {y} (original {int(x / scale)}, {int(y / scale)})" if scale else "")

    def show_progress(self, text: str, done: int, total: int) -> None:
        """``total`` 0: busy without a count yet (loading the model, reading the photo)."""
        self.progress_bar.setRange(0, max(0, total))
        self.progress_bar.setValue(done)
        self.progress_label.setText(text)
        self.set_progress_visible(True)

    def set_progress_visible(self, visible: bool) -> None:
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            w.setVisible(visible)

    @property
    def progress_visible(self) -> bool:
        return self.progress_bar.isVisible()

    def stopping(self, text: str = "Stopping after the current tile…") -> None:
        self.progress_label.setText(text)
