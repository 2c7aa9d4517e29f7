"""Photo-correct reading and writing: image files <-> float RGB arrays, with metadata carried across.

The model works on float32 RGB arrays of shape (H, W, 3) in [0, 1]. ``read_image`` turns a file into
such an array with the EXIF orientation applied, grey replicated to three channels, alpha split off and
16-bit precision kept; ``save_image`` writes a result back with the source's colour profile, EXIF
(minus Orientation), XMP, IPTC and DPI re-attached and updated for the new size, atomically, and never over an
input file. ``docs/file_formats.md`` has the table of what each format keeps.

The modules, in the order data flows through them:

* ``formats``: the formats read and written (suffixes, AVIF/HEIC decoders, the HEIC encoder, format limits);
* ``read``: ``read_image``, ``LoadedImage`` and the decoding helpers, ``wide`` for 16-bit colour recovery;
* ``exif``: the EXIF kept from the source and the in-place edits of its bytes;
* ``xmp``: the XMP packet, checked with expat (no DTD, no entities) and edited in place (size, orientation,
  history);
* ``iptc``: the IPTC-IIM datasets, found in JPEG/TIFF/PNG and written to JPEG/TIFF unchanged;
* ``resample``: ``resize_rgb`` and ``upscale_alpha``, on float planes;
* ``encoders``: sample packing and the writers: Pillow for JPEG/WebP, ``png`` (our parallel PNG writer) for
  PNG, tifffile for TIFF, pi-heif to decode HEIC;
* ``write``: ``save_image``, the choice of destination and the atomic write with its error messages;
* ``errors``: ``ImageReadError``/``ImageWriteError``, whose text is one sentence naming the file and saying
  what to do.

Names without a leading underscore, re-exported here, are the API; the others are shared between these
modules only. No Qt, no torch (an import-linter contract keeps it so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .encoders import to_pil
from .errors import ImageReadError, ImageWriteError
from .formats import OUTPUT_FORMATS, OUTPUT_SUFFIXES, SUPPORTED_INPUT_SUFFIXES, normalize_format
from .jpeg_blocks import JpegCoding, remove_blocks
from .jpeg_blocks import automatic_strength as automatic_deblock_strength
from .read import (
    DEFAULT_MAX_PIXELS,
    ImageMeta,
    LoadedImage,
    read_image,
    read_image_from_pil,
    srgb_icc_profile,
)
from .resample import resize_rgb, upscale_alpha
from .write import save_image, unique_path

if TYPE_CHECKING:
    from sinsr_gui.engine.discovery import find_images
    from sinsr_gui.engine.naming import output_path_for

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "OUTPUT_FORMATS",
    "OUTPUT_SUFFIXES",
    "SUPPORTED_INPUT_SUFFIXES",
    "ImageReadError",
    "ImageWriteError",
    "ImageMeta",
    "JpegCoding",
    "LoadedImage",
    "automatic_deblock_strength",
    "find_images",
    "normalize_format",
    "output_path_for",
    "read_image",
    "read_image_from_pil",
    "remove_blocks",
    "resize_rgb",
    "save_image",
    "srgb_icc_profile",
    "to_pil",
    "unique_path",
    "upscale_alpha",
]


def __getattr__(name: str) -> Any:
    # moved to engine.naming/discovery; re-exported until the CLI and app move. Looked up lazily because
    # those modules import this package (for the format tables): an eager import here would be a cycle.
    if name == "output_path_for":
        from sinsr_gui.engine.naming import output_path_for

        return output_path_for
    if name == "find_images":
        from sinsr_gui.engine.discovery import find_images

        return find_images
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
