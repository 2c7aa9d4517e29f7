"""Saving: float RGB in [0, 1] (+ alpha) -> a file, with the source's metadata, atomically, never over an input.

``save_image`` decides what can be kept (16 bits, alpha, colour profile, EXIF, XMP, IPTC) for the chosen
format, updates what the upscale changed (pixel size in EXIF and XMP, XMP orientation and history) and notes
what could not be kept, picks the destination (a " (1)" style name on a clash; never a protected input)
and writes through ``sinsr_gui.atomic``: either the complete file appears or nothing does. OS errors become
an ``ImageWriteError`` of one sentence naming the file and saying what to do.
"""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from sinsr_gui import atomic

from .encoders import _check_rgb, _encode, _icc_matches, _pil_image, _samples
from .errors import ImageWriteError
from .exif import _exif_with_size
from .formats import _JPEG_MAX_EXIF, _MAX_SIDE, normalize_format
from .iptc import _JPEG_MAX_IPTC
from .read import ImageMeta, LoadedImage
from .xmp import _JPEG_MAX_XMP, XmpError, _xmp_for_output
from .xmp import DAMAGED_NOTE as _XMP_DAMAGED

_IPTC_FORMATS = ("JPEG", "TIFF")  # where IPTC-IIM has a standard place
_FORMAT_NAMES = {"WEBP": "WebP"}


def save_image(
    result_rgb: np.ndarray,
    dest: str | os.PathLike[str],
    *,
    like: LoadedImage | ImageMeta | None,
    fmt: str = "PNG",
    quality: int = 95,
    bit_depth: int = 8,
    alpha: np.ndarray | None = None,
    overwrite: bool = False,
    protected: Iterable[str | os.PathLike[str]] = (),
    notes: list[str] | None = None,
) -> Path:
    """Write float (H, W, 3) RGB in [0, 1] (+ optional (H, W) alpha) to ``dest``; return the path written.

    Metadata comes from ``like``: ICC, EXIF without Orientation and with the new pixel size, XMP with the new
    size, orientation 1 and one more history event, IPTC unchanged (JPEG and TIFF only), DPI; a grey source is
    written grey. ``bit_depth`` 16 is honoured for PNG and TIFF. JPEG has no alpha, so it is
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
            f'Cannot save "{dest.name}": {_FORMAT_NAMES.get(fmt, fmt)} images can be at most {limit} pixels on a side and this one '
            f"is {width} x {height}; choose PNG or TIFF instead.",
            path=dest,
        )
    if bit_depth == 16 and fmt not in ("PNG", "TIFF"):
        _note(notes, f"{_FORMAT_NAMES.get(fmt, fmt)} stores 8 bits per channel; the 16-bit result was saved as 8-bit")
        bit_depth = 8
    if fmt == "JPEG" and alpha is not None:
        a = np.clip(np.asarray(alpha, dtype=np.float32), 0, 1)[..., None]
        rgb = rgb * a + (1.0 - a)  # straight alpha over white
        alpha = None
        _note(notes, "JPEG has no transparency: transparent areas were flattened onto white")

    target = _destination(dest, overwrite=overwrite, protected=protected)
    grey = like is not None and like.is_grey
    pixels: np.ndarray | Image.Image
    if fmt in ("JPEG", "WEBP"):  # Pillow's encoders: packed straight into a Pillow image (WebP has no grey mode)
        pixels = _pil_image(rgb, grey=grey, alpha=alpha, colour=fmt == "WEBP")
        grey_out = pixels.mode in ("L", "LA")
    else:
        pixels = _samples(rgb, grey=grey, alpha=alpha, bit_depth=bit_depth)
        if fmt == "TIFF" and bit_depth == 16 and pixels.shape[2] == 2:  # Pillow and many readers cannot open it
            pixels = np.concatenate([np.repeat(pixels[..., :1], 3, axis=2), pixels[..., 1:]], axis=2)
        grey_out = pixels.shape[2] in (1, 2)

    icc = like.icc_profile if like is not None else None
    if icc and not _icc_matches(icc, grey=grey_out):
        _note(notes, "the colour profile does not fit the output colour type and was not attached")
        icc = None
    exif = _exif_with_size(like.exif, width, height) if like is not None and like.exif else None
    if exif and fmt == "JPEG" and len(exif) > _JPEG_MAX_EXIF:
        _note(notes, "the EXIF data is too large for JPEG and was not kept")
        exif = None
    dpi = like.dpi if like is not None else None
    xmp = _output_xmp(like, fmt, width, height, notes)
    iptc = _output_iptc(like, fmt, notes, xmp_kept=xmp is not None)

    def encode(fh: BinaryIO) -> None:
        _encode(fh, pixels, fmt=fmt, quality=quality, icc=icc, exif=exif, dpi=dpi, xmp=xmp, iptc=iptc)

    _write_atomically(target, encode)
    return target


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)


def _output_xmp(like: LoadedImage | ImageMeta | None, fmt: str, width: int, height: int,
                notes: list[str]) -> bytes | None:
    """The source's XMP updated for the output (every output format has a place for XMP), or None."""
    source = getattr(like, "xmp", None)
    if not source:
        return None
    try:
        xmp = _xmp_for_output(source, width, height)
    except XmpError:  # read_image checked it, so this is a packet made elsewhere (or our bug): do not guess
        _note(notes, _XMP_DAMAGED)
        return None
    if fmt == "JPEG" and len(xmp) > _JPEG_MAX_XMP:  # Extended XMP (several APP1 segments) is not written
        _note(notes, "the XMP metadata is too large for JPEG and was not kept")
        return None
    return xmp


def _output_iptc(like: LoadedImage | ImageMeta | None, fmt: str, notes: list[str], *,
                 xmp_kept: bool) -> bytes | None:
    """The source's IPTC-IIM for JPEG/TIFF output; elsewhere None, with a note when nothing else keeps it.

    Photo tools that write IPTC (Lightroom, Photoshop, exiftool, digiKam) write the same fields to XMP as
    well, so when the XMP was kept the caption, credit and copyright are still in the file: no note then.
    """
    iptc = getattr(like, "iptc", None)
    if not iptc:
        return None
    if fmt not in _IPTC_FORMATS:
        if not xmp_kept:
            name = _FORMAT_NAMES.get(fmt, fmt)
            _note(notes, f"{name} files have no place for IPTC metadata (caption, credit, copyright); "
                         "it was not kept, save as JPEG or TIFF to keep it")
        return None
    if fmt == "JPEG" and len(iptc) > _JPEG_MAX_IPTC:
        _note(notes, "the IPTC metadata is too large for JPEG and was not kept")
        return None
    return iptc


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


def _write_atomically(dest: Path, write: Callable[[BinaryIO], None]) -> None:
    """``atomic.atomic_path`` (temp file beside ``dest``, fsync, rename; no leftovers on error), with its
    failures said as an ``ImageWriteError`` naming the file and what to do.

    The temp file is opened for reading too: the TIFF writer reads back the directory it wrote (EXIF)."""
    try:
        with atomic.atomic_path(dest) as tmp, open(tmp, "w+b") as fh:
            write(fh)
            fh.flush()
    except OSError as exc:
        raise ImageWriteError(_write_message(dest, exc), path=dest) from exc
    except MemoryError as exc:
        raise ImageWriteError(
            f'Could not save "{dest.name}": not enough memory to encode it; close other programs or '
            "choose a smaller scale.",
            path=dest,
        ) from exc
    except Exception as exc:  # an encoder refusing the data; the log keeps the traceback
        raise ImageWriteError(
            f'Could not save "{dest.name}": the {dest.suffix or "image"} encoder failed ({exc}); '
            "try another output format.",
            path=dest,
        ) from exc


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
