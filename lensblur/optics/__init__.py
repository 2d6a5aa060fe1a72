"""The lens model: parameters to per-pixel signed blur radius and aperture footprints."""

from .apertures import MIN_RADIUS_PX, footprint, span_table
from .coc import coc_diameter_mm, signed_coc_px, thin_lens_strength_px
from .focus import autofocus, focus_at_pixel, focus_from_mask, resolve_focus

__all__ = [
    "MIN_RADIUS_PX",
    "autofocus",
    "coc_diameter_mm",
    "focus_at_pixel",
    "focus_from_mask",
    "footprint",
    "resolve_focus",
    "signed_coc_px",
    "span_table",
    "thin_lens_strength_px",
]
