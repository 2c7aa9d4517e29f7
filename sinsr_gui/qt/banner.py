"""A message bar above the photo (like KDE's KMessageWidget or a browser's info bar): one sentence, a few
buttons for what to do next, and a close button. It takes one line of the window, never a side panel, and
stays until the user closes it or the window replaces it with newer news. A view only."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QStyle, QToolButton, QWidget


class Banner(QFrame):
    """``show_message(text, buttons)``; ``closed(kind)`` when the user dismisses it with its close button."""

    closed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_TitleBarCloseButton))
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Close this message")
        self.close_button.setAccessibleName("Close this message")
        self.close_button.clicked.connect(self.dismiss)
        self._buttons: list[QPushButton] = []
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(10, 4, 4, 4)
        self._layout.addWidget(self.label, 1)
        self._layout.addWidget(self.close_button)
        self.kind = ""  # what the message is about (e.g. "batch", "first_run"): the window replaces by kind
        self.hide()

    def show_message(self, text: str, buttons: list[tuple[str, Callable[[], None]]] = (), *, kind: str = "",
                     tip: str = "") -> None:
        """Show ``text`` with ``buttons`` ((label, what it does); a button also closes the banner)."""
        for button in self._buttons:
            self._layout.removeWidget(button)
            button.deleteLater()
        self._buttons = []
        self.kind = kind
        self.label.setText(text)
        self.label.setToolTip(tip)
        for i, (label, action) in enumerate(buttons):
            button = QPushButton(label)
            button.clicked.connect(lambda _checked=False, a=action: (self._close_quietly(), a()))
            self._layout.insertWidget(1 + i, button)
            self._buttons.append(button)
        self.show()

    def buttons(self) -> dict[str, QPushButton]:
        return {b.text(): b for b in self._buttons}

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        """The user closed it."""
        kind = self.kind
        self._close_quietly()
        self.closed.emit(kind)

    def clear(self, kind: str | None = None) -> None:
        """Hide it (only if it shows ``kind``, when given) without counting as a dismissal."""
        if kind is None or self.kind == kind:
            self._close_quietly()

    def _close_quietly(self) -> None:
        self.hide()
        self.kind = ""
