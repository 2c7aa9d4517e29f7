"""16-bit colour recovery: Pillow reads 16-bit colour PNG/TIFF as 8-bit, keeping only the high bytes.

``read`` asks ``_wide_rawmode`` whether a file is such a case and, when it is, gets the full uint16 samples
from ``_decode_wide``, which decodes the file on disk a second time for the low bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image


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
