"""The PNG writer: numpy "Average" filter, deflate in parallel strips, pigz-style.

A 4x result is a large, smooth image, and writing it was up to a fifth of a fast model's file time with
libpng on one core. This writer makes a lossless file of about the same size, several times faster
(docs/performance.md):

* **Filter.** Every row gets PNG filter type 3 ("Average": each byte minus the mean of its left and upper
  neighbours, modulo 256), computed in numpy. On upscaled photos it compresses as well as libpng's adaptive
  per-row choice, at a fraction of the cost (the bytes equal libpng's own AVG filter; tests check a decoder
  gives back the pixels).
* **Deflate.** Intel's ISA-L (python-isal) where its wheel is installed, else the standard library's zlib; both
  release the GIL. On the Photo model's 4x results ISA-L's level 1 takes a quarter to a third of zlib level 4's
  time, for files 4-7 % larger (:func:`_isal_level`).
* **In strips.** The filtered rows are cut into strips that compress on a thread pool. Each strip is a raw
  deflate run primed with the last 32 KiB before it (the deflate window), so the matches across a cut are kept;
  a sync flush ends every strip but the last, so the strips join into one valid zlib stream. The Adler-32 of
  the whole is combined from the strips' own.
* **Bounded memory.** At most ``2 x workers`` strips are in flight; each one's compressed bytes become an
  IDAT chunk as soon as its turn comes.

``write_png`` is the entry point; ``encoders._write_png`` gives it the metadata chunks.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from typing import BinaryIO

import numpy as np

try:
    from isal import isal_zlib as _isal_zlib
except ImportError:  # no python-isal wheel for this platform: zlib does the same job, slower
    _isal_zlib = None

DEFLATERS = ("isal", "zlib")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type: grey, grey+alpha, RGB, RGBA
_WINDOW = 32 * 1024  # deflate's window: how much of the previous strip primes the next
_STRIP_BYTES = 4 << 20  # filtered bytes per strip, about; more strips than workers only to bound memory
_ADLER_BASE = 65521
_MAX_WORKERS = 8


def write_png(
    fh: BinaryIO,
    data: np.ndarray,
    *,
    level: int,
    chunks: Iterable[tuple[bytes, bytes]] = (),
    workers: int | None = None,
    strip_bytes: int = _STRIP_BYTES,
    deflater: str | None = None,
) -> None:
    """Write uint8/uint16 samples (H, W, C), C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA, as a PNG file.

    ``chunks`` are ancillary (type, payload) chunks placed right after IHDR (iCCP, pHYs, eXIf, iTXt ...).
    ``level`` is zlib's (0-9); ``workers`` the deflate threads (default: the cores this process may use, at most
    8); ``deflater`` one of :data:`DEFLATERS` (default: :func:`default_deflater`).
    """
    deflater = deflater or default_deflater()
    if deflater not in available_deflaters():
        raise ValueError(f"deflater {deflater!r} is not available here; choose from {available_deflaters()}")
    if data.ndim != 3 or data.shape[2] not in _COLOUR_TYPE or data.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected uint8/uint16 samples of shape (H, W, 1..4), got {data.dtype} {data.shape}")
    height, width, channels = data.shape
    if height < 1 or width < 1:
        raise ValueError(f"cannot write an empty image ({width}x{height})")
    depth = 16 if data.dtype == np.uint16 else 8
    rows = _sample_rows(data)
    fh.write(PNG_SIGNATURE)
    _put_chunk(fh, b"IHDR", struct.pack(">IIBBBBB", width, height, depth, _COLOUR_TYPE[channels], 0, 0, 0))
    for cid, payload in chunks:
        _put_chunk(fh, cid, payload)
    stream = _zlib_stream(rows, bpp=channels * depth // 8, level=level, workers=workers or _workers(),
                          strip_bytes=strip_bytes, deflater=deflater)
    with closing(stream):  # a failed write (full disk) stops the deflate threads before the error goes up
        for piece in stream:
            _put_chunk(fh, b"IDAT", piece)
    _put_chunk(fh, b"IEND", b"")


def available_deflaters() -> tuple[str, ...]:
    return tuple(d for d in DEFLATERS if d != "isal" or _isal_zlib is not None)


def default_deflater() -> str:
    """The fastest deflate installed: ISA-L, else zlib."""
    return available_deflaters()[0]


def _isal_level(level: int) -> int:
    """ISA-L's level (0-3) for zlib ``level`` (1-9). On 4x results (scripts/bench_png.py, docs/performance.md)
    ISA-L 1 gives files 4-7 % larger than zlib 4's in a quarter to a third of its time, and its levels 2 and 3
    were no smaller than 1 (within 0.5 %) and slower; so zlib 1-6 map to 1, and 7-9 to 3."""
    return 1 if level <= 6 else 3


def average_filter(rows: np.ndarray, above: np.ndarray | None, bpp: int) -> np.ndarray:
    """PNG filter type 3 on byte rows (h, row_bytes): (h, 1 + row_bytes), each row led by its filter byte 3.

    ``above`` is the unfiltered row before the first one (None at the top of the image: zeros); ``bpp`` the
    bytes per pixel, the distance to the "left" byte.
    """
    height, row_bytes = rows.shape
    out = np.empty((height, row_bytes + 1), np.uint8)
    out[:, 0] = 3
    mean = np.zeros((height, row_bytes), np.uint16)
    mean[1:] = rows[:-1]
    if above is not None:
        mean[0] = above
    mean[:, bpp:] += rows[:, :-bpp]
    mean >>= 1
    np.subtract(rows, mean, out=out[:, 1:], casting="unsafe")  # modulo 256, as the format wants
    return out


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings joined, from each one's Adler-32 and the second one's length.

    With A = 1 + sum of bytes and B = sum of the A after each byte (mod 65521), the second string's every A
    grows by A1 - 1, so B = B1 + B2 + len2 * (A1 - 1) and A = A1 + A2 - 1.
    """
    a1, b1 = first & 0xFFFF, first >> 16
    a2, b2 = second & 0xFFFF, second >> 16
    a = (a1 + a2 - 1) % _ADLER_BASE
    b = (b1 + b2 + second_length * (a1 - 1)) % _ADLER_BASE
    return (b << 16) | a


def _sample_rows(data: np.ndarray) -> np.ndarray:
    """The samples, one row of ``width · channels`` per image row, in their own byte order (a view when the
    array is contiguous): :func:`_png_bytes` makes each strip's bytes, so a 16-bit image is never copied whole."""
    height = data.shape[0]
    return np.ascontiguousarray(data).reshape(height, -1)


def _png_bytes(rows: np.ndarray) -> np.ndarray:
    """Rows of samples as PNG stores them, (h, row_bytes) uint8: 16-bit samples big-endian (a copy of these
    rows only, unless they already are)."""
    if rows.dtype.itemsize == 2:
        rows = rows.astype(">u2", copy=False)
    return rows.view(np.uint8).reshape(rows.shape[0], -1)


def _zlib_stream(rows: np.ndarray, *, bpp: int, level: int, workers: int, strip_bytes: int, deflater: str):
    """The filtered rows (of samples, :func:`_sample_rows`) as one zlib stream, yielded a strip at a time (the
    header on the first, the checksum on the last)."""
    pieces = _deflated_strips(rows, bpp=bpp, level=level, workers=workers, strip_bytes=strip_bytes, deflater=deflater)
    adler = 1  # Adler-32 of nothing
    body, strip_adler, length = next(pieces)
    body = _zlib_header(level) + body
    for later in pieces:
        adler = adler32_combine(adler, strip_adler, length)
        yield body
        body, strip_adler, length = later
    adler = adler32_combine(adler, strip_adler, length)
    yield body + adler.to_bytes(4, "big")


def _deflated_strips(rows: np.ndarray, *, bpp: int, level: int, workers: int, strip_bytes: int, deflater: str):
    """(raw deflate, Adler-32, length) of each strip of filtered rows, in order, compressed on ``workers`` threads."""
    height, row_bytes = rows.shape[0], rows.shape[1] * rows.itemsize
    strips = max(workers, -(-height * (row_bytes + 1) // strip_bytes))
    strips = min(height, -(-strips // workers) * workers)  # whole rounds of the pool
    per_strip = -(-height // strips)
    starts = list(range(0, height, per_strip))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="png-deflate") if workers > 1 and len(starts) > 1 else None
    try:
        pending: deque[Future | tuple[bytes, int, int]] = deque()
        primer: bytes | None = None
        for index, top in enumerate(starts):
            above = _png_bytes(rows[top - 1 : top])[0] if top else None
            filtered = average_filter(_png_bytes(rows[top : top + per_strip]), above, bpp)
            args = (filtered, primer, level, deflater, index == len(starts) - 1)
            primer = ((primer or b"") + filtered.reshape(-1)[-_WINDOW:].tobytes())[-_WINDOW:]
            pending.append(pool.submit(_deflate_strip, *args) if pool else _deflate_strip(*args))
            while len(pending) > (2 * workers if pool else 0):
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _deflate_strip(filtered: np.ndarray, primer: bytes | None, level: int, deflater: str,
                   last: bool) -> tuple[bytes, int, int]:
    """One strip as raw deflate (primed with the bytes before it), its Adler-32 and its length."""
    extra = (primer,) if primer else ()
    if deflater == "isal" and level > 0:  # level 0 is zlib's "stored": no ISA-L level means that
        lib, lib_level = _isal_zlib, _isal_level(level)
    else:
        lib, lib_level = zlib, level
    compressor = lib.compressobj(lib_level, lib.DEFLATED, -15, 9, lib.Z_DEFAULT_STRATEGY, *extra)
    body = compressor.compress(filtered) + compressor.flush(lib.Z_FINISH if last else lib.Z_SYNC_FLUSH)
    return body, zlib.adler32(filtered), filtered.size


def _result(item: Future | tuple[bytes, int, int]) -> tuple[bytes, int, int]:
    return item.result() if isinstance(item, Future) else item


def _zlib_header(level: int) -> bytes:
    """CMF (deflate, 32 KiB window) and FLG (zlib's level class, no dictionary, check bits) for ``level``."""
    cmf = 0x78
    level_class = 0 if level < 2 else 1 if level < 6 else 2 if level == 6 else 3
    flg = level_class << 6
    flg += (31 - (cmf * 256 + flg) % 31) % 31
    return bytes((cmf, flg))


def _put_chunk(fh: BinaryIO, cid: bytes, payload: bytes) -> None:
    fh.write(struct.pack(">I", len(payload)))
    fh.write(cid)
    fh.write(payload)
    fh.write(struct.pack(">I", zlib.crc32(payload, zlib.crc32(cid))))


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(_MAX_WORKERS, cores))
