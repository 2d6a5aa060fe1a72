"""Blur map + image to bokeh: the RENDERERS registry and ``render()``."""

from .api import DEFAULT_RENDERER, RENDERERS, RendererFallbackWarning, blur_map, render
from .classical import LayeredOptions, ScatterBlur, boost_highlights, layered_blur, scatter_blur, scatter_encoded
from .hybrid import HybridOptions, hybrid_blur, neural_blur

__all__ = ["DEFAULT_RENDERER", "RENDERERS", "RendererFallbackWarning", "HybridOptions", "LayeredOptions", "ScatterBlur", "blur_map", "boost_highlights",
           "hybrid_blur", "layered_blur", "neural_blur", "render", "scatter_blur", "scatter_encoded"]
