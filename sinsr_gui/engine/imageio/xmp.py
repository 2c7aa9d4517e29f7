"""XMP carried from the source to the output: checked with a real XML parser, edited in place, the rest untouched.

The packet is kept as the source's bytes. ``_xmp_for_output`` changes only what the upscale changed, by
splicing the bytes at positions the parser reported (so every other byte, namespace prefixes, padding and
Lightroom/darktable develop settings included, survives exactly):

* ``tiff:ImageWidth``/``tiff:ImageLength`` and ``exif:PixelXDimension``/``exif:PixelYDimension`` get the new
  pixel size, whether written as attributes or as elements; they are never added when absent;
* ``tiff:Orientation`` becomes 1: the pixels are stored upright now (kept rather than removed, so a reader
  that merges EXIF and XMP cannot find an older value to fall back on);
* one ``xmpMM:History`` event is appended (``stEvt:action`` "resized", ``stEvt:softwareAgent`` "SinSR
  Upscaler <version>", ``stEvt:when``, ``stEvt:parameters``); ``xmp:CreatorTool`` is left alone because it
  names the first tool that created the photo (the camera, the raw converter), which is worth keeping.

XMP comes from untrusted files: the parser is expat without any DTD (a packet with a DOCTYPE, hence any
entity declaration, is refused as damaged), so there is no entity expansion and nothing is fetched.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from dataclasses import dataclass, field
from xml.parsers import expat

from PIL import Image

log = logging.getLogger(__name__)

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_TIFF = "http://ns.adobe.com/tiff/1.0/"
_EXIF = "http://ns.adobe.com/exif/1.0/"
_XMP_MM = "http://ns.adobe.com/xap/1.0/mm/"
_ST_EVT = "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
_SEP = " "  # expat's namespace separator: "uri local prefix" (URIs never contain spaces)

_WIDTH = {(_TIFF, "ImageWidth"), (_EXIF, "PixelXDimension")}
_HEIGHT = {(_TIFF, "ImageLength"), (_EXIF, "PixelYDimension")}
_ORIENTATION = (_TIFF, "Orientation")
_JPEG_MAX_XMP = 65_533 - 29  # one APP1 segment minus the "http://ns.adobe.com/xap/1.0/\0" header
DAMAGED_NOTE = "the XMP metadata was damaged and was not kept"


class XmpError(ValueError):
    """The packet is not well-formed XML, or uses a DTD (refused: entity expansion)."""


def agent() -> str:
    """The name written as ``stEvt:softwareAgent``."""
    from sinsr_gui import __version__

    return f"SinSR Upscaler {__version__}"


# -------------------------------------------------------------------------------------------- reading


def _kept_xmp(img: Image.Image, notes: list[str], *, raw: bytes | None = None) -> bytes | None:
    """The source's XMP packet (``raw``, else Pillow's copy) as bytes, or None (absent, or damaged: noted)."""
    raw = raw if raw is not None else img.info.get("xmp")
    if raw is None and img.format == "PNG":
        raw = img.info.get("XML:com.adobe.xmp")
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not isinstance(raw, bytes | bytearray) or not raw.strip(b"\x00 \t\r\n"):
        return None
    try:
        packet = _normalised(bytes(raw))
        _parse(packet)
    except (XmpError, UnicodeError) as exc:
        log.info("XMP of %s not kept: %s", getattr(img, "filename", "") or "image", exc)
        notes.append(DAMAGED_NOTE)
        return None
    return packet


def _normalised(raw: bytes) -> bytes:
    """UTF-8 without trailing NULs (some writers terminate the packet); UTF-16/32 packets are re-encoded."""
    if raw[:2] in (b"\xfe\xff", b"\xff\xfe") or raw[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        codec = "utf-32" if raw[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00") else "utf-16"
        raw = raw.decode(codec).encode("utf-8")
    raw = raw.rstrip(b"\x00")
    raw.decode("utf-8")  # UnicodeError: damaged
    return raw


def _xmp_orientation(packet: bytes) -> int | None:
    """The photo's own tiff:Orientation (a top-level property, attribute or element), or None."""
    try:
        elements = _parse(packet)
    except XmpError:
        return None
    for element in elements:
        if _is_top_description(element) and _ORIENTATION in element.attrs:
            span = _attr_value_span(packet, element, element.attrs[_ORIENTATION])
            text = packet[span[1] : span[2]] if span else b""
        elif (
            (element.uri, element.local) == _ORIENTATION
            and element.parent is not None
            and _is_top_description(element.parent)
            and element.end is not None
            and element.children == 0
        ):
            text = packet[element.tag_end : element.end]
        else:
            continue
        try:
            return int(text.strip())
        except ValueError:
            return None
    return None


# -------------------------------------------------------------------------------------------- parsing


@dataclass
class _Element:
    uri: str
    local: str
    prefix: str | None
    start: int  # byte index of "<"
    tag_end: int  # byte index just past the start tag's ">"
    empty: bool  # written as <x/>
    attrs: dict[tuple[str, str], str]  # (uri, local) -> qualified name as written
    parent: _Element | None
    children: int = 0
    end: int | None = None  # byte index of "</" (None for an empty element)
    end_close: int | None = None  # byte index just past the end tag's ">"
    kids: list[_Element] = field(default_factory=list)


def _parse(packet: bytes) -> list[_Element]:
    """Every element of ``packet`` with byte positions; XmpError when it is not safe, well-formed XML."""
    parser = expat.ParserCreate(encoding="utf-8", namespace_separator=_SEP)
    parser.namespace_prefixes = True
    parser.buffer_text = True
    elements: list[_Element] = []
    stack: list[_Element] = []

    def refuse(*_args: object) -> None:
        raise XmpError("the packet declares a DTD (entities are not allowed in XMP)")

    def split(name: str) -> tuple[str, str, str | None]:
        parts = name.split(_SEP)
        if len(parts) == 1:
            return "", parts[0], None
        return parts[0], parts[1], parts[2] if len(parts) > 2 else None

    def start(name: str, attrs: dict[str, str]) -> None:
        uri, local, prefix = split(name)
        pos = parser.CurrentByteIndex
        tag_end, empty = _tag_end(packet, pos)
        qualified = {}
        for key in attrs:
            a_uri, a_local, a_prefix = split(key)
            qualified[(a_uri, a_local)] = f"{a_prefix}:{a_local}" if a_prefix else a_local
        parent = stack[-1] if stack else None
        element = _Element(uri, local, prefix, pos, tag_end, empty, qualified, parent)
        if parent is not None:
            parent.children += 1
            parent.kids.append(element)
        elements.append(element)
        stack.append(element)

    def end(_name: str) -> None:
        element = stack.pop()
        if not element.empty:
            element.end = parser.CurrentByteIndex
            close = packet.find(b">", element.end)
            element.end_close = close + 1

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(packet, True)
    except expat.ExpatError as exc:
        raise XmpError(str(exc)) from exc
    if not elements:
        raise XmpError("no XML element")
    return elements


def _tag_end(packet: bytes, start: int) -> tuple[int, bool]:
    """(index just past the start tag beginning at ``start``, whether it is an empty-element tag)."""
    quote = None
    for i in range(start + 1, len(packet)):
        c = packet[i]
        if quote is not None:
            if c == quote:
                quote = None
        elif c in (0x22, 0x27):  # " '
            quote = c
        elif c == 0x3E:  # >
            return i + 1, packet[i - 1] == 0x2F  # /
    raise XmpError("unterminated start tag")


_ATTR = re.compile(rb"""\s+([^\s=/>]+)\s*=\s*("[^"]*"|'[^']*')""")


def _attr_value_span(packet: bytes, element: _Element, qname: str) -> tuple[int, int, int] | None:
    """(start of the whitespace before the attribute, value start, value end) in ``packet``."""
    tag = packet[element.start : element.tag_end]
    name_end = re.match(rb"<[^\s/>]+", tag)
    pos = name_end.end() if name_end else 1
    want = qname.encode("utf-8")
    for m in _ATTR.finditer(tag, pos):
        if m.start() != pos:  # attributes follow one another; anything else ends the scan
            break
        pos = m.end()
        if m.group(1) == want:
            return element.start + m.start(), element.start + m.start(2) + 1, element.start + m.end(2) - 1
    return None


# -------------------------------------------------------------------------------------------- writing


def _xmp_for_output(packet: bytes, width: int, height: int, *, when: _dt.datetime | None = None) -> bytes:
    """``packet`` with the new pixel size, orientation 1 and a history event; XmpError if it cannot be parsed."""
    elements = _parse(packet)
    edits: list[tuple[int, int, bytes]] = []  # (start, end, replacement), non-overlapping

    def value_for(key: tuple[str, str]) -> str | None:
        if key in _WIDTH:
            return str(width)
        if key in _HEIGHT:
            return str(height)
        if key == _ORIENTATION:
            return "1"
        return None

    # Only the photo's own properties: those of a top-level rdf:Description. The same names deeper down
    # describe something else (xmpMM:Pantry keeps the XMP of placed images, xmpMM:DerivedFrom the original).
    for element in elements:
        if _is_top_description(element):
            for key, qname in element.attrs.items():
                value = value_for(key)
                span = _attr_value_span(packet, element, qname) if value is not None else None
                if value is not None and span is not None:
                    edits.append((span[1], span[2], value.encode()))
        value = value_for((element.uri, element.local))
        if (
            value is not None
            and element.parent is not None
            and _is_top_description(element.parent)
            and not element.empty
            and element.children == 0
            and element.end is not None
        ):
            edits.append((element.tag_end, element.end, value.encode()))

    history = _history_edit(packet, elements, width, height, when or _dt.datetime.now().astimezone())
    if history is not None:
        edits.append(history)

    out = bytearray(packet)
    for start, end, replacement in sorted(edits, reverse=True):
        out[start:end] = replacement
    result = _trim_padding(bytes(out), len(out) - len(packet))
    _parse(result)  # our edit must leave well-formed XMP; XmpError otherwise (the caller drops the packet)
    return result


def _history_edit(
    packet: bytes, elements: list[_Element], width: int, height: int, when: _dt.datetime
) -> tuple[int, int, bytes] | None:
    """Where and what to insert for one more ``xmpMM:History`` event; None when the packet has no place."""

    def event(rdf: str, declare_rdf: bool) -> str:
        xmlns_rdf = f' xmlns:{rdf}="{_RDF}"' if declare_rdf else ""
        stamp = when.isoformat(timespec="seconds")
        return (
            f'<{rdf}:li {rdf}:parseType="Resource" xmlns:stEvt="{_ST_EVT}"{xmlns_rdf}>'
            f"<stEvt:action>resized</stEvt:action>"
            f"<stEvt:parameters>upscaled to {width} x {height} pixels</stEvt:parameters>"
            f"<stEvt:softwareAgent>{_escape(agent())}</stEvt:softwareAgent>"
            f"<stEvt:when>{stamp}</stEvt:when>"
            f"</{rdf}:li>"
        )

    for element in elements:
        if (element.uri, element.local) == (_XMP_MM, "History"):
            seq = next((k for k in element.kids if k.uri == _RDF and k.local == "Seq"), None)
            if seq is None or seq.end is None:
                if seq is not None and seq.empty:  # <rdf:Seq/>: open it up ("/>" becomes "> ... </rdf:Seq>")
                    rdf = seq.prefix or "rdf"
                    name = f"{seq.prefix}:Seq" if seq.prefix else "Seq"
                    body = event(rdf, declare_rdf=seq.prefix is None)
                    return seq.tag_end - 2, seq.tag_end, b">" + body.encode() + f"</{name}>".encode()
                return None  # History in a form we do not extend (an old plain-text one): leave it
            rdf = seq.prefix or "rdf"
            return seq.end, seq.end, event(rdf, declare_rdf=seq.prefix is None).encode()

    description = next((e for e in elements if _is_top_description(e)), None)
    if description is None:
        return None
    rdf = description.prefix or "rdf"
    xmlns_rdf = "" if description.prefix else f' xmlns:{rdf}="{_RDF}"'  # rdf in the default namespace: bind it
    prop = (
        f'<xmpMM:History xmlns:xmpMM="{_XMP_MM}"><{rdf}:Seq{xmlns_rdf}>'
        f"{event(rdf, declare_rdf=False)}</{rdf}:Seq></xmpMM:History>"
    ).encode()
    if description.empty:  # "/>" becomes "> ... </rdf:Description>"; its attributes may be edited too
        name = f"{description.prefix}:Description" if description.prefix else "Description"
        return description.tag_end - 2, description.tag_end, b">" + prop + f"</{name}>".encode()
    assert description.end is not None
    indent = _indent_before(packet, description.end)
    return description.end, description.end, (b" " + prop + b"\n" + indent if indent is not None else prop)


def _is_top_description(element: _Element) -> bool:
    parent = element.parent
    return (element.uri, element.local) == (_RDF, "Description") and parent is not None and (
        parent.uri,
        parent.local,
    ) == (_RDF, "RDF")


def _indent_before(packet: bytes, pos: int) -> bytes | None:
    """The spaces/tabs between the last newline and ``pos``, when the end tag stands on its own line."""
    line = packet.rfind(b"\n", 0, pos)
    if line < 0:
        return None
    indent = packet[line + 1 : pos]
    return indent if indent.strip(b" \t") == b"" else None


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_PADDING = re.compile(rb"([ \t\r\n]+)(<\?xpacket\s+end=)")


def _trim_padding(packet: bytes, grown: int) -> bytes:
    """Give back as many bytes of the packet's trailing padding as the edits added (the XMP packet rule)."""
    if grown <= 0:
        return packet
    m = _PADDING.search(packet)
    if m is None:
        return packet
    pad = m.group(1)
    keep = len(pad) - grown
    if keep < 100:  # keep some: too little padding is left alone rather than removed
        return packet
    # take the bytes from the middle of the padding so that its leading and trailing newlines stay
    new_pad = pad[: keep // 2] + pad[len(pad) - (keep - keep // 2) :]
    return packet[: m.start(1)] + new_pad + packet[m.end(1) :]
