"""The main window: the composition root. It builds the views (queue, compare view, settings, first-run
panel, status bar), the Qt-free queue and one controller per flow (``sinsr_gui.qt.controllers``), wires
their signals together, holds the table of what each action does, and decides when the window may close.

Where results go: a result stays in memory until it is saved (Ctrl+S, Save all), except that runs over
several photos save each result as soon as it is ready (the "Save automatically" setting). Nothing is ever
written over an input, and closing with unsaved results asks first.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QRect, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QImage
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QVBoxLayout, QWidget

from sinsr_gui import paths
from sinsr_gui.engine.imageio.formats import normalize_format
from sinsr_gui.qt import dialogs
from sinsr_gui.qt.actions import WindowActions
from sinsr_gui.qt.banner import Banner
from sinsr_gui.qt.compare_view import CompareMode, CompareView
from sinsr_gui.qt.controllers.community import CommunityController
from sinsr_gui.qt.controllers.comparison import Comparison
from sinsr_gui.qt.controllers.display import DisplayController, Shown
from sinsr_gui.qt.controllers.preview import PreviewController
from sinsr_gui.qt.controllers.run import RunController
from sinsr_gui.qt.controllers.save import SaveController
from sinsr_gui.qt.controllers.settings import SettingsController
from sinsr_gui.qt.controllers.thumbnails import ThumbnailController
from sinsr_gui.qt.controllers.weights import WeightsController, licences
from sinsr_gui.qt.dialogs import app_icon
from sinsr_gui.qt.first_run import FirstRunPanel
from sinsr_gui.qt.intake import IMAGE_FILTER, PhotoIntake, pictures_folder
from sinsr_gui.qt.messages import GET_MODEL
from sinsr_gui.qt.model_status import ModelStatus
from sinsr_gui.qt.queue_events import QueueEvents
from sinsr_gui.qt.queue_panel import UNREADABLE, QueuePanel
from sinsr_gui.qt.settings_panel import SettingsPanel
from sinsr_gui.qt.status_area import StatusArea, StatusBar
from sinsr_gui.qt.tasks import Tasks
from sinsr_gui.qt.text import count
from sinsr_gui.queue import RETRYABLE, JobState, PhotoQueue
from sinsr_gui.settings import Settings, load_settings

if TYPE_CHECKING:  # the engine's models import torch: loaded once the window is built
    from sinsr_gui.engine.models import ModelCache
    from sinsr_gui.engine.photo import PhotoCache
    from sinsr_gui.weights.registry import Registry

log = logging.getLogger(__name__)
APP_TITLE = dialogs.APP_TITLE


class MainWindow(QMainWindow):
    """The app window. ``settings`` defaults to the saved ones, ``cache`` to a new ModelCache, ``photos`` to a
    new PhotoCache and ``registry`` (where weights are downloaded from) to the default one; tests pass theirs."""

    def __init__(self, settings: Settings | None = None, *, cache: ModelCache | None = None,
                 photos: PhotoCache | None = None, registry: Registry | None = None, persist: bool = True) -> None:
        super().__init__()
        from sinsr_gui.engine.models import ModelCache, builtin
        from sinsr_gui.engine.photo import PhotoCache
        from sinsr_gui.weights.registry import APP_REGISTRY

        self.settings = settings.copy() if settings is not None else load_settings()  # shared, changed in place
        self.cache = cache if cache is not None else ModelCache()
        self.photos = photos if photos is not None else PhotoCache()
        self.registry = registry if registry is not None else APP_REGISTRY  # SinSR's files and community downloads
        self.queue = PhotoQueue(pictures_folder())
        self.queue_events = QueueEvents(self.queue, self)
        self.model_status = ModelStatus(self.settings, self)
        self._current_id = -1
        self._close_confirmed = self._close_pending = False
        self._run_ids: set[int] = set()  # the photos of the run in progress, for its summary
        self._unreported: set[int] = set()  # photos found unreadable since the last summary
        self._unreadable: set[int] = set()  # photos whose file cannot be read (until retried)
        self._adding: dict[int, bool] = {}  # photos just added whose thumbnail is pending (True: readable)

        self.setWindowTitle(f"{APP_TITLE}[*]")
        if not (icon := app_icon()).isNull():
            self.setWindowIcon(icon)
        self.resize(1280, 820)
        self.intake = PhotoIntake(self)  # drops anywhere on the window, and pastes

        # Views.
        self.compare_view = CompareView(self, mode=CompareMode(self.settings.compare_mode), flip_key=Qt.Key.Key_Space)
        self.banner = Banner()  # news after a run, the first-run offer: one line above the photo
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.banner)
        column.addWidget(self.compare_view, 1)
        self.setCentralWidget(central)
        self.queue_panel = QueuePanel()
        self.queue_dock = self._dock("Photos", "queueDock", self.queue_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        from sinsr_gui.engine.devices import available_devices

        self.settings_panel = SettingsPanel(self.settings, self.model_status.picker(),
                                            [("auto", "Automatic (fastest available)"), *available_devices()],
                                            applies=self.model_status.options_used())
        self.settings_dock = self._dock("Settings", "settingsDock", self.settings_panel,
                                        Qt.DockWidgetArea.RightDockWidgetArea)
        installed = dict(self.model_status.choices())
        self.first_run_panel = FirstRunPanel(licences(self.registry), [
            (d.kind, d.display_name, d.summary, installed.get(d, False)) for d in builtin.DESCRIPTORS])
        self.first_run_dock = self._dock("Get the SinSR model", "firstRunDock", self.first_run_panel,
                                         Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.settings_dock, self.first_run_dock)  # shown on request, beside the settings
        self.resizeDocks([self.queue_dock, self.settings_dock], [240, 360], Qt.Orientation.Horizontal)
        self.setStatusBar(StatusBar())
        self.status = StatusArea(self.statusBar(), self.cancel)

        # Controllers: one per flow, each with its own worker slot (the settings need none).
        self.preferences = SettingsController(self.settings, self.settings_panel, persist=persist, parent=self)
        self.thumbnails = ThumbnailController(self.photos, self)
        self.display = DisplayController(self.photos, self,
                                         view=lambda: (self.settings.scale, self.settings.before_view))
        self.comparison = Comparison(self.compare_view, self.queue, self.display, self.preferences, self)
        self.runner = RunController(self.queue, self.settings, self.model_status, self.cache, self.photos, self)
        self.previewer = PreviewController(self.settings, self.model_status, self.cache, self)
        self.saver = SaveController(self.queue, self.settings, self)
        self.weights = WeightsController(self.first_run_panel, self.settings, self.registry, self)
        self.community = CommunityController(self.settings, self.registry, functools.partial(dialogs.ask, self),
                                             self)
        self.slots = [c.slot for c in (self.thumbnails, self.display, self.runner, self.previewer, self.saver,
                                       self.weights, self.community)]
        self.tasks = Tasks(self.runner, self.previewer, self.slots, finishing=self.saver.slot, parent=self)

        self.commands = self._build_actions()
        self._connect()
        self.preferences.restore_layout(self)
        self._update_first_run()
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

    def _build_actions(self) -> WindowActions:
        cv, queue = self.compare_view, self.queue_panel
        handlers = {
            "open": self.open_files, "open_folder": self.open_folder, "paste": self.intake.paste,
            "save": self.save_current, "save_as": self.save_as, "save_all": self.saver.save_all,
            "open_output": self.open_output_folder, "quit": self.close,
            "upscale": self.start_processing, "preview": self.preview, "preview_region": self.preview_region,
            "cancel": self.cancel, "retry": self.retry_selected, "remove": self.remove_selected,
            "move_up": lambda: queue.move_selected(-1), "move_down": lambda: queue.move_selected(1),
            "split": lambda _on: self.set_compare_mode(CompareMode.SPLIT),
            "side": lambda _on: self.set_compare_mode(CompareMode.SIDE_BY_SIDE),
            "compare_previous": self.comparison.set_against_previous,
            "swap_results": lambda: self.comparison.keep_previous(self._current_id),
            "before_original": lambda on: self.comparison.set_before_original(on, self._current_id),
            "zoom_in": cv.zoom_in, "zoom_out": cv.zoom_out, "zoom_fit": cv.zoom_to_fit, "zoom_actual": cv.zoom_actual,
            "full_screen": lambda on: self.showFullScreen() if on else self.showNormal(),
            "get_model": self.show_first_run, "reset": self.reset_settings, "shortcuts": self.show_shortcuts,
            "import_model": lambda: self.community.choose_and_import(self),
            "get_realesr_general": lambda: self.community.download("realesr_general_x4v3"),
            "log": lambda: dialogs.open_folder(paths.log_dir()), "about": self.show_about,
        }
        queue_toggle, settings_toggle = self.queue_dock.toggleViewAction(), self.settings_dock.toggleViewAction()
        queue_toggle.setShortcut("F7")
        settings_toggle.setShortcut("F8")
        actions = WindowActions(self, handlers, queue, {"queue_dock": queue_toggle, "settings_dock": settings_toggle})
        actions.keys.hold[Qt.Key.Key_Space.value] = cv.hold_flip  # Space flips wherever the focus is
        actions.keys.own_keys = cv
        (actions.split if cv.mode() is CompareMode.SPLIT else actions.side).setChecked(True)
        actions.before_original.setChecked(self.settings.before_view == "original")
        return actions

    def _connect(self) -> None:
        q, cv, say = self.queue_panel, self.compare_view, self.status.say
        self.intake.photosGiven.connect(lambda files, pasted: self.add_paths(files, pasted=pasted))
        self.intake.message.connect(say)
        self.intake.error.connect(lambda message: dialogs.show_error(self, message))
        q.addRequested.connect(self.open_files)
        q.removeRequested.connect(self.remove_jobs)
        q.retryRequested.connect(self.retry_jobs)
        q.currentItemChanged.connect(self._on_current_changed)
        q.orderChanged.connect(self._on_order_changed)
        q.list.itemSelectionChanged.connect(self._update_actions)
        cv.zoomChanged.connect(self._show_zoom)
        self.banner.closed.connect(self._on_banner_closed)
        cv.cursorPixelChanged.connect(self._on_cursor_pixel)
        cv.regionSelected.connect(self.preview)
        self.settings_panel.resetRequested.connect(self.reset_settings)
        self.preferences.modelChanged.connect(self._on_model_setting_changed)
        self.preferences.pixelsChanged.connect(self.compare_view.clear_preview)
        self.preferences.scaleChanged.connect(self._on_scale_changed)
        self.preferences.changed.connect(self._update_model_label)
        self.first_run_panel.useBuiltinRequested.connect(self.use_builtin)
        self.model_status.changed.connect(self._update_model_label)
        self.model_status.notice.connect(say)

        self.thumbnails.ready.connect(self._on_thumbnail)
        self.thumbnails.unreadable.connect(self._on_unreadable)
        self.display.shown.connect(self._on_shown)
        self.display.failed.connect(self._on_display_failed)
        self.comparison.changed.connect(self._update_actions)
        self.comparison.message.connect(say)
        self.queue_events.jobChanged.connect(self._refresh_job)  # whoever changed the job, the queue says so
        for controller in (self.runner, self.previewer, self.saver):
            controller.message.connect(say)
            controller.busyChanged.connect(self._on_work_changed)
        for controller in (self.runner, self.previewer):
            controller.progressChanged.connect(self.status.show_progress)
            controller.error.connect(lambda message, title: dialogs.show_error(self, message, title))
        self.runner.resultReady.connect(self._on_result)
        self.runner.resultReady.connect(self._offer_most_detail)
        self.runner.measured.connect(self.preferences.record_throughput)
        self.previewer.ready.connect(self._on_preview_ready)
        self.saver.failed.connect(self._on_save_failed)
        self.saver.upscaleAgainOffered.connect(self._offer_upscale_again)
        self.saver.done.connect(self._on_save_done)
        self.saver.alreadySaved.connect(self._on_already_saved)
        self.weights.installed.connect(self._on_weights_installed)
        self.community.installed.connect(lambda _choice, text: self._on_weights_installed(text))
        self.community.imported.connect(self._on_weights_installed)
        self.community.message.connect(say)
        self.community.error.connect(lambda message, title: dialogs.show_error(self, message, title))
        for slot in self.slots:
            slot.idle.connect(self._close_when_idle)

    # ======================================================================================== the queue
    def add_paths(self, raw_paths: list[str | Path], *, pasted: bool = False) -> int:
        """Add files, or the photos inside folders, to the queue; returns how many were added."""
        added, missing = self.queue.add(raw_paths, pasted=pasted)
        for job in added:
            self.queue_panel.add_item(job.id, job.path.name, str(job.path))
        if added:
            self.thumbnails.add([(j.id, j.path) for j in added])
            self._adding.update({j.id: False for j in added})
            self.status.say(f"Adding {count(len(self._adding), 'photo')}…")  # counted once each has been read
        elif missing:
            self.status.say(f'"{missing[0].name}" does not exist.', f'"{missing[0]}" does not exist; check it was '
                            "not moved or renamed.")
        elif raw_paths:
            self.status.say("No new photos there (they may already be in the queue).")
        self._update_actions()
        return len(added)

    def remove_jobs(self, ids: list[int]) -> None:
        ids = [i for i in ids if i in self.queue]
        unsaved = [i for i in ids if self.queue.get(i).unsaved]
        if unsaved:
            what = "1 photo has a result that is" if len(unsaved) == 1 else f"{len(unsaved)} photos have results that are"
            if not dialogs.ask(self, "Remove unsaved results?", f"{what} not saved yet. Remove anyway?",
                               yes="Remove", no="Keep"):
                return
        for i in ids:
            self.runner.forget(i)
        for job in self.queue.remove(ids):
            self.photos.forget(job.path)
        self.thumbnails.forget(ids)
        for i in ids:
            for kept in (self._unreported, self._run_ids, self._unreadable):
                kept.discard(i)
        self._thumbnail_resolved(ids, readable=False, forget=True)
        self.queue_panel.remove_items(ids)
        if self._current_id in ids:
            self._on_current_changed(self.queue_panel.current_id())
        self._update_actions()
        self._update_title()

    def remove_selected(self) -> None:
        self.remove_jobs(self.queue_panel.selected_ids())

    def retry_jobs(self, ids: list[int]) -> None:
        jobs = [self.queue.get(i) for i in ids if i in self.queue and self.queue.get(i).state in RETRYABLE]
        if not jobs:
            return
        # The latest result is kept for comparing (A/B); only an older, unsaved one would be lost.
        if self.queue.retry_drops_unsaved([j.id for j in jobs]) and not dialogs.ask(
                self, "Replace unsaved results?", "Upscaling again drops earlier results that are not saved yet.",
                yes="Upscale again", no="Keep"):
            return
        shown = self._shown()
        for job in self.queue.retry([j.id for j in jobs]):
            self._unreadable.discard(job.id)
            if job.id != self._current_id:
                continue
            if shown is not None and shown.after is not None:
                # Zoom, pan and the result stay on screen until the new one replaces them; the result
                # shown becomes the one to compare with (A/B).
                shown.previous, shown.previous_label = shown.after, shown.after_label
                self.comparison.upscaling_again(shown)
            else:
                self.display.show(job)
        self.start_processing()

    def retry_selected(self) -> None:
        self.retry_jobs(self.queue_panel.selected_ids() or [self._current_id])

    def _on_order_changed(self, ids: list[int]) -> None:
        self.queue.reorder(ids)
        self.status.say("Queue order changed: photos are upscaled from the top.")

    def _refresh_job(self, job_id: int) -> None:
        """Show a job's state, reason and size; the actions follow at once (e.g. Save, the moment a result
        arrives). A failed read says "Unreadable" rather than "Failed"."""
        job = self.queue.get(job_id)
        if job is not None:
            unreadable = job_id in self._unreadable and job.state is JobState.FAILED
            self.queue_panel.show_job(job, label=UNREADABLE if unreadable else "")
            self._update_actions()
            self._update_title()

    def _on_thumbnail(self, job_id: int, image: QImage, size: tuple[int, int]) -> None:
        if job_id in self.queue:
            self.queue_panel.set_thumbnail(job_id, image)
            self.queue.note_size(job_id, size)  # the row shows it through the queue's event
        self._thumbnail_resolved([job_id], readable=True)

    def _on_unreadable(self, job_id: int, message: str) -> None:
        job = self.queue.get(job_id)
        if job is not None and job.state == "waiting":  # it cannot be upscaled either: say so now
            self._unreported.add(job_id)
            self._unreadable.add(job_id)
            self.queue.fail(job_id, message)  # its row says "Unreadable" (_refresh_job)
            if job_id == self._current_id:
                self._show_unreadable(job)
        self._thumbnail_resolved([job_id], readable=False)

    def _thumbnail_resolved(self, ids: list[int], *, readable: bool, forget: bool = False) -> None:
        """Count an added photo as readable or not; once every photo of the addition is known, say how
        many were added (only the readable ones) and how many cannot be read."""
        pending = [i for i in ids if i in self._adding]
        if not pending:
            return
        for i in pending:
            if forget:
                del self._adding[i]
            else:
                self._adding[i] = readable or None  # None: unreadable
        if any(v is False for v in self._adding.values()):
            return  # still reading some
        good = [i for i, ok in self._adding.items() if ok]
        bad = [i for i, ok in self._adding.items() if ok is None]
        self._adding.clear()
        text = f"Added {count(len(good), 'photo')}"
        if bad:
            names = ", ".join(j.path.name for j in map(self.queue.get, bad) if j is not None)
            self.status.say(f"{text}; {count(len(bad), 'file')} cannot be read (marked {UNREADABLE}).",
                            f"{text}; these cannot be read: {names}.")
        elif good:
            self.status.say(f"{text}. Ctrl+Return upscales; P previews the part in view.")

    # ============================================================================================ input
    def open_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add photos", self.settings.last_open_dir, IMAGE_FILTER)
        self._add_chosen(files, str(Path(files[0]).parent) if files else "")

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of photos", self.settings.last_open_dir)
        self._add_chosen([folder] if folder else [], folder)

    def _add_chosen(self, paths: list[str], folder: str) -> None:
        if paths:
            self.preferences.update({"last_open_dir": folder}, show=False)  # the next dialog opens there
            self.add_paths(paths)


    # ============================================================================== upscaling, previews
    def start_processing(self) -> None:
        """Upscale every waiting photo; a running preview is stopped first (one model run at a time)."""
        if not self._where_to_save_confirmed():
            return
        if self.tasks.run_after_preview():
            self._start_run()

    def _start_run(self) -> None:
        self._run_ids.update(j.id for j in self.queue.waiting())
        self.banner.clear("run")  # the last run's news is old now
        self.runner.start()

    def _saves_automatically(self, waiting: int) -> bool:
        """Whether a run of ``waiting`` photos saves each result as it is ready (Settings > Save automatically)."""
        mode = self.settings.auto_save
        return mode == "always" or (mode == "batch" and waiting + (1 if self.runner.busy else 0) > 1)

    def _where_to_save_confirmed(self) -> bool:
        """The first time a run would save next to the photos on its own, ask: the user sees and chooses
        where the files go (remembered). False: the user cancelled."""
        waiting = self.queue.waiting()
        s = self.settings
        if s.auto_save_confirmed or s.output_dir or not waiting or not self._saves_automatically(len(waiting)):
            return True
        try:
            example = self.queue.output_path(waiting[0], s.to_options().output, s.scale, None)
        except ValueError:
            return True  # the run says the name pattern is invalid itself
        what = "each result" if len(waiting) > 1 else "the result"
        choice = dialogs.choose(
            self, "Where should the results go?",
            f"Upscaling {count(len(waiting), 'photo')} saves {what} as soon as it is ready, next to its photo "
            f"(e.g. {example}). The photos themselves are never changed.\n\nYou can change this any time in "
            "Settings > Save to and Settings > Save automatically.",
            [("here", "Save next to the photos"), ("folder", "Choose a folder…"),
             ("keep", "Don't save; I'll save myself")])
        if choice is None:
            return False
        if choice == "folder":
            folder = QFileDialog.getExistingDirectory(self, "Save results in", s.last_open_dir)
            if not folder:
                return False
            self.preferences.update({"output_dir": folder, "auto_save_confirmed": True})
        elif choice == "keep":
            self.preferences.update({"auto_save": "never", "auto_save_confirmed": True})
        else:
            self.preferences.update({"auto_save_confirmed": True})
        return True

    def cancel(self) -> None:
        """Esc: stop the running upscale (the rest of the queue waits) and any preview."""
        if self.compare_view.is_selecting_region():
            return  # the view handles its own Esc
        if self.tasks.cancel_model_runs():
            self.status.stopping()

    def preview(self, region: QRect | None = None) -> None:
        """Upscale only the part in view (or ``region``, output pixels) and show it in place."""
        if self.tasks.model_busy:
            self.status.say("Wait for the current upscale to finish (or press Esc) first.")
            return
        shown = self._shown()
        if shown is None:
            self.status.say("Select a photo first (and wait until it is shown).")
            return
        rect = region if region is not None else self.compare_view.visible_image_rect()
        scale = self.compare_view.output_size().width() / shown.photo.size[0]
        self.previewer.start(shown.job_id, shown.photo, rect, scale)
        self._update_actions()

    def preview_region(self) -> None:
        if self._shown() is None:
            self.status.say("Select a photo first.")
            return
        self.compare_view.start_region_selection()
        self.compare_view.setFocus()
        self.status.say("Drag a rectangle over the photo to preview it (Esc cancels).")

    def _on_preview_ready(self, job_id: int, patch: QImage, rect: QRect) -> None:
        if job_id == self._current_id:
            self.compare_view.set_after_region(patch, rect)

    def _on_result(self, job_id: int, image: QImage) -> None:
        if job_id != self._current_id:
            return
        shown, job = self._shown(), self.queue.get(job_id)
        if shown is not None:
            self.compare_view.set_after(image)
            shown.after, shown.after_label = image, job.result.label
            self.comparison.result_arrived(shown)
        else:
            self.display.show(self.queue.get(job_id))  # still opening: reload so the result is included

    def _on_work_changed(self, _busy: bool = False) -> None:
        if not self.runner.busy and self._run_ids:
            self._summarise_run()
        if not self.tasks.model_busy:
            self.status.set_progress_visible(False)
            if self.tasks.take_pending_run():
                self._start_run()
        self._update_actions()

    def _summarise_run(self) -> None:
        """After a run: how many were upscaled, where the saved files went (with a button that opens the
        folder), and how many failed or could not be read, in the banner; each saved file in the log."""
        jobs = [j for j in map(self.queue.get, sorted(self._run_ids | self._unreported)) if j is not None]
        self._run_ids.clear()
        self._unreported.clear()
        done = [j for j in jobs if j.state == "done"]
        saved = [j.saved_path for j in done if j.saved_path is not None]
        failed = [j for j in jobs if j.state == "failed"]
        stopped = [j for j in jobs if j.state in ("cancelled", "waiting")]
        if len(jobs) < 2 and not saved:
            return  # one photo, kept in memory: the status bar has said it (and Ctrl+S saves it)
        for path in saved:
            log.info("saved %s", path)
        parts = [f"{count(len(done), 'photo')} upscaled"]
        folders = list(dict.fromkeys(p.parent for p in saved))
        if saved:
            where = str(folders[0]) if len(folders) == 1 else f"next to each photo ({len(folders)} folders)"
            parts[0] += (f", saved in {where}" if len(saved) == len(done) else
                         f"; {len(saved)} saved in {where}")
        if len(done) > len(saved):
            parts.append(f"{len(done) - len(saved)} not saved yet (File > Save all)")
        if failed:
            unreadable = sum(1 for j in failed if j.id in self._unreadable)
            parts.append(f"{len(failed)} failed" + (f" ({unreadable} cannot be read)" if unreadable else ""))
        if stopped:
            parts.append(f"{len(stopped)} stopped")
        text = "; ".join(parts) + "."
        buttons = []
        if folders:
            buttons.append(("Open folder", lambda f=folders[0]: dialogs.open_folder(f)))
        if failed:
            buttons.append(("Show failed", lambda i=failed[0].id: self.queue_panel.set_current(i)))
        details = "\n".join([*(str(p) for p in saved), *(f"{j.path.name}: {j.message}" for j in failed)])
        self.banner.show_message(text, buttons, kind="run", tip=details)
        log.info("%s", text)  # the status bar has the run's own "Finished" line

    # ==================================================================================== the compare view
    def _shown(self) -> Shown | None:
        """The current photo, once decoded."""
        shown = self.display.current
        return shown if shown is not None and shown.job_id == self._current_id else None

    def _on_current_changed(self, job_id: int) -> None:
        self._current_id = job_id
        self.previewer.invalidate()  # a preview still running belongs to the previous photo
        self.compare_view.clear()
        self.comparison.clear()
        self.status.show_zoom(0.0, 0.0)  # until the new photo is shown
        job = self.queue.get(job_id)
        if job is not None and job_id in self._unreadable:
            self.display.show(None)
            self._show_unreadable(job)
        else:
            self.display.show(job)
        self._update_title()
        self._update_actions()

    def _show_unreadable(self, job) -> None:
        """The reason, where the photo would be (not only in the queue's tooltip)."""
        self.compare_view.show_problem(f"{job.path.name} cannot be opened", job.message)

    def _on_shown(self, shown: Shown) -> None:
        job = self.queue.get(shown.job_id)
        if job is None or shown.job_id != self._current_id:
            return
        self.queue.note_size(job.id, shown.photo.size)  # kept if the thumbnail told it first
        scale = job.result.scale if job.result is not None else self.settings.scale
        self.comparison.show(shown, scale)
        self._show_zoom(self.compare_view.zoom())
        self._update_actions()

    def _on_display_failed(self, job_id: int, message: str) -> None:
        if job_id == self._current_id and (job := self.queue.get(job_id)) is not None:
            self.compare_view.show_problem(f"{job.path.name} cannot be shown", message)
            self.status.say(f"{job.path.name} cannot be shown.", message)

    def _show_zoom(self, zoom: float) -> None:
        shown = self._shown()
        width = shown.photo.size[0] if shown is not None else 0
        self.status.show_zoom(zoom, self.compare_view.output_size().width() / width if width else 0.0)

    def set_compare_mode(self, mode: CompareMode) -> None:
        self.compare_view.set_mode(mode)
        self.preferences.update({"compare_mode": mode.value}, show=False)
        (self.commands.split if mode is CompareMode.SPLIT else self.commands.side).setChecked(True)

    def _on_cursor_pixel(self, x: int, y: int) -> None:
        shown = self._shown()
        width = shown.photo.size[0] if shown is not None and x >= 0 else 0
        self.status.show_pixel(x, y, self.compare_view.output_size().width() / width if width else 0.0)

    # ============================================================================================ saving
    def save_current(self) -> None:
        self.saver.save(self.queue.get(self._current_id))

    def save_as(self) -> None:
        job = self.queue.get(self._current_id)
        if job is None or job.result is None:
            self.status.say("Nothing to save yet: upscale the photo first (Ctrl+Return).")
            return
        problem = self.saver.save_as_problem(job)
        if problem is not None:
            self._offer_upscale_again(job.id, problem)
            return
        try:
            suggested = self.saver.output_path(job)
        except ValueError as exc:
            dialogs.show_error(self, str(exc), "Cannot save")
            return
        chosen = dialogs.ask_save_path(self, suggested, normalize_format(suggested.suffix))  # "Automatic" resolved
        if chosen is not None:
            self.saver.save_as(job, *chosen)  # the file dialog already asked before replacing a file

    def _offer_upscale_again(self, job_id: int, message: str) -> None:
        if dialogs.ask(self, "Cannot save this result again", message, yes="Upscale again", no="Cancel"):
            self.retry_jobs([job_id])

    def _on_save_failed(self, message: str) -> None:
        self._close_pending = self._close_confirmed = False  # "Save all" before quitting failed: do not close
        dialogs.show_error(self, message, "Not saved")

    def _on_already_saved(self, path: Path) -> None:
        """Save on a result that is already on disk (saved by a run, or by an earlier Save): where it is."""
        self.banner.show_message(f"{path.name} is already saved in {path.parent}. Save as… makes a copy "
                                 "under another name or format.",
                                 [("Open folder", lambda: dialogs.open_folder(path.parent))], kind="saved")

    def _on_save_done(self, ok: bool) -> None:
        if not ok:
            self._close_pending = self._close_confirmed = False
        self._update_actions()

    def open_output_folder(self) -> None:
        job = self.queue.get(self._current_id)
        folder = (job.saved_path.parent if job is not None and job.saved_path else None) or self.saver.last_folder
        folder = folder or self.settings.output_folder()
        if folder is None:
            self.status.say("Nothing saved yet.")
            return
        dialogs.open_folder(folder)

    # ========================================================================================= settings
    def reset_settings(self) -> None:
        self.preferences.reset()
        self.set_compare_mode(CompareMode(self.settings.compare_mode))
        self.status.say("Settings are back to their defaults.")

    def _on_model_setting_changed(self) -> None:
        self.cache.release()  # free the old model's memory now; the next run loads the new choice
        self.model_status.forget()

    def _on_scale_changed(self) -> None:
        shown, job = self._shown(), self.queue.get(self._current_id)
        if shown is not None and job is not None and job.result is None:
            self.display.show(job)  # "before" is enlarged onto the new output grid

    # =================================================================================== models, first run
    def _update_first_run(self) -> None:
        """On the first launch without SinSR: one line above the photo says which model is in use and offers
        SinSR; it is shown once (remembered), after that the offer is in the Model menu."""
        self.first_run_dock.hide()  # a layout saved while it was open must not bring it back
        if not self.model_status.first_run_needed():
            return
        from sinsr_gui.engine.models import builtin

        buttons = [("Get SinSR…", self.show_first_run)]
        if self.model_status.offers_most_detail():
            buttons.append(("Use Most detail", lambda: self.use_builtin(builtin.DETAIL.kind)))
        self.banner.show_message(self.model_status.first_run_text(), buttons, kind="first_run")
        self.preferences.update({"first_run_done": True}, show=False)

    def show_first_run(self) -> None:
        self.banner.clear("first_run")
        self.weights.refresh(announce=True)
        self.first_run_panel.set_speed_note(self.model_status.sinsr_speed_note())
        self.first_run_dock.show()
        self.first_run_dock.raise_()

    def _on_banner_closed(self, kind: str) -> None:
        if kind == "first_run":
            self.status.say(f"{GET_MODEL} gets SinSR any time.")

    def _offer_most_detail(self, job_id: int, _image: QImage) -> None:
        """Once, after Automatic upscaled a single photo with Photo on the processor and Most detail would take
        at most about a minute for it: a line with "Try Most detail", which upscales it again with Most detail
        and keeps the Photo result to compare (A/B)."""
        job = self.queue.get(job_id)
        if job is None or job.result is None or self.runner.batch or self.banner.isVisible():
            return
        info = job.result.model
        text = self.model_status.detail_offer(job.path.name, job.result.input_size, info.kind, info.device)
        if not text:
            return
        self.banner.show_message(text, [("Try Most detail", lambda: self._try_most_detail(job_id))],
                                 kind="detail_offer")
        self.preferences.update({"detail_offer_done": True}, show=False)

    def _try_most_detail(self, job_id: int) -> None:
        from sinsr_gui.engine.models import builtin

        self.banner.clear("detail_offer")
        self.use_builtin(builtin.DETAIL.kind)
        self.retry_jobs([job_id])

    def use_builtin(self, kind: str) -> None:
        from sinsr_gui.engine.models import descriptor_for

        self.preferences.update({"model": kind, "first_run_done": True})
        self.first_run_dock.hide()
        self.status.say(f"Using {descriptor_for(kind).display_name}. {GET_MODEL} gets SinSR any time.")

    def _on_weights_installed(self, message: str) -> None:
        self.cache.release()  # "Automatic" meant a built-in model until now
        self.model_status.forget()
        self.settings_panel.set_model_choices(self.model_status.picker(), self.model_status.options_used())
        self.preferences.update({"first_run_done": True}, show=False)  # a model was chosen
        self.status.say(message)
        QTimer.singleShot(2500, self.first_run_dock.hide)

    def _update_model_label(self) -> None:
        self.status.model_label.setText(self.model_status.label())

    # ====================================================================================== title, actions
    def _update_title(self) -> None:
        job = self.queue.get(self._current_id)
        self.setWindowTitle(f"{APP_TITLE} — {job.path.name}[*]" if job else f"{APP_TITLE}[*]")
        self.setWindowModified(bool(self.queue.unsaved()))

    def _update_actions(self) -> None:
        a, job = self.commands, self.queue.get(self._current_id)
        busy_model = self.tasks.model_busy
        for action in (a.preview, a.preview_region):
            action.setEnabled(self._shown() is not None and not busy_model)
        a.cancel.setEnabled(busy_model)
        a.upscale.setEnabled(len(self.queue) > 0)
        has_result = job is not None and job.result is not None
        a.save.setEnabled(has_result and not self.saver.busy)
        a.save_as.setEnabled(has_result and not self.saver.busy)
        a.save_all.setEnabled(bool(self.queue.unsaved()) and not self.saver.busy)
        selected = self.queue_panel.selected_ids() or [self._current_id]
        a.retry.setEnabled(any(j.state in RETRYABLE for j in map(self.queue.get, selected) if j is not None))
        a.compare_previous.setEnabled(self.comparison.can_compare_results)
        why = "" if self.comparison.can_compare_results else self.comparison.why_no_previous(job)
        a.compare_previous.setText(f"Compare with the &previous result{f' ({why})' if why else ''}")
        a.swap_results.setEnabled(job is not None and job.previous is not None and not self.runner.busy)

    def show_shortcuts(self) -> None:
        dialogs.ShortcutsDialog(self.commands.shortcut_actions, dialogs.VIEW_SHORTCUTS, self).exec()

    def show_about(self) -> None:
        descriptor, device = self.model_status.expected()
        info = self.model_status.loaded
        model = f"{info.display_name} ({info.precision})" if info else (
            descriptor.display_name if descriptor else "none installed")
        dialogs.AboutDialog(info.device_label if info else device or self.settings.device, model, descriptor,
                            self).exec()

    # ======================================================================================= closing
    def is_busy(self) -> bool:
        """Some work is running or a worker thread is still winding down."""
        return self.tasks.active

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel every worker (a save finishes) and wait for its thread (blocking). True when all stopped in time."""
        return self.tasks.shutdown(timeout_ms)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if self._close_pending:
            event.ignore()  # already stopping; the window closes when the workers are done
            return
        if not self._close_confirmed and not self._confirm_close():
            event.ignore()
            return
        self._close_confirmed = True
        if self.is_busy():
            # Never destroy a running QThread: stop the work, close once every thread has finished.
            self.tasks.stop()
            self._close_pending = True
            self.status.stopping("Stopping…")
            self.status.say("Stopping the current work before closing…")
            event.ignore()
            return
        self.preferences.remember_layout(self)
        self.preferences.save_now()
        self.cache.release()
        event.accept()

    def _close_when_idle(self) -> None:
        if self._close_pending and not self.is_busy():
            self._close_pending = False
            self.close()

    def _confirm_close(self) -> bool:
        if self.tasks.model_busy and not dialogs.ask(
                self, "Stop upscaling?", "A photo is being upscaled. Stop it and close the app?",
                yes="Stop and close", no="Keep working"):
            return False
        unsaved = self.queue.unsaved()
        if unsaved:
            choice = dialogs.ask_save_discard(
                self, "Unsaved results", f"{count(len(unsaved), 'upscaled photo')} "
                f"{'is' if len(unsaved) == 1 else 'are'} not saved yet. Save before closing?")
            if choice == "cancel":
                return False
            if choice == "save":
                self.saver.save_all()
        self.weights.cancel()  # a download pauses: its .part file stays and resumes next time
        return True

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        dialogs.follow_palette_change(event)
        super().changeEvent(event)
