"""The SinSR weights seen from the window: status, first-run panel, download, import.

A mixin of :class:`sinsr_gui.qt.main_window.MainWindow`: it uses the window's state and
widgets.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Slot

from sinsr_gui.qt.window_common import (
    SINSR_WEIGHTS,
)
from sinsr_gui.qt.worker import (
    DownloadProgress,
    Worker,
    download_task,
    import_task,
)


class WeightsMixin:
    """The SinSR weights seen from the window for the main window."""

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
