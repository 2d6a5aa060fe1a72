import numpy as np
import pytest
import torch

from lensblur.errors import FileFormatError, InvalidParameterError, cli_messages
from lensblur.io import read_depth, write_depth
from lensblur.types import DepthMap


def _values(h=12, w=17):
    yy, xx = np.mgrid[0:h, 0:w]
    return (1.0 + xx * 0.25 + yy * 0.125).astype(np.float32)


def _write_exr(path, values):
    openexr = pytest.importorskip("OpenEXR")
    with openexr.File({"compression": openexr.ZIP_COMPRESSION, "type": openexr.scanlineimage},
                      {"Z": values}) as f:
        f.write(str(path))


@pytest.mark.parametrize("suffix", [".npy", ".pfm", ".tif"])
def test_float_round_trips(tmp_path, suffix):
    values = _values()
    write_depth(tmp_path / f"d{suffix}", DepthMap(torch.from_numpy(values)[None, None], kind="depth", scale="metric"))
    depth = read_depth(tmp_path / f"d{suffix}", kind="depth", scale="metric")
    np.testing.assert_array_equal(depth.values[0, 0].numpy(), values)
    assert depth.kind == "depth" and depth.scale == "metric" and depth.source == f"file:d{suffix}"


def test_exr_z_channel_is_read_as_depth(tmp_path):
    values = _values()
    values[3, 4] = np.inf
    _write_exr(tmp_path / "z.exr", values)
    depth = read_depth(tmp_path / "z.exr")
    assert depth.kind == "depth"
    assert torch.isnan(depth.values[0, 0, 3, 4]) and depth.values[0, 0, 0, 0] == 1.0


@pytest.mark.parametrize("dtype, scale", [(np.uint8, 255), (np.uint16, 65535)])
def test_png_depth_maps(tmp_path, dtype, scale):
    import cv2

    values = (_values() / _values().max() * scale).astype(dtype)
    cv2.imwrite(str(tmp_path / "d.png"), values)
    with pytest.raises(InvalidParameterError, match=r"does not say whether it holds depth .* pass kind='depth' or "
                                                      r"kind='disparity'"):
        read_depth(tmp_path / "d.png")
    with cli_messages(), pytest.raises(InvalidParameterError, match="add --depth-kind depth or --depth-kind disparity"):
        read_depth(tmp_path / "d.png")
    depth = read_depth(tmp_path / "d.png", kind="disparity")
    np.testing.assert_array_equal(depth.values[0, 0].numpy(), values.astype(np.float32))
    values[0, 0] = 0
    cv2.imwrite(str(tmp_path / "z.png"), values)
    assert torch.isnan(read_depth(tmp_path / "z.png", kind="depth").values[0, 0, 0, 0])  # depth 0 = no data


def test_png16_written_as_normalised_disparity(tmp_path):
    depth = DepthMap(torch.from_numpy(_values())[None, None], kind="depth", scale="metric")
    back = read_depth(write_depth(tmp_path / "n.png", depth), kind="disparity")
    expected = depth.normalized().values[0, 0].numpy() * 65535
    assert np.abs(back.values[0, 0].numpy() - expected).max() <= 0.5


def test_bad_depth_files(tmp_path):
    with pytest.raises(FileFormatError, match="depth file not found"):
        read_depth(tmp_path / "missing.png", kind="depth")
    (tmp_path / "cut.pfm").write_bytes(b"Pf\n10 10\n-1.0\n" + b"\0" * 40)
    with pytest.raises(FileFormatError, match="is truncated: 10 of 100 PFM values"):
        read_depth(tmp_path / "cut.pfm", kind="depth")
    import cv2

    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 2] = 200
    cv2.imwrite(str(tmp_path / "colour.png"), colour)
    with pytest.raises(FileFormatError, match="holds a colour image"):
        read_depth(tmp_path / "colour.png", kind="disparity")
    (tmp_path / "d.xyz").write_text("1 2 3")
    with pytest.raises(FileFormatError, match="has suffix '.xyz'"):
        read_depth(tmp_path / "d.xyz", kind="depth")
