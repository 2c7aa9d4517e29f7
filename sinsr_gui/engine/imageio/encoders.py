"""Encoders: float RGB (+ alpha) -> integer samples -> file bytes in PNG, JPEG, WebP or TIFF.

``_samples`` packs float (H, W, 3) RGB in [0, 1] (+ (H, W) alpha) into uint8/uint16 (H, W, C) samples, and
``_pil_image`` the same 8-bit samples straight into a Pillow image (for Pillow's encoders), both band by band
through one rule (``_sample_bands``); ``_encode`` writes them to an open binary file, with the metadata ``write``
prepared. Every encoder is a
library but PNG (docs/encoders.json and docs/performance.md have the measurements behind the choice):

* JPEG, WebP: Pillow.
* PNG, 8- and 16-bit (Pillow cannot hold 16-bit colour): ``png.write_png``, our own writer, 1.6-2.3x faster
  than libpng on 4x results; the ancillary chunks (iCCP, pHYs, eXIf, iTXt XMP) are the ones Pillow's own PNG
  writer makes, placed after IHDR.
* TIFF (any depth): ``tifffile`` (deflate + horizontal predictor, strips of about 256 KiB, one strip in
  memory at a time), with ICC (34675), XMP (700), IPTC (33723) and DPI as its tags. tifffile cannot write
  the EXIF/GPS sub-IFDs, so ``_add_exif_ifds`` appends them, serialised by Pillow, and a new IFD0 that
  points to them: a rewrite of the directory only, never of the image data.

``to_pil`` gives a Pillow image shaped like the source, for display and the clipboard.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
from PIL import Image, PngImagePlugin, TiffImagePlugin

from .exif import _EXIF_HEADER, _exif_with_size
from .iptc import _jpeg_app13
from .png import write_png
from .read import LoadedImage

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L" conversion
# zlib level of every PNG written (8- and 16-bit). On 4x results level 4 encodes 2.4-2.9x faster than zlib's
# and Pillow's default 6 for files 1.6-3.9 % larger (measured with libpng, docs/performance.md): the encode was
# 40-49 % of a small model's file time. With ISA-L (the default deflater) it means ISA-L's level 1 (png._isal_level).
_PNG_LEVEL = 4
_TIFF_LEVEL = 6  # deflate level of the TIFF writer
_SAMPLE_BAND_BYTES = 16 << 20  # float scratch per band when packing samples
_TIFF_ROWS_PER_STRIP: int | None = None  # None: tifffile's choice (strips of about 256 KiB); tests lower it


def to_pil(
    result_rgb: np.ndarray, like: LoadedImage | None, *, alpha: np.ndarray | None, bit_depth: int
) -> Image.Image:
    """Float (H, W, 3) RGB in [0, 1] (+ optional (H, W) alpha) -> Pillow image shaped like the source.

    Grey sources give "L"/"LA", others "RGB"/"RGBA". ``bit_depth=16`` gives "I;16" for grey without alpha;
    Pillow has no 16-bit colour or grey+alpha mode, so those come back as 8-bit (``save_image`` writes
    them at full precision itself). The ICC profile, EXIF and DPI of ``like`` are set in ``info``.
    """
    grey = like is not None and like.is_grey
    if bit_depth == 16 and grey and alpha is None:
        img = Image.fromarray(_samples(result_rgb, grey=True, alpha=None, bit_depth=16)[..., 0])
    else:
        img = _pil_image(result_rgb, grey=grey, alpha=alpha)
    if like is not None:
        if like.icc_profile and _icc_matches(like.icc_profile, grey=img.mode in ("L", "LA", "I;16")):
            img.info["icc_profile"] = like.icc_profile
        if like.exif:
            img.info["exif"] = _exif_with_size(like.exif, img.width, img.height)
        if like.dpi:
            img.info["dpi"] = like.dpi
    return img


def _samples(rgb: np.ndarray, *, grey: bool, alpha: np.ndarray | None, bit_depth: int) -> np.ndarray:
    """Float RGB (+ alpha) -> integer samples (H, W, C), C = 1/2/3/4, uint8 or uint16, rounded not truncated."""
    rgb = _check_rgb(rgb)
    channels = (1 if grey else 3) + (alpha is not None)
    out = np.empty((*rgb.shape[:2], channels), np.uint16 if bit_depth == 16 else np.uint8)
    for rows, scaled in _sample_bands(rgb, grey=grey, alpha=alpha, bit_depth=bit_depth):
        out[rows] = scaled  # the cast truncates: _sample_bands added 0.5, so it rounds
    return out


def _pil_image(rgb: np.ndarray, *, grey: bool, alpha: np.ndarray | None, colour: bool = False) -> Image.Image:
    """8-bit Pillow image of float RGB (+ alpha), as ``_samples`` packs it, built band by band in Pillow's own
    storage: the JPEG and WebP encoders take a Pillow image, and a whole-image array of samples first would
    hold a second copy of the photo (69 MiB at 24 megapixels, 576 MiB for a 4x phone photo) during the encode.
    ``colour``: a grey result is written as RGB (WebP has no grey mode)."""
    rgb = _check_rgb(rgb)
    height, width = rgb.shape[:2]
    mode = ("L" if grey and not colour else "RGB") + ("A" if alpha is not None else "")
    image = Image.new(mode, (width, height))
    for rows, scaled in _sample_bands(rgb, grey=grey, alpha=alpha, bit_depth=8):
        band = scaled.astype(np.uint8)  # truncates: _sample_bands added 0.5
        if grey and colour:
            band = np.concatenate([np.repeat(band[..., :1], 3, axis=2), band[..., 1:]], axis=2)
        image.paste(Image.fromarray(band[..., 0] if band.shape[2] == 1 else band), (0, rows.start))
    return image


def _sample_bands(rgb: np.ndarray, *, grey: bool, alpha: np.ndarray | None,
                  bit_depth: int) -> Iterator[tuple[slice, np.ndarray]]:
    """The packing rule, in bands of rows: (rows, float samples) with luma for ``grey``, alpha appended, NaN and
    values below 0 as 0, above 1 as 1, scaled to the depth's peak plus 0.5, so that an integer cast rounds.

    Bands keep the float scratch small next to the result (a 24-megapixel photo would otherwise need about
    twice its float32 size again).
    """
    if alpha is not None:
        alpha = np.asarray(alpha, dtype=np.float32)
        if alpha.shape != rgb.shape[:2]:
            raise ValueError(f"alpha shape {alpha.shape} does not match image {rgb.shape[:2]}")
    height, width = rgb.shape[:2]
    channels = (1 if grey else 3) + (alpha is not None)
    peak = 65535 if bit_depth == 16 else 255
    band = max(1, _SAMPLE_BAND_BYTES // (width * channels * 4))
    for top in range(0, height, band):
        rows = slice(top, min(height, top + band))
        base = (rgb[rows] @ _LUMA)[..., None] if grey else rgb[rows]
        if alpha is not None:
            base = np.concatenate([base, alpha[rows][..., None]], axis=2)
        scaled = np.fmax(base, 0.0)  # NaN -> 0 too (fmax takes the number): a third of nan_to_num's time
        np.fmin(scaled, 1.0, out=scaled)
        scaled *= peak
        scaled += 0.5
        yield rows, scaled


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
    pixels: np.ndarray | Image.Image,
    *,
    fmt: str,
    quality: int,
    icc: bytes | None,
    exif: bytes | None,
    dpi: tuple[float, float] | None,
    xmp: bytes | None = None,
    iptc: bytes | None = None,
) -> None:
    """Encode ``pixels`` with the given metadata into ``fh`` (readable for TIFF: see below): integer samples
    (H, W, C) for PNG and TIFF, a Pillow image (``_pil_image``) for JPEG and WebP.

    ``write`` has already dropped what ``fmt`` cannot hold (IPTC outside JPEG/TIFF, a too large EXIF ...).
    """
    if fmt in ("TIFF", "PNG"):
        data = np.ascontiguousarray(pixels)
        if fmt == "TIFF":
            _write_tiff(fh, data, icc=icc, exif=exif, dpi=dpi, xmp=xmp, iptc=iptc)
        else:
            _write_png(fh, data, icc=icc, exif=exif, dpi=dpi, xmp=xmp)
        return
    img = pixels if isinstance(pixels, Image.Image) else Image.fromarray(
        pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    params: dict[str, object] = {}
    if icc:
        params["icc_profile"] = icc
    if exif:
        # WebP wants the bare TIFF structure; Pillow's JPEG/PNG writers take the "Exif" form
        params["exif"] = exif[len(_EXIF_HEADER) :] if fmt == "WEBP" else exif
    if dpi and fmt == "JPEG":
        params["dpi"] = dpi
    if xmp:
        params["xmp"] = xmp
    if fmt == "JPEG":
        # Full-resolution chroma at high quality: 4:2:0 visibly softens the colour edges we just sharpened.
        # No optimised Huffman tables: they make files 1.6-4.0 % smaller, but libjpeg then holds every DCT
        # coefficient of the photo (6 bytes a pixel at 4:4:4) and Pillow a whole-file buffer (2 bytes a pixel
        # at quality 95): +180 MiB at 24 megapixels, over 1.4 GB for a 4x phone photo (docs/file_formats.md).
        params.update(quality=quality, subsampling=0 if quality >= 90 else 2, optimize=False)
        if iptc:
            params["extra"] = _jpeg_app13(iptc)  # Pillow puts "extra" marker bytes after APP0/APP1
    elif fmt == "WEBP":
        params.update(quality=quality, method=4)
    img.save(fh, format=fmt, **params)


def _png_xmp(xmp: bytes) -> PngImagePlugin.PngInfo:
    """XMP as PNG carries it: an uncompressed iTXt chunk with the keyword "XML:com.adobe.xmp"."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp, zip=False)
    return info


def _write_png(
    fh: BinaryIO,
    data: np.ndarray,
    *,
    icc: bytes | None,
    exif: bytes | None,
    dpi: tuple[float, float] | None,
    xmp: bytes | None,
) -> None:
    """PNG of uint8 or uint16 (H, W, C) samples, C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA, through ``png.write_png``.

    Our own writer (Average filter, ISA-L deflate for zlib level ``_PNG_LEVEL`` in parallel strips): about 5-8x
    faster than libpng at that level on 2 cores, for files 2-8 % larger (docs/performance.md). The metadata chunks come from Pillow's
    PNG writer run on a 1 x 1 image with the same metadata; they go right after IHDR.
    """
    write_png(fh, data, level=_PNG_LEVEL, chunks=_png_metadata_chunks(icc=icc, exif=exif, dpi=dpi, xmp=xmp))


def _png_metadata_chunks(
    *, icc: bytes | None, exif: bytes | None, dpi: tuple[float, float] | None, xmp: bytes | None
) -> list[tuple[bytes, bytes]]:
    params: dict[str, object] = {}
    if icc:
        params["icc_profile"] = icc
    if exif:
        params["exif"] = exif
    if dpi:
        params["dpi"] = dpi
    if xmp:
        params["pnginfo"] = _png_xmp(xmp)
    if not params:
        return []
    chunks = PngImagePlugin.getchunks(Image.new("L", (1, 1)), **params)
    return [(cid, payload) for cid, payload, *_ in chunks if cid not in (b"IHDR", b"IDAT", b"IEND")]


def _write_tiff(
    fh: BinaryIO,
    data: np.ndarray,
    *,
    icc: bytes | None,
    exif: bytes | None,
    dpi: tuple[float, float] | None,
    xmp: bytes | None,
    iptc: bytes | None,
) -> None:
    """Baseline TIFF (deflate + horizontal predictor) of uint8/uint16 (H, W, C) samples, through tifffile.

    C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; alpha is unassociated (ExtraSamples 2). Classic TIFF, little
    endian. ``fh`` must be readable and seekable when there is EXIF (see ``_add_exif_ifds``).
    """
    import tifffile

    height, width, channels = data.shape
    extratags: list[tuple[int, int, int, bytes, bool]] = []
    if xmp:
        extratags.append((700, 1, len(xmp), xmp, True))  # BYTE, as the XMP specification says
    if iptc:
        extratags.append((33723, 7, len(iptc), iptc, True))  # UNDEFINED
    start = fh.tell()
    with tifffile.TiffWriter(fh, bigtiff=False, byteorder="<") as tif:
        tif.write(
            data[..., 0] if channels == 1 else data,
            photometric="minisblack" if channels in (1, 2) else "rgb",
            planarconfig="contig",
            extrasamples=("unassalpha",) if channels in (2, 4) else None,
            compression="zlib",
            compressionargs={"level": _TIFF_LEVEL},
            predictor=True,
            rowsperstrip=_TIFF_ROWS_PER_STRIP,
            iccprofile=icc or None,
            resolution=(dpi[0], dpi[1]) if dpi else None,
            resolutionunit="inch" if dpi else None,
            metadata=None,  # no JSON "shaped" ImageDescription
            software=False,
            extratags=extratags,
            maxworkers=1,  # the app already runs work in parallel; one strip at a time bounds memory
        )
    if exif:
        _add_exif_ifds(fh, start, exif)


_TIFF_LAYOUT_TAGS = frozenset(
    {254, 256, 257, 258, 259, 262, 273, 274, 277, 278, 279, 284, 317, 338, 339, 322, 323, 324, 325, 513, 514}
)


def _add_exif_ifds(fh: BinaryIO, start: int, exif: bytes) -> None:
    """Give the TIFF that tifffile wrote at ``start`` in ``fh`` the EXIF: IFD0 tags and EXIF/GPS sub-IFDs.

    tifffile refuses IFD-type tags, so: Pillow serialises the EXIF's IFD0 tags (less layout and orientation)
    with their sub-IFDs at the end of the file; a new IFD0 there has tifffile's entries plus those (tifffile's
    win where both have a tag: they describe the pixels), and the header points to it. Every value offset is
    absolute in TIFF, so moving IFD0 invalidates nothing; the old IFD0 stays behind as a few unused bytes.
    """
    src = Image.Exif()
    src.load(exif)
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    for tag in src:
        if tag in TiffImagePlugin.TiffTags.TAGS_V2_GROUPS:
            sub = src.get_ifd(tag)
            if sub:
                ifd[tag] = sub
        elif tag not in _TIFF_LAYOUT_TAGS:
            ifd[tag] = src[tag]
    if not len(ifd):
        return

    fh.seek(start)
    header = fh.read(8)
    if header[:4] != b"II*\x00":
        raise ValueError("not a little-endian classic TIFF")
    ifd0 = start + struct.unpack("<I", header[4:])[0]
    fh.seek(ifd0)
    (count,) = struct.unpack("<H", fh.read(2))
    ours = {struct.unpack_from("<H", e)[0]: e for e in _entries(fh.read(12 * count), count)}

    end = fh.seek(0, 2)
    end += _pad(fh, end)
    blob = ifd.tobytes(end - start)  # offsets relative to the TIFF's start, as in the file
    fh.write(blob)
    (n,) = struct.unpack_from("<H", blob)
    theirs = {struct.unpack_from("<H", e)[0]: e for e in _entries(blob[2 : 2 + 12 * n], n)}

    merged = {**theirs, **ours}
    position = fh.tell()
    position += _pad(fh, position)
    fh.write(struct.pack("<H", len(merged)) + b"".join(merged[t] for t in sorted(merged)) + b"\x00" * 4)
    fh.seek(start + 4)
    fh.write(struct.pack("<I", position - start))
    fh.seek(0, 2)


def _entries(raw: bytes, count: int) -> list[bytes]:
    return [raw[12 * i : 12 * i + 12] for i in range(count)]


def _pad(fh: BinaryIO, position: int) -> int:
    """Word-align the write position (TIFF offsets must be even); returns the bytes written."""
    if position % 2:
        fh.write(b"\x00")
        return 1
    return 0
