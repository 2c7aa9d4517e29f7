"""The main window: the controller. It owns the queue of photos and the settings, wires the views (queue,
compare view, settings, first-run panel) together, and runs all engine work in workers so the window never
freezes.

Where results go: a result stays in memory until it is saved (Ctrl+S, Save all), except that runs over
several photos save each result as soon as it is ready (the "Save automatically" setting). Nothing is ever
written over an input, and closing with unsaved results asks first.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, Qt, QThread, QTimer, Slot
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QImage,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QToolButton,
    QWidget,
)

from sinsr_gui import paths
from sinsr_gui.qt import dialogs
from sinsr_gui.qt.compare_view import CompareMode, CompareView
from sinsr_gui.qt.first_run import FirstRunPanel, format_duration
from sinsr_gui.qt.queue_panel import QueuePanel
from sinsr_gui.qt.settings_panel import SettingsPanel
from sinsr_gui.qt.window_actions import ActionsMixin
from sinsr_gui.qt.window_common import (
    _IMAGE_FIELDS,
    _MODEL_FIELDS,
    APP_TITLE,
    IMAGE_FILTER_SUFFIXES,
    Job,
    _affects_every_photo,
    _clock,
    _count,
    _local_files,
    app_icon,
    log,
    model_request_for,
)
from sinsr_gui.qt.window_preview import PreviewMixin
from sinsr_gui.qt.window_saving import SavingMixin
from sinsr_gui.qt.window_weights import WeightsMixin
from sinsr_gui.qt.worker import (
    JobOutcome,
    LoadOutcome,
    ModelInfo,
    Thumbnail,
    Worker,
    load_task,
    start_in_thread,
    thumbnail_task,
    upscale_task,
)
from sinsr_gui.settings import USER_FIELDS, Settings, load_settings, reset_to_defaults, save_settings

__all__ = ["MainWindow", "app_icon", "model_request_for"]


class MainWindow(ActionsMixin, PreviewMixin, SavingMixin, WeightsMixin, QMainWindow):
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


