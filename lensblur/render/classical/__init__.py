"""Classical (non-learned) renderers."""

from .highlights import boost_highlights
from .layered import LayeredOptions, layered_blur, layered_reference
from .scatter import BACKENDS, ScatterBlur, scatter_blur, scatter_encoded, scatter_reference

__all__ = ["BACKENDS", "LayeredOptions", "ScatterBlur", "boost_highlights", "layered_blur", "layered_reference",
           "scatter_blur", "scatter_encoded", "scatter_reference"]
