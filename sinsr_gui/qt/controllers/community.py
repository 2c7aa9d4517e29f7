"""Other models in the app: import a model file (anything spandrel recognises), or download Real-ESRGAN.

Import happens in two worker steps around one question: the file is read safely and recognised (nothing is
written), the user reads what it is (architecture, scale, size) and confirms they may use it, since its licence
is unknown to the app; only then is it stored. SinSR's own files go through the usual import instead.
A download of one of the two registry entries (Real-ESRGAN x4plus, realesr-general-x4v3; BSD-3-Clause) shows
its licence first, then downloads, verifies and installs it as a community model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from sinsr_gui.qt.worker import TaskControl
from sinsr_gui.qt.worker_slot import WorkerSlot
from sinsr_gui.settings import Settings

if TYPE_CHECKING:  # reading model files imports torch: loaded by the task, in the worker thread
    from sinsr_gui.weights.community import CommunityCandidate, CommunityInfo
    from sinsr_gui.weights.registry import Registry, WeightSpec
    from sinsr_gui.weights.store import WeightStore

MODEL_FILE_FILTER = "Model files (*.pth *.pt *.ckpt *.safetensors *.bin *.param);;All files (*)"


def inspect_task(control: TaskControl[NoReturn], *, store: WeightStore, path: Path) -> str | CommunityCandidate:
    """SinSR-family files are imported at once (a sentence); anything else comes back as a candidate to confirm."""
    from sinsr_gui.weights import community
    from sinsr_gui.weights.checkpoint import read_state_dict, shapes_of
    from sinsr_gui.weights.importer import identify_shapes, import_file
    from sinsr_gui.weights.ncnn import is_ncnn_file

    if is_ncnn_file(path):  # an ncnn pair (either file chosen): converted, then confirmed like any community model
        return community.inspect_file(path, registry=store.registry)
    state = read_state_dict(path)  # safely: safetensors or weights_only, never a plain unpickle
    if identify_shapes(shapes_of(state), registry=store.registry, filename=path.name) is not None:
        del state
        result = import_file(path, store)
        return f"{path.name}: imported as the {store.registry.get(result.name).display_name}."
    return community.inspect_state_dict(state, path, registry=store.registry)


def install_task(control: TaskControl[NoReturn], *, store: WeightStore, candidate: CommunityCandidate
                 ) -> CommunityInfo:
    from sinsr_gui.weights.community import install_candidate

    return install_candidate(candidate, store)


def download_task(control: TaskControl[NoReturn], *, store: WeightStore, name: str) -> CommunityInfo | None:
    from sinsr_gui.weights.community import community_info
    from sinsr_gui.weights.download import download

    download(name, store, accept_license=True, cancel=control.cancel)
    return community_info(store, name)


class CommunityController(QObject):
    """Import and download of community models; asks through ``confirm(title, text, yes) -> bool``."""

    installed = Signal(str, str)  # the model choice ("community:NAME"), the sentence to show
    imported = Signal(str)  # a SinSR-family file was imported: the sentence
    message = Signal(str, str)
    error = Signal(str, str)  # message, title
    busyChanged = Signal(bool)

    def __init__(self, settings: Settings, registry: Registry, confirm: Callable[[str, str, str], bool],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings, self.registry, self.confirm = settings, registry, confirm
        self.slot = WorkerSlot("community", self)
        # The install step, started once the inspecting worker has finished.
        self._next: Callable[[TaskControl[NoReturn]], CommunityInfo] | None = None

    @property
    def busy(self) -> bool:
        return self.slot.busy

    def store(self) -> WeightStore:
        from sinsr_gui.weights.store import WeightStore

        return WeightStore(Path(self.settings.weights_dir) if self.settings.weights_dir else None, self.registry)

    @staticmethod
    def available() -> bool:
        from sinsr_gui.weights.spandrel_support import is_available

        return is_available()

    def downloads(self) -> list[WeightSpec]:
        """The community models the registry can download (with their licence)."""
        return [s for s in self.registry.specs() if s.role == "community"]

    # --------------------------------------------------------------------------------------------- import
    def choose_and_import(self, parent: QWidget | None) -> None:
        """Model > Import a model file…: pick a file, then :meth:`import_file`."""
        from PySide6.QtWidgets import QFileDialog

        name, _ = QFileDialog.getOpenFileName(parent, "Import a model file", self.settings.last_open_dir,
                                              MODEL_FILE_FILTER)
        if name:
            self.import_file(Path(name))

    def import_file(self, path: Path) -> None:
        if self.slot.busy:
            return
        self.message.emit(f"Reading {path.name}…", "")
        self.slot.start(functools.partial(inspect_task, store=self.store(), path=path), name="inspect",
                        on_succeeded=self._on_inspected, on_failed=self._on_failed, on_finished=self._on_finished)
        self.busyChanged.emit(True)

    def _on_inspected(self, outcome: str | CommunityCandidate) -> None:
        if isinstance(outcome, str):
            self.imported.emit(outcome)
            return
        if not self.confirm("Use this model?", outcome.confirmation_text(), "I may use it: import"):
            self.message.emit(f"{outcome.path.name} was not imported.", "")
            return
        self._next = functools.partial(install_task, store=self.store(), candidate=outcome)

    # ------------------------------------------------------------------------------------------- download
    def download(self, name: str) -> None:
        spec = self.registry.get(name)
        text = (f"{spec.display_name}: {spec.description}\n\nLicence: {spec.license_name} — {spec.license_summary}\n"
                f"{spec.license_url}")
        if self.slot.busy or not self.confirm(f"Download {spec.display_name}?", text, "Accept and download"):
            return
        self.message.emit(f"Downloading {spec.display_name}…", "")
        self.slot.start(functools.partial(download_task, store=self.store(), name=name), name="download",
                        on_succeeded=self._on_installed, on_failed=self._on_failed, on_finished=self._on_finished)
        self.busyChanged.emit(True)

    def cancel(self) -> None:
        self.slot.cancel()

    # ------------------------------------------------------------------------------------------ internals
    def _on_finished(self) -> None:
        task, self._next = self._next, None
        if task is not None:  # the user confirmed: store the file now
            self.message.emit("Storing the model…", "")
            self.slot.start(task, name="install", on_succeeded=self._on_installed, on_failed=self._on_failed,
                            on_finished=self._on_finished)
            return
        self.busyChanged.emit(False)

    def _on_installed(self, info: CommunityInfo | None) -> None:
        if info is None:
            return
        self.installed.emit(info.choice, f"{info.display_name} is installed: choose it in Settings > Model.")

    def _on_failed(self, message: str, error: BaseException | None) -> None:
        from sinsr_gui.errors import Cancelled

        if isinstance(error, Cancelled):
            self.message.emit("Stopped.", message)
        else:
            self.error.emit(message, "Cannot use this model file")
