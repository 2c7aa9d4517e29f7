"""A quick end-to-end check of the codecs that are loaded lazily (and so can go missing from a frozen bundle).

``run(folder)`` writes and reads back, with metadata, a 16-bit PNG (imageio.png: ISA-L deflate threads), a 16-bit
TIFF (tifffile + imagecodecs), and checks that the HEIC decoder (pi-heif) is registered with Pillow. It returns
one line for a self-test report and raises ``RuntimeError`` naming what failed. About a second; no model
involved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_RDF = '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
_XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">' + _RDF + '<rdf:Description rdf:about="" '
    'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:ImageWidth="16" tiff:ImageLength="8" tiff:Orientation="6"/>'
    "</rdf:RDF></x:xmpmeta>"
).encode()
_IIM = b"\x1c\x02\x78\x00\x05check"  # IPTC caption "check"


def run(folder: Path) -> str:
    """Round-trip every lazily loaded codec in ``folder``; returns e.g. "codecs OK: PNG16, TIFF16, HEIC in"."""
    from PIL import Image

    from . import read_image, save_image
    from .formats import _HAS_HEIF
    from .png import default_deflater
    from .read import srgb_icc_profile

    folder.mkdir(parents=True, exist_ok=True)
    icc = srgb_icc_profile()
    stored = np.zeros((8, 16, 3), np.uint8)
    stored[:, :8] = (255, 0, 0)  # red left half; orientation 6 puts it on top
    exif = Image.Exif()
    exif[0x0112] = 6
    src = folder / "check.jpg"
    app13 = b"8BIM\x04\x04\x00\x00" + len(_IIM).to_bytes(4, "big") + _IIM + b"\x00" * (len(_IIM) & 1)
    payload = b"Photoshop 3.0\x00" + app13
    Image.fromarray(stored).save(src, quality=95, exif=exif.tobytes(), icc_profile=icc, xmp=_XMP,
                                 extra=b"\xff\xed" + (len(payload) + 2).to_bytes(2, "big") + payload)
    loaded = read_image(src)
    _expect(loaded.rgb.shape == (16, 8, 3) and loaded.xmp and loaded.iptc == _IIM, "JPEG metadata read")
    done = []

    _expect(default_deflater() == "isal", "ISA-L deflate for PNG (python-isal) loaded")
    rgb = np.random.default_rng(0).random((16, 8, 3), dtype=np.float32)
    for fmt in ("PNG", "TIFF"):
        out = save_image(rgb, folder / f"check16.{fmt.lower()}", like=loaded, fmt=fmt, bit_depth=16, overwrite=True)
        again = read_image(out)
        exact = np.array_equal(np.round(again.rgb * 65535), np.floor(rgb * 65535 + 0.5))  # as written
        _expect(again.bit_depth == 16 and exact, f"16-bit {fmt} round trip")
        _expect(again.xmp is not None and b'tiff:Orientation="1"' in again.xmp, f"XMP in {fmt}")
        _expect(fmt != "TIFF" or again.iptc == _IIM, "IPTC in TIFF")
        done.append(f"{fmt}16")

    if _HAS_HEIF:
        from .read import _register_optional_plugins

        _register_optional_plugins()
        Image.init()
        _expect("HEIF" in Image.OPEN, "HEIC decoder registered")
        done.append("HEIC in")
    return "codecs OK: " + ", ".join(done)


def _expect(ok: object, what: str) -> None:
    if not ok:
        raise RuntimeError(f"codec self-check failed: {what}")
