"""Builders of photos with embedded depth, per Google's GDepth and Dynamic Depth specs (shared by tests)."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import struct

import numpy as np
from PIL import Image

NEAR, FAR = 0.5, 4.0


def _png(v: np.ndarray, bits: int = 8) -> bytes:
    buf = io.BytesIO()
    if bits == 16:
        Image.fromarray((v * 65535).round().astype(np.uint16)).save(buf, format="PNG")
    else:
        Image.fromarray((v * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(width=24, height=16, exif_orientation=None, progressive=False) -> bytes:
    """A random JPEG; ``progressive`` writes 10 scans with tables between them and a restart marker after
    every MCU (the entropy-coded data then holds FF D0-D7, and FF C4 / FF DA between scans)."""
    buf = io.BytesIO()
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8))
    kwargs = {"progressive": True, "restart_marker_blocks": 1} if progressive else {}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    image.save(buf, format="JPEG", **kwargs)
    return buf.getvalue()


def _app1(body: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def _with_segments(jpeg: bytes, segments: list[bytes]) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def _xmp(inner: str, extra_ns: str = "") -> str:
    return (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description {extra_ns}{inner}</rdf:RDF></x:xmpmeta>')


def _gdepth_jpeg(v: np.ndarray, fmt="RangeInverse", chunk=700, orientation=None, payload: bytes | None = None) -> bytes:
    """GDepth in Extended XMP; ``payload`` replaces the depth PNG's bytes (for damaged-payload tests)."""
    ext = _xmp(f'xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" GDepth:Data="'
               f'{base64.b64encode(payload if payload is not None else _png(v)).decode()}"/>')
    ext_bytes = ext.encode()
    guid = hashlib.md5(ext_bytes).hexdigest().upper().encode()
    std = _xmp(f'xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" '
               f'xmlns:xmpNote="http://ns.adobe.com/xmp/note/" GDepth:Format="{fmt}" GDepth:Near="{NEAR}" '
               f'GDepth:Far="{FAR}" GDepth:Mime="image/png" xmpNote:HasExtendedXMP="{guid.decode()}"/>')
    segments = [_app1(b"http://ns.adobe.com/xap/1.0/\x00" + std.encode())]
    # a decoy chunk of another GUID must be ignored
    segments.append(_app1(b"http://ns.adobe.com/xmp/extension/\x00" + b"F" * 32 + struct.pack(">II", 3, 0) + b"bad"))
    for offset in range(0, len(ext_bytes), chunk):
        segments.append(_app1(b"http://ns.adobe.com/xmp/extension/\x00" + guid
                              + struct.pack(">II", len(ext_bytes), offset) + ext_bytes[offset:offset + chunk]))
    return _with_segments(_jpeg(exif_orientation=orientation), segments)


def _dynamic_depth_jpeg(v: np.ndarray, fmt="RangeLinear", primary: bytes | None = None, drop: tuple = ()) -> bytes:
    """A Dynamic Depth JPEG; ``drop`` removes DepthMap attributes (e.g. ("Near",)) for damaged-file tests."""
    depth_png = _png(v, bits=16)
    confidence = _png(np.ones_like(v))
    std = _xmp(
        'xmlns:Device="http://ns.google.com/photos/dd/1.0/device/" '
        'xmlns:Container="http://ns.google.com/photos/dd/1.0/container/" '
        'xmlns:Item="http://ns.google.com/photos/dd/1.0/item/" '
        'xmlns:Camera="http://ns.google.com/photos/dd/1.0/camera/" '
        'xmlns:DepthMap="http://ns.google.com/photos/dd/1.0/depthmap/">'
        '<Device:Container><Container:Directory><rdf:Seq>'
        '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary" '
        'Item:Length="0"/></rdf:li>'
        f'<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/png" Item:Semantic="Confidence" '
        f'Item:Length="{len(confidence)}" Item:Padding="3" Item:DataURI="android/confidencemap"/></rdf:li>'
        f'<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/png" Item:Semantic="Depth" '
        f'Item:Length="{len(depth_png)}" Item:DataURI="android/depthmap"/></rdf:li>'
        '</rdf:Seq></Container:Directory></Device:Container>'
        '<Device:Cameras><rdf:Seq><rdf:li rdf:parseType="Resource"><Device:Camera>'
        f'<Camera:DepthMap DepthMap:Format="{fmt}" DepthMap:Near="{NEAR}" DepthMap:Far="{FAR}" '
        'DepthMap:Units="Meters" DepthMap:DepthURI="android/depthmap" '
        'DepthMap:ConfidenceURI="android/confidencemap"/>'
        '</Device:Camera></rdf:li></rdf:Seq></Device:Cameras></rdf:Description>')
    std = std.replace("<rdf:Description xmlns:Device", "<rdf:Description xmlns:Device", 1)
    for name in drop:
        std = re.sub(rf'DepthMap:{name}="[^"]*" ', "", std)
    primary = _with_segments(primary or _jpeg(), [_app1(b"http://ns.adobe.com/xap/1.0/\x00" + std.encode())])
    return primary + confidence + b"\x00" * 3 + depth_png


def _ramp(h=8, w=12):
    return np.tile(np.linspace(0.0, 1.0, w), (h, 1))
