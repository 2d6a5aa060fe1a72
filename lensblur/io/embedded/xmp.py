"""JPEG APP1 XMP: the standard packet, Extended XMP reassembly, and attribute lookup by namespace.

A JPEG carries at most one standard XMP packet (APP1, "http://ns.adobe.com/xap/1.0/\\0" header, <= 64 kB)
and, for larger payloads such as a GDepth depth map, Extended XMP: APP1 segments with the header
"http://ns.adobe.com/xmp/extension/\\0", then a 32-character GUID (the MD5 of the full extended packet,
named by ``xmpNote:HasExtendedXMP`` in the standard packet), the full length and this chunk's offset
(both big-endian uint32), then the chunk. Chunks of other GUIDs are ignored.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ...errors import FileFormatError

__all__ = ["JpegXmp", "read_jpeg_xmp", "xmp_values", "NS"]

STANDARD = b"http://ns.adobe.com/xap/1.0/\x00"
EXTENDED = b"http://ns.adobe.com/xmp/extension/\x00"
NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xmpNote": "http://ns.adobe.com/xmp/note/",
    "GDepth": "http://ns.google.com/photos/1.0/depthmap/",
    "GImage": "http://ns.google.com/photos/1.0/image/",
    "GFocus": "http://ns.google.com/photos/1.0/focus/",
    "Device": "http://ns.google.com/photos/dd/1.0/device/",
    "Container": "http://ns.google.com/photos/dd/1.0/container/",
    "Item": "http://ns.google.com/photos/dd/1.0/item/",
    "Camera": "http://ns.google.com/photos/dd/1.0/camera/",
    "DepthMap": "http://ns.google.com/photos/dd/1.0/depthmap/",
    "Image": "http://ns.google.com/photos/dd/1.0/image/",
}


@dataclass(frozen=True)
class JpegXmp:
    """The XMP of a JPEG and where its primary image ends (appended items start there)."""

    standard: str | None
    extended: str | None
    end_of_image: int  # byte offset just past the primary image's EOI marker


def read_jpeg_xmp(data: bytes, *, what: str = "photo") -> JpegXmp:
    """Walk the JPEG's marker segments up to the end of its primary image."""
    if data[:2] != b"\xff\xd8":
        raise FileFormatError(f"{what} is not a JPEG (no SOI marker)")
    standard = None
    chunks: dict[bytes, dict[int, bytes]] = {}
    totals: dict[bytes, int] = {}
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise FileFormatError(f"{what}: corrupt JPEG marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xD9:  # EOI before any scan: empty image
            return JpegXmp(standard, _join(chunks, totals, standard), pos + 2)
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        body = data[pos + 4:pos + 2 + length]
        if marker == 0xE1 and body.startswith(STANDARD):
            standard = body[len(STANDARD):].decode("utf-8", errors="replace")
        elif marker == 0xE1 and body.startswith(EXTENDED) and len(body) >= len(EXTENDED) + 40:
            rest = body[len(EXTENDED):]
            guid, (total, offset) = rest[:32], struct.unpack(">II", rest[32:40])
            chunks.setdefault(guid, {})[offset] = rest[40:]
            totals[guid] = total
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data until the EOI marker
            eoi = _find_eoi(data, pos)
            return JpegXmp(standard, _join(chunks, totals, standard), eoi)
    raise FileFormatError(f"{what}: the JPEG ends before its image data (truncated file?)")


def _find_eoi(data: bytes, pos: int) -> int:
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        nxt = data[pos + 1]
        if nxt == 0xD9:
            return pos + 2
        if pos + 4 > len(data):  # a marker cut off by the end of the file: the image ends there
            return len(data)
        if nxt == 0xDA:  # a further scan (progressive JPEG): skip its header
            length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
            pos += 2 + length
            continue
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
            pos += 1 if nxt == 0xFF else 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]  # a table segment between scans
        pos += 2 + length


def _join(chunks, totals, standard: str | None) -> str | None:
    wanted = xmp_values(standard, "xmpNote", ("HasExtendedXMP",)).get("HasExtendedXMP") if standard else None
    if wanted and wanted.encode() not in chunks:
        raise FileFormatError(f"the photo's XMP announces Extended XMP {wanted} but none of its chunks is present")
    if not chunks:
        return None
    guid = wanted.encode() if wanted else next(iter(chunks))
    parts = chunks[guid]
    blob = b"".join(parts[k] for k in sorted(parts))
    if len(blob) != totals[guid]:
        raise FileFormatError(f"Extended XMP {guid.decode(errors='replace')} is incomplete: "
                              f"{len(blob)} of {totals[guid]} bytes")
    return blob.decode("utf-8", errors="replace")


def parse_xmp(packet: str) -> ET.Element:
    """Parse an XMP packet (the text between the xpacket processing instructions)."""
    start = packet.find("<x:xmpmeta")
    if start < 0:
        start = packet.find("<rdf:RDF")
    end_tag = "</x:xmpmeta>" if "</x:xmpmeta>" in packet else "</rdf:RDF>"
    end = packet.rfind(end_tag)
    if start < 0 or end < 0:
        raise FileFormatError("the XMP packet holds no x:xmpmeta / rdf:RDF element")
    try:
        return ET.fromstring(packet[start:end + len(end_tag)])
    except ET.ParseError as err:
        raise FileFormatError(f"the XMP packet is not well-formed XML ({err})") from err


def xmp_values(packet: str, prefix: str, names) -> dict[str, str]:
    """Values of the properties ``prefix:name`` anywhere in the packet (attribute or element form)."""
    uri = NS[prefix]
    root = parse_xmp(packet)
    found: dict[str, str] = {}
    for element in root.iter():
        for name in names:
            if name in found:
                continue
            attr = element.attrib.get(f"{{{uri}}}{name}")
            if attr is not None:
                found[name] = attr
            elif element.tag == f"{{{uri}}}{name}" and element.text and element.text.strip():
                found[name] = element.text.strip()
    return found
