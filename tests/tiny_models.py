"""Tiny random depth estimators built from configs (offline), shared by the depth tests."""

from __future__ import annotations

from pathlib import Path


def save_tiny_depth_anything(folder: Path) -> Path:
    """A tiny DepthAnything (the classes of Depth-Anything-V2-Small), saved like a hub download."""
    import torch
    import transformers

    backbone = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, mlp_ratio=2,
                                         image_size=252, patch_size=14, out_indices=[1, 2, 3, 4],
                                         reshape_hidden_states=False)
    config = transformers.DepthAnythingConfig(backbone_config=backbone, patch_size=14, reassemble_hidden_size=32,
                                              reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=[8, 16, 32, 32],
                                              fusion_hidden_size=16, head_hidden_size=8, head_in_index=-1)
    torch.manual_seed(0)
    transformers.DepthAnythingForDepthEstimation(config).save_pretrained(folder)
    return folder
