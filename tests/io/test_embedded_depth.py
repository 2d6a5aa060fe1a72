"""Depth embedded in photos: GDepth and Dynamic Depth JPEGs built here per Google's specs, HEIC via objects."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import sys

import numpy as np
import pytest
from PIL import Image

from lensblur.errors import FileFormatError
from lensblur.io import load_scene
from lensblur.io.embedded import range_to_disparity, read_embedded_depth
from lensblur.io.embedded.heic import heic_disparity

NEAR, FAR = 0.5, 4.0


def _png(v: np.ndarray, bits: int = 8) -> bytes:
    buf = io.BytesIO()
    if bits == 16:
        Image.fromarray((v * 65535).round().astype(np.uint16)).save(buf, format="PNG")
    else:
        Image.fromarray((v * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(width=24, height=16, exif_orientation=None) -> bytes:
    buf = io.BytesIO()
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8))
    kwargs = {}
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


def _gdepth_jpeg(v: np.ndarray, fmt="RangeInverse", chunk=700, orientation=None) -> bytes:
    ext = _xmp(f'xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" GDepth:Data="'
               f'{base64.b64encode(_png(v)).decode()}"/>')
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


def _dynamic_depth_jpeg(v: np.ndarray, fmt="RangeLinear") -> bytes:
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
    primary = _with_segments(_jpeg(), [_app1(b"http://ns.adobe.com/xap/1.0/\x00" + std.encode())])
    return primary + confidence + b"\x00" * 3 + depth_png


def _ramp(h=8, w=12):
    return np.tile(np.linspace(0.0, 1.0, w), (h, 1))


def test_range_formats_follow_the_google_spec():
    v = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(1 / range_to_disparity(v, "RangeLinear", 1.0, 3.0, what="t"), [1.0, 2.0, 3.0],
                               rtol=1e-6)
    np.testing.assert_allclose(1 / range_to_disparity(v, "RangeInverse", 1.0, 3.0, what="t"), [1.0, 1.5, 3.0],
                               rtol=1e-6)
    with pytest.raises(FileFormatError, match="unknown depth Format 'Log'"):
        range_to_disparity(v, "Log", 1.0, 3.0, what="t")


def test_gdepth_in_extended_xmp_is_reassembled_and_decoded(tmp_path):
    v = _ramp()
    path = tmp_path / "lensblur_gdepth.jpg"
    path.write_bytes(_gdepth_jpeg(v))
    depth = read_embedded_depth(path)
    assert depth.source == "gdepth" and depth.kind == "disparity" and depth.scale == "metric"
    expected = range_to_disparity(np.round(v * 255) / 255, "RangeInverse", NEAR, FAR, what="t")
    np.testing.assert_allclose(depth.values[0, 0].numpy(), expected, rtol=1e-6)
    assert depth.values[0, 0, 0, 0] > depth.values[0, 0, 0, -1]  # v = 0 is the near plane


def test_embedded_depth_follows_the_photo_orientation(tmp_path):
    v = _ramp(8, 12)
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_gdepth_jpeg(v, orientation=6))
    scene = load_scene(path)
    assert scene.meta.orientation == 6 and tuple(scene.image.shape[-2:]) == (24, 16)
    assert tuple(scene.depth.values.shape[-2:]) == (12, 8)  # rotated like the photo
    # orientation 6 turns the stored columns (near on the left) into rows (near at the top)
    d = scene.depth.values[0, 0].numpy()
    assert d[0, 0] > d[-1, 0]


def test_dynamic_depth_container_items_are_sliced_by_length_and_padding(tmp_path):
    v = _ramp()
    path = tmp_path / "pixel.jpg"
    path.write_bytes(_dynamic_depth_jpeg(v))
    depth = read_embedded_depth(path)
    assert depth.source == "dynamic-depth"
    expected = range_to_disparity(np.round(v * 65535) / 65535, "RangeLinear", NEAR, FAR, what="t")
    np.testing.assert_allclose(depth.values[0, 0].numpy(), expected, rtol=1e-5)


def test_plain_photos_have_no_embedded_depth(tmp_path):
    path = tmp_path / "plain.jpg"
    path.write_bytes(_jpeg())
    assert read_embedded_depth(path) is None
    assert load_scene(path).depth is None


def test_corrupt_embedded_depth_is_refused_with_a_reason(tmp_path):
    bad_xml = tmp_path / "bad_xmp.jpg"
    bad_xml.write_bytes(_with_segments(_jpeg(), [_app1(b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:RDF>")]))
    with pytest.raises(FileFormatError, match="XMP"):
        read_embedded_depth(bad_xml)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(_dynamic_depth_jpeg(_ramp())[:-40])
    with pytest.raises(FileFormatError, match="truncated"):
        read_embedded_depth(truncated)
    missing_chunk = tmp_path / "missing_chunk.jpg"
    data = _gdepth_jpeg(_ramp(), chunk=100)
    last = data.rfind(b"http://ns.adobe.com/xmp/extension/\x00")
    seg_start = last - 4
    seg_len = struct.unpack(">H", data[seg_start + 2:seg_start + 4])[0]
    missing_chunk.write_bytes(data[:seg_start] + data[seg_start + 2 + seg_len:])
    with pytest.raises(FileFormatError, match="incomplete"):
        read_embedded_depth(missing_chunk)


class _FakeDepthImage:
    """What pillow-heif returns for a depth auxiliary image: an array-like with depth metadata."""

    def __init__(self, array, metadata):
        self._array, self.info = array, {"metadata": metadata}

    def __array__(self, dtype=None, copy=None):
        return self._array if dtype is None else self._array.astype(dtype)


class _FakeHeif:
    def __init__(self, depth_images):
        self.info = {"depth_images": depth_images}


def test_heic_depth_decoding_from_pillow_heif_objects():
    disparity8 = np.array([[0, 128, 255]], np.uint8)
    values, scale = heic_disparity(_FakeHeif([_FakeDepthImage(disparity8, {"representation_type": 1})]))
    assert scale == "relative"
    np.testing.assert_allclose(values, [[0.0, 128 / 255, 1.0]], rtol=1e-6)
    depth16 = np.array([[0, 65535]], np.uint16)
    values, scale = heic_disparity(_FakeHeif([_FakeDepthImage(depth16, {"representation_type": 2, "d_min": 1.0,
                                                                        "d_max": 5.0})]))
    assert scale == "metric"
    np.testing.assert_allclose(values, [[1.0, 0.2]], rtol=1e-6)
    assert heic_disparity(_FakeHeif([])) is None


def test_unreadable_heic_and_missing_pillow_heif_get_clear_errors(tmp_path, monkeypatch):
    path = tmp_path / "photo.heic"
    path.write_bytes(b"not really a HEIC file")
    pytest.importorskip("pillow_heif")
    with pytest.raises(FileFormatError, match="HEIC file .* cannot be read"):
        read_embedded_depth(path)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as if not installed
    with pytest.raises(ImportError, match=r"lensblur\[heic\]"):
        read_embedded_depth(path)
