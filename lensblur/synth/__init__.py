"""Procedural RGB-D scenes and their ray-traced ground-truth defocus (training data and benchmarks)."""

from .dataset import DatasetConfig, SceneSample, ShardDataset, SyntheticBokehDataset, make_sample, write_dataset
from .hdr import HDR_KINDS, make_hdr_scene
from .raytrace import GroundTruth, aperture_cells, trace_all_in_focus, trace_defocus
from .scenes import SPLITS, Layer, LayeredScene, make_scene

__all__ = [
    "SPLITS", "Layer", "LayeredScene", "make_scene", "HDR_KINDS", "make_hdr_scene",
    "GroundTruth", "aperture_cells", "trace_all_in_focus", "trace_defocus",
    "DatasetConfig", "SceneSample", "make_sample", "write_dataset", "ShardDataset", "SyntheticBokehDataset",
]
