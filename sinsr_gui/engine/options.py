"""The choices a user makes about a run and its output, each defined once (Qt-free, torch-free).

The app's :class:`~sinsr_gui.settings.Settings` and the command line's arguments both map into these
dataclasses (with the model request, in :class:`sinsr_gui.engine.photo.PhotoOptions`), so the two front-ends
cannot drift apart. The output formats live with the encoders (:data:`sinsr_gui.engine.imageio.OUTPUT_FORMATS`); each
model's facts with the model (:mod:`sinsr_gui.engine.models`), which checks that it matches
:data:`MODEL_CHOICES`.
"""

from __future__ import annotations

from dataclasses import dataclass

MODEL_CHOICES = ("auto", "sinsr", "photo", "faithful")  # "auto": SinSR if installed, else Photo
LEGACY_MODEL_NAMES = {"compact": "faithful"}  # earlier versions called the built-in model "compact"
DEFAULT_SEED = 12345  # the official SinSR sampler's seed: the same seed gives the same photo
MAX_SEED = 2**31 - 1
SCALES = (2, 3, 4)  # x4 is native; x2 and x3 are a Lanczos downscale of the x4 result
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEFAULT_NAME_PATTERN = "{stem}_x{scale}"
DEFAULT_QUALITY = 95
DEFAULT_MAX_MEGAPIXELS = 100  # decompression-bomb guard for inputs


@dataclass(frozen=True)
class RunOptions:
    """How a photo is run: ``tile``/``overlap`` 0 mean automatic (from free memory / the model)."""

    scale: int = 4
    seed: int = DEFAULT_SEED
    tile: int = 0
    overlap: int = 0
    batch: int = 1

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale}")


@dataclass(frozen=True)
class OutputOptions:
    """How a result is written. ``bit_depth`` 0: like the photo (16-bit sources stay 16-bit in PNG/TIFF)."""

    fmt: str = "PNG"
    quality: int = DEFAULT_QUALITY
    bit_depth: int = 0
    name_pattern: str = DEFAULT_NAME_PATTERN
    overwrite: bool = False  # replace earlier outputs (never inputs)
