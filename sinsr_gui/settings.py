"""The app's settings: one dataclass, saved as JSON in the user config folder.

Qt-free on purpose (the import-linter contract forbids Qt here): the desktop app edits it, and anything else
(tests, a future CLI option) can read it. A settings file is user-editable and may come from an older or newer
version, so loading never fails: each field that is missing, of the wrong type or out of range falls back to
its default on its own, and unknown fields are ignored.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from sinsr_gui import paths
from sinsr_gui.atomic import atomic_write_text
from sinsr_gui.engine.imageio.formats import OUTPUT_FORMATS
from sinsr_gui.engine.options import (
    AUTO_FORMAT,
    COLOUR_FIXES,
    COMMUNITY_PREFIX,
    DEBLOCK_CHOICES,
    DEFAULT_NAME_PATTERN,
    DEFAULT_QUALITY,
    DEFAULT_SEED,
    LEGACY_MODEL_NAMES,
    MAX_SEED,
    MODEL_CHOICES,
    PRECISIONS,
    SAMPLERS,
    SCALES,
    OutputOptions,
    RunOptions,
)
from sinsr_gui.engine.types import ModelRequest, PhotoOptions

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"

MODELS = MODEL_CHOICES
FORMATS = (AUTO_FORMAT, *OUTPUT_FORMATS)
AUTO_SAVE = ("batch", "always", "never")
COMPARE_MODES = ("split", "side_by_side")
BEFORE_VIEWS = ("enlarged", "original")  # "before" as a bicubic enlargement (fair at any zoom) or the pixels
MAX_TILE = 2048
_THROUGHPUT_SMOOTHING = 0.5  # weight of the newest measurement: follows a new machine quickly, damps noise


@dataclass
class Settings:
    """Everything the user can choose, with the defaults a first launch gets.

    ``tile``/``overlap`` 0 mean "automatic"; ``bit_depth`` 0 means "like the photo" (16-bit sources stay
    16-bit where the format allows it). ``output_dir`` "" means "next to each photo". The ``sinsr_*`` paths
    name SinSR checkpoint files used in place of the installed ones (advanced; not shown in the panel).
    """

    model: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    tile: int = 0
    overlap: int = 0
    seed: int = DEFAULT_SEED
    scale: int = 4
    fmt: str = AUTO_FORMAT  # JPEG for HEIC phone photos, PNG for the rest (engine.options.resolve_format)
    quality: int = DEFAULT_QUALITY
    bit_depth: int = 0
    output_dir: str = ""
    name_pattern: str = DEFAULT_NAME_PATTERN
    auto_save: str = "batch"  # batch: save at once when several photos run; always; never (keep in memory)
    compare_mode: str = "split"
    before_view: str = "enlarged"
    sampler: str = "stochastic"  # the ResShift teacher's sampler (official default)
    colour_fix: str = "auto"
    deblock: str = "auto"  # remove JPEG block edges first (engine.options.DEBLOCK_CHOICES)
    sinsr_unet: str = ""
    sinsr_autoencoder: str = ""
    sinsr_config: str = ""
    weights_dir: str = ""
    first_run_done: bool = False  # the first-run banner was shown (once), or a model was chosen in it
    detail_offer_done: bool = False  # the "Try Most detail" offer after a Photo result was shown (once)
    auto_save_confirmed: bool = False  # the user saw and chose where a run's automatic saves go
    last_open_dir: str = ""
    window_geometry: str = ""  # base64 of QWidget.saveGeometry()
    window_state: str = ""  # base64 of QMainWindow.saveState() (docks, toolbar)
    # Measured speed: seconds per input (LR) megapixel, by "model@device" (e.g. "sinsr@cpu").
    throughput: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------ measured speed (engine.speed makes the estimates from it)
    def seconds_per_megapixel(self, model_kind: str, device: str) -> float | None:
        return self.throughput.get(throughput_key(model_kind, device))

    def measured_speeds(self, device: str) -> dict[str, float]:
        """Every model's measured seconds per input megapixel on ``device``, by model kind."""
        suffix = throughput_key("", device)
        return {key[:-len(suffix)]: rate for key, rate in self.throughput.items() if key.endswith(suffix)}

    def record_throughput(self, model_kind: str, device: str, seconds: float, megapixels: float) -> None:
        """Fold one measured run into the running estimate for ``model_kind`` on ``device``."""
        if megapixels <= 0 or not math.isfinite(seconds) or seconds <= 0:
            return
        key = throughput_key(model_kind, device)
        measured = seconds / megapixels
        old = self.throughput.get(key)
        a = _THROUGHPUT_SMOOTHING
        self.throughput[key] = measured if old is None else a * measured + (1 - a) * old

    # ------------------------------------------------------------------------------------ engine options
    def to_options(self) -> PhotoOptions:
        """These settings as the engine's :class:`~sinsr_gui.engine.types.PhotoOptions` (the command line
        maps its arguments the same way). Explicit SinSR files win over the installed ones."""

        def path(text: str) -> Path | None:
            return Path(text).expanduser() if text else None

        return PhotoOptions(
            model=ModelRequest(model=self.model, device=self.device, dtype=self.precision,
                               unet=path(self.sinsr_unet), autoencoder=path(self.sinsr_autoencoder),
                               config=path(self.sinsr_config), weights_dir=path(self.weights_dir),
                               sampler=self.sampler),
            run=RunOptions(scale=self.scale, seed=self.seed, tile=self.tile, overlap=self.overlap,
                           colour_fix=self.colour_fix, deblock=self.deblock),
            output=OutputOptions(fmt=self.fmt, quality=self.quality, bit_depth=self.bit_depth,
                                 name_pattern=self.name_pattern),
        )

    def output_folder(self) -> Path | None:
        """The chosen output folder, or None for "next to each photo"."""
        return Path(self.output_dir).expanduser() if self.output_dir else None

    def copy(self) -> Settings:
        return Settings.from_dict(self.to_dict())

    # ---------------------------------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Settings:
        """Build settings from parsed JSON; every bad or missing field keeps its default."""
        settings = cls()
        if not isinstance(data, dict):
            return settings
        if data.get("model") in LEGACY_MODEL_NAMES:  # a settings file from an earlier version
            data = {**data, "model": LEGACY_MODEL_NAMES[data["model"]]}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = _validated(f.name, data[f.name], getattr(settings, f.name))
            if value is not _INVALID:
                setattr(settings, f.name, value)
            else:
                log.warning("settings: ignoring invalid %s=%r (using the default)", f.name, data[f.name])
        return settings


def throughput_key(model_kind: str, device: str) -> str:
    return f"{model_kind}@{device}"


_INVALID = object()
_CHOICES: dict[str, tuple[Any, ...]] = {
    "model": MODELS,
    "precision": PRECISIONS,
    "scale": SCALES,
    "fmt": FORMATS,
    "auto_save": AUTO_SAVE,
    "compare_mode": COMPARE_MODES,
    "before_view": BEFORE_VIEWS,
    "sampler": SAMPLERS,
    "colour_fix": COLOUR_FIXES,
    "deblock": DEBLOCK_CHOICES,
    "bit_depth": (0, 8, 16),
}
_RANGES: dict[str, tuple[int, int]] = {
    "tile": (0, MAX_TILE),
    "overlap": (0, 512),
    "seed": (0, MAX_SEED),
    "quality": (1, 100),
}


def _validated(name: str, value: Any, default: Any) -> Any:
    """``value`` if it is acceptable for field ``name`` (same type as the default, in range), else _INVALID."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else _INVALID
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            return _INVALID
        low, high = _RANGES.get(name, (-(2**63), 2**63))
        if not low <= value <= high:
            return _INVALID
    elif isinstance(default, str):
        if not isinstance(value, str):
            return _INVALID
    elif isinstance(default, dict):
        if not isinstance(value, dict):
            return _INVALID
        # Keep only well-formed entries: a bad measurement must not break the estimate for the others.
        return {str(k): float(v) for k, v in value.items()
                if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0}
    if name == "model" and isinstance(value, str) and value.startswith(COMMUNITY_PREFIX):
        return value if len(value) > len(COMMUNITY_PREFIX) else _INVALID  # an imported community model
    if name in _CHOICES and value not in _CHOICES[name]:
        return _INVALID
    if name == "device" and not _valid_device(value):
        return _INVALID
    if name == "name_pattern" and not valid_name_pattern(value):
        return _INVALID
    return value


def _valid_device(value: str) -> bool:
    v = value.strip().lower()
    return v in ("auto", "cpu", "mps") or v == "cuda" or (v.startswith("cuda:") and v[5:].isdigit())


def valid_name_pattern(pattern: str) -> bool:
    """Mirrors ``engine.naming.output_path_for``'s checks without importing the engine (keeps this module light)."""
    try:
        name = pattern.format(stem="photo", scale=4)
    except (KeyError, IndexError, ValueError):
        return False
    return bool(name.strip()) and "/" not in name and "\\" not in name and name not in (".", "..")


# What the settings panel edits; "Reset to defaults" resets these and keeps the rest (window layout,
# measurements, installed-model choices), which are not preferences the user set in the panel.
USER_FIELDS = ("model", "device", "precision", "tile", "overlap", "seed", "scale", "fmt", "quality", "bit_depth",
               "output_dir", "name_pattern", "auto_save", "compare_mode", "before_view", "sampler", "colour_fix",
               "deblock")


def reset_to_defaults(settings: Settings) -> Settings:
    """A copy of ``settings`` with every user choice back at its default."""
    out = settings.copy()
    defaults = Settings()
    for name in USER_FIELDS:
        setattr(out, name, getattr(defaults, name))
    return out


def settings_path() -> Path:
    return paths.config_dir() / SETTINGS_FILE


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the settings file; a missing, unreadable or corrupt file gives the defaults (never raises)."""
    path = Path(path) if path is not None else settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        log.warning("settings: cannot read %s (%s); using the defaults", path, exc)
        return Settings()
    try:
        data = json.loads(text)
    except ValueError as exc:
        log.warning("settings: %s is not valid JSON (%s); using the defaults", path, exc)
        return Settings()
    return Settings.from_dict(data)


def save_settings(settings: Settings, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the settings atomically (temp file + rename), so a crash never leaves a half-written file."""
    path = Path(path) if path is not None else settings_path()
    atomic_write_text(path, json.dumps(settings.to_dict(), indent=2, sort_keys=True))
    return path
