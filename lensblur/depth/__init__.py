"""Getting a usable disparity map: hole filling, resizing."""

from .convert import DepthResizeWarning, fill_holes, prepare_depth, resize_like

__all__ = ["DepthResizeWarning", "fill_holes", "prepare_depth", "resize_like"]
