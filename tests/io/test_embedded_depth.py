"""Depth embedded in photos: GDepth and Dynamic Depth JPEGs built here per Google's specs, HEIC via objects."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest
from embedded_builders import FAR, NEAR, _app1, _dynamic_depth_jpeg, _gdepth_jpeg, _jpeg, _ramp, _with_segments

from lensblur.errors import FileFormatError
from lensblur.io import load_scene
from lensblur.io.embedded import range_to_disparity, read_embedded_depth
from lensblur.io.embedded.heic import heic_disparity


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


def test_dynamic_depth_after_a_progressive_primary_with_restart_markers(tmp_path):
    """The container's items start where the primary image ends: the end-of-image search must step over
    restart markers (FF D0-D7) in the scan data and over the tables and scans of a progressive JPEG."""
    v = _ramp()
    path = tmp_path / "progressive.jpg"
    path.write_bytes(_dynamic_depth_jpeg(v, primary=_jpeg(64, 48, progressive=True)))
    depth = read_embedded_depth(path)
    expected = range_to_disparity(np.round(v * 65535) / 65535, "RangeLinear", NEAR, FAR, what="t")
    np.testing.assert_allclose(depth.values[0, 0].numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("payload", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0cIHDR" + b"\x00" * 16,   # IHDR shorter than 13: Pillow's bare ValueError
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + struct.pack(">II", 60000, 60000) + b"\x08\x00\x00\x00\x00"])
def test_a_damaged_or_huge_depth_image_inside_the_xmp_is_a_file_error(tmp_path, payload):
    """Found by the coverage-guided fuzz on CI: a GDepth PNG with a truncated IHDR raised Pillow's ValueError.
    A declared 3.6-gigapixel depth image is refused from its header, before decoding."""
    path = tmp_path / "damaged.jpg"
    path.write_bytes(_gdepth_jpeg(_ramp(), payload=payload))
    with pytest.raises(FileFormatError, match="GDepth:Data: the depth image"):
        read_embedded_depth(path)


def test_a_dynamic_depth_map_without_near_is_a_file_error(tmp_path):
    """Found by the coverage-guided fuzz: a missing DepthMap:Near reached float(None), a bare TypeError."""
    path = tmp_path / "no_near.jpg"
    path.write_bytes(_dynamic_depth_jpeg(_ramp(), drop=("Near",)))
    with pytest.raises(FileFormatError, match="Dynamic Depth DepthMap has no valid Near"):
        read_embedded_depth(path)


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


def test_real_iphone_heic_depth(tmp_path):
    """pug_depth.heic: an iPhone photo with a disparity auxiliary image, from pillow-heif's test images (BSD-3)."""
    pytest.importorskip("pillow_heif")
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "data" / "pug_depth.heic"
    scene = load_scene(path)
    assert tuple(scene.image.shape) == (1, 3, 3024, 4032)
    depth = scene.depth
    assert depth.source == "iphone-heic" and depth.kind == "disparity" and depth.scale == "metric"
    assert tuple(depth.values.shape) == (1, 1, 576, 768)  # low resolution, the photo's aspect ratio
    values = depth.values[0, 0]
    # HEIF depth representation: uniform disparity between d_min = 1.498 and d_max = 4.383 (1/m)
    assert 1.498 <= float(values.min()) < 1.6 and 4.2 < float(values.max()) <= 4.383


class _FakeHeifWithMatte(_FakeHeif):
    def __init__(self, matte):
        super().__init__([])
        self.info["aux"] = {"urn:com:apple:photo:2018:aux:portraiteffectsmatte": [7]}
        self._matte = matte

    def get_aux_image(self, aux_id):
        assert aux_id == 7
        return self._matte


def test_heic_portrait_matte_from_pillow_heif_objects():
    from lensblur.io.embedded.heic import heic_portrait_matte

    matte = heic_portrait_matte(_FakeHeifWithMatte(np.array([[0, 255], [128, 255]], np.uint8)))
    np.testing.assert_allclose(matte, [[0.0, 1.0], [128 / 255, 1.0]], rtol=1e-6)
    assert heic_portrait_matte(_FakeHeif([])) is None


def test_a_marker_cut_off_by_the_end_of_the_file_ends_the_image(tmp_path):
    """Found by the coverage-guided fuzz (tests/fuzz/fuzz_embedded.py): a table marker in the last two bytes
    after the scan made the EOI search read a length past the end (a bare struct.error)."""
    path = tmp_path / "cut.jpg"
    path.write_bytes(_jpeg()[:-2] + b"\xff\xc4")
    assert read_embedded_depth(path) is None
