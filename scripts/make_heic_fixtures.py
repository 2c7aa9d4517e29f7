"""Write the HEIC test fixtures in tests/fixtures/heic/ (run once; the files are committed).

The app reads HEIC with pi-heif, which decodes only (LGPL). Writing a HEIC needs an HEVC encoder, which only
pillow-heif's GPL wheels carry, so the fixtures are made here with pillow-heif in a scratch environment:

    python -m venv /tmp/heic && /tmp/heic/bin/pip install pillow pillow-heif numpy
    /tmp/heic/bin/python scripts/make_heic_fixtures.py

What a phone writes: 40 x 20 pixels stored (red left half, blue right), a Display P3 profile, orientation 6
(from EXIF in one file, from XMP in the other: both become the container's irot box, which readers obey),
camera EXIF and XMP. Plus one file with XMP only (for the XMP reader) and one RGBA file with everything a HEIC
can hold at once (for the formats table).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pillow_heif  # noqa: E402

from tests.test_imageio_metadata import (  # noqa: E402
    ELEMENT_XMP,
    LIGHTROOM_XMP,
    _camera_exif,
    _display_p3_icc,
    _red_left_half,
    _rgba_turned,
)

OUT = ROOT / "tests" / "fixtures" / "heic"


def main() -> None:
    pillow_heif.register_heif_opener()
    OUT.mkdir(parents=True, exist_ok=True)
    for orientation_in in ("exif", "xmp"):
        path = OUT / f"phone_orientation_{orientation_in}.heic"
        exif = _camera_exif(6 if orientation_in == "exif" else 1).tobytes()
        xmp = ELEMENT_XMP if orientation_in == "xmp" else LIGHTROOM_XMP
        _red_left_half().save(path, format="HEIF", quality=95, icc_profile=_display_p3_icc(), exif=exif, xmp=xmp)
        assert b"irot" in path.read_bytes()  # the container carries the rotation
        print(path, path.stat().st_size)
    # For the XMP reader: the Lightroom packet without orientation (pillow-heif would strip it anyway).
    path = OUT / "xmp_only.heic"
    _red_left_half().save(path, format="HEIF", quality=90, xmp=LIGHTROOM_XMP.replace(b'    tiff:Orientation="6"\n', b""))
    print(path, path.stat().st_size)
    # For the formats table: RGBA turned by EXIF 6, a Display P3 profile, camera EXIF and XMP in one file.
    path = OUT / "table_rgba.heic"
    _rgba_turned(path, "HEIF", icc_profile=_display_p3_icc(), exif=_camera_exif(6).tobytes(),
                 xmp=ELEMENT_XMP.replace(b">6<", b">1<"), quality=95)
    print(path, path.stat().st_size)


if __name__ == "__main__":
    main()
