"""lensblur: realistic, controllable shallow depth of field from one photo and a depth map.

    >>> import lensblur as lb
    >>> scene = lb.load_scene("photo.jpg", "disparity.png", depth_kind="disparity")  # doctest: +SKIP
    >>> result = lb.render(scene, lens=lb.Lens(strength_px=20, aperture=lb.Aperture(blades=6)),
    ...                    focus=lb.Focus.at_pixel(x=410, y=220))                       # doctest: +SKIP
    >>> lb.save_image("photo_bokeh.jpg", result.image, meta=scene.meta)                # doctest: +SKIP

Conventions (linear RGB inside, disparity larger = nearer, signed radius in px) are in ``lensblur.types``
and ARCHITECTURE.md.
"""

from . import depth, io, models, optics
from .errors import (
    FileFormatError,
    InputError,
    InvalidParameterError,
    MissingDependencyError,
    OutputExistsError,
    UnknownNameError,
)
from .io import load_scene, read_depth, read_image, write_image
from .render import DEFAULT_RENDERER, RENDERERS, RendererFallbackWarning, render, scatter_blur, scatter_encoded
from .render.classical import BACKENDS
from .types import Aperture, DepthMap, Focus, HighlightBoost, Highlights, Lens, RenderResult, Scene

save_image = write_image

__version__ = "0.1.0"

__all__ = [
    "Aperture",
    "BACKENDS",
    "DepthMap",
    "FileFormatError",
    "Focus",
    "HighlightBoost",
    "Highlights",
    "InputError",
    "InvalidParameterError",
    "Lens",
    "MissingDependencyError",
    "OutputExistsError",
    "DEFAULT_RENDERER",
    "RENDERERS",
    "RenderResult",
    "RendererFallbackWarning",
    "Scene",
    "UnknownNameError",
    "depth",
    "io",
    "load_scene",
    "models",
    "optics",
    "read_depth",
    "read_image",
    "render",
    "save_image",
    "scatter_blur",
    "scatter_encoded",
    "write_image",
]
