"""XMP and IPTC carried from real files into every output format, HEIC/HEIF from phones, the library encoders.

Every fixture is a real file made here (Pillow, tifffile; the HEIC files once, by scripts/make_heic_fixtures.py); what is written is read back with
those libraries and with an XML parser that knows nothing of the app's own code.
"""

from __future__ import annotations

import io
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps, IptcImagePlugin, PngImagePlugin

from sinsr_gui import __version__
from sinsr_gui.engine import imageio
from sinsr_gui.engine.imageio import OUTPUT_FORMATS, read_image, resize_rgb, save_image
from sinsr_gui.engine.imageio import xmp as xmp_module
from tests.test_imageio import _camera_exif, _display_p3_icc, _red_left_half

HEIC_FIXTURES = Path(__file__).parent / "fixtures" / "heic"  # made by scripts/make_heic_fixtures.py

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "crs": "http://ns.adobe.com/camera-raw-settings/1.0/",
    "darktable": "http://darktable.sf.net/",
}
SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif"}

# ------------------------------------------------------------------------------------------ fixtures

# What Lightroom writes, trimmed: sizes and orientation as attributes, EXIF sizes as elements, develop
# settings, a darktable history, keywords, caption, rights, GPS, a nested Pantry entry with a size of its
# own (another picture's: must not change), and 2 KB of padding.
LIGHTROOM_XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000 1.000000, 0000/00/00-00:00:00">\n'
    b' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    b'  <rdf:Description rdf:about=""\n'
    b'    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
    b'    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"\n'
    b'    xmlns:exif="http://ns.adobe.com/exif/1.0/"\n'
    b'    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
    b'    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"\n'
    b'    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"\n'
    b'    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"\n'
    b'    xmlns:darktable="http://darktable.sf.net/"\n'
    b'    xmp:CreatorTool="Adobe Photoshop Lightroom Classic 13.0 (Windows)"\n'
    b'    xmp:Rating="4"\n'
    b'    tiff:ImageWidth="40"\n'
    b'    tiff:ImageLength="20"\n'
    b'    tiff:Orientation="6"\n'
    b'    crs:Exposure2012="+0.35"\n'
    b'    crs:Contrast2012="+12"\n'
    b'    photoshop:Credit="Jane Doe Photography"\n'
    b'    darktable:history_end="3">\n'
    b'   <exif:PixelXDimension>40</exif:PixelXDimension>\n'
    b'   <exif:PixelYDimension>20</exif:PixelYDimension>\n'
    b'   <exif:GPSLatitude>48,51.5N</exif:GPSLatitude>\n'
    b'   <dc:subject><rdf:Bag><rdf:li>harbour</rdf:li><rdf:li>night</rdf:li></rdf:Bag></dc:subject>\n'
    b'   <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">\xc2\xa9 2024 Jane Doe</rdf:li></rdf:Alt></dc:rights>\n'
    b'   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">Boats at night &amp; fog</rdf:li></rdf:Alt>'
    b"</dc:description>\n"
    b'   <darktable:history><rdf:Seq><rdf:li darktable:operation="exposure" darktable:enabled="1"/>'
    b"</rdf:Seq></darktable:history>\n"
    b'   <xmpMM:Pantry><rdf:Bag><rdf:li rdf:parseType="Resource" tiff:ImageWidth="999" tiff:Orientation="3"/>'
    b"</rdf:Bag></xmpMM:Pantry>\n"
    b"  </rdf:Description>\n"
    b" </rdf:RDF>\n"
    b"</x:xmpmeta>\n" + b" " * 2000 + b'\n<?xpacket end="w"?>'
)
# The edits the upscale to 80 x 160 must make, as (before, after) in the bytes; everything else stays.
LIGHTROOM_EDITS = [
    (b'tiff:ImageWidth="40"', b'tiff:ImageWidth="80"'),
    (b'tiff:ImageLength="20"', b'tiff:ImageLength="160"'),
    (b'tiff:Orientation="6"', b'tiff:Orientation="1"'),
    (b"<exif:PixelXDimension>40<", b"<exif:PixelXDimension>80<"),
    (b"<exif:PixelYDimension>20<", b"<exif:PixelYDimension>160<"),
]

# darktable-style: element form, an existing history, no EXIF sizes (which must then not be added).
ELEMENT_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
    b'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
    b'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
    b"<tiff:ImageWidth>40</tiff:ImageWidth><tiff:ImageLength>20</tiff:ImageLength>"
    b"<tiff:Orientation>6</tiff:Orientation><xmp:Label>Red</xmp:Label>"
    b'<xmpMM:History><rdf:Seq><rdf:li rdf:parseType="Resource"><stEvt:action>saved</stEvt:action>'
    b"<stEvt:softwareAgent>darktable 4.6</stEvt:softwareAgent></rdf:li></rdf:Seq></xmpMM:History>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def _dataset(record: int, number: int, value: str) -> bytes:
    raw = value.encode("utf-8")
    return b"\x1c" + bytes([record, number]) + struct.pack(">H", len(raw)) + raw


CAPTION, CREDIT, COPYRIGHT = "Boats at night & fog", "Jane Doe Photography", "\u00a9 2024 Jane Doe"
IIM = (
    _dataset(1, 90, "\x1b%G")  # coded character set: UTF-8
    + _dataset(2, 120, CAPTION)
    + _dataset(2, 110, CREDIT)
    + _dataset(2, 116, COPYRIGHT)
    + _dataset(2, 25, "harbour")
    + _dataset(2, 25, "night")
)


def _app13(iim: bytes) -> bytes:
    """A Photoshop APP13 segment as Photoshop writes it (resource 0x0404), made independently of the app."""
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iim)) + iim + b"\x00" * (len(iim) & 1)
    payload = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def _phone_jpeg(path: Path, *, xmp: bytes | None = LIGHTROOM_XMP, iptc: bytes | None = IIM) -> Path:
    """40 x 20 stored, EXIF orientation 6, Display P3, EXIF sizes, XMP and IPTC: displayed 20 x 40."""
    _red_left_half().save(
        path,
        quality=95,
        icc_profile=_display_p3_icc(),
        exif=_camera_exif(6),
        **({"xmp": xmp} if xmp else {}),
        **({"extra": _app13(iptc)} if iptc else {}),
    )
    return path


def _xmp_of(path: Path) -> bytes | None:
    with Image.open(path) as img:
        raw = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
    return raw.encode() if isinstance(raw, str) else raw


def _iptc_of(path: Path) -> dict:
    with Image.open(path) as img:
        return IptcImagePlugin.getiptcinfo(img) or {}


def _without_history_and_padding(packet: bytes) -> bytes:
    packet = re.sub(rb" <xmpMM:History .*?</xmpMM:History>\n  ", b"", packet, flags=re.S)
    return re.sub(rb"[ \t\r\n]+(<\?xpacket end=)", rb"\n\1", packet)


def _outputs() -> list[tuple[str, int]]:
    out = [("JPEG", 8), ("PNG", 8), ("PNG", 16), ("WEBP", 8), ("TIFF", 8), ("TIFF", 16)]
    return out


# --------------------------------------------------------------------------- XMP and IPTC, every output


@pytest.mark.parametrize(("fmt", "depth"), _outputs())
def test_xmp_and_iptc_carried_and_updated_in_every_output(tmp_path: Path, fmt: str, depth: int) -> None:
    loaded = read_image(_phone_jpeg(tmp_path / "phone.jpg"))
    assert loaded.xmp == LIGHTROOM_XMP and loaded.iptc == IIM and loaded.notes == []
    assert loaded.meta.xmp == LIGHTROOM_XMP and loaded.meta.iptc == IIM

    notes: list[str] = []
    big = resize_rgb(loaded.rgb, (80, 160))  # what the engine hands back after x4
    out = save_image(big, tmp_path / f"up{SUFFIX[fmt]}", like=loaded.meta, fmt=fmt, bit_depth=depth, notes=notes)
    assert notes == []  # IPTC outside JPEG/TIFF: no note, its fields are in the kept XMP

    packet = _xmp_of(out)
    assert packet is not None
    # 1. what the upscale changed, read with a plain XML parser
    root = ET.fromstring(packet)
    desc = root.find("rdf:RDF/rdf:Description", NS)
    assert desc is not None
    attr = lambda ns, name: desc.get(f"{{{NS[ns]}}}{name}")  # noqa: E731
    assert (attr("tiff", "ImageWidth"), attr("tiff", "ImageLength"), attr("tiff", "Orientation")) == ("80", "160", "1")
    assert desc.findtext("exif:PixelXDimension", namespaces=NS) == "80"
    assert desc.findtext("exif:PixelYDimension", namespaces=NS) == "160"
    assert attr("xmp", "CreatorTool") == "Adobe Photoshop Lightroom Classic 13.0 (Windows)"  # not ours
    events = desc.findall("xmpMM:History/rdf:Seq/rdf:li", NS)
    assert len(events) == 1
    event = {child.tag.split("}")[1]: child.text for child in events[0]}
    assert event["action"] == "resized" and event["softwareAgent"] == f"SinSR Upscaler {__version__}"
    assert event["parameters"] == "upscaled to 80 x 160 pixels" and re.match(r"\d{4}-\d\d-\d\dT", event["when"])
    # 2. everything else byte for byte: undo our edits and the history, and the source comes back
    expected = LIGHTROOM_XMP
    for before, after in LIGHTROOM_EDITS:
        expected = expected.replace(before, after, 1)
    assert _without_history_and_padding(packet) == _without_history_and_padding(expected)
    assert b'tiff:ImageWidth="999" tiff:Orientation="3"' in packet  # the Pantry's picture is another one
    assert len(packet) == len(LIGHTROOM_XMP)  # all the growth came out of the padding

    # IPTC where the format has a place for it, byte for byte
    if fmt in ("JPEG", "TIFF"):
        iptc = _iptc_of(out)
        assert iptc[(2, 120)] == CAPTION.encode() and iptc[(2, 110)] == CREDIT.encode()
        assert iptc[(2, 116)] == COPYRIGHT.encode() and iptc[(2, 25)] == [b"harbour", b"night"]
        assert read_image(out).iptc == IIM

    # and the picture is upright, with no orientation left anywhere that could turn it again
    again = read_image(out)
    assert again.rgb.shape == (160, 80, 3) and again.rgb[:60, :, 0].mean() > 0.8
    assert again.xmp is not None and b'tiff:Orientation="1"' in again.xmp
    with Image.open(out) as img:
        assert img.getexif().get(0x0112) in (None, 1)
        assert ImageOps.exif_transpose(img).size == (80, 160)


def test_element_form_existing_history_and_no_added_fields(tmp_path: Path) -> None:
    src = tmp_path / "dt.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", ELEMENT_XMP)
    _red_left_half().save(src, pnginfo=info)  # no EXIF: the XMP orientation alone turns it
    loaded = read_image(src)
    assert loaded.xmp == ELEMENT_XMP and loaded.rgb.shape == (40, 20, 3)  # orientation 6 applied

    out = save_image(resize_rgb(loaded.rgb, (80, 160)), tmp_path / "o.tif", like=loaded, fmt="TIFF")
    packet = _xmp_of(out)
    desc = ET.fromstring(packet).find("rdf:RDF/rdf:Description", NS)
    assert desc.findtext("tiff:ImageWidth", namespaces=NS) == "80"
    assert desc.findtext("tiff:ImageLength", namespaces=NS) == "160"
    assert desc.findtext("tiff:Orientation", namespaces=NS) == "1"
    assert desc.findtext("xmp:Label", namespaces=NS) == "Red"
    assert desc.find("exif:PixelXDimension", NS) is None  # not there before: not added
    events = desc.findall("xmpMM:History/rdf:Seq/rdf:li", NS)
    assert [e.findtext("stEvt:softwareAgent", namespaces=NS) for e in events] == [
        "darktable 4.6",
        f"SinSR Upscaler {__version__}",
    ]
    assert packet.count(b"<xmpMM:History>") == 1  # appended to the existing Seq, not a second History
    assert read_image(out).rgb.shape == (160, 80, 3)  # and not turned again


@pytest.mark.parametrize(
    "packet",
    [
        LIGHTROOM_XMP[:400],  # cut off
        b"\xff\xfe garbage \x00\x01 not xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>',  # entity expansion ("billion laughs")
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&e;</x:xmpmeta>',  # external entity
    ],
    ids=["truncated", "garbage", "entity-bomb", "external-entity"],
)
def test_damaged_xmp_still_upscales_with_a_note(tmp_path: Path, packet: bytes) -> None:
    loaded = read_image(_phone_jpeg(tmp_path / "bad.jpg", xmp=packet))
    assert loaded.xmp is None and loaded.notes == ["the XMP metadata was damaged and was not kept"]
    assert loaded.rgb.shape == (40, 20, 3) and loaded.iptc == IIM and loaded.icc_profile == _display_p3_icc()
    out = save_image(resize_rgb(loaded.rgb, (80, 160)), tmp_path / "up.jpg", like=loaded, fmt="JPEG")
    assert _xmp_of(out) is None and _iptc_of(out)[(2, 120)] == CAPTION.encode()
    assert read_image(out).rgb.shape == (160, 80, 3)


def test_damaged_iptc_is_dropped_with_a_note(tmp_path: Path) -> None:
    loaded = read_image(_phone_jpeg(tmp_path / "bad.jpg", iptc=IIM[:-3]))  # last dataset cut short
    assert loaded.iptc is None and loaded.notes == ["the IPTC metadata was damaged and was not kept"]
    assert loaded.xmp == LIGHTROOM_XMP


def test_iptc_without_xmp_lost_in_png_says_so(tmp_path: Path) -> None:
    loaded = read_image(_phone_jpeg(tmp_path / "iptc_only.jpg", xmp=None))
    notes: list[str] = []
    save_image(loaded.rgb, tmp_path / "o.png", like=loaded, notes=notes)
    assert notes == [
        "PNG files have no place for IPTC metadata (caption, credit, copyright); it was not kept, "
        "save as JPEG or TIFF to keep it"
    ]


def test_xmp_too_large_for_jpeg_is_noted(tmp_path: Path) -> None:
    big = LIGHTROOM_XMP.replace(b" " * 2000, b" " * 70_000)  # padding alone past one APP1 segment
    src = tmp_path / "big.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", big)
    _red_left_half().save(src, pnginfo=info)
    loaded = read_image(src)
    notes: list[str] = []
    out = save_image(loaded.rgb, tmp_path / "o.jpg", like=loaded, fmt="JPEG", notes=notes)
    assert notes == ["the XMP metadata is too large for JPEG and was not kept"] and _xmp_of(out) is None
    assert _xmp_of(save_image(loaded.rgb, tmp_path / "o.png", like=loaded)) is not None  # PNG has room


def test_xmp_without_history_place_and_with_rdf_default_namespace() -> None:
    """Odd but valid packets: rdf as the default namespace, an empty rdf:Description."""
    packet = (
        b'<RDF xmlns="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:tiff="http://ns.adobe.com/tiff/1.0/">'
        b'<Description tiff:ImageWidth="5"/></RDF>'
    )
    out = xmp_module._xmp_for_output(packet, 20, 10)
    root = ET.fromstring(out)
    desc = root.find("rdf:Description", NS)
    assert desc.get(f"{{{NS['tiff']}}}ImageWidth") == "20"
    assert desc.find("xmpMM:History/rdf:Seq/rdf:li/stEvt:action", NS).text == "resized"


# ------------------------------------------------------------------------------- every input format


def _xmp_png(path: Path, packet: bytes) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet)
    hexed = IIM.hex()
    info.add_text("Raw profile type iptc", f"\niptc\n{len(IIM):8d}\n{hexed}\n", zip=True)  # ImageMagick's way
    _red_left_half().save(path, pnginfo=info)


def _xmp_tiff(path: Path, packet: bytes, iptc_type: int = 7) -> None:
    import tifffile

    pixels = np.asarray(_red_left_half())
    iptc = IIM + b"\x00" * (-len(IIM) % 4)
    value = iptc if iptc_type == 7 else struct.unpack(f"<{len(iptc) // 4}I", iptc)
    tifffile.imwrite(path, pixels, photometric="rgb", metadata=None,
                     extratags=[(700, 1, len(packet), packet, True), (33723, iptc_type, len(value), value, True)])


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "WEBP", "TIFF", "TIFF-LONG", "HEIF", "AVIF"])
def test_xmp_and_iptc_read_from_every_input_format(tmp_path: Path, kind: str) -> None:
    packet = LIGHTROOM_XMP.replace(b'    tiff:Orientation="6"\n', b"")  # pillow-heif strips orientation anyway
    path = tmp_path / f"src.{kind.lower()}"
    has_iptc = kind in ("JPEG", "PNG", "TIFF", "TIFF-LONG")
    if kind == "JPEG":
        _phone_jpeg(path, xmp=packet)
    elif kind == "PNG":
        _xmp_png(path, packet)
    elif kind.startswith("TIFF"):
        _xmp_tiff(path, packet, 7 if kind == "TIFF" else 4)
    elif kind == "HEIF":  # made by scripts/make_heic_fixtures.py (the app only decodes HEIC)
        path.write_bytes((HEIC_FIXTURES / "xmp_only.heic").read_bytes())
    else:
        fmt = kind
        if fmt == "AVIF" and (".avif" not in imageio.SUPPORTED_INPUT_SUFFIXES or "AVIF" not in Image.SAVE):
            pytest.skip(f"no {fmt} support here")
        _red_left_half().save(path, format=fmt, xmp=packet, quality=90)
    loaded = read_image(path)
    assert loaded.xmp == packet and loaded.notes == []
    assert loaded.iptc == (IIM if has_iptc else None)


# ----------------------------------------------------------------------------------------- HEIC/HEIF


def _phone_heic(path: Path, *, orientation_in: str = "exif") -> Path:
    """What a phone writes: 40 x 20 stored, a Display P3 profile, orientation 6 (EXIF, or XMP: both become the
    container's irot box, which is what HEIF readers obey), EXIF and XMP. Made once with pillow-heif's encoder by
    scripts/make_heic_fixtures.py (the app itself only decodes HEIC); copied to ``path``."""
    src = HEIC_FIXTURES / f"phone_orientation_{orientation_in}.heic"
    path.write_bytes(src.read_bytes())
    assert b"irot" in path.read_bytes()  # the container carries the rotation
    return path


@pytest.mark.parametrize("orientation_in", ["exif", "xmp"])
def test_heic_phone_photo_upscales_upright_with_its_profile(tmp_path: Path, orientation_in: str) -> None:
    src = _phone_heic(tmp_path / "IMG_0001.HEIC", orientation_in=orientation_in)
    loaded = read_image(src)
    assert loaded.source_format == "HEIF" and loaded.notes == []
    assert loaded.rgb.shape == (40, 20, 3)  # displayed 20 wide, 40 high: turned exactly once
    assert loaded.rgb[:16, :, 0].mean() > 0.85 and loaded.rgb[24:, :, 2].mean() > 0.85  # red on top
    assert loaded.icc_profile == _display_p3_icc()

    # by default a phone's HEIC is saved as JPEG (a lossy source; a PNG of a 4x phone photo would be huge)
    from sinsr_gui.engine.naming import output_path_for
    from sinsr_gui.engine.options import resolve_format
    from sinsr_gui.settings import Settings

    dest = output_path_for(src, tmp_path / "out", fmt=Settings().fmt)
    assert dest.suffix == ".jpg" and resolve_format(Settings().fmt, src.name) == "JPEG"
    assert resolve_format(Settings().fmt, "photo.png") == "PNG"  # any other source stays lossless
    out = save_image(resize_rgb(loaded.rgb, (80, 160)), dest, like=loaded.meta, fmt="JPEG")
    with Image.open(out) as written:
        assert written.size == (80, 160) and written.info["icc_profile"] == _display_p3_icc()
        assert written.getexif().get(0x0112) in (None, 1) and written.getexif()[0x010F] == "TestCam"
        assert ImageOps.exif_transpose(written).size == (80, 160)
        top = np.asarray(written.convert("RGB"))[:60].astype(float)
    assert top[..., 0].mean() > 200 and top[..., 2].mean() < 60  # still upright: red on top
    packet = _xmp_of(out)  # the XMP as stored in the HEIC (not pillow-heif's stripped copy), orientation 1
    assert loaded.xmp is not None and packet is not None
    assert b"<tiff:Orientation>1<" in packet or b'tiff:Orientation="1"' in packet


# ------------------------------------------------------------------------------------------ encoders


def test_tiff_writer_tags_as_other_readers_see_them(tmp_path: Path) -> None:
    """tifffile (an independent reader of the tags) finds ICC, XMP, IPTC, DPI, EXIF and GPS sub-IFDs."""
    import tifffile

    exif = _camera_exif(6)
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 30.0)}  # GPS
    src = tmp_path / "gps.jpg"
    _red_left_half().save(src, exif=exif, icc_profile=_display_p3_icc(), dpi=(300, 300), xmp=LIGHTROOM_XMP,
                          extra=_app13(IIM))
    loaded = read_image(src)
    samples = np.random.default_rng(3).integers(0, 65536, (40, 20, 4), dtype=np.uint16)
    out = save_image(samples[..., :3] / 65535, tmp_path / "o.tif", like=loaded, fmt="TIFF", bit_depth=16,
                     alpha=samples[..., 3] / 65535)
    with tifffile.TiffFile(out) as tif:
        page = tif.pages[0]
        tags = {t.code: t.value for t in page.tags.values()}
        assert page.shape == (40, 20, 4) and page.dtype == np.uint16
        assert np.array_equal(page.asarray(), samples)
        assert tags[34675] == _display_p3_icc() and tags[33723][: len(IIM)] == IIM
        assert tags[700].startswith(b"<?xpacket") and tags[282] == (300, 1) and tags[271] == "TestCam"
        assert 274 not in tags and tags[259] == 8 and tags[317] == 2  # deflate + horizontal predictor
        assert tags[34665]["PixelXDimension"] == 20 and tags[34665]["DateTimeOriginal"] == "2024:01:02 03:04:05"
        assert tags[34853]["GPSLatitudeRef"] == "N"


def test_sixteen_bit_png_chunks_match_pillows_own(tmp_path: Path) -> None:
    """The 16-bit PNG carries the same metadata chunks, in the same place, as Pillow's own 8-bit writer would."""
    loaded = read_image(_phone_jpeg(tmp_path / "p.jpg"))

    def chunks(path: Path) -> list[tuple[bytes, bytes]]:
        data, pos, found = path.read_bytes(), 8, []
        while pos < len(data):
            (n,) = struct.unpack_from(">I", data, pos)
            found.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]))
            pos += 12 + n
        return found

    eight = chunks(save_image(loaded.rgb, tmp_path / "8.png", like=loaded, bit_depth=8))
    sixteen = chunks(save_image(loaded.rgb, tmp_path / "16.png", like=loaded, bit_depth=16))
    meta = lambda cs: [(k, v if k != b"iTXt" else re.sub(rb"<stEvt:when>[^<]*", b"", v))  # noqa: E731
                       for k, v in cs if k not in (b"IHDR", b"IDAT", b"IEND")]
    assert [k for k, _ in sixteen][:2] == [b"IHDR", b"iCCP"] and sixteen[-1][0] == b"IEND"
    assert meta(sixteen) == meta(eight)
    assert {k for k, _ in sixteen} >= {b"iCCP", b"pHYs", b"eXIf", b"iTXt"}


def test_heic_is_read_but_not_written() -> None:
    """HEIC comes in from phones (pi-heif decodes it); results go out as PNG, JPEG, WebP or TIFF: the only HEVC
    encoder on offer is GPL, and HEVC cannot hold a 4x result of a phone photo (35.7 MP at most)."""
    assert ".heic" in imageio.SUPPORTED_INPUT_SUFFIXES and ".heif" in imageio.SUPPORTED_INPUT_SUFFIXES
    assert OUTPUT_FORMATS == ("PNG", "JPEG", "WEBP", "TIFF")
    with pytest.raises(ValueError, match="Unknown output format"):
        imageio.normalize_format("heic")


def test_bench_script_measures_every_candidate(tmp_path: Path) -> None:
    """scripts/bench_encoders.py on a tiny image: every candidate runs, round-trips exactly, JSON is written."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "enc.json"
    proc = subprocess.run(
        [sys.executable, str(root / "scripts" / "bench_encoders.py"), "--width", "64", "--height", "48",
         "--repeat", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=root,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    rows = [r for kind in ("png", "tiff") for r in doc["results"][kind] if "skipped" not in r]
    assert len(rows) >= 4 and all(r["bit_exact"] for r in rows)
    assert io.StringIO(proc.stdout).read().count("exact") >= 1


# ------------------------------------------------------------------ the formats table (docs/file_formats.md)


def _rgba_turned(path: Path, fmt: str, **params: object) -> None:
    """40 x 20 stored, red left half, alpha 128 on the right half, saved as ``fmt`` with ``params``."""
    img = Image.new("RGBA", (40, 20), (0, 0, 255, 128))
    img.paste((255, 0, 0, 255), (0, 0, 20, 20))
    img.save(path, format=fmt, **params)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "AVIF", "HEIF"])
def test_input_table_orientation_profile_exif_xmp_alpha(tmp_path: Path, fmt: str) -> None:
    """One file per input format with everything the format (and its Pillow writer) can hold at once."""
    if fmt == "AVIF" and (".avif" not in imageio.SUPPORTED_INPUT_SUFFIXES or "AVIF" not in Image.SAVE):
        pytest.skip("no AVIF support here")
    path = tmp_path / f"in.{fmt.lower()}"
    params: dict[str, object] = {"icc_profile": _display_p3_icc(), "exif": _camera_exif(6).tobytes()}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", ELEMENT_XMP.replace(b">6<", b">1<"))
        params["pnginfo"] = info
    elif fmt == "TIFF":  # TIFF keeps orientation, make, model and XMP among its own tags
        del params["exif"]
        params["tiffinfo"] = {0x0112: 6, 0x010F: "TestCam", 700: ELEMENT_XMP.replace(b">6<", b">1<")}
    else:
        params.update(xmp=ELEMENT_XMP.replace(b">6<", b">1<"), **({"lossless": True} if fmt == "WEBP" else {}))
        if fmt in ("AVIF", "HEIF"):
            params["quality"] = 95
    if fmt == "HEIF":  # the same file, made once by scripts/make_heic_fixtures.py (the app only decodes HEIC)
        path.write_bytes((HEIC_FIXTURES / "table_rgba.heic").read_bytes())
    else:
        _rgba_turned(path, fmt, **params)
    loaded = read_image(path)
    assert loaded.notes == []
    assert loaded.rgb.shape == (40, 20, 3) and loaded.rgb[:16, :, 0].mean() > 0.85  # upright, turned once
    assert loaded.icc_profile == _display_p3_icc()
    kept = Image.Exif()
    kept.load(loaded.exif)
    assert kept[0x010F] == "TestCam" and 0x0112 not in kept
    assert loaded.xmp is not None and b"xmp:Label" in loaded.xmp
    assert loaded.alpha is not None and loaded.alpha.shape == (40, 20)
    assert abs(loaded.alpha[36:, :].mean() - 128 / 255) < 0.03 and loaded.alpha[:4].min() > 0.97


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"])
@pytest.mark.parametrize("orientation", [2, 3, 5, 6, 7, 8])
def test_uncompressed_tiff_orientation_every_mode(tmp_path: Path, mode: str, orientation: int) -> None:
    """Pillow 13 garbles uncompressed L/RGBA/16-bit grey TIFFs turned a quarter: read_image must not."""
    from sinsr_gui.engine.imageio.exif import apply_orientation

    rng = np.random.default_rng(orientation)
    px = rng.integers(0, 65536 if mode == "I;16" else 256, (3, 5) if mode != "RGBA" else (3, 5, 4))
    px = px.astype(np.uint16 if mode == "I;16" else np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    src = tmp_path / "scan.tif"
    Image.fromarray(px).save(src, exif=exif.tobytes())  # no compression: Pillow's raw decoder
    loaded = read_image(src)
    peak = 65535 if mode == "I;16" else 255
    colour = px if px.ndim == 2 else px[..., 0]
    assert np.array_equal(np.round(loaded.rgb[..., 0] * peak), apply_orientation(colour, orientation))
    if mode == "RGBA":
        assert np.array_equal(np.round(loaded.alpha * 255), apply_orientation(px[..., 3], orientation))


def test_nested_xmp_orientation_is_not_the_photos(tmp_path: Path) -> None:
    """A placed picture's tiff:Orientation (xmpMM:Pantry) must not turn the photo (Pillow's regex would)."""
    packet = LIGHTROOM_XMP.replace(b'    tiff:Orientation="6"\n', b"")
    for fmt in ("PNG", "TIFF"):
        path = tmp_path / f"pantry.{fmt.lower()}"
        (_xmp_png if fmt == "PNG" else _xmp_tiff)(path, packet)
        loaded = read_image(path)
        assert loaded.rgb.shape == (20, 40, 3) and loaded.rgb[:, :16, 0].mean() > 0.85  # as stored
        assert loaded.xmp == packet


def test_multipage_tiff_and_apng_use_the_first_picture(tmp_path: Path) -> None:
    pages = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    for fmt in ("TIFF", "PNG"):
        path = tmp_path / f"multi.{fmt.lower()}"
        pages[0].save(path, format=fmt, save_all=True, append_images=pages[1:])
        loaded = read_image(path)
        assert loaded.rgb[..., 0].min() > 0.9
        assert loaded.notes == [("multi-page TIFF: only the first page of 2 was used" if fmt == "TIFF"
                                 else "animated PNG: only the first frame of 2 was used")]


def test_gif_transparency_becomes_alpha(tmp_path: Path) -> None:
    gif = Image.new("P", (4, 2), 1)
    gif.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    gif.putpixel((0, 0), 0)
    gif.save(tmp_path / "t.gif", transparency=0)
    loaded = read_image(tmp_path / "t.gif")
    assert loaded.alpha is not None and loaded.alpha[0, 0] == 0 and loaded.alpha[1, 3] == 1


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_output_table_alpha(tmp_path: Path, fmt: str) -> None:
    alpha = np.tile(np.linspace(0, 1, 16, dtype=np.float32), (16, 1))
    out = save_image(np.full((16, 16, 3), 0.5, np.float32), tmp_path / f"a{SUFFIX[fmt]}", like=None, fmt=fmt,
                     alpha=alpha)
    again = read_image(out)
    assert again.alpha is not None and np.abs(again.alpha - alpha).max() < (0.01 if fmt in ("PNG", "TIFF") else 0.06)


@pytest.mark.parametrize(("fmt", "name"), [("WEBP", "WebP"), ("JPEG", "JPEG")])
def test_sixteen_bit_request_for_8bit_formats_is_noted(tmp_path: Path, fmt: str, name: str) -> None:
    notes: list[str] = []
    save_image(np.full((8, 8, 3), 0.5, np.float32), tmp_path / f"o{SUFFIX[fmt]}", like=None, fmt=fmt, bit_depth=16,
               notes=notes)
    assert notes == [f"{name} stores 8 bits per channel; the 16-bit result was saved as 8-bit"]


def test_codec_selfcheck_passes(tmp_path: Path) -> None:
    """The check a frozen self-test can run to prove the lazily loaded codecs made it into the bundle."""
    from sinsr_gui.engine.imageio import selfcheck

    line = selfcheck.run(tmp_path)
    assert line == "codecs OK: PNG16, TIFF16, HEIC in", line


@pytest.mark.parametrize("grey", [False, True])
@pytest.mark.parametrize("with_alpha", [False, True])
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_samples_are_packed_in_bands_identically(
    monkeypatch: pytest.MonkeyPatch, grey: bool, with_alpha: bool, bit_depth: int
) -> None:
    """Packing in bands (bounded scratch) gives exactly the whole-image result, NaN and infinities included."""
    from sinsr_gui.engine.imageio import encoders

    rng = np.random.default_rng(bit_depth)
    rgb = rng.random((37, 23, 3), dtype=np.float32) * 1.4 - 0.2
    rgb[0, 0, 0], rgb[1, 1, 1], rgb[2, 2, 2] = np.nan, np.inf, -np.inf
    alpha = rng.random((37, 23), dtype=np.float32) if with_alpha else None
    whole = encoders._samples(rgb, grey=grey, alpha=alpha, bit_depth=bit_depth)
    monkeypatch.setattr(encoders, "_SAMPLE_BAND_BYTES", 500)  # a few rows per band
    banded = encoders._samples(rgb, grey=grey, alpha=alpha, bit_depth=bit_depth)
    assert np.array_equal(whole, banded) and whole.shape == (37, 23, (1 if grey else 3) + with_alpha)
    assert whole[0, 0, 0] == 0 and (grey or whole[1, 1, 1] == np.iinfo(whole.dtype).max)
