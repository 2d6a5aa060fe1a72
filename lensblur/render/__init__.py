"""Blur map + image to bokeh: the RENDERERS registry and ``render()``."""

from .api import RENDERERS, blur_map, render
from .classical import ScatterBlur, boost_highlights, scatter_blur
from .hybrid import HybridOptions, hybrid_blur, neural_blur

__all__ = ["RENDERERS", "HybridOptions", "ScatterBlur", "blur_map", "boost_highlights", "hybrid_blur", "neural_blur",
           "render", "scatter_blur"]
