"""Encoders: float RGB (+ alpha) -> integer samples -> file bytes in PNG, JPEG, WebP or TIFF.

``_samples`` packs float (H, W, 3) RGB in [0, 1] (+ (H, W) alpha) into uint8/uint16 (H, W, C) samples;
``_encode`` writes them to an open binary file. Pillow cannot write 16-bit colour and its libtiff writer
rejects an EXIF sub-IFD, so TIFF (any depth) and 16-bit PNG go through the two small writers here; the
rest through Pillow. ``to_pil`` gives a Pillow image shaped like the source, for display and the clipboard.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

import numpy as np
from PIL import Image, TiffImagePlugin

from .exif import _EXIF_HEADER, _exif_with_size
from .read import LoadedImage

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L" conversion
_PNG_BAND_BYTES = 2 << 20  # raw bytes filtered per pass by the 16-bit PNG writer (bounds scratch memory)
_TIFF_STRIP_BYTES = 256 << 10  # raw bytes per strip in the 16-bit TIFF writer


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
