import numpy as np
import pytest
import torch

import lensblur as lb
from lensblur.cli import main


@pytest.fixture
def files(tmp_path, tiny_scene):
    photo = lb.save_image(tmp_path / "photo.png", tiny_scene.image)
    import cv2

    cv2.imwrite(str(tmp_path / "disp.png"), np.round(tiny_scene.disparity[0, 0].numpy() * 65535).astype(np.uint16))
    return tmp_path, photo, tmp_path / "disp.png"


def test_render_command_end_to_end(files, capsys):
    tmp, photo, disp = files
    status = main(["render", str(photo), "--depth", str(disp), "--depth-kind", "disparity", "-o", str(tmp / "out.png"),
                   "--focus-at", "16,16", "--blur", "8", "--blades", "6", "--rotation-deg", "15", "--highlights",
                   "--save-coc", str(tmp / "coc.png"), "--bit-depth", "16", "--quiet"])
    assert status == 0
    out, meta = lb.read_image(tmp / "out.png")
    assert out.shape == (1, 3, 32, 32) and meta.bit_depth == 16
    assert lb.read_image(tmp / "coc.png")[0].shape == (1, 3, 32, 32)


def test_render_command_with_custom_aperture_and_band(files):
    tmp, photo, disp = files
    kernel = torch.zeros(1, 3, 15, 15)
    kernel[..., 3:12, 3:12] = 1.0
    lb.save_image(tmp / "square.png", kernel)
    status = main(["render", str(photo), "--depth", str(disp), "--depth-kind", "disparity", "-o", str(tmp / "o.jpg"),
                   "--focus-band", "0.8,1.0", "--aperture-image", str(tmp / "square.png"), "--quiet"])
    assert status == 0 and (tmp / "o.jpg").exists()


def test_render_command_errors(files, capsys):
    tmp, photo, disp = files
    base = ["render", str(photo), "--depth", str(disp), "--depth-kind", "disparity", "--quiet"]
    assert main(base + ["-o", str(photo), "--overwrite"]) == 2
    assert "is the input file" in capsys.readouterr().err
    before = photo.read_bytes()
    assert photo.read_bytes() == before
    assert main(base + ["-o", str(tmp / "a.png")]) == 0
    assert main(base + ["-o", str(tmp / "a.png")]) == 2
    assert "already exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert main(base + ["-o", str(tmp / "b.png"), "--focus-at", "100,3"]) == 2
    assert "focus point (x=100, y=3) is outside the image" in capsys.readouterr().err
    assert main(base + ["-o", str(tmp / "c.png"), "--blur", "-2"]) == 2
    assert "must be finite and >= 0; got -2" in capsys.readouterr().err
    assert main(base + ["-o", str(tmp / "d.png"), "--blades", "2"]) == 2
    assert "Aperture.blades must be an integer >= 3" in capsys.readouterr().err
    assert not (tmp / "b.png").exists() and not (tmp / "c.png").exists()


def test_demo_writes_renders_and_contact_sheet(tmp_path, capsys):
    from lensblur.cli.demo import DEMO_SETTINGS

    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    for stem, *_ in DEMO_SETTINGS:
        image, _ = lb.read_image(tmp_path / f"{stem}.png")
        assert image.shape == (1, 3, 500, 741)
    assert (tmp_path / "contact_sheet.png").exists()
    assert "contact sheet" in capsys.readouterr().out
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 2  # never overwrites without --overwrite


def test_render_command_hybrid_with_error_map(files, tmp_path):
    tmp, photo, disp = files
    weights = lb.models.BokehMeNets().save(tmp_path / "w.safetensors")  # random weights: plumbing only
    base = ["render", str(photo), "--depth", str(disp), "--depth-kind", "disparity", "--focus-at", "16,16",
            "--blur", "12", "--quiet"]
    assert main(base + ["-o", str(tmp / "h.png"), "--renderer", "hybrid", "--neural-weights", str(weights),
                        "--save-error-map", str(tmp / "e.png")]) == 0
    assert lb.read_image(tmp / "h.png")[0].shape == (1, 3, 32, 32)
    assert lb.read_image(tmp / "e.png")[0].shape == (1, 3, 32, 32)


def test_render_command_error_map_needs_hybrid(files, capsys):
    tmp, photo, disp = files
    status = main(["render", str(photo), "--depth", str(disp), "--depth-kind", "disparity", "--quiet",
                   "-o", str(tmp / "x.png"), "--save-error-map", str(tmp / "e.png")])
    assert status == 2
    assert "--save-error-map needs --renderer hybrid; got the default renderer (layered)" in capsys.readouterr().err
    assert not (tmp / "x.png").exists()


def test_render_command_with_the_layered_renderer(files):
    tmp, photo, disp = files
    status = main(["render", str(photo), "--depth", str(disp), "--depth-kind", "disparity", "-o", str(tmp / "l.png"),
                   "--focus-at", "16,16", "--blur", "6", "--renderer", "layered", "--quiet"])
    assert status == 0
    assert lb.read_image(tmp / "l.png")[0].shape == (1, 3, 32, 32)


def test_render_command_highlights_and_hdr_output(files):
    tmp, photo, disp = files
    image = lb.read_image(photo)[0] * 0.2  # a night photo: lit well below white, so a clipped blob is a light
    image[..., 10:12, 20:22] = 1.0  # a clipped light
    lb.save_image(tmp / "lights.png", image, bit_depth=8)
    args = ["render", str(tmp / "lights.png"), "--depth", str(disp), "--depth-kind", "disparity", "--focus-at", "16,16",
            "--blur", "8", "--quiet"]
    assert main(args + ["-o", str(tmp / "plain.png"), "--hdr-output", str(tmp / "plain.exr")]) == 0
    assert main(args + ["-o", str(tmp / "bright.png"), "--highlights", "--hdr-output", str(tmp / "bright.exr")]) == 0
    plain, bright = lb.read_image(tmp / "plain.exr")[0], lb.read_image(tmp / "bright.exr")[0]
    assert float(bright.sum()) > float(plain.sum()) + 0.5   # the light raised far above white, its energy kept
    assert float(lb.read_image(tmp / "bright.png")[0].max()) <= 1.0  # the regular output is clipped as a camera's


def test_render_command_hdr_output_and_boost_errors_name_the_flag(files, capsys):
    tmp, photo, disp = files
    args = ["render", str(photo), "--depth", str(disp), "--depth-kind", "disparity", "-o", str(tmp / "o.png"), "--quiet"]
    assert main(args + ["--hdr-output", str(tmp / "o.jpg")]) == 2
    assert "--hdr-output must end in .exr or .tif" in capsys.readouterr().err
    assert not (tmp / "o.png").exists()
    assert main(args + ["--boost", "-1"]) == 2
    assert "HighlightBoost.gain must be >= 0" in capsys.readouterr().err


def test_cli_errors_speak_flags_and_refuse_an_unknown_depth_kind(files, capsys):
    tmp, photo, disp = files
    base = ["render", str(photo), "--depth", str(disp), "-o", str(tmp / "k.png"), "--quiet"]
    assert main(base) == 2  # a PNG does not say depth or disparity: refused, nothing written
    err = capsys.readouterr().err
    assert "add --depth-kind depth or --depth-kind disparity" in err and "kind=" not in err
    assert not (tmp / "k.png").exists()
    assert main(base + ["--depth-kind", "disparity", "--depth-scale", "metric", "--f-number", "2"]) == 2
    err = capsys.readouterr().err
    assert "--f-number needs --focal-length-mm too" in err and "Lens." not in err
    with pytest.raises(lb.InvalidParameterError, match="pass kind='depth' or kind='disparity'"):
        lb.load_scene(photo, disp)  # Python callers see argument names


@pytest.mark.filterwarnings("always")
def test_cli_warnings_are_one_plain_line(files, capsys, tmp_path):
    tmp, photo, disp = files
    import cv2

    small = cv2.resize(cv2.imread(str(disp), cv2.IMREAD_UNCHANGED), (16, 16))
    cv2.imwrite(str(tmp / "small.png"), small)
    assert main(["render", str(photo), "--depth", str(tmp / "small.png"), "--depth-kind", "disparity",
                 "-o", str(tmp / "w.png"), "--quiet"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(lines) == 1 and lines[0].startswith("lensblur render: warning: ") and ".py:" not in lines[0]


def test_no_depth_and_no_network_fails_at_once_with_the_install_command(files, capsys, monkeypatch, tmp_path):
    pytest.importorskip("transformers")
    import time

    tmp, photo, _ = files
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    assert main(["render", str(photo), "-o", str(tmp / "est.png"), "--quiet"]) == 2
    assert time.perf_counter() - start < 10  # no retries against an unreachable hub
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "warning" not in err
    assert "hf download depth-anything/Depth-Anything-V2-Small-hf --local-dir DIR" in err
    assert "--depth-model-dir DIR" in err and "weights_dir" not in err
