"""The window's actions as data: text, shortcuts, tooltip and icon of each, and where they appear (menus,
toolbar). The main window holds the table of what each action does and builds them with
:class:`WindowActions`; ``qt.messages`` names menu paths from here (a test checks they exist).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QKeySequenceEdit,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QStyle,
    QTextEdit,
    QToolBar,
    QWidget,
)

SP = QStyle.StandardPixmap
K = QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    text: str
    shortcuts: tuple[str | QKeySequence.StandardKey, ...] = ()
    tip: str = ""
    icon: tuple[str, QStyle.StandardPixmap] | None = None  # theme name, fallback
    checkable: bool = False
    queue_only: bool = False  # only while the queue has focus (Delete in a text field must delete text)


SPECS: dict[str, ActionSpec] = {
    "open": ActionSpec("&Open photos…", (K.Open,), "Add photos to the queue", ("document-open", SP.SP_DialogOpenButton)),
    "open_folder": ActionSpec("Add a &folder…", ("Ctrl+Shift+O",), "Add every photo in a folder (and its sub-folders)",
                              ("folder-open", SP.SP_DirOpenIcon)),
    "paste": ActionSpec("&Paste image", (K.Paste,), "Add the image (or image files) on the clipboard",
                        ("edit-paste", SP.SP_FileDialogDetailedView)),
    "save": ActionSpec("&Save", (K.Save,), "Save the result of the selected photo",
                       ("document-save", SP.SP_DialogSaveButton)),
    "save_as": ActionSpec("Save &as…", ("Ctrl+Shift+S",), "Save the selected result under a name and format you choose"),
    "save_all": ActionSpec("Save a&ll", ("Ctrl+Alt+S",), "Save every result not saved yet",
                           ("document-save-all", SP.SP_DriveHDIcon)),
    "open_output": ActionSpec("Open &output folder", ("Ctrl+Shift+E",), "Show the folder of the last saved result",
                              ("folder", SP.SP_DirIcon)),
    "quit": ActionSpec("&Quit", ("Ctrl+Q",), "Close the app"),
    "upscale": ActionSpec("&Upscale", ("Ctrl+Return", "Ctrl+Enter"), "Upscale every waiting photo in the queue",
                          ("media-playback-start", SP.SP_MediaPlay)),
    "preview": ActionSpec("&Preview", ("P",), "Upscale only the part of the photo in view, to check the result in "
                          "seconds", ("zoom-in", SP.SP_FileDialogContentsView)),
    "preview_region": ActionSpec("Preview &region…", ("Shift+P",), "Draw a rectangle on the photo and upscale only "
                                 "that part"),
    "cancel": ActionSpec("&Cancel", ("Esc",), "Stop the current upscale or preview", ("process-stop", SP.SP_BrowserStop)),
    "retry": ActionSpec("&Retry", ("Ctrl+Shift+R",), "Upscale the selected photos again with the current settings",
                        ("view-refresh", SP.SP_BrowserReload)),
    "remove": ActionSpec("Re&move from queue", (K.Delete,), "Take the selected photos out of the queue (files are "
                         "not touched)", queue_only=True),
    "move_up": ActionSpec("Move &up", ("Alt+Up",), "Move the selected photos earlier in the queue", queue_only=True),
    "move_down": ActionSpec("Move &down", ("Alt+Down",), "Move the selected photos later in the queue", queue_only=True),
    "split": ActionSpec("&Split view", ("S",), "Before on the left of the divider, after on the right", checkable=True),
    "side": ActionSpec("Side &by side", ("B",), "Before and after next to each other, zoomed and moved together",
                       checkable=True),
    "compare_previous": ActionSpec("Compare with the &previous result", ("A",), "After upscaling a photo again "
                                   "(another model, seed or sampler): show the previous result (A) instead of "
                                   "before, against the new one (B)", checkable=True),
    "swap_results": ActionSpec("&Keep the previous result", ("Ctrl+Shift+K",), "Make the previous result the "
                               "photo's result again (Save then saves it); the newer one becomes the previous"),
    "before_original": ActionSpec("Before as &original pixels", (), "Show the photo's own pixels on the before "
                                  "side instead of a bicubic enlargement (which compares fairly at every zoom)",
                                  checkable=True),
    "zoom_in": ActionSpec("Zoom &in", (K.ZoomIn, "Ctrl+="), "Zoom in", ("zoom-in", SP.SP_ArrowUp)),
    "zoom_out": ActionSpec("Zoom &out", (K.ZoomOut,), "Zoom out", ("zoom-out", SP.SP_ArrowDown)),
    "zoom_fit": ActionSpec("&Fit to window", ("Ctrl+0",), "Show the whole photo",
                           ("zoom-fit-best", SP.SP_TitleBarMaxButton)),
    "zoom_actual": ActionSpec("&Result pixels 1:1", ("Ctrl+1",), "One result pixel per screen pixel",
                              ("zoom-original", SP.SP_TitleBarNormalButton)),
    "full_screen": ActionSpec("F&ull screen", (K.FullScreen, "F11"), "Use the whole screen", checkable=True),
    "get_model": ActionSpec("&Get the SinSR model…", (), "Download or import the SinSR model, or choose a "
                            "built-in model"),
    "import_model": ActionSpec("&Import a model file…", (), "Use another upscaling model (ESRGAN, SwinIR, HAT, "
                               "SPAN and more, e.g. from OpenModelDB): its licence is yours to check"),
    "get_realesr_general": ActionSpec("Download Real-ESRGAN &general v3…", (), "A small, fast Real-ESRGAN "
                                      "model (BSD-3-Clause), 5 MB"),
    "reset": ActionSpec("&Reset settings to defaults", (), "Put every setting back to how it was on first launch"),
    "shortcuts": ActionSpec("&Keyboard shortcuts", (K.HelpContents, "Ctrl+/"), "List every keyboard shortcut"),
    "log": ActionSpec("Show &log folder", (), "Open the folder with the log files"),
    "about": ActionSpec("&About", (), "Versions, device and licences"),
}
# Menus and the toolbar; None is a separator, "queue_dock"/"settings_dock" the docks' own toggles.
MENUS: dict[str, tuple[str | None, ...]] = {
    "&File": ("open", "open_folder", "paste", None, "save", "save_as", "save_all", "open_output", None, "quit"),
    "&Queue": ("upscale", "preview", "preview_region", "cancel", None, "retry", "remove", "move_up", "move_down"),
    "&View": ("split", "side", None, "compare_previous", "swap_results", "before_original", None, "zoom_in", "zoom_out", "zoom_fit", "zoom_actual", None, "queue_dock",
              "settings_dock", "full_screen"),
    "&Model": ("get_model", None, "import_model", "get_realesr_general", None, "reset"),
    "&Help": ("shortcuts", "log", None, "about"),
}
TOOLBAR = ("open", "paste", None, "upscale", "preview", "cancel", None, "save", "save_all", None, "split", "side",
           None, "zoom_fit", "zoom_actual")
EXCLUSIVE = ("split", "side")  # one of these is checked


class WindowActions:
    """The window's QActions by name (``actions.save``); ``shortcut_actions`` lists those with keys.

    ``handlers`` maps each name of :data:`SPECS` to what it does (checkable ones get the new state);
    ``extra`` adds ready-made actions (the docks' toggles) by name.
    """

    def __init__(self, window: QMainWindow, handlers: dict[str, Callable], queue_widget: QWidget,
                 extra: dict[str, QAction]) -> None:
        missing = set(SPECS) - set(handlers)
        if missing:
            raise ValueError(f"no handler for the actions {sorted(missing)}")
        self._actions: dict[str, QAction] = {}
        self.shortcut_actions: list[QAction] = []
        for name, spec in SPECS.items():
            action = _make(window, spec, handlers[name])
            if spec.queue_only:
                action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                queue_widget.addAction(action)
            else:
                window.addAction(action)  # shortcuts work even when menus/toolbars are hidden
            self._actions[name] = action
            self.shortcut_actions.append(action)
        self._actions.update(extra)
        self.shortcut_actions += list(extra.values())
        group = QActionGroup(window)
        for name in EXCLUSIVE:
            group.addAction(self._actions[name])
        for title, names in MENUS.items():
            _fill(window.menuBar().addMenu(title), [self._actions[n] if n else None for n in names])
        tools = window.addToolBar("Main")
        tools.setObjectName("mainToolBar")
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        _fill(tools, [self._actions[n] if n else None for n in TOOLBAR])

        self.keys = SingleKeys(window, self.shortcut_actions)

    def __getattr__(self, name: str) -> QAction:
        try:
            return self.__dict__["_actions"][name]
        except KeyError:
            raise AttributeError(name) from None


def _make(window: QWidget, spec: ActionSpec, slot: Callable) -> QAction:
    action = QAction(spec.text, window)
    keys: list[QKeySequence] = []
    for s in spec.shortcuts:
        keys += QKeySequence.keyBindings(s) if isinstance(s, QKeySequence.StandardKey) else [QKeySequence(s)]
    keys = list({k.toString(): k for k in keys if not k.isEmpty()}.values())  # platforms repeat some
    if keys:
        action.setShortcuts(keys)
    if spec.tip:
        key_text = keys[0].toString(QKeySequence.SequenceFormat.NativeText) if keys else ""
        action.setToolTip(f"{spec.tip} ({key_text})" if key_text else spec.tip)
        action.setStatusTip(spec.tip)
    if spec.icon is not None:
        theme, fallback = spec.icon
        action.setIcon(QIcon.fromTheme(theme, window.style().standardIcon(fallback)))
    action.setCheckable(spec.checkable)
    # triggered(bool) would land in a slot's first optional argument (e.g. preview's region).
    action.triggered.connect((lambda checked: slot(checked)) if spec.checkable else (lambda _checked=False: slot()))
    return action


def _fill(target: QMenu | QToolBar, actions: list[QAction | None]) -> None:
    for action in actions:
        target.addSeparator() if action is None else target.addAction(action)


def key_code(key: Qt.Key | int) -> int:
    return key if isinstance(key, int) else key.value


def typing_widget(widget: QWidget | None) -> bool:
    """A widget where letters and Space are text (or press a button), not commands."""
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    return isinstance(widget, QLineEdit | QAbstractSpinBox | QTextEdit | QPlainTextEdit | QKeySequenceEdit
                      | QAbstractButton)


class SingleKeys(QObject):
    """Single-key shortcuts (A, P, S, B) and held keys (Space: flip) that a focused list or combo box cannot
    take for its type-ahead search: while the focus is anywhere in ``window`` (its docks too, floating or
    not) but not in a text field or on a button, such a key is the window's command.

    Qt's own shortcut map runs first and usually triggers the action; this filter only sees the key when a
    focused widget claimed it (a list's or combo box's keyboard search), and triggers it then. ``hold``
    maps a key to what happens while it is held (True on press, False on release); ``own_keys`` is a
    widget that handles these keys itself while it has the focus (the compare view).
    """

    def __init__(self, window: QWidget, actions: list[QAction]) -> None:
        super().__init__(window)
        self.window = window
        self.hold: dict[int, Callable[[bool], None]] = {}
        self.own_keys: QWidget | None = None
        self._actions: dict[int, QAction] = {}
        for action in actions:
            for key in action.shortcuts():
                combo = key[0] if key.count() == 1 else None
                if combo is not None and combo.keyboardModifiers() == Qt.KeyboardModifier.NoModifier and (
                        key_code(Qt.Key.Key_0) <= key_code(combo.key()) <= key_code(Qt.Key.Key_Z)):
                    self._actions[key_code(combo.key())] = action
        QApplication.instance().installEventFilter(self)
        window.destroyed.connect(lambda *_: self._uninstall())

    def keys(self) -> list[str]:
        return [QKeySequence(k).toString() for k in self._actions]

    def _uninstall(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)

    def _inside(self, widget: QWidget | None) -> bool:
        while widget is not None:
            if widget is self.window:
                return True
            widget = widget.parentWidget()
        return False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) or not isinstance(event, QKeyEvent):
            return False
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            return False
        key = key_code(event.key())
        if key not in self._actions and key not in self.hold:
            return False
        focus = QApplication.focusWidget()
        if QApplication.activePopupWidget() is not None:
            return False  # an open menu or combo box list takes its own keys
        if watched is not focus or not self._inside(focus) or typing_widget(focus):
            return False  # the event on its way to the focus widget, once; text fields keep their letters
        if self.own_keys is not None and (focus is self.own_keys or self.own_keys.isAncestorOf(focus)):
            return False
        if key in self.hold:
            if not event.isAutoRepeat():
                self.hold[key](kind == QEvent.Type.KeyPress)
            return True
        action = self._actions[key]
        if kind == QEvent.Type.KeyPress and not event.isAutoRepeat() and action.isEnabled():
            action.trigger()
        return True
