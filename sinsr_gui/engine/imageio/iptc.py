"""IPTC-IIM carried from the source to the output, byte for byte (caption, credit, copyright, keywords ...).

``LoadedImage.iptc`` holds the IIM datasets themselves (0x1C record dataset length value ...), the payload of
Photoshop's image resource 0x0404. They are read from a JPEG's APP13 "Photoshop 3.0" segment, a TIFF's tag
33723 (or its Photoshop tag 34377) and a PNG's "Raw profile type iptc/8bim" text chunk (ImageMagick's and
exiftool's convention), and written to JPEG (APP13, one 0x0404 resource) and TIFF (tag 33723). Nothing in
IIM describes the pixel size or orientation, so nothing is edited. No IPTC digest (resource 0x0425) is
written: readers that follow the Metadata Working Group rules treat a missing digest like a matching one.
"""

from __future__ import annotations

import logging
import struct

from PIL import Image

log = logging.getLogger(__name__)

_IPTC_NAA, _PHOTOSHOP = 33723, 34377
_IIM_RESOURCE = 0x0404
_JPEG_MAX_IPTC = 65_533 - 14 - 12  # one APP13 segment, minus "Photoshop 3.0\0" and the 8BIM resource header
DAMAGED_NOTE = "the IPTC metadata was damaged and was not kept"


def _kept_iptc(img: Image.Image, notes: list[str]) -> bytes | None:
    """The source's IIM datasets, or None (absent, or damaged: then a note says so)."""
    try:
        raw = _find(img)
    except Exception:  # a malformed container around it: treat like damaged IIM
        log.info("IPTC container of %s unreadable", getattr(img, "filename", "") or "image", exc_info=True)
        raw = b"\x00"  # fails the check below
    if raw is None:
        return None
    iim = _valid_iim(raw)
    if iim is None:
        notes.append(DAMAGED_NOTE)
    return iim


def _find(img: Image.Image) -> bytes | None:
    if img.format in ("JPEG", "MPO"):
        photoshop = img.info.get("photoshop")
        data = photoshop.get(_IIM_RESOURCE) if isinstance(photoshop, dict) else None
        return bytes(data) if isinstance(data, bytes | bytearray) else None
    if img.format == "TIFF":
        tags = img.tag_v2  # type: ignore[attr-defined]
        if _IPTC_NAA in tags:
            # Photoshop types it LONG, others UNDEFINED/BYTE: the raw bytes of the entry are the IIM either way
            raw = tags._tagdata.get(_IPTC_NAA) if hasattr(tags, "_tagdata") else None
            if raw is None:
                value = tags[_IPTC_NAA]
                raw = value if isinstance(value, bytes) else _pack(value, tags)
            return bytes(raw)
        if _PHOTOSHOP in tags:
            value = tags[_PHOTOSHOP]
            return _irb_resource(value if isinstance(value, bytes) else bytes(value), _IIM_RESOURCE)
        return None
    if img.format == "PNG":
        for key in ("Raw profile type iptc", "Raw profile type 8bim"):
            text = img.info.get(key)
            if isinstance(text, str):
                data = _raw_profile(text)
                return _irb_resource(data, _IIM_RESOURCE) if data.startswith(b"8BIM") else data
    return None


def _pack(value: object, tags: object) -> bytes:
    values = value if isinstance(value, tuple) else (value,)
    order = getattr(tags, "_endian", "<")
    return b"".join(struct.pack(order + "I", int(v)) for v in values)  # type: ignore[call-overload]


def _raw_profile(text: str) -> bytes:
    """ImageMagick's "Raw profile type ..." text: a blank line, the type, the length, then hex digits."""
    lines = text.strip().split("\n", 2)
    if len(lines) < 3:
        raise ValueError("short raw profile")
    length = int(lines[1])
    data = bytes.fromhex("".join(lines[2].split()))
    return data[:length]


def _irb_resource(data: bytes, wanted: int) -> bytes | None:
    """The payload of resource ``wanted`` in a Photoshop image resource block sequence ("8BIM" ...)."""
    pos = 0
    while data[pos : pos + 4] == b"8BIM" and pos + 12 <= len(data):
        code = struct.unpack_from(">H", data, pos + 4)[0]
        name_len = data[pos + 6]
        pos += 7 + name_len
        pos += pos & 1
        (size,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if code == wanted:
            return data[pos : pos + size]
        pos += size + (size & 1)
    return None


def _valid_iim(data: bytes) -> bytes | None:
    """The IIM datasets in ``data`` without trailing NUL padding (Photoshop pads), or None if malformed."""
    pos, seen = 0, 0
    while pos < len(data):
        if data[pos] != 0x1C:
            if data[pos:].strip(b"\x00") == b"" and seen:
                return data[:pos]
            return None
        if pos + 5 > len(data):
            return None
        (length,) = struct.unpack_from(">H", data, pos + 3)
        head = 5
        if length & 0x8000:  # extended dataset: the low bits say how many bytes the length has
            n = length & 0x7FFF
            if n > 4 or pos + 5 + n > len(data):
                return None
            length = int.from_bytes(data[pos + 5 : pos + 5 + n], "big")
            head += n
        pos += head + length
        seen += 1
    return data if seen and pos == len(data) else None


def _jpeg_app13(iim: bytes) -> bytes:
    """A complete APP13 marker segment holding ``iim`` as Photoshop resource 0x0404 (for Pillow's ``extra``)."""
    resource = b"8BIM" + struct.pack(">HBB", _IIM_RESOURCE, 0, 0) + struct.pack(">I", len(iim)) + iim
    resource += b"\x00" * (len(iim) & 1)
    payload = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
