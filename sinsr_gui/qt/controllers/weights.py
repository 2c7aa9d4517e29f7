"""Getting the SinSR weights from the first-run panel: download (with consent, resumable) or import.

The controller drives its view, :class:`~sinsr_gui.qt.first_run.FirstRunPanel`, and reports through
``installed`` when SinSR became ready (the window then releases the loaded model and refreshes the picker).
Errors reach the panel in the app's words (:func:`sinsr_gui.qt.messages.user_message`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from PySide6.QtCore import QObject, Signal

from sinsr_gui.errors import Cancelled, UserError
from sinsr_gui.qt.first_run import FirstRunPanel
from sinsr_gui.qt.worker import TaskControl
from sinsr_gui.qt.worker_slot import WorkerSlot
from sinsr_gui.settings import Settings
from sinsr_gui.weights.registry import SINSR_WEIGHTS

if TYPE_CHECKING:
    from sinsr_gui.weights.registry import Registry
    from sinsr_gui.weights.store import WeightStore

PAUSED = "Paused. “Resume download” continues where it stopped."


@dataclass
class DownloadProgress:
    index: int
    count: int
    label: str
    done: int
    total: int | None
    rate: float
    eta: float | None


def download_task(control: TaskControl[DownloadProgress], *, store: WeightStore, names: list[str]) -> list[Path]:
    """Download (resuming any .part file) and verify each weights entry; reports DownloadProgress."""
    from sinsr_gui.weights.download import download

    paths_done: list[Path] = []
    for index, name in enumerate(names):
        spec = store.registry.get(name)
        last = [0.0]

        def progress(done: int, total: int | None, rate: float, eta: float | None, *, _i=index,
                     _label=spec.display_name, _last=last) -> None:
            now = time.monotonic()
            if now - _last[0] >= 0.1 or (total is not None and done >= total):  # ~10 updates a second
                _last[0] = now
                control.report(DownloadProgress(_i, len(names), _label, done, total, rate, eta))

        paths_done.append(download(name, store, accept_license=True, progress=progress, cancel=control.cancel))
    return paths_done


def import_task(control: TaskControl[NoReturn], *, store: WeightStore, files: list[str]) -> list[str]:
    """Verify and copy weight files into the store; returns one line per file."""
    from sinsr_gui.weights.importer import import_file

    lines = []
    for f in files:
        if control.cancel.is_set():
            break
        result = import_file(f, store)
        lines.append(f"{Path(f).name}: imported as the {store.registry.get(result.name).display_name}.")
    return lines


def licences(registry: Registry) -> list[tuple[str, str, str]]:
    """(name, licence, link) of what "Download" fetches, nothing else (for the first-run panel)."""
    specs = [registry.get(n) for n in SINSR_WEIGHTS]
    return [(s.display_name, f"{s.license_name}: {s.license_summary}", s.license_url) for s in specs]


class WeightsController(QObject):
    """The first-run flow. ``registry`` says where the weights are downloaded from (tests pass their own)."""

    installed = Signal(str)  # SinSR is ready: the sentence to show

    def __init__(self, panel: FirstRunPanel, settings: Settings, registry: Registry,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.panel, self.settings, self.registry = panel, settings, registry
        self.slot = WorkerSlot("weights", self)
        panel.downloadRequested.connect(self.start_download)
        panel.cancelDownloadRequested.connect(self.cancel)
        panel.importRequested.connect(self.import_files)

    # ------------------------------------------------------------------------------------------- state
    @property
    def busy(self) -> bool:
        return self.slot.busy

    def store(self) -> WeightStore:
        from sinsr_gui.weights.store import WeightStore

        return WeightStore(Path(self.settings.weights_dir) if self.settings.weights_dir else None, self.registry)

    def sinsr_available(self) -> bool:
        from sinsr_gui.engine.models import sinsr

        try:
            return sinsr.is_installed(self.settings.to_options().model)
        except UserError:
            return False

    def resumable(self) -> bool:
        store = self.store()
        return any(store.part_path(n).is_file() for n in SINSR_WEIGHTS)

    def refresh(self, *, announce: bool = False) -> None:
        """Show the panel's state: downloading, or offering to resume an interrupted download (``announce``:
        and say so, e.g. when the panel is shown)."""
        resumable = not self.slot.busy and self.resumable() and not self.sinsr_available()
        self.panel.set_downloading(self.slot.busy, resumable=resumable)
        if resumable and announce:
            self.panel.set_message("A download was interrupted; “Resume download” continues where it stopped.")

    # --------------------------------------------------------------------------------------------- flow
    def start_download(self) -> None:
        if self.slot.busy:
            return
        store = self.store()
        names = [n for n in SINSR_WEIGHTS if store.status_of(n).state != "installed"]
        if not names:
            self._ready("SinSR is already installed.")
            return
        if self.slot.start(functools.partial(download_task, store=store, names=names), name="download",
                           on_yielded=self._on_progress, on_succeeded=lambda _p: self._ready(
                               "SinSR is downloaded, checked and ready."),
                           on_failed=self._on_failed, on_finished=self.refresh):
            self.panel.set_downloading(True)
            self.panel.set_message("")

    def import_files(self, files: list[str]) -> None:
        if self.slot.busy:
            return
        if self.slot.start(functools.partial(import_task, store=self.store(), files=files), name="import",
                           on_succeeded=self._on_imported, on_failed=self._on_failed, on_finished=self.refresh):
            self.panel.set_downloading(True)
            self.panel.set_message("Checking and copying the files…")

    def cancel(self) -> None:
        """Pause a download (the .part file stays: it resumes next time)."""
        self.slot.cancel()

    def _on_progress(self, p: DownloadProgress) -> None:
        label = p.label + (f" (file {p.index + 1} of {p.count})" if p.count > 1 else "")
        self.panel.set_progress(label, p.done, p.total, p.rate, p.eta)

    def _on_imported(self, lines: list[str]) -> None:
        text = " ".join(lines)
        if self.sinsr_available():
            self._ready(f"{text} SinSR is ready.")
            return
        store = self.store()
        missing = [store.registry.get(n).display_name for n in SINSR_WEIGHTS if store.status_of(n).state != "installed"]
        self.panel.set_message(f"{text} Still needed: {', '.join(missing)}.")

    def _on_failed(self, message: str, error: BaseException | None) -> None:
        self.panel.set_message(PAUSED if isinstance(error, Cancelled) else message)

    def _ready(self, message: str) -> None:
        self.panel.set_message(message)
        self.installed.emit(message)  # the window records the choice (first_run_done) through the settings
