"""Which file formats are read and written, by Pillow format id and by file suffix.

Inputs: the formats Pillow always has, plus AVIF (Pillow's own plugin, or pillow-avif-plugin) and HEIC/HEIF
(pi-heif, a dependency that decodes only; pillow-heif works too) when their decoders are installed, detected
here without importing them, so importing this module has no side effects. Outputs: PNG, JPEG, WebP and TIFF.
HEIC is not written: the only HEVC encoder on offer (x265, inside pillow-heif's wheels) is GPL, and HEVC
cannot hold a picture above 35.7 megapixels, which a 4x result of any phone photo is. ``docs/file_formats.md``
says what each format keeps.
"""

from __future__ import annotations

import importlib.util

from PIL import Image

_HAS_HEIF = importlib.util.find_spec("pi_heif") is not None or importlib.util.find_spec("pillow_heif") is not None
OUTPUT_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "TIFF")
OUTPUT_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif"}
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF"}
# hard limits of the formats themselves, in pixels
_MAX_SIDE = {"JPEG": 65_535, "WEBP": 16_383}
_JPEG_MAX_EXIF = 65_533  # one APP1 segment, in bytes

_BASE_INPUTS = {
    # Pillow format id -> file suffixes. JPEG also covers MPO (phone JPEGs with a second picture).
    "PNG": (".png",),
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "WEBP": (".webp",),
    "TIFF": (".tif", ".tiff"),
    "BMP": (".bmp",),
    "DIB": (".dib",),
    "GIF": (".gif",),
}
_HAS_AVIF = (
    importlib.util.find_spec("PIL._avif") is not None or importlib.util.find_spec("pillow_avif") is not None
)
SUPPORTED_INPUT_SUFFIXES: frozenset[str] = frozenset(
    [s for suffixes in _BASE_INPUTS.values() for s in suffixes]
    + ([".avif"] if _HAS_AVIF else [])
    + ([".heic", ".heif"] if _HAS_HEIF else [])
)
_FORMAT_NAMES = (  # for messages: "supported formats are ..."
    "PNG, JPEG, WebP, TIFF, BMP, GIF" + (", AVIF" if _HAS_AVIF else "") + (", HEIC/HEIF" if _HAS_HEIF else "")
)


def normalize_format(fmt: str) -> str:
    """'png', 'jpg', 'tif' ... -> one of OUTPUT_FORMATS; ValueError for anything else."""
    key = fmt.strip().upper().lstrip(".")
    key = _FORMAT_ALIASES.get(key, key)
    if key not in OUTPUT_FORMATS:
        raise ValueError(f"Unknown output format {fmt!r}; choose one of {', '.join(OUTPUT_FORMATS)}.")
    return key


def _input_formats() -> list[str]:
    """The Pillow format ids ``read_image`` lets ``Image.open`` try (registered optional plugins included)."""
    formats = list(_BASE_INPUTS)
    if _HAS_AVIF:
        formats.append("AVIF")
    if _HAS_HEIF:
        formats.append("HEIF")
    Image.init()
    return [f for f in formats if f in Image.OPEN]
