"""EXIF carried from the source to the output: kept without Orientation, updated with the new pixel size.

EXIF blocks here are ``b"Exif\\0\\0"`` + a TIFF structure (byte-order mark, IFD0, sub-IFDs), the form
Pillow's JPEG/PNG/TIFF writers take. The two edits (drop Orientation, set PixelX/YDimension) are made on
the bytes in place rather than by re-serialising, so every other byte, MakerNote offsets included, survives.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_EXIF_HEADER = b"Exif\x00\x00"


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


def apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
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
