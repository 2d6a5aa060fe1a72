"""Classical (non-learned) renderers."""

from .highlights import boost_highlights
from .scatter import BACKENDS, ScatterBlur, scatter_blur, scatter_reference

__all__ = ["BACKENDS", "ScatterBlur", "boost_highlights", "scatter_blur", "scatter_reference"]
