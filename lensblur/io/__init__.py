"""Files in and out: photos, depth maps, aperture images and the bundled sample."""

from .colour import srgb_decode, srgb_encode
from .depth_files import DEPTH_SUFFIXES, read_depth, write_depth
from .hdr import HDR_SUFFIXES, read_hdr_image, write_hdr_image
from .images import IMAGE_SUFFIXES, ImageMeta, linear_to_srgb, read_image, srgb_to_linear, write_image
from .kernels import read_kernel
from .previews import coc_preview, disparity_preview
from .samples import motorcycle
from .scene import load_scene

__all__ = [
    "DEPTH_SUFFIXES",
    "IMAGE_SUFFIXES",
    "HDR_SUFFIXES",
    "ImageMeta",
    "coc_preview",
    "disparity_preview",
    "linear_to_srgb",
    "load_scene",
    "motorcycle",
    "read_depth",
    "read_hdr_image",
    "read_image",
    "read_kernel",
    "srgb_decode",
    "srgb_encode",
    "srgb_to_linear",
    "write_depth",
    "write_hdr_image",
    "write_image",
]
