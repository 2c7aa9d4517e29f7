"""Photo-correct reading and writing: image files <-> float RGB arrays, with metadata carried across.

The model works on float32 RGB arrays of shape (H, W, 3) in [0, 1]. ``read_image`` turns a file into
such an array with the EXIF orientation applied, grey replicated to three channels, alpha split off and
16-bit precision kept; ``save_image`` writes a result back with the source's colour profile, EXIF
(minus Orientation) and DPI re-attached, atomically, and never over an input file.

Pillow reads 16-bit colour PNG/TIFF as 8-bit, cannot write 16-bit colour, and its libtiff writer rejects
an EXIF sub-IFD, so those cases have small dedicated paths here: a second decode that recovers the low
bytes, a minimal 16-bit PNG encoder and a minimal TIFF encoder.

Errors a user can meet are ``ImageReadError``/``ImageWriteError`` whose text is one sentence naming the
file and saying what to do. No Qt, no torch.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib.util
import io
import itertools
import logging
import os
import re
import struct
import sys
import tempfile
import warnings
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, TiffImagePlugin, UnidentifiedImageError

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000
OUTPUT_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF")
OUTPUT_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif"}
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF"}
_MAX_SIDE = {"JPEG": 65_535, "WEBP": 16_383}  # hard limits of the formats themselves
_JPEG_MAX_EXIF = 65_533  # one APP1 segment
_PNG_BAND_BYTES = 2 << 20  # raw bytes filtered per pass by the 16-bit PNG writer (bounds scratch memory)
_TIFF_STRIP_BYTES = 256 << 10  # raw bytes per strip in the 16-bit TIFF writer

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
# Optional decoders, detected without importing them (importing this module has no side effects).
_HAS_AVIF = (
    importlib.util.find_spec("PIL._avif") is not None or importlib.util.find_spec("pillow_avif") is not None
)
_HAS_HEIF = importlib.util.find_spec("pillow_heif") is not None
SUPPORTED_INPUT_SUFFIXES: frozenset[str] = frozenset(
    [s for suffixes in _BASE_INPUTS.values() for s in suffixes]
    + ([".avif"] if _HAS_AVIF else [])
    + ([".heic", ".heif"] if _HAS_HEIF else [])
)
_FORMAT_NAMES = (
    "PNG, JPEG, WebP, TIFF, BMP, GIF" + (", AVIF" if _HAS_AVIF else "") + (", HEIC" if _HAS_HEIF else "")
)

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L" conversion
_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_EXIF_HEADER = b"Exif\x00\x00"


class ImageReadError(Exception):
    """A file could not be read as an image. ``str(err)`` is one sentence for the user; ``path`` for the log."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class ImageWriteError(Exception):
    """A result could not be saved. ``str(err)`` is one sentence for the user; ``path`` for the log."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass
class LoadedImage:
    """A decoded image ready for the model, plus what must be carried into the output file.

    ``rgb`` is float32 (H, W, 3) in [0, 1], RGB, EXIF orientation already applied; grey sources are
    replicated to three channels. ``alpha`` is float32 (H, W) in [0, 1] or None (straight, not
    premultiplied). 16-bit sources are scaled by 1/65535, 8-bit ones by 1/255.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    is_grey: bool
    bit_depth: int
    icc_profile: bytes | None
    exif: bytes | None  # "Exif\0\0" + TIFF structure, without the Orientation tag
    dpi: tuple[float, float] | None
    source_format: str
    path: Path | None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, after orientation."""
        return self.rgb.shape[1], self.rgb.shape[0]


# --------------------------------------------------------------------------------------------- reading


def read_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode ``path`` fully into a ``LoadedImage``; any problem becomes an ``ImageReadError``.

    ``max_pixels`` (width * height) guards against decompression bombs; it is checked from the header,
    before any pixel is decoded.
    """
    path = Path(path)
    name = path.name or str(path)
    try:
        if path.is_dir():
            raise ImageReadError(
                f'"{name}" is a folder, not an image file; choose the images inside it.', path=path
            )
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageReadError(
            f'Cannot read "{name}": the file does not exist; check it was not moved, renamed or deleted.',
            path=path,
        ) from None
    except OSError as exc:
        raise ImageReadError(_os_read_message(name, exc), path=path) from exc
    if size == 0:
        raise ImageReadError(
            f'Cannot read "{name}": the file is empty (0 bytes); copy or download it again.', path=path
        )

    _register_optional_plugins()
    _follow_pixel_limit(max_pixels)
    with warnings.catch_warnings():
        # Pillow warns between its own limit and twice it; our limit below is the one that decides.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(path, formats=_input_formats())
        except Image.DecompressionBombError as exc:
            raise ImageReadError(_too_large_message(f'"{name}"', None, max_pixels), path=path) from exc
        except UnidentifiedImageError as exc:
            raise ImageReadError(
                f'Cannot read "{name}": it is not an image this app can read (or it is damaged); '
                f"supported formats are {_FORMAT_NAMES}.",
                path=path,
            ) from exc
        except OSError as exc:
            raise ImageReadError(_os_read_message(name, exc), path=path) from exc
        except Exception as exc:  # a plugin choking on a malformed header
            raise ImageReadError(
                f'Cannot read "{name}": the file is damaged or not a supported image; '
                f"supported formats are {_FORMAT_NAMES}.",
                path=path,
            ) from exc
        with img:
            width, height = img.size
            if width * height > max_pixels:
                raise ImageReadError(_too_large_message(f'"{name}"', (width, height), max_pixels), path=path)
            return _load(img, path=path, reopen=path)


def read_image_from_pil(img: Image.Image, path: str | os.PathLike[str] | None = None) -> LoadedImage:
    """Convert an already opened Pillow image (clipboard, drag data) into a ``LoadedImage``.

    16-bit colour keeps full precision only when ``img`` is still lazily backed by a file on disk.
    """
    path = Path(path) if path is not None else None
    filename = getattr(img, "filename", "")
    reopen = Path(filename) if filename and getattr(img, "tile", None) else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return _load(img, path=path, reopen=reopen)


def _load(img: Image.Image, *, path: Path | None, reopen: Path | None) -> LoadedImage:
    name = f'"{path.name}"' if path is not None else "the pasted image"
    notes: list[str] = []
    fmt = img.format or ""
    frames = getattr(img, "n_frames", 1)
    if frames > 1 and fmt != "MPO":  # an MPO's second picture is a preview/depth map, not content
        what = "page" if fmt == "TIFF" else "frame"
        kind = "multi-page TIFF" if fmt == "TIFF" else f"animated {fmt or 'image'}"
        notes.append(f"{kind}: only the first {what} of {frames} was used")
        img.seek(0)
    wide = _wide_rawmode(img) if reopen is not None else None
    try:
        img.load()  # full decode here, so truncation is reported as a read error and not later
        planes, bit_depth, icc = _planes(img, wide, reopen, notes)
        orientation = _orientation(img)
        exif = _kept_exif(img, notes)
    except Image.DecompressionBombError as exc:
        raise ImageReadError(_too_large_message(name, img.size, None), path=path) from exc
    except MemoryError as exc:
        raise ImageReadError(
            f"Cannot read {name}: not enough memory for a {img.width} x {img.height} image; "
            "close other programs or use a smaller image.",
            path=path,
        ) from exc
    except Exception as exc:  # Pillow plugins raise many types on malformed data; the log keeps which
        raise ImageReadError(
            f"Cannot read {name}: the image data is damaged or incomplete; re-export or download it again.",
            path=path,
        ) from exc

    planes = _orient(planes, orientation)
    dpi = _dpi(img.info)
    if dpi is not None and orientation in (5, 6, 7, 8):
        dpi = (dpi[1], dpi[0])  # DPI describes the stored axes, which a quarter turn swaps
    channels = planes.shape[2]
    is_grey = channels in (1, 2)
    alpha = np.ascontiguousarray(planes[..., -1]) if channels in (2, 4) else None
    colour = planes[..., :1] if is_grey else planes[..., :3]
    rgb = np.ascontiguousarray(np.repeat(colour, 3, axis=2) if is_grey else colour)
    return LoadedImage(
        rgb=rgb,
        alpha=alpha,
        is_grey=is_grey,
        bit_depth=bit_depth,
        icc_profile=icc,
        exif=exif,
        dpi=dpi,
        source_format=fmt,
        path=path,
        notes=notes,
    )


def _planes(
    img: Image.Image, wide: str | None, reopen: Path | None, notes: list[str]
) -> tuple[np.ndarray, int, bytes | None]:
    """Pixels as float32 (H, W, C) in [0, 1], C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; plus bit depth and ICC."""
    mode = img.mode
    icc = img.info.get("icc_profile") or None
    transparency = img.info.get("transparency")

    if wide is not None and reopen is not None:
        try:
            data = _decode_wide(img, wide, reopen)
        except Exception:  # precision is a bonus: fall back to Pillow's 8-bit view rather than fail
            log.warning("16-bit re-decode of %s failed; keeping 8 bits", reopen, exc_info=True)
            notes.append("16-bit colour could not be decoded at full precision; 8 bits per channel were used")
        else:
            if isinstance(transparency, tuple) and data.shape[2] == 3:  # 16-bit tRNS colour key
                key = np.array(transparency, dtype=np.uint16)
                data = np.concatenate(
                    [data, np.where((data == key).all(axis=2), 0, 65535)[..., None]], axis=2
                )
            return _scale(data, 65535), 16, icc

    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        data = np.asarray(img)
        if mode == "I":  # 32-bit int containers (old 16-bit PNG decode, some TIFFs) hold 16-bit values
            data = np.clip(data, 0, 65535)
        planes = [data]
        if isinstance(transparency, int):
            planes.append(np.where(data == transparency, 0, 65535))
        return _scale(np.stack(planes, axis=2), 65535), 16, icc
    if mode == "F":
        return np.clip(np.asarray(img, dtype=np.float32), 0, 1)[..., None], 16, icc
    if mode == "CMYK":
        img, icc = _cmyk_to_rgb(img, icc, notes)
        return _scale(np.asarray(img), 255), 8, icc

    has_alpha = (
        mode in ("LA", "La", "PA", "RGBA", "RGBa")
        or transparency is not None
        or (mode == "P" and img.palette is not None and img.palette.mode == "RGBA")
    )
    if mode in ("1", "L", "LA", "La"):
        if has_alpha:
            rgba = np.asarray(img.convert("RGBA"))
            return _scale(rgba[..., [0, 3]], 255), 8, icc
        return _scale(np.asarray(img.convert("L"))[..., None], 255), 8, icc
    # RGB, RGBA, RGBa, RGBX, P, PA, YCbCr, LAB, HSV: Pillow's converters know each of these
    return _scale(np.asarray(img.convert("RGBA" if has_alpha else "RGB")), 255), 8, icc


def _scale(data: np.ndarray, peak: int) -> np.ndarray:
    """Integer samples -> float32 in [0, 1]; keeps a trailing channel axis."""
    out = data.astype(np.float32)
    out /= peak
    return out if out.ndim == 3 else out[..., None]


def _wide_rawmode(img: Image.Image) -> str | None:
    """Pillow's rawmode when it would squeeze 16-bit colour samples into 8 bits, else None."""
    if img.format not in ("PNG", "TIFF") or img.mode not in ("RGB", "RGBA") or not img.tile:
        return None
    raws = {_tile_rawmode(tile[3]) for tile in img.tile}
    if len(raws) != 1:
        return None
    raw = raws.pop()
    return raw if raw and raw.endswith((";16B", ";16L", ";16N")) else None


def _tile_rawmode(args: object) -> str | None:
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


def _decode_wide(img: Image.Image, raw: str, reopen: Path) -> np.ndarray:
    """Full 16-bit samples, uint16 (H, W, C), of a PNG/TIFF that Pillow decoded to 8 bits.

    Pillow unfilters/decompresses with the byte width of the rawmode and then keeps the high byte of each
    sample. Decoding the file a second time with the opposite byte order (same width) yields the low bytes.
    For PNG grey+alpha ("LA;16B") the 4-byte "RGBA" rawmode exposes all bytes at once.
    """
    if raw == "LA;16B":
        full = _redecode(reopen, img.format, "RGBA").astype(np.uint16)
        return (full[..., 0::2] << 8) | full[..., 1::2]  # (H, W, 2): grey, alpha
    high = np.asarray(img).astype(np.uint16)
    low = _redecode(reopen, img.format, _swap_byte_order(raw))
    if high.shape != low.shape:
        raise ValueError("re-decoded image has a different shape")
    return (high << 8) | low


def _swap_byte_order(raw: str) -> str:
    order = raw[-1]
    if order == "N":
        order = "L" if sys.byteorder == "little" else "B"
    return raw[:-1] + ("B" if order == "L" else "L")


def _redecode(path: Path, fmt: str | None, rawmode: str) -> np.ndarray:
    with Image.open(path, formats=[fmt] if fmt else None) as again:
        again.tile = [_with_rawmode(tile, rawmode) for tile in again.tile]
        again.load()
        return np.asarray(again)


def _with_rawmode(tile: tuple, rawmode: str) -> tuple:
    """A decoder tile (codec, extents, offset, args) with its rawmode, which args is or starts with, replaced."""
    args = tile[3]
    parts = (*tile[:3], rawmode if isinstance(args, str) else (rawmode, *args[1:]))
    return type(tile)(*parts) if hasattr(tile, "_fields") else parts


def _cmyk_to_rgb(img: Image.Image, icc: bytes | None, notes: list[str]) -> tuple[Image.Image, bytes | None]:
    """CMYK -> RGB through the embedded profile when there is one; the result is tagged sRGB."""
    if icc:
        try:
            from PIL import ImageCms

            # relative colorimetric + black point compensation (0x2000): the usual CMYK -> RGB default
            rgb = ImageCms.profileToProfile(
                img,
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                renderingIntent=1,
                outputMode="RGB",
                flags=0x2000,
            )
            return rgb, srgb_icc_profile()
        except Exception:  # broken profile or no LittleCMS: the plain conversion is still usable
            log.warning("CMYK profile conversion failed", exc_info=True)
    notes.append("CMYK image without a usable colour profile: colours were converted approximately")
    return img.convert("RGB"), None


@functools.lru_cache(maxsize=1)
def srgb_icc_profile() -> bytes | None:
    """Bytes of an sRGB ICC profile (LittleCMS built-in), or None when Pillow has no LittleCMS."""
    try:
        from PIL import ImageCms

        return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    except Exception:
        return None


def _orientation(img: Image.Image) -> int:
    # getexif() covers JPEG/PNG/WebP EXIF, TIFF's own tag 274 and XMP tiff:Orientation
    value = img.getexif().get(_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 1-8 to an (H, W, ...) array, exactly as ``ImageOps.exif_transpose`` would."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = a.swapaxes(0, 1)
    elif orientation == 6:
        a = np.rot90(a, -1)
    elif orientation == 7:
        a = a.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:
        a = np.rot90(a, 1)
    return np.ascontiguousarray(a)


def _dpi(info: dict) -> tuple[float, float] | None:
    dpi = info.get("dpi")
    try:
        x, y = (float(v) for v in dpi)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return (x, y) if 0 < x < 1e6 and 0 < y < 1e6 else None


def _kept_exif(img: Image.Image, notes: list[str]) -> bytes | None:
    """The source EXIF as "Exif\\0\\0" + TIFF bytes without Orientation, or None."""
    raw = img.info.get("exif")
    if isinstance(raw, bytes) and raw:
        raw = raw if raw.startswith(_EXIF_HEADER) else _EXIF_HEADER + raw
        try:
            return _drop_orientation(raw)
        except (ValueError, struct.error):
            pass
        try:  # odd layout: let Pillow re-serialise it (MakerNote offsets may not survive this)
            exif = Image.Exif()
            exif.load(raw)
            exif.pop(_ORIENTATION, None)
            return exif.tobytes()
        except Exception:
            notes.append("the EXIF data is damaged and was not kept")
            return None
    if img.format == "TIFF":
        return _exif_from_tiff(img)
    return None


_TIFF_DESCRIPTIVE_TAGS = (270, 271, 272, 305, 306, 315, 33432)  # description, make, model, software, ...


def _exif_from_tiff(img: Image.Image) -> bytes | None:
    """TIFF keeps EXIF in its own IFD among layout tags; carry only the descriptive part."""
    try:
        src = img.getexif()
        out = Image.Exif()
        for tag in _TIFF_DESCRIPTIVE_TAGS:
            if tag in src:
                out[tag] = src[tag]
        for pointer in (_EXIF_IFD, _GPS_IFD):
            sub = src.get_ifd(pointer)
            if sub:
                out[pointer] = dict(sub)
        return out.tobytes() if len(out) else None
    except Exception:
        log.warning("could not carry EXIF from TIFF", exc_info=True)
        return None


# ------------------------------------------------------------------------------------- EXIF byte edits
# Edited in place rather than re-serialised, so every other byte (MakerNote offsets included) survives.


def _tiff_header(buf: bytes | bytearray) -> tuple[int, str, int]:
    """(start of the TIFF structure, struct byte-order char, absolute offset of IFD0)."""
    start = len(_EXIF_HEADER) if buf.startswith(_EXIF_HEADER) else 0
    order = {b"II": "<", b"MM": ">"}.get(bytes(buf[start : start + 2]))
    if order is None or struct.unpack_from(order + "H", buf, start + 2)[0] != 42:
        raise ValueError("not a TIFF structure")
    return start, order, start + struct.unpack_from(order + "I", buf, start + 4)[0]


def _ifd_entries(buf: bytes | bytearray, order: str, ifd: int) -> Iterable[tuple[int, int, int, int]]:
    """(position, tag, type, count) of each 12-byte entry of the IFD at absolute offset ``ifd``."""
    count = struct.unpack_from(order + "H", buf, ifd)[0]
    for i in range(count):
        pos = ifd + 2 + 12 * i
        tag, typ, n = struct.unpack_from(order + "HHI", buf, pos)
        yield pos, tag, typ, n


def _drop_orientation(exif: bytes) -> bytes:
    buf = bytearray(exif)
    _, order, ifd0 = _tiff_header(buf)
    count = struct.unpack_from(order + "H", buf, ifd0)[0]
    end = ifd0 + 2 + 12 * count  # the 4-byte next-IFD offset follows the entries
    if end + 4 > len(buf):
        raise ValueError("IFD0 runs past the end of the EXIF block")
    for pos, tag, _, _ in _ifd_entries(buf, order, ifd0):
        if tag == _ORIENTATION:
            # Slide later entries and the next-IFD offset up one slot; every other offset is absolute.
            buf[pos : end + 4 - 12] = buf[pos + 12 : end + 4]
            buf[end + 4 - 12 : end + 4] = bytes(12)
            struct.pack_into(order + "H", buf, ifd0, count - 1)
            break
    return bytes(buf)


def _exif_with_size(exif: bytes, width: int, height: int) -> bytes:
    """Update PixelXDimension/PixelYDimension, which would otherwise still describe the small source."""
    try:
        buf = bytearray(exif)
        start, order, ifd0 = _tiff_header(buf)
        sub = next((p for p, tag, _, _ in _ifd_entries(buf, order, ifd0) if tag == _EXIF_IFD), None)
        if sub is None:
            return exif
        sub_ifd = start + struct.unpack_from(order + "I", buf, sub + 8)[0]
        for pos, tag, typ, n in _ifd_entries(buf, order, sub_ifd):
            value = {0xA002: width, 0xA003: height}.get(tag)
            if value is None or n != 1:
                continue
            if typ == 4:
                struct.pack_into(order + "I", buf, pos + 8, value)
            elif typ == 3 and value <= 0xFFFF:
                struct.pack_into(order + "H", buf, pos + 8, value)
        return bytes(buf)
    except (ValueError, struct.error):
        return exif


# ---------------------------------------------------------------------------------- resizing helpers


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lanczos resize of float (H, W, 3) RGB in [0, 1] to ``size`` = (w, h); float32 out, clipped to [0, 1].

    Pillow widens the Lanczos kernel by the scale factor when shrinking, so downscales (x2/x3 from the x4
    result) are antialiased. Each channel goes through Pillow's 32-bit float mode: no 8-bit rounding.
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) RGB, got shape {rgb.shape}")
    return np.stack([_resize_plane(rgb[..., c], size, Image.Resampling.LANCZOS) for c in range(3)], axis=2)


def upscale_alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize float (H, W) alpha in [0, 1] to ``size`` = (w, h); float32 (h, w) in [0, 1].

    Bicubic rather than Lanczos: it rings less at hard mask edges, where overshoot would be clipped into
    visible halos.
    """
    alpha = np.asarray(alpha, dtype=np.float32)
    if alpha.ndim != 2:
        raise ValueError(f"expected (H, W) alpha, got shape {alpha.shape}")
    return _resize_plane(alpha, size, Image.Resampling.BICUBIC)


def _resize_plane(plane: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    w, h = (int(v) for v in size)
    if w < 1 or h < 1:
        raise ValueError(f"target size must be positive, got {size}")
    out = np.asarray(Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32)).resize((w, h), resample))
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------- writing


def normalize_format(fmt: str) -> str:
    """'png', 'jpg', 'tif' ... -> one of OUTPUT_FORMATS; ValueError for anything else."""
    key = fmt.strip().upper().lstrip(".")
    key = _FORMAT_ALIASES.get(key, key)
    if key not in OUTPUT_FORMATS:
        raise ValueError(f"Unknown output format {fmt!r}; choose one of {', '.join(OUTPUT_FORMATS)}.")
    return key


def to_pil(
    result_rgb: np.ndarray, like: LoadedImage | None, *, alpha: np.ndarray | None, bit_depth: int
) -> Image.Image:
    """Float (H, W, 3) RGB in [0, 1] (+ optional (H, W) alpha) -> Pillow image shaped like the source.

    Grey sources give "L"/"LA", others "RGB"/"RGBA". ``bit_depth=16`` gives "I;16" for grey without alpha;
    Pillow has no 16-bit colour or grey+alpha mode, so those come back as 8-bit (``save_image`` writes
    them at full precision itself). The ICC profile, EXIF and DPI of ``like`` are set in ``info``.
    """
    if bit_depth == 16 and (like is None or not like.is_grey or alpha is not None):
        bit_depth = 8
    data = _samples(result_rgb, grey=like is not None and like.is_grey, alpha=alpha, bit_depth=bit_depth)
    img = Image.fromarray(data[..., 0] if data.shape[2] == 1 else data)
    if like is not None:
        if like.icc_profile and _icc_matches(like.icc_profile, grey=data.shape[2] in (1, 2)):
            img.info["icc_profile"] = like.icc_profile
        if like.exif:
            img.info["exif"] = _exif_with_size(like.exif, img.width, img.height)
        if like.dpi:
            img.info["dpi"] = like.dpi
    return img


def _samples(rgb: np.ndarray, *, grey: bool, alpha: np.ndarray | None, bit_depth: int) -> np.ndarray:
    """Float RGB (+ alpha) -> integer samples (H, W, C), C = 1/2/3/4, uint8 or uint16, rounded not truncated."""
    rgb = _check_rgb(rgb)
    base = (rgb @ _LUMA)[..., None] if grey else rgb
    if alpha is not None:
        alpha = np.asarray(alpha, dtype=np.float32)
        if alpha.shape != rgb.shape[:2]:
            raise ValueError(f"alpha shape {alpha.shape} does not match image {rgb.shape[:2]}")
        base = np.concatenate([base, alpha[..., None]], axis=2)
    peak, dtype = (65535, np.uint16) if bit_depth == 16 else (255, np.uint8)
    scaled = np.nan_to_num(base, nan=0.0)
    np.clip(scaled, 0.0, 1.0, out=scaled)
    scaled *= peak
    scaled += 0.5
    return scaled.astype(dtype)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"expected float (H, W, 3) RGB, got shape {rgb.shape}")
    return rgb


def _icc_matches(icc: bytes, *, grey: bool) -> bool:
    """Whether the profile's data colour space (header bytes 16-20) fits the pixels it will be attached to."""
    space = icc[16:20]
    return space == (b"GRAY" if grey else b"RGB ")


def save_image(
    result_rgb: np.ndarray,
    dest: str | os.PathLike[str],
    *,
    like: LoadedImage | None,
    fmt: str = "PNG",
    quality: int = 95,
    bit_depth: int = 8,
    alpha: np.ndarray | None = None,
    overwrite: bool = False,
    protected: Iterable[str | os.PathLike[str]] = (),
    notes: list[str] | None = None,
) -> Path:
    """Write float (H, W, 3) RGB in [0, 1] (+ optional (H, W) alpha) to ``dest``; return the path written.

    Metadata (ICC, EXIF without Orientation and with the new pixel size, DPI) comes from ``like``, and a
    grey source is written grey. ``bit_depth`` 16 is honoured for PNG and TIFF. JPEG has no alpha, so it is
    flattened onto white. Files in ``protected`` (the inputs) are never written, even with ``overwrite``;
    an existing ``dest`` gets a " (1)" style name unless ``overwrite``. The file appears atomically (temp
    file in the same folder, fsync, rename), and on failure nothing is left behind. Things the user should
    know are appended to ``notes`` (default: ``like.notes``).
    """
    fmt = normalize_format(fmt)
    rgb = _check_rgb(result_rgb)
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be 1-100, got {quality}")
    if alpha is not None and np.shape(alpha) != rgb.shape[:2]:
        raise ValueError(f"alpha shape {np.shape(alpha)} does not match image {rgb.shape[:2]}")
    if notes is None:
        notes = like.notes if like is not None else []
    dest = Path(dest)
    height, width = rgb.shape[:2]

    limit = _MAX_SIDE.get(fmt)
    if limit is not None and max(width, height) > limit:
        raise ImageWriteError(
            f'Cannot save "{dest.name}": {fmt} images can be at most {limit} pixels on a side and this one '
            f"is {width} x {height}; choose PNG or TIFF instead.",
            path=dest,
        )
    if bit_depth == 16 and fmt not in ("PNG", "TIFF"):
        _note(notes, f"{fmt} stores 8 bits per channel; the 16-bit result was saved as 8-bit")
        bit_depth = 8
    if fmt == "JPEG" and alpha is not None:
        a = np.clip(np.asarray(alpha, dtype=np.float32), 0, 1)[..., None]
        rgb = rgb * a + (1.0 - a)  # straight alpha over white
        alpha = None
        _note(notes, "JPEG has no transparency: transparent areas were flattened onto white")

    target = _destination(dest, overwrite=overwrite, protected=protected)
    data = _samples(rgb, grey=like is not None and like.is_grey, alpha=alpha, bit_depth=bit_depth)
    # WebP has no grey mode; Pillow (and many readers) cannot open 16-bit grey+alpha TIFF
    if (fmt == "WEBP" and data.shape[2] in (1, 2)) or (
        fmt == "TIFF" and bit_depth == 16 and data.shape[2] == 2
    ):
        data = np.concatenate([np.repeat(data[..., :1], 3, axis=2), data[..., 1:]], axis=2)

    icc = like.icc_profile if like is not None else None
    if icc and not _icc_matches(icc, grey=data.shape[2] in (1, 2)):
        _note(notes, "the colour profile does not fit the output colour type and was not attached")
        icc = None
    exif = _exif_with_size(like.exif, width, height) if like is not None and like.exif else None
    if exif and fmt == "JPEG" and len(exif) > _JPEG_MAX_EXIF:
        _note(notes, "the EXIF data is too large for JPEG and was not kept")
        exif = None
    dpi = like.dpi if like is not None else None

    def encode(fh: BinaryIO) -> None:
        _encode(fh, data, fmt=fmt, quality=quality, icc=icc, exif=exif, dpi=dpi)

    _atomic_write(target, encode)
    return target


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)


def _encode(
    fh: BinaryIO,
    data: np.ndarray,
    *,
    fmt: str,
    quality: int,
    icc: bytes | None,
    exif: bytes | None,
    dpi: tuple[float, float] | None,
) -> None:
    """Encode integer samples (H, W, C) into ``fh``.

    TIFF (any depth) and 16-bit PNG go through the small writers below; the rest through Pillow. Pillow
    cannot write 16-bit colour, and its libtiff path rejects an EXIF sub-IFD.
    """
    if fmt == "TIFF":
        _write_tiff(fh, data, icc=icc, exif=exif, dpi=dpi)
        return
    if data.dtype == np.uint16:
        _write_png16(fh, data, icc=icc, exif=exif, dpi=dpi)
        return
    img = Image.fromarray(data[..., 0] if data.shape[2] == 1 else data)
    params: dict[str, object] = {}
    if icc:
        params["icc_profile"] = icc
    if exif:
        # WebP wants the bare TIFF structure; Pillow's JPEG/PNG/TIFF writers take the "Exif" header form
        params["exif"] = exif[len(_EXIF_HEADER) :] if fmt == "WEBP" else exif
    if dpi and fmt != "WEBP":
        params["dpi"] = dpi
    if fmt == "JPEG":
        # full-resolution chroma at high quality: 4:2:0 visibly softens the colour edges we just sharpened
        params.update(quality=quality, subsampling=0 if quality >= 90 else 2, optimize=True)
    elif fmt == "WEBP":
        params.update(quality=quality, method=4)
    img.save(fh, format=fmt, **params)


def _png_chunk(fh: BinaryIO, kind: bytes, payload: bytes) -> None:
    fh.write(struct.pack(">I", len(payload)) + kind + payload)
    fh.write(struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def _write_png16(
    fh: BinaryIO,
    data: np.ndarray,
    *,
    icc: bytes | None,
    exif: bytes | None,
    dpi: tuple[float, float] | None,
) -> None:
    """Minimal 16-bit PNG encoder for uint16 (H, W, C) samples, C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA."""
    height, width, channels = data.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    fh.write(b"\x89PNG\r\n\x1a\n")
    _png_chunk(fh, b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0))
    if icc:
        _png_chunk(fh, b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc))
    if dpi:
        per_metre = [max(1, round(d / 0.0254)) for d in dpi]
        _png_chunk(fh, b"pHYs", struct.pack(">IIB", per_metre[0], per_metre[1], 1))
    if exif:
        _png_chunk(fh, b"eXIf", exif[len(_EXIF_HEADER) :] if exif.startswith(_EXIF_HEADER) else exif)

    bpp = 2 * channels
    stride = width * bpp
    band = max(1, _PNG_BAND_BYTES // stride)
    compressor = zlib.compressobj(6)
    pending = bytearray()
    previous = np.zeros(stride, dtype=np.uint8)
    for top in range(0, height, band):
        rows = data[top : top + band].astype(">u2").reshape(-1, width * channels).view(np.uint8)
        pending += compressor.compress(_png_filter(rows, previous, bpp).tobytes())
        previous = rows[-1]
        if len(pending) >= 1 << 20:
            _png_chunk(fh, b"IDAT", bytes(pending))
            pending.clear()
    pending += compressor.flush()
    _png_chunk(fh, b"IDAT", bytes(pending))
    _png_chunk(fh, b"IEND", b"")


def _png_filter(rows: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    """PNG-filter uint8 scanlines (n, stride) given the scanline above them; (n, 1 + stride) uint8 out.

    Each row gets whichever of the five filters minimises the sum of absolute signed bytes (libpng's
    heuristic). Encoding only looks at original bytes, so all rows are filtered at once.
    """
    x = rows.astype(np.int16)
    b = np.vstack([previous[None].astype(np.int16), x[:-1]])  # above
    a = np.zeros_like(x)
    a[:, bpp:] = x[:, :-bpp]  # left
    c = np.zeros_like(x)
    c[:, bpp:] = b[:, :-bpp]  # above-left
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    candidates = (np.stack([x, x - a, x - b, x - ((a + b) >> 1), x - paeth]) & 0xFF).astype(np.uint8)
    cost = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)  # (5, n)
    best = cost.argmin(axis=0)
    out = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = best
    out[:, 1:] = candidates[best, np.arange(x.shape[0])]
    return out


def _write_tiff(
    fh: BinaryIO,
    data: np.ndarray,
    *,
    icc: bytes | None,
    exif: bytes | None,
    dpi: tuple[float, float] | None,
) -> None:
    """Minimal baseline TIFF encoder (deflate + horizontal predictor) for uint8/uint16 (H, W, C) samples.

    C = 1 grey, 2 grey+alpha (8-bit only: Pillow cannot open it at 16 bits), 3 RGB, 4 RGBA. Pillow
    serialises the IFD (tag types, EXIF/GPS sub-IFDs, strip offsets); the strips are ours.
    """
    height, width, channels = data.shape
    bits = data.dtype.itemsize * 8
    if bits not in (8, 16) or (channels == 2 and bits == 16):
        raise ValueError(f"unsupported TIFF layout: {channels} channels of {bits} bits")
    rows_per_strip = max(1, _TIFF_STRIP_BYTES // (width * channels * data.dtype.itemsize))
    strips: list[bytes] = []
    for top in range(0, height, rows_per_strip):
        block = data[top : top + rows_per_strip].astype(data.dtype.newbyteorder("<"))
        block[:, 1:] -= data[top : top + rows_per_strip, :-1]  # predictor 2: differences wrap around
        strips.append(zlib.compress(block.tobytes(), 6))
    if sum(len(s) for s in strips) > 0xFFFF0000:
        raise ValueError("image too large for a classic TIFF")

    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    if exif:
        src = Image.Exif()
        src.load(exif)
        for tag in src:
            if tag in TiffImagePlugin.TiffTags.TAGS_V2_GROUPS:
                sub = src.get_ifd(tag)
                if sub:
                    ifd[tag] = sub
            elif tag not in _TIFF_LAYOUT_TAGS:
                ifd[tag] = src[tag]
    offsets, position = [], 0
    for s in strips:
        offsets.append(position)  # relative: tobytes() shifts them past the IFD
        position += len(s)
    ifd[256], ifd[257] = width, height
    ifd[258] = (bits,) * channels
    ifd[259] = 8  # Adobe deflate
    ifd[262] = 1 if channels == 1 else 2  # BlackIsZero / RGB
    ifd[273] = tuple(offsets)
    ifd[277] = channels
    ifd[278] = rows_per_strip
    ifd[279] = tuple(len(s) for s in strips)
    ifd[284] = 1  # contiguous samples
    ifd[317] = 2  # horizontal differencing
    if channels in (2, 4):
        ifd[338] = (2,)  # unassociated alpha
    if dpi:
        ifd[282], ifd[283], ifd[296] = dpi[0], dpi[1], 2
    if icc:
        ifd[34675] = icc
    fh.write(b"II*\x00" + struct.pack("<I", 8) + ifd.tobytes(8))
    for s in strips:
        fh.write(s)


_TIFF_LAYOUT_TAGS = frozenset(
    {254, 256, 257, 258, 259, 262, 273, 274, 277, 278, 279, 284, 317, 338, 339, 322, 323, 324, 325, 513, 514}
)


# ----------------------------------------------------------------------------- destinations, atomicity


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they would be
        return os.path.normcase(a.resolve()) == os.path.normcase(b.resolve())


def _destination(dest: Path, *, overwrite: bool, protected: Iterable[str | os.PathLike[str]]) -> Path:
    guarded = [Path(p) for p in protected]
    target = dest
    if (target.exists() or target.is_symlink()) and not overwrite:
        target = unique_path(target)
    if target.is_dir():
        raise ImageWriteError(
            f'Cannot save "{target.name}": a folder has that name; choose another name.', path=dest
        )
    if any(_same_file(target, p) for p in guarded):
        raise ImageWriteError(
            f'Refusing to save over "{target.name}" because it is one of the input images; '
            "choose another output folder or name pattern.",
            path=target,
        )
    return target


def unique_path(path: str | os.PathLike[str]) -> Path:
    """``path`` if free, else the first free "name (1).ext", "name (2).ext", ... beside it."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return path
    for i in itertools.count(1):
        candidate = path.with_name(f"{path.stem} ({i}){path.suffix}")
        if not (candidate.exists() or candidate.is_symlink()):
            return candidate
    raise AssertionError("unreachable")


def _open_temp(folder: Path) -> BinaryIO:
    """A new hidden temp file in ``folder`` (same file system, so the final rename is atomic)."""
    return tempfile.NamedTemporaryFile(dir=folder, delete=False, prefix=".", suffix=".part")  # noqa: SIM115


def _atomic_write(dest: Path, write: Callable[[BinaryIO], None]) -> None:
    """Run ``write`` into a temp file beside ``dest``, fsync, then rename over ``dest``; no leftovers on error."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = _open_temp(dest.parent)
    except OSError as exc:
        raise ImageWriteError(_write_message(dest, exc), path=dest) from exc
    tmp_path = Path(tmp.name)
    try:
        with tmp:
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        if os.name != "nt":
            os.chmod(tmp_path, _new_file_mode())  # temp files are 0600; a saved photo should not be
        os.replace(tmp_path, dest)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if isinstance(exc, OSError):
            raise ImageWriteError(_write_message(dest, exc), path=dest) from exc
        if isinstance(exc, MemoryError):
            raise ImageWriteError(
                f'Could not save "{dest.name}": not enough memory to encode it; close other programs or '
                "choose a smaller scale.",
                path=dest,
            ) from exc
        if isinstance(exc, Exception):  # an encoder refusing the data; the log keeps the traceback
            raise ImageWriteError(
                f'Could not save "{dest.name}": the {dest.suffix or "image"} encoder failed ({exc}); '
                "try another output format.",
                path=dest,
            ) from exc
        raise
    _fsync_dir(dest.parent)


def _write_message(dest: Path, exc: OSError) -> str:
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f'Could not save "{dest.name}": the disk is full; free some space or choose another output folder.'
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f'Could not save "{dest.name}": no permission to write in "{dest.parent}"; '
            "choose another output folder."
        )
    if code == errno.ENAMETOOLONG:
        return f'Could not save "{dest.name}": the file name is too long; choose a shorter name pattern.'
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f'Could not save "{dest.name}" ({reason}); check the output folder and try again.'


def _os_read_message(name: str, exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return f'Cannot read "{name}": permission denied; check that your account may read this file.'
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f'Cannot read "{name}" ({reason}); check that the file is accessible and try again.'


def _too_large_message(name: str, size: tuple[int, int] | None, max_pixels: int | None) -> str:
    what = f"{size[0]} x {size[1]} pixels" if size else "too many pixels"
    limit = f" (the limit is {max_pixels / 1e6:g} megapixels)" if max_pixels else ""
    return (
        f"Cannot read {name}: it has {what}{limit}, which could exhaust memory; if you trust the file, "
        "raise the maximum image size (in Settings, or --max-megapixels on the command line)."
    )


@functools.lru_cache(maxsize=1)
def _new_file_mode() -> int:
    """0o666 minus the process umask, read without changing it where the OS allows (umask is global)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(folder: Path) -> None:
    # makes the rename itself durable on POSIX; directories cannot be opened like this on Windows
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------------- naming, discovery


def output_path_for(
    input_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None,
    *,
    fmt: str,
    pattern: str = "{stem}_x{scale}",
    scale: int = 4,
) -> Path:
    """Where the result of ``input_path`` goes: ``out_dir`` (default: beside the input) / pattern + suffix.

    ``pattern`` may use {stem} (input name without suffix) and {scale}. Clashes are resolved at save time.
    """
    input_path = Path(input_path)
    try:
        name = pattern.format(stem=input_path.stem, scale=scale)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"The name pattern {pattern!r} is invalid; use {{stem}} and {{scale}}.") from exc
    if not name.strip() or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"The name pattern {pattern!r} gives an unusable file name {name!r}.")
    folder = Path(out_dir) if out_dir is not None else input_path.parent
    return folder / (name + OUTPUT_SUFFIXES[normalize_format(fmt)])


def find_images(paths: Iterable[str | os.PathLike[str]], recursive: bool = True) -> list[tuple[Path, Path]]:
    """(file, root it was found under) for every image among ``paths``.

    Files named explicitly are kept whatever their suffix (reading will say if they are not images), with
    their folder as root. Folders contribute files with a supported suffix, skipping hidden files and
    folders (temp ".part" files, macOS "._x.jpg" companions), in natural order ("2" before "10").
    Each file is listed once.
    """
    found: list[tuple[Path, Path]] = []
    seen: set[Path] = set()

    def add(file: Path, root: Path) -> None:
        key = file.resolve()
        if key not in seen:
            seen.add(key)
            found.append((file, root))

    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            add(path, path.parent)
            continue
        hits: list[Path] = []
        for folder, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")] if recursive else []
            hits += [
                Path(folder, f)
                for f in files
                if not f.startswith(".") and Path(f).suffix.lower() in SUPPORTED_INPUT_SUFFIXES
            ]
        for file in sorted(hits, key=lambda f: _natural_key(f.relative_to(path))):
            add(file, path)
    return found


def _natural_key(rel: Path) -> list[list[object]]:
    return [[int(t) if t.isdigit() else t for t in re.split(r"(\d+)", part.casefold())] for part in rel.parts]


# ------------------------------------------------------------------------------------------ plugins


_plugins_registered = False


def _register_optional_plugins() -> None:
    """Register HEIC/AVIF openers on first use, when their packages are installed (never required)."""
    global _plugins_registered
    if _plugins_registered:
        return
    _plugins_registered = True
    if _HAS_HEIF:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except Exception:
            log.warning("pillow_heif is installed but could not be registered", exc_info=True)
    if _HAS_AVIF and importlib.util.find_spec("PIL._avif") is None:
        try:
            import pillow_avif  # noqa: F401  (registers itself on import)
        except Exception:
            log.warning("pillow_avif is installed but could not be registered", exc_info=True)


def _input_formats() -> list[str]:
    formats = list(_BASE_INPUTS)
    if _HAS_AVIF:
        formats.append("AVIF")
    if _HAS_HEIF:
        formats.append("HEIF")
    Image.init()
    return [f for f in formats if f in Image.OPEN]


def _follow_pixel_limit(max_pixels: int) -> None:
    # Pillow refuses images above 2 x Image.MAX_IMAGE_PIXELS by itself. When the caller allows more,
    # raise Pillow's guard (never lower it) so that our check, whose message says how to change the
    # setting, is the one that decides.
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and max_pixels > 2 * current:
        Image.MAX_IMAGE_PIXELS = max_pixels // 2 + 1
