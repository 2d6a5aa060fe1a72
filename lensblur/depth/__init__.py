"""Getting a usable disparity map: estimation, hole filling, resizing, edge-aware refinement."""

from .convert import DepthResizeWarning, fill_holes, prepare_depth, resize_like
from .estimate import DEFAULT_ESTIMATOR, ESTIMATORS, estimate_depth, load_estimator
from .refine import guided_filter, refine_depth

__all__ = ["DEFAULT_ESTIMATOR", "ESTIMATORS", "DepthResizeWarning", "estimate_depth", "fill_holes",
           "guided_filter", "load_estimator", "prepare_depth", "refine_depth", "resize_like"]
