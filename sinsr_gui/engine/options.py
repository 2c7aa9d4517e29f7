"""The choices a user makes about a run and its output, each defined once (Qt-free, torch-free).

The app's :class:`~sinsr_gui.settings.Settings` and the command line's arguments both map into these
dataclasses (with the model request, in :class:`sinsr_gui.engine.photo.PhotoOptions`), so the two front-ends
cannot drift apart. The output formats live with the encoders (:data:`sinsr_gui.engine.imageio.OUTPUT_FORMATS`); each
model's facts with the model (:mod:`sinsr_gui.engine.models`), which checks that it matches
:data:`MODEL_CHOICES`.
"""

from __future__ import annotations

from dataclasses import dataclass

# "community:NAME" chooses an imported model; re-exported here for the settings, which stay torch-free.
from sinsr_gui.weights.registry import COMMUNITY_PREFIX as COMMUNITY_PREFIX

# "auto": SinSR if installed, else Most detail on a graphics card and Photo on the processor (engine.models)
MODEL_CHOICES = ("auto", "sinsr", "photo", "faithful", "detail", "resshift")
SAMPLERS = ("stochastic", "deterministic")  # the ResShift teacher's samplers; stochastic is the official default
LEGACY_MODEL_NAMES = {"compact": "faithful"}  # earlier versions called the built-in model "compact"
DEFAULT_SEED = 12345  # the official SinSR sampler's seed: the same seed gives the same photo
MAX_SEED = 2**31 - 1
SCALES = (2, 3, 4)  # x4 is native; x2 and x3 are a Lanczos downscale of the x4 result
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
COLOUR_FIXES = ("auto", "off", "wavelet", "adain")  # see sinsr_gui.engine.colour; auto: ModelDescriptor.colour_fix
# Remove a JPEG's block edges before the model sees it (engine.imageio.jpeg_blocks). auto: when the file is
# compressed harder than the model's ModelDescriptor.deblock_below quality; on: every JPEG; off: never.
DEBLOCK_CHOICES = ("auto", "on", "off")
DEFAULT_NAME_PATTERN = "{stem}_x{scale}"
AUTO_FORMAT = "AUTO"  # the output format by source: JPEG for HEIC/HEIF (phone photos), PNG for everything else
_AUTO_JPEG_SUFFIXES = (".heic", ".heif")
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
    colour_fix: str = "auto"  # a COLOUR_FIXES entry (engine.colour); "auto": the model descriptor's choice
    deblock: str = "auto"  # a DEBLOCK_CHOICES entry

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale}")
        if self.colour_fix not in COLOUR_FIXES:
            raise ValueError(f"colour_fix must be one of {COLOUR_FIXES}, got {self.colour_fix!r}")
        if self.deblock not in DEBLOCK_CHOICES:
            raise ValueError(f"deblock must be one of {DEBLOCK_CHOICES}, got {self.deblock!r}")


def resolve_format(fmt: str, source: str | None) -> str:
    """The concrete output format for a source file (path or name, or None): ``fmt`` itself, or for
    :data:`AUTO_FORMAT` JPEG when the source is a HEIC/HEIF phone photo (a lossless PNG of a 4x phone photo
    is hundreds of megabytes, and the source was lossy anyway) and PNG otherwise (lossless, as before)."""
    if fmt.upper() != AUTO_FORMAT:
        return fmt
    return "JPEG" if source is not None and str(source).lower().endswith(_AUTO_JPEG_SUFFIXES) else "PNG"


@dataclass(frozen=True)
class OutputOptions:
    """How a result is written. ``fmt``: an output format, or :data:`AUTO_FORMAT` (see :func:`resolve_format`).
    ``bit_depth`` 0: like the photo (16-bit sources stay 16-bit in PNG/TIFF)."""

    fmt: str = AUTO_FORMAT
    quality: int = DEFAULT_QUALITY
    bit_depth: int = 0
    name_pattern: str = DEFAULT_NAME_PATTERN
    overwrite: bool = False  # replace earlier outputs (never inputs)
