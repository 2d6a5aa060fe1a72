"""Photos in and out: the only place that sees sRGB, uint8/uint16 and file formats.

Reading applies the EXIF orientation and returns linear RGB ``(1, 3, H, W)`` float32 plus an
:class:`ImageMeta` (ICC profile, EXIF, bit depth). Writing encodes to sRGB, keeps the ICC profile and
EXIF (with the orientation tag reset, since the pixels are already upright), writes 16-bit PNG/TIFF
at full precision, and is atomic: a temporary file in the target folder is renamed into place, an
existing file is kept unless ``overwrite=True``, and an input file is never an output.

Colour: pixel values are decoded with the sRGB transfer curve. A photo tagged with another RGB space
(Display P3, say) keeps its primaries untouched, because the ICC profile is carried to the output
unchanged; P3 and sRGB share the transfer curve, so the linear-light maths stays right.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .._checks import check_image
from ..errors import FileFormatError, InvalidParameterError, OutputExistsError, hint
from .colour import srgb_decode, srgb_encode

__all__ = [
    "ImageMeta",
    "read_image",
    "read_raw",
    "RAW_SUFFIXES",
    "write_image",
    "srgb_to_linear",
    "linear_to_srgb",
    "IMAGE_SUFFIXES",
    "atomic_write_bytes",
    "check_output_path",
    "with_description",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")  # what write_image writes; read_image also reads .heic and .exr
LOSSY_FORMATS = ("JPEG", "MPO", "HEIF")  # PIL's names of the lossy formats lensblur reads (MPO: multi-picture JPEG)
_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageMeta:
    """What a photo file said about itself, carried to the output.

    Attributes:
        path: the file it came from.
        bit_depth: 8 or 16 bits per channel.
        icc_profile: the embedded ICC profile, or None.
        exif: raw EXIF bytes with the orientation reset to 1 (pixels are stored upright), or None.
        orientation: the EXIF orientation the file had (1..8), already applied to the pixels.
        lossy: the file was stored with lossy compression (JPEG, HEIC): values near full scale are off by
            a few code values, which highlight reconstruction allows for.
    """

    path: str | None = None
    bit_depth: int = 8
    icc_profile: bytes | None = None
    exif: bytes | None = None
    orientation: int = 1
    lossy: bool = False


def srgb_to_linear(x: Tensor) -> Tensor:
    """sRGB-encoded values in [0, 1] to linear light (IEC 61966-2-1); values outside are clipped first."""
    return srgb_decode(x.clamp(0.0, 1.0))


def linear_to_srgb(x: Tensor) -> Tensor:
    """Linear light to sRGB-encoded values in [0, 1]; values above 1 are clipped."""
    return srgb_encode(x.clamp(0.0, 1.0))


def with_description(meta: ImageMeta | None, text: str) -> ImageMeta:
    """A copy of ``meta`` whose EXIF ImageDescription is ``text`` (how lensblur records the depth source)."""
    from PIL import Image

    meta = meta or ImageMeta()
    exif = Image.Exif()
    if meta.exif:
        exif.load(meta.exif)
    exif[0x010E] = text  # ImageDescription
    exif[_ORIENTATION] = 1
    return dataclasses.replace(meta, exif=exif.tobytes())


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an (H, W, ...) array, giving the upright picture."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1],
    }
    return np.ascontiguousarray(ops[orientation](array)) if orientation in ops else array


def _open_pil(path: Path, what: str):
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise FileFormatError(f"{what} file not found: {str(path)!r}. Check the path.")
    if path.is_dir():
        raise FileFormatError(f"{what} path is a folder, not a file: {str(path)!r}.")
    from .limits import check_pixels

    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # lensblur's own limit decides, below
    try:
        pil = Image.open(path)  # lazy: the header only
    except UnidentifiedImageError as err:
        raise FileFormatError(
            f"{what} file {str(path)!r} is not an image lensblur can read (JPEG, PNG, TIFF).") from err
    except Exception as err:  # Pillow's format plugins raise OSError, ValueError, SyntaxError, struct.error...
        raise FileFormatError(f"{what} file {str(path)!r} cannot be read: {err}.") from err
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    try:
        check_pixels(pil.height, pil.width, what, path)
    except FileFormatError:
        pil.close()
        raise
    return pil


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as f:
        head = f.read(26)
    return head[24] if len(head) >= 26 and head[:8] == b"\x89PNG\r\n\x1a\n" else 8


def _exif_upright(pil_image) -> tuple[bytes | None, int]:
    exif = pil_image.getexif()
    orientation = int(exif.get(_ORIENTATION, 1) or 1)
    if not len(exif):
        return None, orientation
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1
    return exif.tobytes(), orientation


RAW_SUFFIXES = (".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
                ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".rwl", ".erf", ".mos", ".kdc", ".dcr", ".mrw")
"""Camera RAW file name endings, read through LibRaw (``pip install 'lensblur[raw]'``)."""


def read_image(path: str | os.PathLike) -> tuple[Tensor, ImageMeta]:
    """Read a JPEG, PNG (8/16-bit), TIFF (8/16-bit or float), HEIC, EXR or camera RAW photo as linear RGB.

    Float TIFF and EXR files are scene-linear HDR (``meta.bit_depth`` 32) and keep values above 1. Camera RAW
    files (:data:`RAW_SUFFIXES`) are demosaiced by LibRaw (:func:`read_raw`).

    Args:
        path: the photo.

    Returns:
        ``(image, meta)``: ``(1, 3, H, W)`` float32 linear RGB, upright, and its metadata.

    Raises:
        FileFormatError: missing, unreadable or truncated file, or an unsupported format.
    """
    path = Path(path)
    if path.suffix.lower() in RAW_SUFFIXES:
        return read_raw(path)
    if path.suffix.lower() == ".exr" or (path.suffix.lower() in (".tif", ".tiff") and _is_float_tiff(path)):
        from .hdr import read_hdr_image

        return read_hdr_image(path)
    if path.suffix.lower() in (".heic", ".heif", ".hif"):
        from .._optional import require

        require("pillow_heif", extra="heic", feature="reading HEIC photos").register_heif_opener()
    pil = _open_pil(path, "image")
    with pil:
        fmt = (pil.format or "").upper()
        icc = pil.info.get("icc_profile") or None
        exif, orientation = _exif_upright(pil)
        bit_depth = 8
        if fmt == "PNG":
            bit_depth = 16 if _png_bit_depth(path) == 16 else 8
        elif fmt == "TIFF":
            bits = pil.tag_v2.get(258, (8,))
            bit_depth = 16 if (bits[0] if isinstance(bits, tuple) else bits) == 16 else 8
        elif fmt not in LOSSY_FORMATS:
            raise FileFormatError(
                f"image file {str(path)!r} is {fmt or 'an unknown format'}; lensblur reads JPEG, PNG and TIFF.")
        if bit_depth == 16 and pil.mode not in ("I;16", "I;16B", "I;16L", "I"):
            array = _read_16bit_colour(path)
        else:
            try:
                pil.load()
            except Exception as err:  # truncated data: OSError, SyntaxError, ValueError, struct.error...
                raise FileFormatError(f"image file {str(path)!r} is damaged or truncated: {err}.") from err
            if pil.mode.startswith("I"):
                array = np.asarray(pil, dtype=np.float64) / 65535.0
                bit_depth = 16
            else:
                _refuse_transparency(pil, path)
                array = np.asarray(pil.convert("RGB"), dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    array = _orient(array, orientation)
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1)[None]
    meta = ImageMeta(path=str(path), bit_depth=bit_depth, icc_profile=icc, exif=exif, orientation=orientation,
                     lossy=fmt in LOSSY_FORMATS)
    return srgb_to_linear(tensor).contiguous(), meta


def read_raw(path: str | os.PathLike) -> tuple[Tensor, ImageMeta]:
    """A camera RAW file as linear sRGB-primaries RGB with 1.0 at the sensor's saturation.

    LibRaw (rawpy) demosaics it (AHD), applies the camera's white balance and colour matrix and the
    orientation, with no gamma, no auto-brightening and highlight clipping: so every value the sensor
    recorded below saturation is kept, and the pixels the sensor saturated read 1.0 (16-bit code 65535,
    give or take a code value of colour-matrix rounding), which highlight reconstruction treats as clipped
    (``meta.bit_depth`` 16). The exposure is the
    sensor's, not the camera JPEG's: a camera places its JPEG white one to two stops below saturation, so
    the render looks that much darker than the camera's JPEG (the headroom is kept, not spent); grade it,
    or write ``--hdr-output`` and grade that. The size is checked against the pixel limit before
    demosaicing. No EXIF or ICC profile is carried over.
    """
    from .._optional import require
    from .limits import check_pixels

    rawpy = require("rawpy", extra="raw", feature="reading camera RAW files")
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"image file not found: {str(path)!r}. Check the path.")
    try:
        raw = rawpy.imread(str(path))
    except Exception as err:  # rawpy raises LibRawError subclasses, and OSError/ValueError for odd files
        raise FileFormatError(f"RAW file {str(path)!r} cannot be read by LibRaw: {err}.") from err
    with raw:
        check_pixels(raw.sizes.height, raw.sizes.width, "image", path)
        try:
            rgb = raw.postprocess(gamma=(1, 1), no_auto_bright=True, output_bps=16, use_camera_wb=True,
                                  output_color=rawpy.ColorSpace.sRGB, highlight_mode=rawpy.HighlightMode.Clip)
        except Exception as err:
            raise FileFormatError(f"RAW file {str(path)!r} cannot be decoded by LibRaw: {err}.") from err
    tensor = torch.from_numpy(rgb.astype(np.float32) / 65535.0).permute(2, 0, 1)[None].contiguous()
    return tensor, ImageMeta(path=str(path), bit_depth=16, icc_profile=None, exif=None, orientation=1)


def _refuse_transparency(pil, path: Path) -> None:
    """An image with transparent pixels would render its transparent area as black bleeding into the subject;
    lensblur renders opaque photos, so it asks for a flattened copy (a fully opaque alpha is fine)."""
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        alpha = np.asarray(pil.convert("RGBA"))[..., 3]
        if (alpha < 255).any():
            raise FileFormatError(
                f"image file {str(path)!r} has transparent pixels ({(alpha < 255).mean():.0%} of them); lensblur renders "
                "opaque photos. Flatten it onto a background first (in an editor, or "
                "Image.alpha_composite(Image.new('RGBA', im.size, 'white'), im).convert('RGB') with Pillow).")


def _is_float_tiff(path: Path) -> bool:
    """Whether a TIFF stores floating-point samples (SampleFormat 3): linear HDR, read by ``io.hdr``."""
    if not path.is_file():
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return tif.pages[0].dtype is not None and tif.pages[0].dtype.kind == "f"
    except Exception:  # not a readable TIFF: the regular reader reports it
        return False


def _read_16bit_colour(path: Path) -> np.ndarray:
    import cv2

    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if array is None:
        raise FileFormatError(f"image file {str(path)!r} is damaged or truncated (16-bit decode failed).")
    if array.ndim == 3:
        array = array[:, :, 2::-1] if array.shape[2] >= 3 else array[:, :, :1]
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    return array.astype(np.float32) / scale


def check_output_path(path: str | os.PathLike, *, overwrite: bool, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Refuse to write over an input, or over an existing file unless ``overwrite``."""
    path = Path(path)
    for source in inputs:
        if source is not None and Path(source).resolve() == path.resolve():
            raise OutputExistsError(
                f"output path {str(path)!r} is the input file; choose another output name (the input is "
                "never overwritten).")
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"output file {str(path)!r} already exists; pass {hint('overwrite=True', '--overwrite')} to replace it.")
    if not path.parent.exists():
        raise FileFormatError(f"output folder {str(path.parent)!r} does not exist; create it first.")
    return path


def atomic_write_bytes(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path``, then publish it under ``path`` in one step
    (:func:`atomic_write_with`)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write_with(path, write, replace=replace)


def atomic_write_with(path: Path, write: Callable[[str], None], *, replace: bool = True) -> None:
    """Let ``write(tmp)`` fill a temporary file beside ``path`` (for writers that take a file name, such as
    OpenEXR's), then publish it under ``path`` in one step.

    ``replace=False`` publishes with a hard link, which fails if ``path`` exists at that moment: of two runs
    racing for the same new name, one wins and the other gets :class:`OutputExistsError`, and nothing is
    ever overwritten (a check before a long render cannot promise that). Temporary files a killed run left
    beside ``path`` (``.NAME.*.tmp``, older than ten minutes) are removed. The file gets the permissions a
    plain ``open(path, "w")`` would (0666 less the umask), not mkstemp's 0600.
    """
    path = Path(path)
    _remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if replace:
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _publish_new(tmp: str, path: Path) -> None:
    appeared = (f"output file {str(path)!r} appeared while this run was writing it (another run?); it was left as "
                f"it is. Pass {hint('overwrite=True', '--overwrite')} to replace it.")
    try:
        os.link(tmp, path)
    except FileExistsError as err:
        raise OutputExistsError(appeared) from err
    except OSError:  # a file system without hard links: reserve the name exclusively, then move into it
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError as err:
            raise OutputExistsError(appeared) from err
        os.replace(tmp, path)


def _remove_stale_temporaries(path: Path, age_s: float = 600.0) -> None:
    import glob
    import time

    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if time.time() - stale.stat().st_mtime > age_s:
                stale.unlink()
        except OSError:
            pass


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_with_metadata(png: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks right after IHDR (PNG spec: both before IDAT)."""
    ihdr_end = 8 + 8 + 13 + 4
    extra = b""
    if icc:
        extra += _png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc))
    if exif:
        payload = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
        extra += _png_chunk(b"eXIf", payload)
    return png[:ihdr_end] + extra + png[ihdr_end:]


def output_format(path: str | os.PathLike, *, bit_depth: int | None = None,
                  meta: ImageMeta | None = None) -> tuple[str, int]:
    """``(suffix, bits per channel)`` :func:`write_image` will use for ``path``, or the error it would raise;
    callers check this before a long render, so a bad output name fails in a second, not after minutes."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InvalidParameterError(
            f"output {str(path)!r} has suffix {suffix or '(none)'!r}; use one of {', '.join(IMAGE_SUFFIXES)}.")
    stored = meta.bit_depth if meta else 8
    depth = bit_depth if bit_depth is not None else (16 if stored == 32 else stored)  # float input: 16-bit
    if suffix in (".jpg", ".jpeg"):
        if bit_depth == 16:
            raise InvalidParameterError(
                "JPEG holds 8 bits per channel; write .png or .tif for " + hint("bit_depth=16", "--bit-depth 16") + ".")
        depth = 8
    if depth not in (8, 16):
        raise InvalidParameterError(f"bit_depth must be 8 or 16; got {depth}.")
    return suffix, depth


def write_image(
    path: str | os.PathLike,
    image: Tensor,
    *,
    meta: ImageMeta | None = None,
    bit_depth: int | None = None,
    overwrite: bool = False,
    quality: int = 95,
    inputs: Iterable[str | os.PathLike] = (),
) -> Path:
    """Write linear RGB ``(1, 3, H, W)`` (or ``(3, H, W)``) as an sRGB JPEG, PNG or TIFF, atomically.

    Args:
        path: output file; the suffix picks the format.
        image: linear RGB ``(1, 3, H, W)`` or ``(3, H, W)`` float tensor, values clipped to [0, 1]; or a
            uint8/uint16 numpy array or tensor, or a PIL image (sRGB code values, ``io.convert``).
        meta: metadata to carry over (ICC profile, EXIF); its bit depth is the default.
        bit_depth: 8 or 16 (PNG and TIFF only); defaults to the input's, else 8.
        overwrite: replace an existing file.
        quality: JPEG quality.
        inputs: input files this output must never replace.

    Returns:
        The path written.
    """
    if not (isinstance(image, Tensor) and image.dtype.is_floating_point):
        from .convert import as_image

        image, given = as_image(image)  # a uint8/uint16 array, a PIL image: sRGB code values
        meta = meta if meta is not None else given
    if image.ndim == 3:
        image = image[None]
    check_image(image)
    if image.shape[0] != 1:
        raise InvalidParameterError(f"write_image writes one image; got a batch of {image.shape[0]}.")
    path = Path(path)
    suffix, depth = output_format(path, bit_depth=bit_depth, meta=meta)
    path = check_output_path(path, overwrite=overwrite, inputs=inputs)
    srgb = linear_to_srgb(image[0].detach().float().cpu()).permute(1, 2, 0).numpy()
    icc = meta.icc_profile if meta else None
    exif = meta.exif if meta else None
    atomic_write_bytes(path, _encode(srgb, suffix, depth, icc, exif, quality), replace=overwrite)
    return path


def _encode(srgb: np.ndarray, suffix: str, depth: int, icc: bytes | None, exif: bytes | None, quality: int) -> bytes:
    import io

    if depth == 16:
        data = np.round(srgb * 65535.0).astype(np.uint16)
        if suffix == ".png":
            import cv2

            ok, png = cv2.imencode(".png", np.ascontiguousarray(data[:, :, ::-1]))
            if not ok:
                raise FileFormatError("16-bit PNG encoding failed")
            return _png_with_metadata(png.tobytes(), icc, exif)
        import tifffile

        buffer = io.BytesIO()
        tifffile.imwrite(buffer, data, photometric="rgb", compression="zlib", iccprofile=icc,
                         extratags=_tiff_exif_text_tags(exif))
        return buffer.getvalue()
    from PIL import Image

    pil = Image.fromarray(np.round(srgb * 255.0).astype(np.uint8), "RGB")
    options: dict = {}
    if icc:
        options["icc_profile"] = icc
    if exif:
        options["exif"] = exif
    buffer = io.BytesIO()
    if suffix in (".jpg", ".jpeg"):
        pil.save(buffer, "JPEG", quality=quality, subsampling=0, **options)
    elif suffix == ".png":
        pil.save(buffer, "PNG", **options)
    else:
        pil.save(buffer, "TIFF", compression="tiff_deflate", **options)
    return buffer.getvalue()


def _tiff_exif_text_tags(exif: bytes | None) -> list[tuple]:
    """The text tags of the EXIF main directory (make, model, date, artist, copyright) as TIFF tags.

    tifffile writes 16-bit RGB but not a full EXIF sub-directory; these tags are what survives.
    """
    if not exif:
        return []
    from PIL import Image

    parsed = Image.Exif()
    parsed.load(exif)
    tags = []
    for code in (271, 272, 305, 306, 315, 33432):  # Make, Model, Software, DateTime, Artist, Copyright
        value = parsed.get(code)
        if isinstance(value, str) and value:
            tags.append((code, "s", 0, value, True))
    return tags
