"""Blur map + image to bokeh: the RENDERERS registry and ``render()``."""

from .api import RENDERERS, blur_map, render
from .classical import ScatterBlur, boost_highlights, scatter_blur

__all__ = ["RENDERERS", "ScatterBlur", "blur_map", "boost_highlights", "render", "scatter_blur"]
