"""The main window: the controller. It owns the queue of photos and the settings, wires the views (queue,
compare view, settings, first-run panel) together, and runs all engine work in workers so the window never
freezes.

Where results go: a result stays in memory until it is saved (Ctrl+S, Save all), except that runs over
several photos save each result as soon as it is ready (the "Save automatically" setting). Nothing is ever
written over an input, and closing with unsaved results asks first.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import functools
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QRect, QStandardPaths, Qt, QThread, QTimer, Slot
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QImage,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QStyle,
    QToolButton,
    QWidget,
)

from sinsr_gui import paths
from sinsr_gui.qt import dialogs
from sinsr_gui.qt.compare_view import CompareMode, CompareView
from sinsr_gui.qt.first_run import FirstRunPanel, format_duration
from sinsr_gui.qt.queue_panel import QueuePanel
from sinsr_gui.qt.settings_panel import SettingsPanel
from sinsr_gui.qt.worker import (
    DownloadProgress,
    JobOutcome,
    LoadOutcome,
    ModelInfo,
    PreviewOutcome,
    Saved,
    Thumbnail,
    Worker,
    download_task,
    import_task,
    load_task,
    preview_task,
    save_task,
    start_in_thread,
    thumbnail_task,
    upscale_task,
)
from sinsr_gui.settings import USER_FIELDS, Settings, load_settings, reset_to_defaults, save_settings

log = logging.getLogger(__name__)

APP_TITLE = dialogs.APP_TITLE
IMAGE_FILTER_SUFFIXES = ("*.png *.jpg *.jpeg *.jpe *.jfif *.webp *.tif *.tiff *.bmp *.dib *.gif "
                         "*.avif *.heic *.heif")
PREVIEW_MARGIN = 16  # LR pixels of context around a preview region, so its borders look like the full run
PREVIEW_TARGET_S = 6.0  # a preview region is sized to take about this long, from measured speed
_MODEL_FIELDS = ("model", "device", "precision")
SINSR_WEIGHTS = ("sinsr_v1", "vq_f4")  # the registry entries SinSR needs: denoiser and autoencoder
_IMAGE_FIELDS = ("model", "precision", "seed", "scale", "tile", "overlap")  # changing these outdates previews


@dataclass
class Job:
    """One photo in the queue and what became of it."""

    id: int
    path: Path
    root: Path  # the folder it was found under; sub-folders are mirrored into an output folder
    pasted: bool = False
    state: str = "waiting"
    message: str = ""
    size: tuple[int, int] | None = None  # (width, height) of the input
    result: JobOutcome | None = None
    saved_path: Path | None = None

    @property
    def unsaved(self) -> bool:
        return self.result is not None and self.saved_path is None


class MainWindow(QMainWindow):
    """The app window. ``settings`` defaults to the saved ones, ``cache`` to a new ModelCache and ``registry``
    (where weights are downloaded from) to the default one; tests pass their own."""

    def __init__(self, settings: Settings | None = None, *, cache: Any = None, registry: Any = None,
                 persist: bool = True) -> None:
        super().__init__()
        from sinsr_gui.engine.models import ModelCache
        from sinsr_gui.weights.registry import DEFAULT_REGISTRY

        self.registry = registry if registry is not None else DEFAULT_REGISTRY

        self.settings = settings.copy() if settings is not None else load_settings()
        self.cache = cache if cache is not None else ModelCache()
        self._persist = persist  # tests turn writing settings.json off where it does not matter
        self.jobs: dict[int, Job] = {}
        self._next_id = 1
        self._runs: list[tuple[Worker, QThread]] = []
        self._job_worker: Worker | None = None
        self._job_id: int | None = None
        self._preview_worker: Worker | None = None
        self._save_worker: Worker | None = None
        self._weights_worker: Worker | None = None
        self._processing = False
        self._batch = False
        self._batch_counts = {"done": 0, "failed": 0}
        self._tiles: tuple[int, int] = (0, 0)
        self._tiles_started: float | None = None
        self._job_started: float | None = None
        self._current_id = -1
        self._current: LoadOutcome | None = None
        self._load_token = 0
        self._preview_token = 0
        self._model_info: ModelInfo | None = None
        self._last_saved_folder: Path | None = None
        self._close_confirmed = False
        self._close_pending = False
        self._restyling = False
        self._shutting_down = False

        self.setWindowTitle(f"{APP_TITLE}[*]")
        icon = app_icon()
        if not icon.isNull():
            self.setWindowIcon(icon)
        self.setAcceptDrops(True)
        self.resize(1280, 820)

        self.compare_view = CompareView(self, mode=CompareMode(self.settings.compare_mode))
        self.compare_view.set_flip_key(Qt.Key.Key_Space)
        self.setCentralWidget(self.compare_view)

        self.queue_panel = QueuePanel()
        self.queue_dock = self._dock("Photos", "queueDock", self.queue_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.settings_panel = SettingsPanel(self.settings, self._model_choices(), self._device_choices())
        self.settings_dock = self._dock("Settings", "settingsDock", self.settings_panel,
                                        Qt.DockWidgetArea.RightDockWidgetArea)
        store = self._store()
        self.first_run_panel = FirstRunPanel(self._licences(store), compact_available=self._compact_available())
        self.first_run_dock = self._dock("Get the SinSR model", "firstRunDock", self.first_run_panel,
                                         Qt.DockWidgetArea.RightDockWidgetArea)
        # One right-hand column: on a first launch the model choice is the tab in front.
        self.tabifyDockWidget(self.settings_dock, self.first_run_dock)
        self.resizeDocks([self.queue_dock, self.settings_dock], [240, 360], Qt.Orientation.Horizontal)

        self._build_status_bar()
        self._build_actions()
        self._connect_views()

        self._settings_timer = QTimer(self, singleShot=True, interval=400)
        self._settings_timer.timeout.connect(self.save_settings_now)
        self._tick_timer = QTimer(self, interval=1000)
        self._tick_timer.timeout.connect(self._update_progress_text)

        self._restore_layout()
        self._update_first_run(store)
        self._update_model_label()
        self._update_actions()
        self._update_title()

    # =========================================================================================== building
    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop upscaling (Esc). The photo can be retried later.")
        self.cancel_button.clicked.connect(self.cancel)
        self.model_label = QLabel()
        self.model_label.setToolTip("The model, device and precision in use (change them in Settings).")
        self.zoom_label = QLabel()
        self.zoom_label.setToolTip("Zoom of the comparison (Ctrl+0 fits the window, Ctrl+1 is 100 %).")
        self.pixel_label = QLabel()
        self.pixel_label.setToolTip("The pixel under the mouse, in the result and in the original.")
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            bar.addPermanentWidget(w)
            w.setVisible(False)
        bar.addPermanentWidget(self.model_label)
        bar.addPermanentWidget(self.pixel_label)
        bar.addPermanentWidget(self.zoom_label)

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

    def _connect_views(self) -> None:
        q = self.queue_panel
        q.addRequested.connect(self.open_files)
        q.removeRequested.connect(self.remove_jobs)
        q.retryRequested.connect(self.retry_jobs)
        q.currentItemChanged.connect(self._on_current_changed)
        q.orderChanged.connect(self._on_order_changed)
        q.list.itemSelectionChanged.connect(self._update_actions)
        cv = self.compare_view
        cv.zoomChanged.connect(self._on_zoom_changed)
        cv.cursorPixelChanged.connect(self._on_cursor_pixel)
        cv.regionSelected.connect(self._on_region_selected)
        self.settings_panel.settingsChanged.connect(self._on_settings_changed)
        self.settings_panel.resetRequested.connect(self.reset_settings)
        fr = self.first_run_panel
        fr.downloadRequested.connect(self.start_download)
        fr.cancelDownloadRequested.connect(self.cancel_download)
        fr.importRequested.connect(self.import_weights)
        fr.useCompactRequested.connect(self.use_compact)

    def _restore_layout(self) -> None:
        s = self.settings
        try:
            if s.window_geometry:
                self.restoreGeometry(QByteArray(base64.b64decode(s.window_geometry)))
            if s.window_state:
                self.restoreState(QByteArray(base64.b64decode(s.window_state)))
        except (ValueError, TypeError):
            log.info("ignoring an unreadable saved window layout")

    # ======================================================================================== the queue
    def add_paths(self, raw_paths: list[str | Path], *, pasted: bool = False) -> int:
        """Add files, or the photos inside folders, to the queue; returns how many were added."""
        from sinsr_gui.engine.imageio import find_images

        existing = [Path(p) for p in raw_paths if Path(p).exists()]
        missing = [Path(p) for p in raw_paths if not Path(p).exists()]
        known = {j.path.resolve() for j in self.jobs.values()}
        added: list[Job] = []
        for file, root in find_images(existing):
            if file.resolve() in known:
                continue
            known.add(file.resolve())
            job = Job(self._next_id, file, root, pasted=pasted)
            self._next_id += 1
            self.jobs[job.id] = job
            self.queue_panel.add_item(job.id, file.name, str(file))
            added.append(job)
        if added:
            self._start_worker(Worker(functools.partial(thumbnail_task, items=[(j.id, j.path) for j in added]),
                                      name="thumbnails"), yielded=self._on_thumbnail)
            self.statusBar().showMessage(f"Added {_count(len(added), 'photo')}. Press Ctrl+Return to upscale, "
                                         "or P to preview the part in view.", 8000)
        elif missing:
            self.statusBar().showMessage(f'"{missing[0]}" does not exist; check it was not moved or renamed.', 8000)
        elif raw_paths:
            self.statusBar().showMessage("No new photos there (they may already be in the queue).", 6000)
        if missing and added:
            log.info("not found: %s", missing)
        if self._processing and added:
            self._start_next()
        self._update_actions()
        return len(added)

    def remove_jobs(self, ids: list[int]) -> None:
        ids = [i for i in ids if i in self.jobs]
        unsaved = [i for i in ids if self.jobs[i].unsaved]
        if unsaved:
            what = "1 photo has a result that is" if len(unsaved) == 1 else f"{len(unsaved)} photos have results that are"
            if not dialogs.ask(self, "Remove unsaved results?", f"{what} not saved yet. Remove anyway?",
                               yes="Remove", no="Keep"):
                return
        for i in ids:
            if i == self._job_id and self._job_worker is not None:
                self._job_worker.cancel()  # its outcome is dropped when it arrives
            self.jobs.pop(i, None)
        self.queue_panel.remove_items(ids)
        if self._current_id in ids:
            self._on_current_changed(self.queue_panel.current_id())
        self._update_actions()
        self._update_title()

    def remove_selected(self) -> None:
        self.remove_jobs(self.queue_panel.selected_ids())

    def retry_jobs(self, ids: list[int]) -> None:
        retry = [self.jobs[i] for i in ids if i in self.jobs and self.jobs[i].state in ("failed", "cancelled", "done")]
        if not retry:
            return
        unsaved = [j for j in retry if j.unsaved]
        if unsaved and not dialogs.ask(self, "Replace unsaved results?",
                                       "Upscaling again replaces results that are not saved yet.",
                                       yes="Upscale again", no="Keep"):
            return
        for job in retry:
            job.state, job.message, job.result, job.saved_path = "waiting", "", None, None
            self.queue_panel.set_state(job.id, "waiting")
            if job.id == self._current_id and self._current is not None:
                self._current.after = None
                self.compare_view.set_after(None)
        self._update_title()
        self.start_processing()

    def retry_selected(self) -> None:
        self.retry_jobs(self.queue_panel.selected_ids() or [self._current_id])

    def _ordered_jobs(self) -> list[Job]:
        """Jobs in queue order (the order the user sees, and may drag to change)."""
        return [self.jobs[i] for i in self.queue_panel.item_ids() if i in self.jobs]

    def _on_order_changed(self, _ids: list[int]) -> None:
        self.statusBar().showMessage("Queue order changed: photos are upscaled from the top.", 4000)

    def _on_thumbnail(self, thumb: Thumbnail) -> None:
        job = self.jobs.get(thumb.job_id)
        if job is None:
            return
        if thumb.image is not None:
            self.queue_panel.set_thumbnail(job.id, thumb.image)
        if thumb.size is not None:
            job.size = thumb.size
            self.queue_panel.set_size_text(job.id, f"{thumb.size[0]} × {thumb.size[1]}")

    # ============================================================================================ input
    def open_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add photos", self.settings.last_open_dir,
                                                f"Images ({IMAGE_FILTER_SUFFIXES});;All files (*)")
        if files:
            self.settings.last_open_dir = str(Path(files[0]).parent)
            self._schedule_settings_save()
            self.add_paths(files)

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of photos", self.settings.last_open_dir)
        if folder:
            self.settings.last_open_dir = folder
            self._schedule_settings_save()
            self.add_paths([folder])

    def paste(self) -> None:
        """Clipboard files are added as they are; a bitmap is first saved as a PNG in the cache folder, so it
        behaves like any other file (thumbnail, retry, metadata-free save)."""
        mime = QApplication.clipboard().mimeData()
        files = _local_files(mime)
        if files:
            self.add_paths(files)
            return
        self._add_image(QApplication.clipboard().image())

    def _add_image(self, image: QImage) -> None:
        if image.isNull():
            self.statusBar().showMessage("The clipboard has no image: copy an image or image files first.", 6000)
            return
        folder = paths.cache_dir() / "pasted"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now().strftime("%Y-%m-%d %H.%M.%S")
        target = folder / f"Pasted image {stamp}.png"
        n = 1
        while target.exists():
            target = folder / f"Pasted image {stamp} ({n}).png"
            n += 1
        if not image.save(str(target), "PNG"):
            dialogs.show_error(self, f"Could not keep the pasted image in {folder}; check there is free disk space.")
            return
        self.add_paths([target], pasted=True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        mime = event.mimeData()
        if _local_files(mime) or mime.hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt override)
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        mime = event.mimeData()
        files = _local_files(mime)
        if files:
            event.acceptProposedAction()
            self.add_paths(files)
        elif mime.hasImage():
            event.acceptProposedAction()
            self._add_image(QImage(mime.imageData()))

    # ====================================================================================== processing
    def start_processing(self) -> None:
        """Upscale every waiting photo, in queue order, one at a time."""
        waiting = [j for j in self._ordered_jobs() if j.state == "waiting"]
        if not waiting and self._job_worker is None:
            if not self.jobs:
                self.statusBar().showMessage("Add photos first: drop them on the window or press Ctrl+O.", 6000)
            else:
                self.statusBar().showMessage("Nothing is waiting. To upscale a photo again (after a change of "
                                             "settings, a failure or a cancel), select it and press Retry "
                                             "(Ctrl+Shift+R).", 8000)
            return
        if not self._processing:
            self._processing = True
            self._batch = len(waiting) + (1 if self._job_worker is not None else 0) > 1
            self._batch_counts = {"done": 0, "failed": 0}
            estimate = self._estimate_seconds(waiting)
            what = waiting[0].path.name if len(waiting) == 1 else _count(len(waiting), "photo")
            when = format_duration(estimate) if estimate is not None else "time known after the first tiles"
            self.statusBar().showMessage(f"Upscaling {what}: {when}.", 10000)
        self._start_next()

    def _start_next(self) -> None:
        if self._job_worker is not None or not self._processing or self._close_pending or self._shutting_down:
            return
        if self._preview_worker is not None:
            self._preview_worker.cancel()  # one model run at a time; this resumes when the preview stops
            return
        job = next((j for j in self._ordered_jobs() if j.state == "waiting"), None)
        if job is None:
            self._finish_processing()
            return
        s = self.settings.copy()
        save_to = None
        if s.auto_save == "always" or (s.auto_save == "batch" and self._batch):
            try:
                save_to = self._output_path(job, s, s.scale)
            except ValueError as exc:
                self.statusBar().showMessage(str(exc), 8000)
        worker = Worker(functools.partial(upscale_task, cache=self.cache, request=self.model_request(s),
                                          job_id=job.id, path=job.path, settings=s, save_to=save_to,
                                          protected=self._inputs()), name=f"upscale {job.path.name}")
        self._job_worker, self._job_id = worker, job.id
        job.state = "running"
        self.queue_panel.set_state(job.id, "running")
        self._tiles, self._tiles_started, self._job_started = (0, 0), None, time.perf_counter()
        self._start_worker(worker, progress=self._on_job_progress, yielded=self._on_model_info,
                           succeeded=self._on_job_succeeded, failed=self._on_job_failed,
                           finished=self._on_job_finished)
        self._show_progress(True)
        self._update_progress_text()
        self._update_actions()

    def _finish_processing(self) -> None:
        self._processing = False
        self._show_progress(False)
        done, failed = self._batch_counts["done"], self._batch_counts["failed"]
        if self._batch and (done or failed):
            unsaved = sum(1 for j in self.jobs.values() if j.unsaved)
            text = f"Finished: {_count(done, 'photo')} upscaled" + (f", {failed} failed (hover them to see why)"
                                                                    if failed else "") + "."
            if unsaved:
                text += f" {unsaved} not saved yet: Save all (Ctrl+Alt+S)."
            self.statusBar().showMessage(text, 15000)
        self._update_actions()

    def cancel(self) -> None:
        """Esc: stop the running upscale (the rest of the queue waits) and any preview."""
        if self.compare_view.is_selecting_region():
            return  # the view handles its own Esc
        stopped = False
        if self._job_worker is not None:
            self._processing = False
            self._job_worker.cancel()
            stopped = True
        if self._preview_worker is not None:
            self._preview_worker.cancel()
            stopped = True
        if stopped:
            self.progress_label.setText("Stopping after the current tile…")

    @Slot(int, int)
    def _on_job_progress(self, done: int, total: int) -> None:
        if self._tiles_started is None:
            self._tiles_started = time.perf_counter()  # the model is loaded and the photo read
        self._tiles = (done, total)
        self._update_progress_text()

    @Slot(object)
    def _on_model_info(self, info: object) -> None:
        if isinstance(info, ModelInfo):
            self._model_info = info
            self._update_model_label()
            if info.notice:
                self.statusBar().showMessage(info.notice, 12000)

    @Slot(object)
    def _on_job_succeeded(self, outcome: JobOutcome) -> None:
        job = self.jobs.get(outcome.job_id)
        if job is None:
            return  # removed while it ran
        job.result, job.state, job.message = outcome, "done", ""
        job.saved_path = outcome.saved_path
        self._batch_counts["done"] += 1
        width, height = outcome.lr_size
        job.size = job.size or (width, height)
        self.settings.record_throughput(outcome.model.kind, outcome.model.device, outcome.seconds,
                                        width * height / 1e6)
        self._schedule_settings_save()
        reason = f"Saved as {outcome.saved_path}" if outcome.saved_path else "Not saved yet (Ctrl+S saves it)"
        if outcome.save_error:
            reason = f"Not saved: {outcome.save_error}"
            self.statusBar().showMessage(f"{job.path.name}: {outcome.save_error}", 12000)
        elif outcome.saved_path is not None:
            self._last_saved_folder = outcome.saved_path.parent
        self.queue_panel.set_state(job.id, "done", reason)
        if job.id == self._current_id:
            if self._current is not None and self._current.job_id == job.id:
                self._current.after = outcome.display
                self.compare_view.set_after(outcome.display)
            else:
                self._load_current()  # still opening: reload so the result is included
        outcome.display = QImage()  # the view holds what it shows; a batch must not keep every QImage
        if not self._batch:
            took = format_duration(outcome.seconds).replace("about ", "")
            self.statusBar().showMessage(f"{job.path.name} upscaled in {took}. Save it with Ctrl+S.", 10000)
        self._update_title()

    @Slot(str)
    def _on_job_failed(self, message: str) -> None:
        worker, job = self._job_worker, self.jobs.get(self._job_id or -1)
        if job is None or worker is None:
            return
        cancelled = worker.cancelled
        job.state = "cancelled" if cancelled else "failed"
        job.message = message
        self.queue_panel.set_state(job.id, job.state, message)
        if cancelled:
            self.statusBar().showMessage(f"Stopped {job.path.name}. Retry (Ctrl+Shift+R) starts it again.", 8000)
            return
        self._batch_counts["failed"] += 1
        if _affects_every_photo(worker.error):
            # The model or device is unusable: every other photo would fail the same way.
            self._processing = False
            dialogs.show_error(self, message, "Cannot upscale")
        else:
            self.statusBar().showMessage(f"{job.path.name}: {message}", 15000)

    @Slot()
    def _on_job_finished(self) -> None:
        self._job_worker, self._job_id = None, None
        self._update_actions()
        if self._processing:
            self._start_next()
        else:
            self._finish_processing()

    def _show_progress(self, visible: bool) -> None:
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            w.setVisible(visible)
        if visible:
            self._tick_timer.start()
        else:
            self._tick_timer.stop()

    def _update_progress_text(self) -> None:
        job = self.jobs.get(self._job_id or -1)
        if job is None:
            return
        done, total = self._tiles
        now = time.perf_counter()
        if total:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
        else:
            self.progress_bar.setRange(0, 0)  # loading the model / reading: busy indicator
        elapsed = now - (self._job_started or now)
        parts = [job.path.name]
        if self._tiles_started is None:
            parts.append("loading the model…" if self._model_info is None else "reading the photo…")
        else:
            parts.append(f"tile {done} of {total}")
        parts.append(f"{_clock(elapsed)} elapsed")
        left = None
        if done and total and self._tiles_started is not None:
            left = (now - self._tiles_started) / done * (total - done)
        elif job.size is not None:
            left = self._estimate_seconds([job])
            if left is not None:
                left = max(0.0, left - (now - (self._tiles_started or now)))
        if left is not None:
            parts.append(f"{format_duration(left)} left")
        waiting = sum(1 for j in self._ordered_jobs() if j.state == "waiting")
        if waiting:
            parts.append(f"{waiting} more waiting")
        self.progress_label.setText(" · ".join(parts))

    def _estimate_seconds(self, jobs: list[Job]) -> float | None:
        if not jobs or any(j.size is None for j in jobs):
            return None
        kind, device = self._expected_kind(), self._expected_device()
        if kind is None or device is None:
            return None
        megapixels = sum(j.size[0] * j.size[1] for j in jobs if j.size) / 1e6
        return self.settings.estimate_seconds(kind, device, megapixels)

    # ========================================================================================= previews
    def preview(self, region: QRect | None = None) -> None:
        """Upscale only the part in view (or ``region``, output pixels) and show it in place."""
        if self._job_worker is not None or self._preview_worker is not None:
            self.statusBar().showMessage("Wait for the current upscale to finish (or press Esc) first.", 6000)
            return
        current, job = self._current, self.jobs.get(self._current_id)
        if current is None or job is None:
            self.statusBar().showMessage("Select a photo first (and wait until it is shown).", 6000)
            return
        s = self.settings.copy()
        width, height = current.loaded.size
        view_scale = self.compare_view.output_size().width() / width
        rect = region if region is not None else self.compare_view.visible_image_rect()
        if rect.isEmpty():
            return
        x0 = max(0, math.floor(rect.left() / view_scale))
        y0 = max(0, math.floor(rect.top() / view_scale))
        x1 = min(width, math.ceil((rect.right() + 1) / view_scale))
        y1 = min(height, math.ceil((rect.bottom() + 1) / view_scale))
        x0, y0, x1, y1, shrunk = _fit_region((x0, y0, x1, y1), self._preview_budget())
        # Previews sit on the view's grid: a shown result's scale wins over a since-changed setting.
        s.scale = round(view_scale) if round(view_scale) in (2, 3, 4) else s.scale
        self._preview_token += 1
        worker = Worker(functools.partial(preview_task, cache=self.cache, request=self.model_request(s),
                                          job_id=job.id, token=self._preview_token, loaded=current.loaded,
                                          region=(x0, y0, x1, y1), margin=PREVIEW_MARGIN, settings=s),
                        name="preview")
        self._preview_worker = worker
        self._start_worker(worker, progress=self._on_preview_progress, yielded=self._on_model_info,
                           succeeded=self._on_preview_ready, failed=self._on_preview_failed,
                           finished=self._on_preview_finished)
        self.progress_bar.setRange(0, 0)
        self.progress_label.setText("Preview: loading the model…")
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            w.setVisible(True)
        note = " (the centre of the view: zoom in to preview a smaller area)" if shrunk else ""
        self.statusBar().showMessage(f"Previewing {x1 - x0} × {y1 - y0} pixels{note}…")
        self._update_actions()

    def preview_region(self) -> None:
        if self._current is None:
            self.statusBar().showMessage("Select a photo first.", 5000)
            return
        self.compare_view.start_region_selection()
        self.compare_view.setFocus()
        self.statusBar().showMessage("Drag a rectangle over the photo to preview it (Esc cancels).", 10000)

    def _on_region_selected(self, rect: QRect) -> None:
        self.preview(rect)

    def _preview_budget(self) -> int:
        """LR pixels a preview may cover: about PREVIEW_TARGET_S seconds at the measured speed."""
        kind, device = self._expected_kind(), self._expected_device()
        rate = self.settings.seconds_per_megapixel(kind, device) if kind and device else None
        if rate:
            return int(min(1024**2, max(96**2, PREVIEW_TARGET_S / rate * 1e6)))
        return 192**2 if kind != "compact" else 512**2

    @Slot(int, int)
    def _on_preview_progress(self, done: int, total: int) -> None:
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(done)
        self.progress_label.setText(f"Preview: tile {done} of {total}")

    @Slot(object)
    def _on_preview_ready(self, outcome: PreviewOutcome) -> None:
        if outcome.token != self._preview_token or outcome.job_id != self._current_id:
            return  # the user moved on to another photo
        self.compare_view.set_after_region(outcome.patch, outcome.rect)
        took = format_duration(outcome.seconds).replace("about ", "")
        self.statusBar().showMessage(f"Preview ready in {took}. Ctrl+Return upscales the whole photo.", 10000)

    @Slot(str)
    def _on_preview_failed(self, message: str) -> None:
        worker = self._preview_worker
        if worker is not None and worker.cancelled:
            self.statusBar().showMessage("Preview cancelled.", 4000)
        elif worker is not None and _affects_every_photo(worker.error):
            dialogs.show_error(self, message, "Cannot preview")
        else:
            self.statusBar().showMessage(f"Preview failed: {message}", 12000)

    @Slot()
    def _on_preview_finished(self) -> None:
        self._preview_worker = None
        if self._job_worker is None:
            self._show_progress(False)
        self._update_actions()
        if self._processing:
            self._start_next()

    # ==================================================================================== the compare view
    def _on_current_changed(self, job_id: int) -> None:
        self._current_id = job_id
        self._current = None
        self._preview_token += 1  # a preview still running belongs to the previous photo
        self.compare_view.clear()
        self._update_title()
        self._update_actions()
        if job_id in self.jobs:
            self._load_current()

    def _load_current(self) -> None:
        job = self.jobs.get(self._current_id)
        if job is None:
            return
        self._load_token += 1
        result = job.result
        worker = Worker(functools.partial(load_task, job_id=job.id, token=self._load_token, path=job.path,
                                          result_rgb=result.rgb if result else None,
                                          result_alpha=result.alpha if result else None,
                                          saved_path=job.saved_path), name="open")
        self._start_worker(worker, succeeded=self._on_loaded, failed=self._on_load_failed)

    @Slot(object)
    def _on_loaded(self, outcome: LoadOutcome) -> None:
        if outcome.token != self._load_token or outcome.job_id != self._current_id:
            return
        job = self.jobs.get(outcome.job_id)
        if job is None:
            return
        self._current = outcome
        if job.size is None:
            job.size = outcome.loaded.size
            self.queue_panel.set_size_text(job.id, f"{job.size[0]} × {job.size[1]}")
        scale = job.result.scale if job.result is not None else self.settings.scale
        self.compare_view.set_images(outcome.before, outcome.after, scale)
        self._update_actions()

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        job = self.jobs.get(self._current_id)
        if job is None:
            return
        self.statusBar().showMessage(f"{job.path.name}: {message}", 12000)
        if job.state == "waiting":  # it cannot be upscaled either; say so in the queue now
            job.state, job.message = "failed", message
            self.queue_panel.set_state(job.id, "failed", message)

    def set_compare_mode(self, mode: CompareMode) -> None:
        self.compare_view.set_mode(mode)
        self.settings.compare_mode = mode.value
        (self.split_action if mode is CompareMode.SPLIT else self.side_action).setChecked(True)
        self._schedule_settings_save()

    def _on_zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f} %")

    def _on_cursor_pixel(self, x: int, y: int) -> None:
        if x < 0 or self._current is None:
            self.pixel_label.setText("")
            return
        scale = self.compare_view.output_size().width() / max(1, self._current.before.width())
        self.pixel_label.setText(f"x {x}, y {y} (original {int(x / scale)}, {int(y / scale)})")

    # ============================================================================================ saving
    def _output_path(self, job: Job, settings: Settings, scale: int) -> Path:
        from sinsr_gui.engine.imageio import output_path_for

        out_dir = Path(settings.output_dir).expanduser() if settings.output_dir else None
        if out_dir is not None and job.root != job.path.parent:
            with contextlib.suppress(ValueError):  # not below the root: no sub-folder to mirror
                out_dir = out_dir / job.path.parent.relative_to(job.root)
        if out_dir is None and job.pasted:
            # Pasted images live in the app's cache folder, which nobody would think of looking in.
            pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
            out_dir = Path(pictures) if pictures else Path.home()
        return output_path_for(job.path, out_dir, fmt=settings.fmt, pattern=settings.name_pattern, scale=scale)

    def _inputs(self) -> tuple[Path, ...]:
        return tuple(j.path for j in self.jobs.values())

    def save_current(self) -> None:
        job = self.jobs.get(self._current_id)
        if job is None or job.result is None:
            self.statusBar().showMessage("Nothing to save yet: upscale the photo first (Ctrl+Return).", 6000)
            return
        if job.saved_path is not None:
            self.statusBar().showMessage(f"Already saved as {job.saved_path}. Save as… makes another copy.", 8000)
            return
        self._start_save([job])

    def save_all(self) -> None:
        jobs = [j for j in self._ordered_jobs() if j.unsaved]
        if not jobs:
            self.statusBar().showMessage("Every result is already saved.", 5000)
            return
        self._start_save(jobs)

    def save_as(self) -> None:
        from sinsr_gui.engine.imageio import OUTPUT_SUFFIXES, normalize_format

        job = self.jobs.get(self._current_id)
        if job is None or job.result is None:
            self.statusBar().showMessage("Nothing to save yet: upscale the photo first (Ctrl+Return).", 6000)
            return
        suggested = self._output_path(job, self.settings, job.result.scale)
        filters = {"PNG": "PNG image (*.png)", "JPEG": "JPEG image (*.jpg *.jpeg)", "WEBP": "WebP image (*.webp)",
                   "TIFF": "TIFF image (*.tif *.tiff)"}
        name, chosen = QFileDialog.getSaveFileName(self, "Save result as", str(suggested), ";;".join(filters.values()),
                                                   filters[self.settings.fmt])
        if not name:
            return
        dest = Path(name)
        fmt = next((f for f, label in filters.items() if label == chosen), self.settings.fmt)
        try:
            fmt = normalize_format(dest.suffix) if dest.suffix else fmt
        except ValueError:
            dest = dest.with_suffix(OUTPUT_SUFFIXES[fmt])
        settings = self.settings.copy()
        settings.fmt = fmt
        # The file dialog already asked before replacing a file; inputs stay protected regardless.
        self._start_save([job], dest=dest, settings=settings, overwrite=True)

    def _start_save(self, jobs: list[Job], *, dest: Path | None = None, settings: Settings | None = None,
                    overwrite: bool = False) -> None:
        if self._save_worker is not None:
            self.statusBar().showMessage("Still saving the previous results…", 4000)
            return
        s = settings or self.settings.copy()
        items = []
        for job in jobs:
            result = job.result
            assert result is not None
            try:
                target = dest or self._output_path(job, s, result.scale)
            except ValueError as exc:
                dialogs.show_error(self, str(exc), "Cannot save")
                return
            items.append((job.id, result.rgb, result.alpha, result.like, target, job.saved_path))
        worker = Worker(functools.partial(save_task, items=items, settings=s, protected=self._inputs(),
                                          overwrite=overwrite), name="save")
        self._save_worker = worker
        self._start_worker(worker, yielded=self._on_saved, failed=self._on_save_failed,
                           finished=self._on_save_finished)
        self.statusBar().showMessage(f"Saving {_count(len(items), 'result')}…")
        self._update_actions()

    @Slot(object)
    def _on_saved(self, saved: object) -> None:
        if not isinstance(saved, Saved):
            return
        job = self.jobs.get(saved.job_id)
        self._last_saved_folder = saved.path.parent
        if job is not None:
            job.saved_path = saved.path
            self.queue_panel.set_state(job.id, job.state, f"Saved as {saved.path}")
        self.statusBar().showMessage(f"Saved {saved.path.name} in {saved.path.parent} "
                                     "(File > Open output folder shows it).", 10000)
        self._update_title()

    @Slot(str)
    def _on_save_failed(self, message: str) -> None:
        if self._close_pending:  # the user chose "Save all" to quit; it failed, so do not close
            self._close_pending = self._close_confirmed = False
        dialogs.show_error(self, message, "Not saved")

    @Slot()
    def _on_save_finished(self) -> None:
        self._save_worker = None
        self._update_actions()

    def open_output_folder(self) -> None:
        job = self.jobs.get(self._current_id)
        folder = (job.saved_path.parent if job is not None and job.saved_path else None) or self._last_saved_folder
        if folder is None and self.settings.output_dir:
            folder = Path(self.settings.output_dir)
        if folder is None:
            self.statusBar().showMessage("Nothing saved yet.", 4000)
            return
        dialogs.open_folder(folder)

    # ========================================================================================= settings
    def model_request(self, settings: Settings | None = None) -> Any:
        return model_request_for(settings or self.settings)

    def _on_settings_changed(self, edited: Settings) -> None:
        old = self.settings.copy()
        for name in USER_FIELDS:
            if name != "compare_mode":  # the panel does not show it; the View menu owns it
                setattr(self.settings, name, getattr(edited, name))
        self._apply_settings_change(old)

    def reset_settings(self) -> None:
        old = self.settings.copy()
        self.settings = reset_to_defaults(self.settings)
        self.settings_panel.set_settings(self.settings)
        self.set_compare_mode(CompareMode(self.settings.compare_mode))
        self._apply_settings_change(old)
        self.statusBar().showMessage("Settings are back to their defaults.", 5000)

    def _apply_settings_change(self, old: Settings) -> None:
        s = self.settings
        if any(getattr(old, f) != getattr(s, f) for f in _MODEL_FIELDS):
            # Free the old model's memory now; the next run loads the new choice.
            self.cache.release()
            self._model_info = None
        if any(getattr(old, f) != getattr(s, f) for f in _IMAGE_FIELDS):
            self.compare_view.clear_preview()  # previews made with other settings would mislead
        job = self.jobs.get(self._current_id)
        if (old.scale != s.scale and self._current is not None and job is not None and job.result is None):
            self.compare_view.set_images(self._current.before, None, s.scale)
        self._update_model_label()
        self._schedule_settings_save()

    def _schedule_settings_save(self) -> None:
        if self._persist:
            self._settings_timer.start()

    def save_settings_now(self) -> None:
        if not self._persist:
            return
        try:
            save_settings(self.settings)
        except OSError as exc:
            log.warning("cannot save the settings: %s", exc)

    # ====================================================================================== models, weights
    def _store(self) -> Any:
        from sinsr_gui.weights.store import WeightStore

        return WeightStore(Path(self.settings.weights_dir) if self.settings.weights_dir else None, self.registry)

    def _explicit_sinsr(self) -> bool:
        s = self.settings
        return bool(s.sinsr_unet and s.sinsr_autoencoder and Path(s.sinsr_unet).is_file()
                    and Path(s.sinsr_autoencoder).is_file())

    def sinsr_available(self) -> bool:
        from sinsr_gui.weights.cli import installed_sinsr_paths

        return self._explicit_sinsr() or installed_sinsr_paths(self._store()) is not None

    def _compact_available(self) -> bool:
        from sinsr_gui.weights.builtin import builtin_card_path, builtin_weights_path

        return builtin_weights_path().is_file() and builtin_card_path().is_file()

    def _expected_kind(self) -> str | None:
        model = self.settings.model
        if model != "auto":
            return model
        if self.sinsr_available():
            return "sinsr"
        return "compact" if self._compact_available() else None

    def _expected_device(self) -> str | None:
        if self._model_info is not None:
            return self._model_info.device
        from sinsr_gui.engine.devices import DeviceError, resolve_device

        try:
            dev = resolve_device(self.settings.device)
        except DeviceError:
            return None
        return dev.type if dev.index in (None, 0) else f"{dev.type}:{dev.index}"

    def _model_choices(self) -> list[tuple[str, str]]:
        sinsr, compact = self.sinsr_available(), self._compact_available()
        auto = "SinSR" if sinsr else "compact" if compact else "nothing installed yet"
        return [("auto", f"Automatic (now: {auto})"),
                ("sinsr", f"SinSR v1, best quality ({'installed' if sinsr else 'not installed'})"),
                ("compact", f"Compact, fast ({'built in' if compact else 'not in this build'})")]

    def _device_choices(self) -> list[tuple[str, str]]:
        from sinsr_gui.engine.devices import available_devices

        return [("auto", "Automatic (fastest available)"), *available_devices()]

    def _licences(self, store: Any) -> list[tuple[str, str, str]]:
        specs = [store.registry.get(n) for n in SINSR_WEIGHTS]  # what "Download" fetches, nothing else
        return [(spec.display_name, f"{spec.license_name}: {spec.license_summary}", spec.license_url)
                for spec in specs]

    def _needs_first_run(self) -> bool:
        """Until the user made the choice (or SinSR is there), every launch offers it again."""
        s = self.settings
        return not s.first_run_done and s.model != "compact" and not self.sinsr_available()

    def _update_first_run(self, store: Any | None = None) -> None:
        if not self._needs_first_run():
            self.first_run_dock.hide()
            return
        store = store or self._store()
        partial = any(store.part_path(n).is_file() for n in SINSR_WEIGHTS)
        self.first_run_panel.set_downloading(False, resumable=partial)
        if partial:
            self.first_run_panel.set_message("A download was interrupted; “Resume download” continues where "
                                             "it stopped.")
        self.first_run_dock.show()
        self.first_run_dock.raise_()

    def show_first_run(self) -> None:
        store = self._store()
        partial = any(store.part_path(n).is_file() for n in SINSR_WEIGHTS)
        if self._weights_worker is None:
            self.first_run_panel.set_downloading(False, resumable=partial)
        self.first_run_dock.show()
        self.first_run_dock.raise_()

    def start_download(self) -> None:
        if self._weights_worker is not None:
            return
        store = self._store()
        names = [n for n in SINSR_WEIGHTS if store.status_of(n).state != "installed"]
        if not names:
            self._weights_ready("SinSR is already installed.")
            return
        worker = Worker(functools.partial(download_task, store=store, names=names), name="download")
        self._weights_worker = worker
        self.first_run_panel.set_downloading(True)
        self.first_run_panel.set_message("")
        self._start_worker(worker, yielded=self._on_download_progress, succeeded=self._on_download_done,
                           failed=self._on_weights_failed, finished=self._on_weights_finished)

    def cancel_download(self) -> None:
        if self._weights_worker is not None:
            self._weights_worker.cancel()

    @Slot(object)
    def _on_download_progress(self, p: object) -> None:
        if isinstance(p, DownloadProgress):
            label = p.label + (f" (file {p.index + 1} of {p.count})" if p.count > 1 else "")
            self.first_run_panel.set_progress(label, p.done, p.total, p.rate, p.eta)

    @Slot(object)
    def _on_download_done(self, _paths: object) -> None:
        self._weights_ready("SinSR is downloaded, checked and ready.")

    def import_weights(self, files: list[str]) -> None:
        if self._weights_worker is not None:
            return
        worker = Worker(functools.partial(import_task, store=self._store(), files=files), name="import")
        self._weights_worker = worker
        self.first_run_panel.set_downloading(True)
        self.first_run_panel.set_message("Checking and copying the files…")
        self._start_worker(worker, succeeded=self._on_import_done, failed=self._on_weights_failed,
                           finished=self._on_weights_finished)

    @Slot(object)
    def _on_import_done(self, lines: object) -> None:
        text = " ".join(lines) if isinstance(lines, list) else ""
        if self.sinsr_available():
            self._weights_ready(f"{text} SinSR is ready.")
            return
        store = self._store()
        missing = [store.registry.get(n).display_name for n in SINSR_WEIGHTS
                   if store.status_of(n).state != "installed"]
        self.first_run_panel.set_message(f"{text} Still needed: {', '.join(missing)}.")

    @Slot(str)
    def _on_weights_failed(self, message: str) -> None:
        worker = self._weights_worker
        paused = worker is not None and worker.cancelled
        self.first_run_panel.set_message("Paused. “Resume download” continues where it stopped." if paused
                                         else message)

    @Slot()
    def _on_weights_finished(self) -> None:
        self._weights_worker = None
        store = self._store()
        partial = any(store.part_path(n).is_file() for n in SINSR_WEIGHTS)
        self.first_run_panel.set_downloading(False, resumable=partial and not self.sinsr_available())

    def _weights_ready(self, message: str) -> None:
        self.first_run_panel.set_message(message)
        self.settings.first_run_done = True
        self.cache.release()  # "Automatic" meant the compact model until now
        self._model_info = None
        self.settings_panel.set_model_choices(self._model_choices())
        self._update_model_label()
        self._schedule_settings_save()
        self.statusBar().showMessage(message, 10000)
        QTimer.singleShot(2500, self.first_run_dock.hide)

    def use_compact(self) -> None:
        old = self.settings.copy()
        self.settings.model = "compact"
        self.settings.first_run_done = True
        self.settings_panel.set_settings(self.settings)
        self._apply_settings_change(old)
        self.first_run_dock.hide()
        self.statusBar().showMessage("Using the built-in compact model. Model > Get the SinSR model… "
                                     "downloads SinSR any time.", 10000)

    # ====================================================================================== status & title
    def _update_model_label(self) -> None:
        info = self._model_info
        if info is not None:
            name = {"sinsr": "SinSR", "compact": "Compact"}.get(info.kind, info.kind)
            self.model_label.setText(f"{name} · {info.device_label} · {info.precision}")
            return
        kind = self._expected_kind()
        name = {"sinsr": "SinSR", "compact": "Compact", None: "No model"}.get(kind, kind)
        device = self._expected_device() or self.settings.device
        self.model_label.setText(f"{name} · {device.upper() if device in ('cpu', 'mps') else device}")

    def _update_title(self) -> None:
        job = self.jobs.get(self._current_id)
        self.setWindowTitle(f"{APP_TITLE} — {job.path.name}[*]" if job else f"{APP_TITLE}[*]")
        self.setWindowModified(any(j.unsaved for j in self.jobs.values()))

    def _update_actions(self) -> None:
        job = self.jobs.get(self._current_id)
        running = self._job_worker is not None
        busy_model = running or self._preview_worker is not None
        has_image = self._current is not None
        self.preview_action.setEnabled(has_image and not busy_model)
        self.preview_region_action.setEnabled(has_image and not busy_model)
        self.cancel_action.setEnabled(busy_model)
        self.upscale_action.setEnabled(bool(self.jobs))
        has_result = job is not None and job.result is not None
        self.save_action.setEnabled(has_result and self._save_worker is None)
        self.save_as_action.setEnabled(has_result and self._save_worker is None)
        self.save_all_action.setEnabled(any(j.unsaved for j in self.jobs.values()) and self._save_worker is None)
        self.retry_action.setEnabled(any(self.jobs[i].state in ("failed", "cancelled", "done")
                                         for i in (self.queue_panel.selected_ids() or [self._current_id])
                                         if i in self.jobs))

    def show_shortcuts(self) -> None:
        dialogs.ShortcutsDialog(self.shortcut_actions, [
            ("Show the original while held (compare view)", "Space"),
            ("Zoom in / out (compare view)", "+ / − or mouse wheel"),
            ("Move around", "Drag with the mouse"),
        ], self).exec()

    def show_about(self) -> None:
        card = None
        if self._compact_available():
            try:
                from sinsr_gui.weights.builtin import load_builtin_card

                card = load_builtin_card()
            except Exception:  # noqa: BLE001 - the About box must open even with a damaged card
                card = None
        info = self._model_info
        device = info.device_label if info else (self._expected_device() or self.settings.device)
        model = f"{info.kind} ({info.precision})" if info else (self._expected_kind() or "none installed")
        dialogs.AboutDialog(device, model, card, self).exec()

    def show_log_folder(self) -> None:
        dialogs.open_folder(paths.log_dir())

    def _toggle_full_screen(self, on: bool) -> None:
        self.showFullScreen() if on else self.showNormal()

    # ========================================================================================== threads
    def _start_worker(self, worker: Worker, *, progress=None, yielded=None, succeeded=None, failed=None,
                      finished=None) -> QThread | None:
        """Connect bound methods (queued into this thread) and start ``worker`` in its own QThread."""
        if self._shutting_down:
            log.info("not starting %s: the window is shutting down", worker.name)
            return None
        for signal, slot in ((worker.progress, progress), (worker.yielded, yielded),
                             (worker.succeeded, succeeded), (worker.failed, failed), (worker.finished, finished)):
            if slot is not None:
                signal.connect(slot, Qt.ConnectionType.QueuedConnection)
        thread = start_in_thread(worker)
        thread.finished.connect(self._reap_threads, Qt.ConnectionType.QueuedConnection)
        self._runs.append((worker, thread))
        return thread

    @Slot()
    def _reap_threads(self) -> None:
        self._runs = [(w, t) for w, t in self._runs if not t.isFinished()]
        if self._close_pending and not self._runs:
            self._close_pending = False
            self.close()

    def active_workers(self) -> list[Worker]:
        return [w for w, t in self._runs if not t.isFinished()]

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel every worker and wait for its thread (blocking). True when all stopped in time."""
        self._shutting_down = True  # the queued "finished" slots below must not start new work
        self._processing = False
        for worker, _ in self._runs:
            if worker is not self._save_worker:  # a save in progress finishes: it is quick and atomic
                worker.cancel()
        ok = all(thread.wait(timeout_ms) for _, thread in self._runs)
        QApplication.sendPostedEvents()
        self._runs = [(w, t) for w, t in self._runs if not t.isFinished()]
        return ok

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if self._close_pending:
            event.ignore()  # already stopping; the window closes when the workers are done
            return
        if not self._close_confirmed and not self._confirm_close():
            event.ignore()
            return
        self._close_confirmed = True
        if self.active_workers():
            # Never destroy a running QThread: stop the work, close once every thread has finished.
            for worker in self.active_workers():
                if worker is not self._save_worker:
                    worker.cancel()
            self._processing = False
            self._close_pending = True
            self.progress_label.setText("Stopping…")
            self.statusBar().showMessage("Stopping the current work before closing…")
            event.ignore()
            return
        self.settings.window_geometry = base64.b64encode(bytes(self.saveGeometry())).decode("ascii")
        self.settings.window_state = base64.b64encode(bytes(self.saveState())).decode("ascii")
        self._settings_timer.stop()
        self.save_settings_now()
        self.cache.release()
        event.accept()

    def _confirm_close(self) -> bool:
        busy = self._job_worker is not None or self._preview_worker is not None
        if busy and not dialogs.ask(self, "Stop upscaling?", "A photo is being upscaled. Stop it and close the app?",
                                    yes="Stop and close", no="Keep working"):
            return False
        unsaved = [j for j in self.jobs.values() if j.unsaved]
        if unsaved:
            choice = dialogs.ask_save_discard(
                self, "Unsaved results",
                f"{_count(len(unsaved), 'upscaled photo')} {'is' if len(unsaved) == 1 else 'are'} not saved yet. "
                "Save before closing?")
            if choice == "cancel":
                return False
            if choice == "save":
                self.save_all()
        if self._weights_worker is not None:
            self._weights_worker.cancel()  # the .part file stays: the download resumes next time
        return True

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        # Style sheets resolve palette() colours once; re-apply on a light/dark switch so they follow it.
        if event.type() in (QEvent.Type.ThemeChange, QEvent.Type.ApplicationPaletteChange) and not self._restyling:
            app = QApplication.instance()
            if isinstance(app, QApplication) and app.styleSheet():
                self._restyling = True
                try:
                    app.setStyleSheet(app.styleSheet())
                finally:
                    self._restyling = False
        super().changeEvent(event)


# ============================================================================================== helpers
def model_request_for(s: Settings) -> Any:
    """The engine's ModelRequest for these settings (explicit SinSR files win over the installed ones)."""
    from sinsr_gui.engine.models import ModelRequest

    return ModelRequest(model=s.model, device=s.device, dtype=s.precision,
                        unet=Path(s.sinsr_unet) if s.sinsr_unet else None,
                        autoencoder=Path(s.sinsr_autoencoder) if s.sinsr_autoencoder else None,
                        config=Path(s.sinsr_config) if s.sinsr_config else None,
                        weights_dir=Path(s.weights_dir) if s.weights_dir else None)


def app_icon() -> QIcon:
    icon = QIcon()
    folder = paths.resource_path("icons")
    for png in sorted(folder.glob("sinsr-gui-*.png")):
        icon.addFile(str(png))
    return icon


def _local_files(mime) -> list[str]:
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime is not None and mime.hasUrls() else []


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def _affects_every_photo(exc: BaseException | None) -> bool:
    """Errors about the model or device (not about one file): continuing the queue would repeat them."""
    if exc is None:
        return False
    from sinsr_gui.engine.devices import DeviceError
    from sinsr_gui.engine.models import ModelUnavailable
    from sinsr_gui.engine.tiling import OutOfMemory
    from sinsr_gui.weights.checkpoint import CheckpointError
    from sinsr_gui.weights.store import WeightsError

    return isinstance(exc, ModelUnavailable | DeviceError | CheckpointError | WeightsError | OutOfMemory)


def _fit_region(region: tuple[int, int, int, int], budget: int) -> tuple[int, int, int, int, bool]:
    """Shrink ``region`` (x0, y0, x1, y1) about its centre to at most ``budget`` pixels; True if it shrank."""
    x0, y0, x1, y1 = region
    w, h = x1 - x0, y1 - y0
    if w * h <= budget:
        return x0, y0, x1, y1, False
    f = math.sqrt(budget / (w * h))
    nw, nh = max(16, min(w, int(w * f))), max(16, min(h, int(h * f)))
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    nx0, ny0 = max(x0, cx - nw // 2), max(y0, cy - nh // 2)
    return nx0, ny0, min(x1, nx0 + nw), min(y1, ny0 + nh), True
