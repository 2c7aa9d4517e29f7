"""Toolbar and menu actions, with their shortcuts and tooltips.

A mixin of :class:`sinsr_gui.qt.main_window.MainWindow`: it uses the window's state and
widgets.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QIcon,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QStyle,
)

from sinsr_gui.qt.compare_view import CompareMode


class ActionsMixin:
    """Toolbar and menu actions, with their shortcuts and tooltips for the main window."""

    def _icon(self, theme: str, fallback: QStyle.StandardPixmap) -> QIcon:
        return QIcon.fromTheme(theme, self.style().standardIcon(fallback))

    def _action(self, text: str, slot, shortcuts: tuple[str | QKeySequence.StandardKey, ...] = (), tip: str = "",
                icon: QIcon | None = None, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        keys: list[QKeySequence] = []
        for s in shortcuts:
            keys += QKeySequence.keyBindings(s) if isinstance(s, QKeySequence.StandardKey) else [QKeySequence(s)]
        keys = list({k.toString(): k for k in keys if not k.isEmpty()}.values())  # platforms repeat some
        if keys:
            action.setShortcuts(keys)
        if tip:
            key_text = keys[0].toString(QKeySequence.SequenceFormat.NativeText) if keys else ""
            action.setToolTip(f"{tip} ({key_text})" if key_text else tip)
            action.setStatusTip(tip)
        if icon is not None:
            action.setIcon(icon)
        action.setCheckable(checkable)
        # triggered(bool) would land in a slot's first optional argument (e.g. preview's region).
        action.triggered.connect((lambda checked: slot(checked)) if checkable else (lambda _checked=False: slot()))
        self.addAction(action)  # shortcuts work even when menus/toolbars are hidden
        self.shortcut_actions.append(action)
        return action

    def _build_actions(self) -> None:
        SP = QStyle.StandardPixmap  # noqa: N806 - a short alias for a long enum
        K = QKeySequence.StandardKey  # noqa: N806
        self.shortcut_actions: list[QAction] = []
        a = self._action
        self.open_action = a("&Open photos…", self.open_files, (K.Open,), "Add photos to the queue",
                             self._icon("document-open", SP.SP_DialogOpenButton))
        self.open_folder_action = a("Add a &folder…", self.open_folder, ("Ctrl+Shift+O",),
                                    "Add every photo in a folder (and its sub-folders)",
                                    self._icon("folder-open", SP.SP_DirOpenIcon))
        self.paste_action = a("&Paste image", self.paste, (K.Paste,),
                              "Add the image (or image files) on the clipboard",
                              self._icon("edit-paste", SP.SP_FileDialogDetailedView))
        self.save_action = a("&Save", self.save_current, (K.Save,), "Save the result of the selected photo",
                             self._icon("document-save", SP.SP_DialogSaveButton))
        self.save_as_action = a("Save &as…", self.save_as, ("Ctrl+Shift+S",),
                                "Save the selected result under a name and format you choose")
        self.save_all_action = a("Save a&ll", self.save_all, ("Ctrl+Alt+S",), "Save every result not saved yet",
                                 self._icon("document-save-all", SP.SP_DriveHDIcon))
        self.open_output_action = a("Open &output folder", self.open_output_folder, ("Ctrl+Shift+E",),
                                    "Show the folder of the last saved result",
                                    self._icon("folder", SP.SP_DirIcon))
        self.quit_action = a("&Quit", self.close, (K.Quit, "Ctrl+Q"), "Close the app")

        self.upscale_action = a("&Upscale", self.start_processing, ("Ctrl+Return", "Ctrl+Enter"),
                                "Upscale every waiting photo in the queue",
                                self._icon("media-playback-start", SP.SP_MediaPlay))
        self.preview_action = a("&Preview", self.preview, ("P",),
                                "Upscale only the part of the photo in view, to check the result in seconds",
                                self._icon("zoom-in", SP.SP_FileDialogContentsView))
        self.preview_region_action = a("Preview &region…", self.preview_region, ("Shift+P",),
                                       "Draw a rectangle on the photo and upscale only that part")
        self.cancel_action = a("&Cancel", self.cancel, ("Esc",), "Stop the current upscale or preview",
                               self._icon("process-stop", SP.SP_BrowserStop))
        self.retry_action = a("&Retry", self.retry_selected, ("Ctrl+Shift+R",),
                              "Upscale the selected photos again with the current settings",
                              self._icon("view-refresh", SP.SP_BrowserReload))
        self.remove_action = a("Re&move from queue", self.remove_selected, (K.Delete,),
                               "Take the selected photos out of the queue (files are not touched)")
        self.move_up_action = a("Move &up", lambda: self.queue_panel.move_selected(-1), ("Alt+Up",),
                                "Move the selected photos earlier in the queue")
        self.move_down_action = a("Move &down", lambda: self.queue_panel.move_selected(1), ("Alt+Down",),
                                  "Move the selected photos later in the queue")
        for act in (self.remove_action, self.move_up_action, self.move_down_action):
            # Only while the queue has focus: Delete in a text field must still delete text.
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.queue_panel.addAction(act)
            self.removeAction(act)

        self.split_action = a("&Split view", lambda _on: self.set_compare_mode(CompareMode.SPLIT), ("S",),
                              "Before on the left of the divider, after on the right", checkable=True)
        self.side_action = a("Side &by side", lambda _on: self.set_compare_mode(CompareMode.SIDE_BY_SIDE), ("B",),
                             "Before and after next to each other, zoomed and moved together", checkable=True)
        group = QActionGroup(self)
        for act in (self.split_action, self.side_action):
            group.addAction(act)
        (self.split_action if self.compare_view.mode() is CompareMode.SPLIT else self.side_action).setChecked(True)
        self.zoom_in_action = a("Zoom &in", self.compare_view.zoom_in, (K.ZoomIn, "Ctrl+="), "Zoom in",
                                self._icon("zoom-in", SP.SP_ArrowUp))
        self.zoom_out_action = a("Zoom &out", self.compare_view.zoom_out, (K.ZoomOut,), "Zoom out",
                                 self._icon("zoom-out", SP.SP_ArrowDown))
        self.zoom_fit_action = a("&Fit to window", self.compare_view.zoom_to_fit, ("Ctrl+0",),
                                 "Show the whole photo", self._icon("zoom-fit-best", SP.SP_TitleBarMaxButton))
        self.zoom_actual_action = a("&Actual size (100 %)", self.compare_view.zoom_actual, ("Ctrl+1",),
                                    "One result pixel per screen pixel",
                                    self._icon("zoom-original", SP.SP_TitleBarNormalButton))
        self.full_screen_action = a("F&ull screen", self._toggle_full_screen, (K.FullScreen, "F11"),
                                    "Use the whole screen", checkable=True)
        queue_toggle = self.queue_dock.toggleViewAction()
        queue_toggle.setShortcut(QKeySequence("F7"))
        settings_toggle = self.settings_dock.toggleViewAction()
        settings_toggle.setShortcut(QKeySequence("F8"))
        self.shortcut_actions += [queue_toggle, settings_toggle]

        self.get_model_action = a("&Get the SinSR model…", self.show_first_run, (),
                                  "Download or import the SinSR model")
        self.reset_action = a("&Reset settings to defaults", self.reset_settings, (),
                              "Put every setting back to how it was on first launch")
        self.shortcuts_action = a("&Keyboard shortcuts", self.show_shortcuts, (K.HelpContents, "Ctrl+/"),
                                  "List every keyboard shortcut")
        self.log_action = a("Show &log folder", self.show_log_folder, (), "Open the folder with the log files")
        self.about_action = a("&About", self.show_about, (), "Versions, device and licences")

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for act in (self.open_action, self.open_folder_action, self.paste_action, None, self.save_action,
                    self.save_as_action, self.save_all_action, self.open_output_action, None, self.quit_action):
            file_menu.addSeparator() if act is None else file_menu.addAction(act)
        queue_menu = menu.addMenu("&Queue")
        for act in (self.upscale_action, self.preview_action, self.preview_region_action, self.cancel_action,
                    None, self.retry_action, self.remove_action, self.move_up_action, self.move_down_action):
            queue_menu.addSeparator() if act is None else queue_menu.addAction(act)
        view_menu = menu.addMenu("&View")
        for act in (self.split_action, self.side_action, None, self.zoom_in_action, self.zoom_out_action,
                    self.zoom_fit_action, self.zoom_actual_action, None, queue_toggle, settings_toggle,
                    self.full_screen_action):
            view_menu.addSeparator() if act is None else view_menu.addAction(act)
        model_menu = menu.addMenu("&Model")
        model_menu.addAction(self.get_model_action)
        model_menu.addAction(self.reset_action)
        help_menu = menu.addMenu("&Help")
        for act in (self.shortcuts_action, self.log_action, None, self.about_action):
            help_menu.addSeparator() if act is None else help_menu.addAction(act)

        tools = self.addToolBar("Main")
        tools.setObjectName("mainToolBar")
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for act in (self.open_action, self.paste_action, None, self.upscale_action, self.preview_action,
                    self.cancel_action, None, self.save_action, self.save_all_action, None, self.split_action,
                    self.side_action, None, self.zoom_fit_action, self.zoom_actual_action):
            tools.addSeparator() if act is None else tools.addAction(act)
