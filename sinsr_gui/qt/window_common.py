"""Shared pieces of the main window: constants, the queue item, and small helpers."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtGui import (
    QIcon,
)

from sinsr_gui import paths
from sinsr_gui.qt import dialogs
from sinsr_gui.qt.worker import (
    JobOutcome,
)
from sinsr_gui.settings import Settings

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


