"""Reading: an image file (or an opened Pillow image) -> a ``LoadedImage`` of float RGB in [0, 1].

``read_image`` applies the EXIF orientation (HEIC: the container's, which pi-heif (libheif) applies while
decoding), replicates grey to three channels, splits alpha off, keeps 16-bit precision (see ``wide``),
converts CMYK through its profile, and keeps what the output file needs: colour profile, EXIF without
Orientation, XMP (``xmp``) and IPTC (``iptc``) as the source's bytes, DPI. Every problem a user can meet
becomes an ``ImageReadError`` of one sentence naming the file; the pixel limit is checked from the header,
before any pixel is decoded. Damaged metadata is dropped with a note, never an error.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
import os
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from sinsr_gui.errors import Remedy

from .errors import ImageReadError
from .exif import _ORIENTATION, _kept_exif, apply_orientation
from .formats import _FORMAT_NAMES, _HAS_AVIF, _HAS_HEIF, _input_formats
from .iptc import _kept_iptc
from .jpeg_blocks import JpegCoding, jpeg_coding
from .wide import _decode_wide, _wide_rawmode
from .xmp import _kept_xmp, _xmp_orientation

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000


@dataclass
class ImageMeta:
    """What a photo's file says besides its pixels: what ``save_image(like=...)`` carries into the output file.

    ``xmp`` is the source's XMP packet (checked well-formed; ``save_image`` updates size, orientation and
    history), ``iptc`` its IPTC-IIM datasets; both as found in the file, or None. ``jpeg`` is how a JPEG source
    coded its pixels (for removing its block edges before a model sees it); saving ignores it.
    """

    is_grey: bool
    bit_depth: int
    icc_profile: bytes | None
    exif: bytes | None  # "Exif\0\0" + TIFF structure, without the Orientation tag
    dpi: tuple[float, float] | None
    source_format: str
    path: Path | None
    notes: list[str] = field(default_factory=list)
    xmp: bytes | None = None
    iptc: bytes | None = None
    jpeg: JpegCoding | None = None  # a JPEG's quantisation and sampling (jpeg_blocks.remove_blocks), else None


@dataclass(kw_only=True)
class LoadedImage(ImageMeta):
    """A decoded image ready for the model: its :class:`ImageMeta` plus the pixels.

    ``rgb`` is float32 (H, W, 3) in [0, 1], RGB, EXIF orientation already applied; grey sources are
    replicated to three channels. ``alpha`` is float32 (H, W) in [0, 1] or None (straight, not
    premultiplied). 16-bit sources are scaled by 1/65535, 8-bit ones by 1/255.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, after orientation."""
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def meta(self) -> ImageMeta:
        """Everything but the pixels (a copy: notes added to it do not change this image's)."""
        values = {f.name: getattr(self, f.name) for f in fields(ImageMeta)}
        return ImageMeta(**(values | {"notes": list(self.notes)}))


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
            raise ImageReadError(_too_large_message(f'"{name}"', None, max_pixels), path=path,
                                 remedy=_TOO_LARGE) from exc
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
                raise ImageReadError(_too_large_message(f'"{name}"', (width, height), max_pixels), path=path,
                                     remedy=_TOO_LARGE)
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
    # XMP before decoding: Pillow's TIFF loader strips tiff:Orientation from it while it turns the pixels
    xmp = _kept_xmp(img, notes, raw=_heif_raw_xmp(img, reopen))
    try:
        orientation = _orientation(img, xmp)
        stored = _tiff_turned_raw(img, reopen, orientation)
        if stored is not None:  # Pillow would garble it (see _tiff_turned_raw): take the stored pixels
            planes, bit_depth = stored
            icc = img.info.get("icc_profile") or None
        else:
            if fmt == "TIFF":
                # Pillow turns TIFF pixels while loading, by getexif()'s orientation, which falls back on the
                # first tiff:Orientation anywhere in the XMP (a placed picture's, in xmpMM:Pantry): make it ours
                cached = img.getexif()
                cached.pop(_ORIENTATION, None)
                if orientation != 1:
                    cached[_ORIENTATION] = orientation
            img.load()  # full decode here, so truncation is reported as a read error and not later
            planes, bit_depth, icc = _planes(img, wide, reopen, notes)
            if fmt == "TIFF":
                orientation = 1  # already applied by Pillow
        exif = _kept_exif(img, notes)
    except Image.DecompressionBombError as exc:
        raise ImageReadError(_too_large_message(name, img.size, None), path=path, remedy=_TOO_LARGE) from exc
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

    iptc = _kept_iptc(img, notes)
    if fmt == "HEIF" and icc is None:
        _note_nclx(img.info, notes)
    planes = apply_orientation(planes, orientation)
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
        xmp=xmp,
        iptc=iptc,
        jpeg=jpeg_coding(img, orientation),
    )


def _note_nclx(info: dict, notes: list[str]) -> None:
    """A HEIC that states its colours only as nclx (CICP) primaries: sRGB/BT.709 is what untagged means."""
    nclx = info.get("nclx_profile")
    primaries = nclx.get("color_primaries") if isinstance(nclx, dict) else None
    if isinstance(primaries, int) and primaries not in (1, 2):  # 1: BT.709/sRGB, 2: unspecified
        notes.append(
            "the HEIC states its colour space without an ICC profile (nclx primaries "
            f"{primaries}); the result is saved untagged, so colours may look less saturated"
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


def _tiff_turned_raw(img: Image.Image, reopen: Path | None, orientation: int) -> tuple[np.ndarray, int] | None:
    """(planes, bit depth) of an uncompressed TIFF turned a quarter (orientation 5-8), else None.

    Pillow 13 applies TIFF orientation while loading, and for uncompressed grey, grey 16-bit and RGBA strips
    its raw decoder fills a buffer of the already turned shape, which garbles the pixels. tifffile reads the
    stored samples instead; ``apply_orientation`` then turns them, as for every other format.
    """
    if img.format != "TIFF" or reopen is None or not img.tile or orientation not in (5, 6, 7, 8):
        return None
    if img.tag_v2.get(_ORIENTATION) not in (5, 6, 7, 8):  # the turn comes from XMP: Pillow's size is the stored one
        return None
    if any(tile[0] != "raw" for tile in img.tile):
        return None
    photometric = img.tag_v2.get(262)
    if photometric not in (0, 1, 2):  # WhiteIsZero, BlackIsZero, RGB; palette, CMYK ...: Pillow's way
        return None
    import tifffile

    with tifffile.TiffFile(reopen) as tif:
        data = tif.pages[img.tell()].asarray()
    if data.dtype not in (np.uint8, np.uint16) or data.ndim not in (2, 3):
        return None
    if data.ndim == 2:
        data = data[..., None]
    if data.shape[2] not in (1, 2, 3, 4):
        return None
    if photometric == 0:  # WhiteIsZero
        data = np.iinfo(data.dtype).max - data
    peak = 65535 if data.dtype == np.uint16 else 255
    return _scale(data, peak), 16 if peak == 65535 else 8


def _scale(data: np.ndarray, peak: int) -> np.ndarray:
    """Integer samples -> float32 in [0, 1]; keeps a trailing channel axis."""
    out = data.astype(np.float32)
    out /= peak
    return out if out.ndim == 3 else out[..., None]



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


def _orientation(img: Image.Image, xmp: bytes | None) -> int:
    """The orientation (1-8) to apply: EXIF's (TIFF: its own tag 274), else the photo's XMP tiff:Orientation.

    HEIF: always 1, because libheif (pi-heif, or pillow-heif) applies the container's irot/imir while decoding, and the
    HEIF specification makes EXIF orientation informative only. (AVIF: Pillow turns irot/imir into EXIF.)
    XMP is asked through its parser for the top-level property only; Pillow's getexif() would take the first
    tiff:Orientation anywhere in the packet.
    """
    if img.format == "HEIF":
        return 1
    value: object = None
    if img.format == "TIFF":
        value = img.tag_v2.get(_ORIENTATION)  # type: ignore[attr-defined]
    else:
        raw = img.info.get("exif")
        if isinstance(raw, bytes) and raw:
            try:
                exif = Image.Exif()
                exif.load(raw)
                value = exif.get(_ORIENTATION)
            except Exception:
                value = None
    if value is None and xmp:
        value = _xmp_orientation(xmp)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _heif_raw_xmp(img: Image.Image, reopen: Path | None) -> bytes | None:
    """A HEIC's XMP as stored: the plugin (pi-heif or pillow-heif) strips every tiff:Orientation from it, nested ones too."""
    if img.format != "HEIF" or reopen is None:
        return None
    name = "pillow_heif" if importlib.util.find_spec("pillow_heif") is not None else "pi_heif"
    try:
        heif = importlib.import_module(name).open_heif(reopen)
        raw = heif[img.tell()].info.get("xmp")
    except Exception:  # the plugin's copy is still good
        return None
    return raw if isinstance(raw, bytes) and raw else None


def _dpi(info: dict) -> tuple[float, float] | None:
    dpi = info.get("dpi")
    try:
        x, y = (float(v) for v in dpi)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return (x, y) if 0 < x < 1e6 and 0 < y < 1e6 else None

# -------------------------------------------------------------------------------------------- messages


def _os_read_message(name: str, exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return f'Cannot read "{name}": permission denied; check that your account may read this file.'
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f'Cannot read "{name}" ({reason}); check that the file is accessible and try again.'


_TOO_LARGE = Remedy("raise_pixel_limit")


def _too_large_message(name: str, size: tuple[int, int] | None, max_pixels: int | None) -> str:
    what = f"{size[0]} x {size[1]} pixels" if size else "too many pixels"
    limit = f" (the limit is {max_pixels / 1e6:g} megapixels)" if max_pixels else ""
    return f"Cannot read {name}: it has {what}{limit}, which could exhaust memory."


# -------------------------------------------------------------------------------- plugins, pixel limit


_plugins_registered = False


def _register_optional_plugins() -> None:
    """Register HEIC/AVIF openers on first use, when their packages are installed (never required)."""
    global _plugins_registered
    if _plugins_registered:
        return
    _plugins_registered = True
    if _HAS_HEIF:
        # pillow-heif (or the decode-only pi-heif) applies the container's rotation/mirror (irot/imir) while
        # decoding and resets EXIF/XMP orientation to match, so _orientation() then finds 1: upright once.
        name = "pillow_heif" if importlib.util.find_spec("pillow_heif") is not None else "pi_heif"
        try:
            module = importlib.import_module(name)
            module.register_heif_opener()
        except Exception:
            log.warning("%s is installed but could not be registered", name, exc_info=True)
    if _HAS_AVIF and importlib.util.find_spec("PIL._avif") is None:
        try:
            import pillow_avif  # noqa: F401  (registers itself on import)
        except Exception:
            log.warning("pillow_avif is installed but could not be registered", exc_info=True)


def _follow_pixel_limit(max_pixels: int) -> None:
    # Pillow refuses images above 2 x Image.MAX_IMAGE_PIXELS by itself. When the caller allows more,
    # raise Pillow's guard (never lower it) so that our check, whose message says how to change the
    # setting, is the one that decides.
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and max_pixels > 2 * current:
        Image.MAX_IMAGE_PIXELS = max_pixels // 2 + 1
