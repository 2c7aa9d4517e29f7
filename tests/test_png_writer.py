"""The PNG writer (engine.imageio.png): pixels survive independent decoders, the filter and the zlib stream
follow the PNG specification, and the parallel strips join into one stream that compresses like a single one."""

from __future__ import annotations

import io
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image

from sinsr_gui.engine.imageio.png import (
    DEFLATERS,
    adler32_combine,
    average_filter,
    default_deflater,
    write_png,
)

imagecodecs = pytest.importorskip("imagecodecs")  # libpng's decoder, independent of ours and of Pillow's


def _png(data: np.ndarray, **kw) -> bytes:
    kw.setdefault("level", 4)
    buf = io.BytesIO()
    write_png(buf, data, **kw)
    return buf.getvalue()


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, found = 8, []
    while pos < len(png):
        (n,) = struct.unpack_from(">I", png, pos)
        cid, payload = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack_from(">I", png, pos + 8 + n)
        assert crc == zlib.crc32(cid + payload), cid
        found.append((cid, payload))
        pos += 12 + n
    return found


def _average_filter_by_the_book(rows: np.ndarray, bpp: int) -> bytes:
    """PNG specification 9.2, filter type 3, one byte at a time: Filt(x) = Orig(x) - floor((a + b) / 2)."""
    out = bytearray()
    previous = [0] * rows.shape[1]
    for row in rows.tolist():
        out.append(3)
        for i, value in enumerate(row):
            left = row[i - bpp] if i >= bpp else 0
            out.append((value - (left + previous[i]) // 2) % 256)
        previous = row
    return bytes(out)


@pytest.mark.parametrize("deflater", DEFLATERS)
@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (11, 1), (37, 23)])
def test_libpng_decodes_the_exact_samples(depth, channels, shape, deflater):
    rng = np.random.default_rng(channels * 100 + depth)
    dtype = np.uint16 if depth == 16 else np.uint8
    data = rng.integers(0, np.iinfo(dtype).max + 1, size=(*shape, channels)).astype(dtype)
    for workers, strip_bytes in ((1, 1 << 22), (2, 40), (3, 97)):  # one strip; many, more than workers
        back = imagecodecs.png_decode(_png(data, workers=workers, strip_bytes=strip_bytes, deflater=deflater))
        assert back.dtype == dtype and np.array_equal(back.reshape(data.shape), data), (workers, strip_bytes)


def test_isal_is_the_default_deflater():
    """python-isal is a dependency (a quarter of zlib's time, docs/performance.md): the app must be using it."""
    assert default_deflater() == "isal"


@pytest.mark.parametrize("level", [0, 1, 4, 9])
def test_every_level_round_trips_with_either_deflater(level):
    data = np.tile(np.arange(64, dtype=np.uint8)[None, :, None], (64, 1, 3))
    files = {d: _png(data, level=level, deflater=d) for d in DEFLATERS}
    for d, png in files.items():
        assert np.array_equal(imagecodecs.png_decode(png), data), d
    if level == 0:  # stored: the filtered rows spelled out, whatever the deflater
        assert len(files["isal"]) == len(files["zlib"]) > data.size


def test_an_unknown_deflater_is_refused():
    with pytest.raises(ValueError, match="choose from"):
        _png(np.zeros((2, 2, 3), np.uint8), deflater="zstd")


@pytest.mark.parametrize("deflater", DEFLATERS)
@pytest.mark.parametrize("mode, channels", [("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)])
def test_pillow_reads_the_eight_bit_files(mode, channels, deflater):
    data = np.random.default_rng(channels).integers(0, 256, size=(45, 31, channels), dtype=np.uint8)
    with Image.open(io.BytesIO(_png(data, workers=2, strip_bytes=300, deflater=deflater))) as img:
        img.load()
        assert img.mode == mode
        assert np.array_equal(np.asarray(img).reshape(data.shape), data)


def test_sixteen_bit_grey_reads_back_in_pillow():
    data = np.random.default_rng(5).integers(0, 65536, size=(20, 13, 1), dtype=np.uint16)
    with Image.open(io.BytesIO(_png(data))) as img:
        assert img.mode == "I;16"
        assert np.array_equal(np.asarray(img), data[..., 0])


@pytest.mark.parametrize("bpp, dtype", [(1, np.uint8), (3, np.uint8), (8, np.uint16)])
def test_average_filter_matches_the_specification(bpp, dtype):
    pixels = 5 * bpp // np.dtype(dtype).itemsize  # 5 pixels a row, as samples
    data = np.random.default_rng(bpp).integers(0, np.iinfo(dtype).max + 1, size=(6, pixels)).astype(dtype)
    rows = data.astype(">u2").view(np.uint8) if dtype == np.uint16 else data
    book = _average_filter_by_the_book(rows, bpp)
    assert average_filter(rows, None, bpp).tobytes() == book
    # a strip that starts lower down: its first row is filtered against the row above it
    assert average_filter(rows[3:], rows[2], bpp).tobytes() == book[3 * (rows.shape[1] + 1) :]


@pytest.mark.parametrize("deflater", DEFLATERS)
def test_idat_is_one_zlib_stream_of_the_filtered_rows(deflater):
    """The strips join into a single stream: header, sync-flushed raw deflate runs, the whole data's Adler-32."""
    data = np.random.default_rng(0).integers(0, 256, size=(64, 40, 3), dtype=np.uint8)
    chunks = _chunks(_png(data, level=6, workers=2, strip_bytes=1000, deflater=deflater))
    kinds = [cid for cid, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and kinds.count(b"IDAT") > 4
    assert chunks[0][1] == struct.pack(">IIBBBBB", 40, 64, 8, 2, 0, 0, 0)
    stream = b"".join(payload for cid, payload in chunks if cid == b"IDAT")
    assert stream[:2] == zlib.compress(b"", 6)[:2]  # the header zlib itself writes for this level
    assert zlib.decompress(stream) == _average_filter_by_the_book(data.reshape(64, -1), 3)


def test_extra_chunks_come_right_after_ihdr():
    data = np.zeros((4, 4, 3), np.uint8)
    kinds = [cid for cid, _ in _chunks(_png(data, chunks=[(b"pHYs", bytes(9)), (b"tEXt", b"k\x00v")]))]
    assert kinds[:3] == [b"IHDR", b"pHYs", b"tEXt"] and kinds[3] == b"IDAT"


@pytest.mark.parametrize("deflater", DEFLATERS)
def test_each_strip_is_primed_with_the_one_before(deflater):
    """A pattern that repeats across strip cuts costs nothing in later strips only if each strip sees the last
    32 KiB before it. Unprimed strips would each spell the random rows out again (about 40x larger here)."""
    block = np.random.default_rng(1).integers(0, 256, size=(8, 100, 3), dtype=np.uint8)
    data = np.tile(block, (60, 1, 1))  # 480 rows, the same 8 random rows over and over
    one = len(_png(data, workers=1, strip_bytes=1 << 24, deflater=deflater))
    many = _png(data, workers=2, strip_bytes=2000, deflater=deflater)  # strips of 6 rows: shorter than the pattern
    strips = [cid for cid, _ in _chunks(many)].count(b"IDAT")  # one chunk per strip
    assert strips > 60
    # each cut costs its chunk framing (12 bytes), a sync flush marker and a new block's code tables, not the
    # ~1,800 bytes of rows a strip would spell out again without the bytes before it
    assert len(many) < one + 60 * strips


def test_adler32_combine_equals_zlibs_checksum_of_the_joined_bytes():
    rng = np.random.default_rng(2)
    for first_len, second_len in ((0, 0), (0, 7), (5, 0), (1, 1), (70000, 3), (13, 200000), (65521, 65521)):
        first = rng.integers(0, 256, first_len, dtype=np.uint8).tobytes()
        second = rng.integers(0, 256, second_len, dtype=np.uint8).tobytes()
        combined = adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second))
        assert combined == zlib.adler32(first + second), (first_len, second_len)
    ff = b"\xff" * 100000
    assert adler32_combine(zlib.adler32(ff), zlib.adler32(ff), len(ff)) == zlib.adler32(ff + ff)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4, 3), np.float32),
                                 np.zeros((4, 4), np.uint8), np.zeros((0, 4, 3), np.uint8)])
def test_unwritable_samples_are_refused(bad):
    with pytest.raises(ValueError):
        _png(bad)


class _FullDisk(io.BytesIO):
    def write(self, data) -> int:
        if self.tell() + len(data) > 5000:
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_a_full_disk_stops_the_deflate_threads():
    data = np.random.default_rng(3).integers(0, 256, size=(200, 100, 3), dtype=np.uint8)
    try:
        write_png(_FullDisk(), data, level=4, workers=2, strip_bytes=2000)
    except OSError as error:
        failure = error  # held, as a caller showing the message does: its traceback keeps the writer's frame
    assert "No space left" in str(failure)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("png-deflate")]


def test_the_benchmark_script_runs_every_writer_on_real_results(tmp_path):
    """scripts/bench_png.py on two tiny photos through the built-in Photo model: every writer round-trips (the
    script stops otherwise), and each photo gets a row per writer with the speed-up against libpng."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(4)
    for name in ("a.png", "b.jpg"):
        Image.fromarray(rng.integers(0, 256, size=(24, 20, 3), dtype=np.uint8)).save(photos / name)
    out = tmp_path / "png.json"
    proc = subprocess.run([sys.executable, str(root / "scripts" / "bench_png.py"), "--photos", str(photos),
                           "--repeat", "1", "--json", str(out)], capture_output=True, text=True, timeout=300,
                          cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert sorted({r["photo"] for r in rows}) == ["a.png", "b.jpg"] and len(rows) == 12  # 6 writers each
    assert any(r["writer"].startswith("ours, isal") and r["writer"].endswith("(the app)") for r in rows)
    assert any(r["writer"].startswith("ours, zlib") for r in rows)
    assert all(r["result"] == "80x96" and r["bytes"] > 0 and r["speedup_vs_libpng"] > 0 for r in rows)
    assert "| writer |" in proc.stdout


MEMORY_PROBE = """
import tempfile
import numpy as np
from sinsr_gui.engine.imageio.png import write_png
from sinsr_gui.process_memory import PeakRSS, release_freed_memory
data = np.random.default_rng(0).integers(0, 65535, (3000, 2000, 3), dtype=np.uint16)  # 36 MB, incompressible
with tempfile.TemporaryFile() as fh:
    write_png(fh, data[:64], level=1)  # threads and zlib warmed up
release_freed_memory()
with tempfile.TemporaryFile() as fh, PeakRSS() as rss:
    write_png(fh, data, level=1, strip_bytes=1 << 18)
print(rss.peak_bytes / data.nbytes)
"""


def test_a_16_bit_image_is_written_without_a_whole_image_copy():
    """16-bit samples are made big-endian strip by strip: the writer's memory is its strips in flight, not a
    byte-swapped copy of the photo (that copy made the peak 1.1x the samples; with small strips it is ~0.14x)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE], capture_output=True, text=True, check=True)
    assert float(out.stdout) < 0.5
