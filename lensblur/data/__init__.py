"""Paired datasets for the learned renderers: EBB! in its published layout, and synthetic pairs from the
ground-truth tracer. Items are dicts of display-encoded ``image`` / ``target`` ``(3, H, W)`` in [0, 1], the
``coords`` crop of the full frame's coordinate map ``(2, H, W)``, optional ``depth (1, H, W)`` and ``index``."""

from .ebb import EBB_SPLITS, EBBDataset
from .synthetic import SyntheticPairs
from .transforms import PairedTransform

__all__ = ["EBB_SPLITS", "EBBDataset", "PairedTransform", "SyntheticPairs"]
