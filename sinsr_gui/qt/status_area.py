"""The status bar: fixed fields that never overlap. From left to right: the latest message (it takes the
room left over), the running work's progress text, bar and Cancel button, then the model, the pixel under
the mouse and the zoom. Each text field elides what does not fit ("…") and keeps the whole text in its
tooltip; every message also goes to the log, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QLabel,
    QProgressBar,
    QSizePolicy,
    QStatusBar,
    QStyle,
    QStyleOption,
    QToolButton,
    QWidget,
)

log = logging.getLogger(__name__)
MESSAGE_MS = 10_000
PADDING = 6  # px left and right of each field's text


class ElidedLabel(QLabel):
    """A one-line label that shows "…" for what does not fit and the whole text in its tooltip."""

    def __init__(self, tip: str = "", *, width: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self._tip = tip  # what the field is, shown under the text in the tooltip
        self.setToolTip(tip)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setContentsMargins(PADDING, 0, PADDING, 0)
        self.setSizePolicy(QSizePolicy.Policy.Ignored if width is None else QSizePolicy.Policy.Fixed,
                           QSizePolicy.Policy.Preferred)
        if width is not None:
            self.setFixedWidth(width)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str, tip: str | None = None) -> None:
        self._full = text
        whole = tip if tip is not None else text
        self.setToolTip("\n".join(t for t in (whole, self._tip) if t))
        self._elide()

    def setText(self, text: str) -> None:  # noqa: N802 (Qt override: callers set the whole text)
        self.set_full_text(text)

    def is_elided(self) -> bool:
        return self.text() != self._full

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = self.contentsRect().width() - 2 * self.margin()
        QLabel.setText(self, self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(0, room)))


class StatusBar(QStatusBar):
    """A status bar whose messages are shown in a field of their own (``StatusArea.message_label``), so
    they can never be painted under the progress or model fields; ``showMessage`` and ``messageChanged``
    work as usual."""

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        option = QStyleOption()
        option.initFrom(self)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelStatusBar, option, painter, self)


class StatusArea:
    def __init__(self, bar: QStatusBar, cancel: Callable[[], None]) -> None:
        self.bar = bar
        em = bar.fontMetrics().horizontalAdvance("M")

        def fits(sample: str) -> int:  # a field as wide as its longest usual text
            return bar.fontMetrics().horizontalAdvance(sample) + 2 * PADDING + 4

        self.message_label = ElidedLabel()
        self.message_label.setObjectName("statusMessage")
        self.message_label.setMinimumWidth(12 * em)
        self.progress_label = ElidedLabel("The photo being upscaled, its progress and the time left.",
                                          width=18 * em)
        self.progress_bar = QProgressBar()
        self.progress_bar.setFixedWidth(8 * em)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop upscaling (Esc). The photo can be retried later.")
        self.cancel_button.clicked.connect(lambda _checked=False: cancel())
        self.model_label = ElidedLabel("The model, device and precision in use (change them in Settings).",
                                       width=fits("Real-ESRGAN x4plus · CUDA:0 · bf16"))
        self.pixel_label = ElidedLabel("The pixel under the mouse, in the result and in the original.",
                                       width=fits("x 88888, y 88888 (original 8888, 8888)"))
        self.zoom_label = ElidedLabel("Ctrl+0 fits the window, Ctrl+1 shows the result's pixels 1:1.",
                                      width=fits("8888 %"))
        bar.addPermanentWidget(self.message_label, 1)  # permanent: a message never hides the other fields
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            bar.addPermanentWidget(w)
            w.setVisible(False)
        for w in (self.model_label, self.pixel_label, self.zoom_label):
            bar.addPermanentWidget(w)
        bar.messageChanged.connect(self._show_message)
        self._detail = ""

    def say(self, text: str, detail: str = "", timeout_ms: int = MESSAGE_MS) -> None:
        """Show ``text`` (one short sentence); ``detail``, the whole story, goes to the tooltip and the log."""
        self._detail = detail or text
        self.bar.showMessage(text, timeout_ms)
        # Once: the detail usually repeats the sentence with the remedy after it.
        log.info("%s", detail if detail and text in detail else " ".join(p for p in (text, detail) if p))

    def message(self) -> str:
        return self.message_label.full_text()

    def show_pixel(self, x: int, y: int, scale: float) -> None:
        """The output pixel under the mouse and the original pixel it comes from (``scale`` 0: none)."""
        self.pixel_label.set_full_text(f"x {x}, y {y} (original {int(x / scale)}, {int(y / scale)})"
                                       if scale else "")

    def show_zoom(self, zoom: float, scale: float) -> None:
        """``zoom`` of the result's pixels; shown relative to the original photo (``scale``: result / photo
        width), as photo viewers do, so "fit" of a small photo reads as enlarged, not as 31 %."""
        if scale <= 0:
            self.zoom_label.set_full_text("")
            return
        self.zoom_label.set_full_text(f"{zoom * scale * 100:.0f} %",
                                      f"{zoom * scale * 100:.0f} % of the original photo's size (the result's "
                                      f"pixels at {zoom * 100:.0f} %).")

    def show_progress(self, text: str, done: int, total: int) -> None:
        """``total`` 0, or every step done (the result is being finished and saved): busy, no count."""
        finishing = total > 0 and done >= total
        self.progress_bar.setRange(0, 0 if finishing else max(0, total))
        self.progress_bar.setValue(done)
        self.progress_label.set_full_text(text)
        self.set_progress_visible(True)

    def set_progress_visible(self, visible: bool) -> None:
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            w.setVisible(visible)

    @property
    def progress_visible(self) -> bool:
        return self.progress_bar.isVisible()

    def stopping(self, text: str = "Stopping after the current tile…") -> None:
        self.progress_label.set_full_text(text)

    def _show_message(self, text: str) -> None:
        self.message_label.set_full_text(text, self._detail if text else "")
