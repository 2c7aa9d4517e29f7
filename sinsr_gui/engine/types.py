"""The engine's plain types: what goes into a run and what comes out of it (torch-free).

The use cases (:mod:`sinsr_gui.engine.photo`) and the model choice (:mod:`sinsr_gui.engine.models`) import
torch; the front-ends, the settings and the queue need only these values, so they live here and every layer
above the engine can name them in its annotations without loading torch (the import contract in
``pyproject.toml`` keeps it that way).

Images are numpy arrays: ``rgb`` (H, W, 3) float32 in [0, 1], upright (EXIF orientation applied), and an
optional ``alpha`` (H, W) float32 in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sinsr_gui.engine.imageio import ImageMeta
from sinsr_gui.engine.options import DEFAULT_MAX_MEGAPIXELS, OutputOptions, RunOptions
from sinsr_gui.errors import Remedy

AUTO = "auto"  # the model choice that picks SinSR when installed, else the built-in Photo model


def output_size_for(width: int, height: int, scale: int) -> tuple[int, int]:
    """Exactly round(scale x input) on each side."""
    return round(scale * width), round(scale * height)


@dataclass(frozen=True)
class ModelRequest:
    """Everything that decides which weights are loaded where; equal requests share one loaded model."""

    model: str = AUTO  # one of engine.options.MODEL_CHOICES, or "community:NAME"
    device: str = "auto"
    dtype: str = "auto"
    unet: Path | None = None  # explicit SinSR files (otherwise the installed ones)
    autoencoder: Path | None = None
    config: Path | None = None
    weights_dir: Path | None = None
    sampler: str = "stochastic"  # for the ResShift teacher


@dataclass(frozen=True)
class Notice:
    """Something the user should know about the choice made for them (not an error)."""

    message: str
    remedy: Remedy | None = None


@dataclass(frozen=True)
class PhotoOptions:
    """Everything a front-end decides for a run: which model, how to run it, how to write the result."""

    model: ModelRequest = field(default_factory=ModelRequest)
    run: RunOptions = field(default_factory=RunOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1e6)


@dataclass(frozen=True)
class Progress:
    """Tiles done of the total for one photo (the first event is ``Progress(0, total)``)."""

    done: int
    total: int


@dataclass(frozen=True)
class ModelInfo:
    """What runs where, for the user: reported once the model is loaded."""

    kind: str  # the descriptor's kind, e.g. "photo"
    display_name: str
    device: str  # e.g. "cpu", "cuda:1": the key for throughput measurements
    device_label: str
    precision: str
    passes: int  # network passes per tile (time estimates)
    notice: Notice | None = None
    needs_noise: bool = False  # its result depends on the seed
    sampler: str | None = None  # the ResShift teacher's sampler


@dataclass
class Photo:
    """A decoded photo: ``rgb`` (H, W, 3) float32 [0, 1] with EXIF orientation applied, optional ``alpha``
    (H, W), and ``meta``, everything that goes back into the saved file (no pixels)."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    meta: ImageMeta  # ICC, EXIF, DPI, grey, bit depth, notes, source path, a JPEG's coding
    # (deblock choice, ``rgb`` less its JPEG block edges, or None where that choice leaves it as it is), once needed
    unblocked: tuple[str, np.ndarray | None] | None = None

    @property
    def path(self) -> Path | None:
        return self.meta.path

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, as displayed."""
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def notes(self) -> list[str]:
        return self.meta.notes

    @property
    def nbytes(self) -> int:
        """The memory its pixels take (RGB, alpha and the unblocked copy once made)."""
        unblocked = self.unblocked[1] if self.unblocked is not None else None
        extra = sum(a.nbytes for a in (self.alpha, unblocked) if a is not None)
        return self.rgb.nbytes + extra


@dataclass
class UpscaleResult:
    """A finished upscale, in memory: ``rgb`` (H, W, 3) float32 [0, 1], ``alpha`` (H, W) or None.

    ``rgb`` is None once a batch saved the result and released its pixels (its metadata stays);
    :func:`sinsr_gui.engine.photo.reopen_saved` brings them back from a lossless saved copy.
    """

    rgb: np.ndarray | None
    alpha: np.ndarray | None
    meta: ImageMeta
    scale: int
    input_size: tuple[int, int]  # (width, height)
    seconds: float
    model: ModelInfo
    notes: list[str] = field(default_factory=list)
    run: RunOptions | None = None  # how it was made (seed, colour fix), for its label

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the result (also once its pixels were released)."""
        if self.rgb is not None:
            return self.rgb.shape[1], self.rgb.shape[0]
        return output_size_for(*self.input_size, self.scale)

    @property
    def label(self) -> str:
        """What made this result, in a few words: "SinSR v1, seed 12345", "ResShift (15 steps), deterministic,
        seed 7", "Photo (built-in), wavelet colour fix". Tells two results of one photo apart."""
        parts = [self.model.display_name]
        if self.model.sampler:
            parts.append(self.model.sampler)
        if self.run is not None and self.model.needs_noise:
            parts.append(f"seed {self.run.seed}")
        if self.run is not None and self.run.colour_fix != "off":
            parts.append(f"{self.run.colour_fix} colour fix")
        return ", ".join(parts)


@dataclass
class RegionResult:
    """A preview: the region's pixels at the output scale and where they go in the output image."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    rect: tuple[int, int, int, int]  # (x, y, width, height) in output pixels
    seconds: float
    model: ModelInfo


@dataclass
class FileResult:
    """One file read, upscaled and saved (:func:`sinsr_gui.engine.photo.process_file`)."""

    input_path: Path
    output_path: Path
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    seconds: float
    notes: list[str]
