"""Depth stored by Android cameras in JPEGs: GDepth (legacy XMP) and the Dynamic Depth 1.0 container.

Both store a normalised range image v in [0, 1] with ``Near``/``Far`` and a ``Format`` (Google's depth
map spec): RangeLinear ``z = near + v·(far − near)``; RangeInverse ``z = far·near / (far − v·(far − near))``
(v = 0 is the near plane in both). We return the metric disparity 1/z.

* GDepth: ``GDepth:Data`` holds the base64 PNG/JPEG, usually in Extended XMP.
* Dynamic Depth: the XMP ``Container:Directory`` lists items appended after the primary JPEG (item 0),
  each ``Item:Length`` bytes plus ``Item:Padding``; ``Camera:DepthMap``'s ``DepthMap:DepthURI`` names
  the depth item by its ``Item:DataURI``.
"""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np

from ...errors import FileFormatError
from .xmp import NS, JpegXmp, parse_xmp, xmp_values

__all__ = ["range_to_disparity", "gdepth_disparity", "dynamic_depth_disparity"]


def _number(values: dict, key: str, what: str) -> float:
    try:
        return float(values[key])
    except (KeyError, ValueError, TypeError) as err:   # missing, not a number, or an absent attribute (None)
        raise FileFormatError(f"{what} has no valid {key} (got {values.get(key)!r})") from err


def range_to_disparity(v: np.ndarray, fmt: str, near: float, far: float, *, what: str) -> np.ndarray:
    """Normalised range image v in [0, 1] -> metric disparity 1/z (Google depth map spec)."""
    if not (0 < near < far):
        raise FileFormatError(f"{what}: Near/Far must satisfy 0 < Near < Far; got {near}, {far}")
    v = np.clip(np.asarray(v, np.float64), 0.0, 1.0)
    if fmt == "RangeLinear":
        z = near + v * (far - near)
    elif fmt == "RangeInverse":
        z = far * near / (far - v * (far - near))
    else:
        raise FileFormatError(f"{what}: unknown depth Format {fmt!r}; expected RangeInverse or RangeLinear")
    return (1.0 / z).astype(np.float32)


def _decode_grey(payload: bytes, what: str) -> np.ndarray:
    """A PNG/JPEG depth image as v in [0, 1] (8- or 16-bit)."""
    from PIL import Image

    from ..limits import MAX_PIXELS

    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None   # the limit below decides, with our message
    try:
        with Image.open(io.BytesIO(payload)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise FileFormatError(f"{what}: the depth image declares {im.width}x{im.height} pixels, more than "
                                      f"lensblur reads ({MAX_PIXELS / 1e6:.0f} MP); it was not decoded")
            mode = im.mode
            array = np.asarray(im)
    except FileFormatError:
        raise
    except Exception as err:  # untrusted bytes: Pillow raises OSError, ValueError, SyntaxError, struct.error...
        raise FileFormatError(f"{what}: the depth image cannot be decoded ({err})") from err
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    if array.ndim == 3:
        array = array[..., 0]
    peak = 65535.0 if array.dtype == np.uint16 or mode.startswith("I;16") else 255.0
    return array.astype(np.float64) / peak


def gdepth_disparity(xmp: JpegXmp) -> np.ndarray | None:
    """Metric disparity from GDepth XMP, or None when the photo has no GDepth."""
    fields = ("Format", "Near", "Far", "Mime", "Data", "Units")
    values: dict[str, str] = {}
    for packet in (xmp.standard, xmp.extended):
        if packet:
            values.update({k: v for k, v in xmp_values(packet, "GDepth", fields).items() if k not in values})
    if "Data" not in values:
        return None
    try:
        payload = base64.b64decode(values["Data"], validate=False)
    except (binascii.Error, ValueError) as err:
        raise FileFormatError(f"GDepth:Data is not valid base64 ({err})") from err
    v = _decode_grey(payload, "GDepth:Data")
    return range_to_disparity(v, values.get("Format", ""), _number(values, "Near", "GDepth"),
                              _number(values, "Far", "GDepth"), what="GDepth")


def dynamic_depth_disparity(xmp: JpegXmp, data: bytes) -> np.ndarray | None:
    """Metric disparity from a Dynamic Depth 1.0 JPEG container, or None when there is none."""
    if not xmp.standard:
        return None
    root = parse_xmp(xmp.standard)
    items = []
    depth = None
    for element in root.iter():
        mime = element.attrib.get(f"{{{NS['Item']}}}Mime")
        if mime is not None:
            items.append({k: element.attrib.get(f"{{{NS['Item']}}}{k}") for k in
                          ("Mime", "Length", "Padding", "DataURI", "Semantic")})
        if element.attrib.get(f"{{{NS['DepthMap']}}}DepthURI") is not None and depth is None:
            depth = {k: element.attrib.get(f"{{{NS['DepthMap']}}}{k}") for k in
                     ("Format", "Near", "Far", "DepthURI", "Units")}
    if depth is None or not items:
        return None
    try:
        offset = xmp.end_of_image + int(items[0].get("Padding") or 0)
    except ValueError as err:
        raise FileFormatError("Dynamic Depth: the primary item has a bad Padding") from err
    payload = None
    for item in items[1:]:
        try:
            length, padding = int(item.get("Length") or 0), int(item.get("Padding") or 0)
        except ValueError as err:
            raise FileFormatError(f"Dynamic Depth item {item.get('DataURI')!r} has a bad Length/Padding") from err
        if item.get("DataURI") == depth["DepthURI"]:
            payload = data[offset:offset + length]
            if len(payload) != length:
                raise FileFormatError(f"Dynamic Depth item {depth['DepthURI']!r} is truncated: "
                                      f"{len(payload)} of {length} bytes")
            break
        offset += length + padding
    if payload is None:
        raise FileFormatError(f"Dynamic Depth: no container item has DataURI {depth['DepthURI']!r}")
    v = _decode_grey(payload, f"Dynamic Depth item {depth['DepthURI']!r}")
    return range_to_disparity(v, depth.get("Format") or "", _number(depth, "Near", "Dynamic Depth DepthMap"),
                              _number(depth, "Far", "Dynamic Depth DepthMap"), what="Dynamic Depth DepthMap")
