"""The sRGB transfer curve, extended above 1 (defined in ``lensblur._colour``, below every layer)."""

from .._colour import srgb_decode, srgb_encode

__all__ = ["srgb_decode", "srgb_encode"]
