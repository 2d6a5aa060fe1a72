"""Hostile and careless input (issue #20): bounded blur, early refusals, messages that name the problem."""

import time

import numpy as np
import pytest
import torch

import lensblur as lb
from lensblur._checks import BlurClampedWarning
from lensblur.cli import main
from lensblur.errors import FileFormatError, InvalidParameterError


@pytest.fixture
def photo_and_disparity(tmp_path):
    import cv2

    photo = lb.save_image(tmp_path / "p.png", torch.rand(1, 3, 30, 40))
    ramp = np.tile(np.linspace(0, 65535, 40), (30, 1)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), ramp)
    return tmp_path, photo, tmp_path / "d.png"


@pytest.mark.filterwarnings("always")
def test_a_huge_blur_is_clamped_to_the_image_diagonal_not_the_machine(photo_and_disparity, capsys):
    tmp, photo, disp = photo_and_disparity
    start = time.perf_counter()
    assert main(["render", str(photo), "--depth", str(disp), "--depth-kind", "disparity", "-o", str(tmp / "o.png"),
                 "--blur", "1e9", "--quiet"]) == 0
    assert time.perf_counter() - start < 30
    assert "exceeds the image diagonal (50 px); clamped" in capsys.readouterr().err
    image = torch.rand(1, 3, 30, 40)
    with pytest.warns(BlurClampedWarning):
        huge = lb.scatter_blur(image, torch.full((1, 1, 30, 40), 1e6)).image
    assert torch.allclose(huge, lb.scatter_blur(image, torch.full((1, 1, 30, 40), 50.0)).image)


def test_focus_outside_the_normalised_range_is_refused(photo_and_disparity, capsys):
    tmp, photo, disp = photo_and_disparity
    scene = lb.load_scene(photo, disp, depth_kind="disparity")
    with pytest.raises(InvalidParameterError, match=r"focus disparity must be in \[0, 1\] .* got 80"):
        lb.render(scene, lens=lb.Lens(strength_px=20), focus=lb.Focus.at_disparity(80))
    assert main(["render", str(photo), "--depth", str(disp), "--depth-kind", "disparity", "-o", str(tmp / "f.png"),
                 "--focus-disparity", "2", "--quiet"]) == 2
    assert "--focus-disparity 0.5" in capsys.readouterr().err


def test_bad_output_names_fail_before_anything_is_read(photo_and_disparity, capsys):
    tmp, photo, _ = photo_and_disparity
    missing = tmp / "no-such-depth.png"
    for output, flags, expected in [("o.bmp", [], "has suffix '.bmp'"),
                                    ("o.jpg", ["--bit-depth", "16"], "JPEG holds 8 bits per channel")]:
        assert main(["render", str(photo), "--depth", str(missing), "--depth-kind", "disparity",
                     "-o", str(tmp / output), *flags]) == 2
        err = capsys.readouterr().err
        assert expected in err and "not found" not in err


def test_negative_metric_depth_is_named_as_such(tmp_path):
    np.save(tmp_path / "neg.npy", -np.ones((4, 5), np.float32))
    with pytest.raises(FileFormatError, match=r"holds no positive distance .* the map holds disparity"):
        lb.read_depth(tmp_path / "neg.npy", kind="depth", scale="metric")


def _png_header_only(path, width, height):
    """A few bytes that declare a width x height grey PNG: what a decompression bomb looks like to a reader."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    return path


def test_sizes_come_from_headers_and_are_refused_before_decoding(photo_and_disparity, capsys):
    tmp, photo, disp = photo_and_disparity
    bomb = _png_header_only(tmp / "bomb.png", 40000, 30000)
    with pytest.raises(FileFormatError, match=r"declares 40000x30000 pixels \(1200 MP\); lensblur reads at most"):
        lb.read_image(bomb)
    with pytest.raises(FileFormatError, match="declares 40000x30000 pixels"):
        lb.read_depth(bomb, kind="disparity")
    with open(tmp / "bomb.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (30000, 40000)})
    with pytest.raises(FileFormatError, match="declares 40000x30000 pixels"):
        lb.read_depth(tmp / "bomb.npy", kind="disparity")
    assert main(["render", str(bomb), "-o", str(tmp / "o.png")]) == 2  # exit 2 with the message, no traceback
    assert "declares 40000x30000 pixels" in capsys.readouterr().err


def _exr_header_only(path, width, height):
    """An OpenEXR header declaring a width x height float channel Z, and no pixels."""
    import struct

    def attribute(name, kind, value):
        return name + b"\0" + kind + b"\0" + struct.pack("<i", len(value)) + value

    header = b"".join([
        attribute(b"channels", b"chlist", b"Z\0" + struct.pack("<iB3xii", 2, 0, 1, 1) + b"\0"),
        attribute(b"compression", b"compression", b"\0"),
        attribute(b"dataWindow", b"box2i", struct.pack("<4i", 0, 0, width - 1, height - 1)),
        attribute(b"displayWindow", b"box2i", struct.pack("<4i", 0, 0, width - 1, height - 1)),
        attribute(b"lineOrder", b"lineOrder", b"\0"),
        attribute(b"pixelAspectRatio", b"float", struct.pack("<f", 1.0)),
        attribute(b"screenWindowCenter", b"v2f", struct.pack("<2f", 0, 0)),
        attribute(b"screenWindowWidth", b"float", struct.pack("<f", 1.0)),
    ])
    path.write_bytes(b"\x76\x2f\x31\x01" + struct.pack("<i", 2) + header + b"\0")
    return path


def test_exr_sizes_come_from_the_header(tmp_path):
    openexr = pytest.importorskip("OpenEXR")
    from lensblur.io.limits import header_size

    written = tmp_path / "real.exr"
    openexr.File({"type": openexr.scanlineimage, "compression": openexr.ZIP_COMPRESSION},
                 {"Z": np.ones((37, 53), np.float32)}).write(str(written))
    assert header_size(written) == (37, 53)  # agrees with what OpenEXR wrote
    bomb = _exr_header_only(tmp_path / "bomb.exr", 40000, 30000)
    assert header_size(bomb) == (30000, 40000)
    with pytest.raises(FileFormatError, match=r"depth file .* declares 40000x30000 pixels"):
        lb.read_depth(bomb, kind="depth")
    with pytest.raises(FileFormatError, match=r"image file .* declares 40000x30000 pixels"):
        lb.read_image(bomb)


def test_a_depth_map_of_another_aspect_is_refused_from_its_header(photo_and_disparity):
    tmp, photo, _ = photo_and_disparity
    wrong = _png_header_only(tmp / "square.png", 300, 300)  # never decoded: the header is enough
    with pytest.raises(lb.InputError, match=r"is 300x300 .* cannot show the same view"):
        lb.load_scene(photo, wrong, depth_kind="disparity")


def test_a_render_that_would_not_fit_is_refused_before_it_allocates(photo_and_disparity, capsys):
    from lensblur.render.memory import estimate_bytes

    tmp, photo, disp = photo_and_disparity
    scene = lb.load_scene(photo, disp, depth_kind="disparity")
    needed = estimate_bytes(30, 40, "layered")
    with pytest.raises(InvalidParameterError, match=r"needs about .* GB, more than .*max_memory_gb=GB"):
        lb.render(scene, lens=lb.Lens(strength_px=5), renderer="layered", max_memory_gb=needed / 2e9)
    lb.render(scene, lens=lb.Lens(strength_px=5), renderer="layered", max_memory_gb=needed * 2 / 1e9)
    assert main(["render", str(photo), "--depth", str(disp), "--depth-kind", "disparity", "-o", str(tmp / "m.png"),
                 "--max-memory", "0.00001"]) == 2
    err = capsys.readouterr().err
    assert "--max-memory GB" in err and not (tmp / "m.png").exists()
    assert estimate_bytes(2000, 3000, "layered") > estimate_bytes(2000, 3000, "scatter") > estimate_bytes(1000, 1500,
                                                                                                          "scatter")


@pytest.mark.slow
@pytest.mark.parametrize("renderer", ["scatter", "layered"])
def test_the_memory_estimate_is_within_30_percent_of_the_measured_peak(tmp_path, renderer):
    import subprocess
    import sys

    import cv2

    height, width = 2000, 3000
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "p.jpg"), (rng.random((height, width, 3)) * 255).astype(np.uint8))
    disparity = np.tile(np.linspace(0, 40000, width), (height, 1))
    disparity[500:1500, 800:2000] = 65535          # a subject: depth jumps, so the layered renderer's strips run
    cv2.imwrite(str(tmp_path / "d.png"), disparity.astype(np.uint16))
    # the child reports its own peak, VmHWM of its address space (RUSAGE_CHILDREN gives the largest child of the
    # session, and ru_maxrss survives exec, so a child forked from a big pytest process would report pytest's)
    report = ("import sys; from lensblur.cli import main; code = main(sys.argv[1:]); "
              "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))); sys.exit(code)")
    run = subprocess.run([sys.executable, "-c", report, "render", str(tmp_path / "p.jpg"), "--depth",
                          str(tmp_path / "d.png"), "--depth-kind", "disparity", "-o", str(tmp_path / "o.jpg"),
                          "--blur", "25", "--renderer", renderer, "--quiet"], check=True, capture_output=True, text=True)
    peak = int(run.stdout.split()[-1]) * 1024
    from lensblur.render.memory import estimate_bytes

    estimate = estimate_bytes(height, width, renderer, whole_process=True)
    assert abs(estimate / peak - 1) < 0.30, (estimate / 1e6, peak / 1e6)
