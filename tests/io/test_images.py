import os

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

import lensblur as lb
from lensblur.errors import FileFormatError, InvalidParameterError, OutputExistsError
from lensblur.io import linear_to_srgb, read_image, srgb_to_linear, write_image


def _gradient(h=24, w=36):
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx / (w - 1), yy / (h - 1), (xx + yy) / (h + w - 2)]).astype(np.float32)
    return torch.from_numpy(rgb)[None]


def test_srgb_round_trip():
    x = torch.linspace(0, 1, 1001)
    torch.testing.assert_close(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-6, rtol=0)
    assert float(srgb_to_linear(torch.tensor(0.5))) == pytest.approx(0.21404, abs=1e-5)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_round_trip_keeps_16_bit_precision(tmp_path, suffix):
    image = srgb_to_linear(_gradient(40, 300))
    path = write_image(tmp_path / f"out{suffix}", image, bit_depth=16)
    back, meta = read_image(path)
    assert meta.bit_depth == 16
    # 16-bit: the sRGB values survive to 1/65535 (8-bit would be 1/255)
    err = (linear_to_srgb(back) - linear_to_srgb(image)).abs().max()
    assert err <= 0.6 / 65535


def test_8_bit_png_round_trip(tmp_path):
    image = srgb_to_linear(_gradient())
    back, meta = read_image(write_image(tmp_path / "out.png", image))
    assert meta.bit_depth == 8
    assert (linear_to_srgb(back) - linear_to_srgb(image)).abs().max() <= 0.51 / 255


def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "LensblurTestCam"  # Make
    return exif.tobytes()


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_exif_orientation_is_applied_and_metadata_kept(tmp_path, suffix):
    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:5, :10] = 255  # a white block at the top-left of the stored pixels
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / f"in{suffix}"
    Image.fromarray(pixels).save(src, exif=_exif(6), icc_profile=icc, **({"quality": 100} if suffix == ".jpg" else {}))
    image, meta = read_image(src)
    # orientation 6 = rotate 90 deg clockwise to view: 30 tall, 20 wide, block at the top-right
    assert image.shape == (1, 3, 30, 20)
    assert float(image[0, 0, :10, -5:].mean()) > 0.9 and float(image[0, 0, -10:, :5].mean()) < 0.1
    assert meta.orientation == 6 and meta.icc_profile == icc
    for out_suffix, depth in [(".jpg", 8), (".png", 8), (".png", 16)]:
        out = write_image(tmp_path / f"out{depth}{out_suffix}", image, meta=meta, bit_depth=depth)
        with Image.open(out) as written:
            assert written.info.get("icc_profile") == icc
            exif = written.getexif()
            assert exif.get(0x010F) == "LensblurTestCam"
            assert exif.get(0x0112, 1) == 1  # pixels are stored upright now
        again, _ = read_image(out)
        assert again.shape == (1, 3, 30, 20)


def test_16_bit_tiff_keeps_icc(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    from lensblur.io import ImageMeta

    out = write_image(tmp_path / "o.tif", _gradient(), meta=ImageMeta(bit_depth=16, icc_profile=icc, exif=_exif(1)))
    import tifffile

    with tifffile.TiffFile(out) as tif:
        page = tif.pages[0]
        assert page.dtype == np.uint16 and page.tags[34675].value == icc
        assert page.tags[271].value == "LensblurTestCam"


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(FileFormatError, match="image file not found"):
        read_image(tmp_path / "nope.jpg")
    good = write_image(tmp_path / "good.jpg", srgb_to_linear(torch.rand(1, 3, 64, 64)))
    data = good.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="damaged or truncated"):
        read_image(tmp_path / "cut.jpg")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(FileFormatError, match="is not an image lensblur can read"):
        read_image(tmp_path / "text.png")


def test_outputs_are_never_clobbered(tmp_path):
    image = torch.rand(1, 3, 8, 8)
    path = write_image(tmp_path / "a.png", image)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="already exists; pass overwrite=True"):
        write_image(path, torch.zeros(1, 3, 8, 8))
    assert path.read_bytes() == before
    with pytest.raises(OutputExistsError, match="is the input file"):
        write_image(path, image, overwrite=True, inputs=[path])
    write_image(path, torch.zeros(1, 3, 8, 8), overwrite=True)
    assert path.read_bytes() != before
    assert sorted(os.listdir(tmp_path)) == ["a.png"]  # no temporary files left behind
    with pytest.raises(InvalidParameterError, match="JPEG holds 8 bits per channel"):
        write_image(tmp_path / "b.jpg", image, bit_depth=16)
    with pytest.raises(InvalidParameterError, match="use one of"):
        write_image(tmp_path / "b.bmp", image)


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    from lensblur.io.images import atomic_write_bytes

    umask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644


def test_extended_srgb_is_exact_inverse_and_continues_above_white():
    from lensblur.io.colour import srgb_decode, srgb_encode

    x = torch.tensor([0.0, 0.002, 0.0031308, 0.2, 1.0, 4.0, 50.0])
    torch.testing.assert_close(srgb_decode(srgb_encode(x)), x, rtol=1e-5, atol=1e-7)
    assert float(srgb_encode(torch.tensor(1.0))) == pytest.approx(1.0)
    assert float(srgb_encode(torch.tensor(4.0))) > 1.5  # HDR values survive the encoding
    torch.testing.assert_close(lb.io.srgb_to_linear(torch.tensor([0.5, 2.0])), srgb_decode(torch.tensor([0.5, 1.0])))


@pytest.mark.parametrize("suffix", [".exr", ".tif"])
def test_hdr_files_round_trip_unclipped_and_read_as_float(tmp_path, suffix):
    from lensblur.io import write_hdr_image

    image = torch.rand(1, 3, 12, 20) * 8.0
    path = write_hdr_image(tmp_path / f"hdr{suffix}", image)
    back, meta = lb.read_image(path)
    torch.testing.assert_close(back, image)
    assert meta.bit_depth == 32 and float(back.max()) > 1.0
    with pytest.raises(lb.OutputExistsError, match="already exists"):
        write_hdr_image(path, image)
    with pytest.raises(lb.InvalidParameterError, match=r"HDR output .* use \.exr or \.tif"):
        write_hdr_image(tmp_path / "hdr.png", image)


def test_a_file_that_appears_during_the_write_is_never_replaced(tmp_path, monkeypatch):
    """The check before a long render cannot promise no-clobber; the publish step does (a hard link)."""
    from lensblur.io import images

    target = tmp_path / "new.png"
    encode = images._encode

    def other_run_finishes_first(*args, **kwargs):
        target.write_bytes(b"the other run's picture")
        return encode(*args, **kwargs)

    monkeypatch.setattr(images, "_encode", other_run_finishes_first)
    with pytest.raises(OutputExistsError, match="appeared while this run was writing it"):
        write_image(target, torch.rand(1, 3, 8, 8))
    assert target.read_bytes() == b"the other run's picture"
    assert sorted(os.listdir(tmp_path)) == ["new.png"]


def _race(path, value, barrier, results):
    import lensblur as lb

    barrier.wait()
    try:
        lb.save_image(path, torch.full((1, 3, 64, 64), value))
        results.put(("won", value))
    except lb.OutputExistsError:
        results.put(("refused", value))


def test_two_processes_racing_for_one_new_name_one_wins_one_is_refused(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for round_ in range(6):
        path = tmp_path / f"race{round_}.png"
        barrier, results = context.Barrier(2), context.Queue()
        runs = [context.Process(target=_race, args=(path, v, barrier, results)) for v in (0.2, 0.8)]
        for run in runs:
            run.start()
        for run in runs:
            run.join(60)
        outcome = sorted(results.get(timeout=5) for _ in runs)
        assert [o[0] for o in outcome] == ["refused", "won"], outcome
        winner = next(v for kind, v in outcome if kind == "won")
        assert abs(float(read_image(path)[0].mean()) - winner) < 0.01  # the winner's picture, whole
    assert all(not name.startswith(".") for name in os.listdir(tmp_path))


def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = write_image(tmp_path / "a.png", torch.rand(1, 3, 8, 8))
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_image(path, torch.zeros(1, 3, 8, 8), overwrite=True)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["a.png"]


def test_temporaries_of_killed_runs_are_cleaned_by_the_next_write(tmp_path):
    stale, fresh = tmp_path / ".a.png.dead.tmp", tmp_path / ".a.png.live.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(stale, (0, 0))
    write_image(tmp_path / "a.png", torch.rand(1, 3, 8, 8))
    assert not stale.exists() and fresh.exists()  # a recent one may belong to a run still writing


@pytest.mark.parametrize(("dtype", "bits"), [(np.uint8, 8), (np.uint16, 16)])
def test_grey_photos_read_as_three_equal_channels_with_their_bit_depth(tmp_path, dtype, bits):
    """Pinned after the io mutation run: a 16-bit grey PNG is 2-D when decoded (it must be spread to RGB),
    and an 8-bit TIFF reports bit depth 8 (highlight reconstruction's code-value threshold depends on it)."""
    grey = (np.arange(12 * 20).reshape(12, 20) * (np.iinfo(dtype).max // 240)).astype(dtype)
    for suffix in (".png", ".tif"):
        path = tmp_path / f"grey{bits}{suffix}"
        Image.fromarray(grey).save(path)
        image, meta = read_image(path)
        assert image.shape == (1, 3, 12, 20) and meta.bit_depth == bits
        assert torch.equal(image[0, 0], image[0, 1]) and torch.equal(image[0, 1], image[0, 2])
        expected = srgb_to_linear(torch.from_numpy(grey.astype(np.float64) / np.iinfo(dtype).max).float())
        assert torch.allclose(image[0, 0], expected, atol=1e-6)
