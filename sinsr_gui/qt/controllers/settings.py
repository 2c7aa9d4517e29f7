"""The settings the window and every controller share: edits from the panel applied in place, reset, the
window's layout, and saving shortly after each change (and on close), atomically.

It is the one writer of the shared :class:`~sinsr_gui.settings.Settings`: the panel's edits, the View menu's
compare mode, the last folder opened, speed measurements and the first-run choice all go through
:meth:`SettingsController.update` (or :meth:`~SettingsController.record_throughput`); the rest only read.

It says what an edit means for the others: another model (release the loaded one), outdated previews
(settings that change the pixels), another scale.
"""

from __future__ import annotations

import base64
import logging

from PySide6.QtCore import QByteArray, QObject, QTimer, Signal
from PySide6.QtWidgets import QMainWindow

from sinsr_gui.qt.model_status import IMAGE_FIELDS, MODEL_FIELDS
from sinsr_gui.qt.settings_panel import SettingsPanel
from sinsr_gui.settings import USER_FIELDS, Settings, reset_to_defaults, save_settings

log = logging.getLogger(__name__)


class SettingsController(QObject):
    """Keeps ``settings`` (one object, shared: changed in place) in step with ``panel`` and the file."""

    modelChanged = Signal()  # model, device or precision: the loaded model is not the one to use any more
    pixelsChanged = Signal()  # something that changes the result: previews made before would mislead
    scaleChanged = Signal()
    changed = Signal()

    def __init__(self, settings: Settings, panel: SettingsPanel, *, persist: bool = True,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings, self.panel, self.persist = settings, panel, persist
        self._timer = QTimer(self, singleShot=True, interval=400)
        self._timer.timeout.connect(self.save_now)
        panel.settingsChanged.connect(self.apply_edit)

    def apply_edit(self, edited: Settings) -> None:
        """The panel's copy after a user edit (the panel does not show compare_mode: the View menu owns it)."""
        self.update({name: getattr(edited, name) for name in USER_FIELDS if name != "compare_mode"}, show=False)

    def update(self, changes: dict[str, object], *, show: bool = True) -> None:
        """Change fields (in place; ``show``: in the panel too), say what it means, and save soon."""
        old = self.settings.copy()
        for name, value in changes.items():
            setattr(self.settings, name, value)
        if show:
            self.panel.set_settings(self.settings)
        s = self.settings
        if any(getattr(old, f) != getattr(s, f) for f in MODEL_FIELDS):
            self.modelChanged.emit()
        if any(getattr(old, f) != getattr(s, f) for f in IMAGE_FIELDS):
            self.pixelsChanged.emit()
        if old.scale != s.scale:
            self.scaleChanged.emit()
        self.changed.emit()
        self.schedule_save()

    def record_throughput(self, kind: str, device: str, seconds: float, megapixels: float) -> None:
        """A run's measured speed (the next estimate uses it); saved soon, like any change."""
        self.settings.record_throughput(kind, device, seconds, megapixels)
        self.schedule_save()

    def reset(self) -> None:
        """Every user choice back to its default; the rest (window layout, measurements) stays."""
        reset = reset_to_defaults(self.settings)
        self.update({name: getattr(reset, name) for name in USER_FIELDS})

    def restore_layout(self, window: QMainWindow) -> None:
        """The window's size, position and docks as they were last time."""
        s = self.settings
        try:
            if s.window_geometry:
                window.restoreGeometry(QByteArray(base64.b64decode(s.window_geometry)))
            if s.window_state:
                window.restoreState(QByteArray(base64.b64decode(s.window_state)))
        except (ValueError, TypeError):
            log.info("ignoring an unreadable saved window layout")

    def remember_layout(self, window: QMainWindow) -> None:
        self.settings.window_geometry = base64.b64encode(bytes(window.saveGeometry())).decode("ascii")
        self.settings.window_state = base64.b64encode(bytes(window.saveState())).decode("ascii")

    def schedule_save(self) -> None:
        if self.persist:
            self._timer.start()

    def save_now(self) -> None:
        self._timer.stop()
        if not self.persist:
            return
        try:
            save_settings(self.settings)
        except OSError as exc:
            log.warning("cannot save the settings: %s", exc)
