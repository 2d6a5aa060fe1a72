"""Neural networks (architectures and their weights); no rendering logic lives here."""

from .bokehme import ARNET, IUNET, BokehMeNets, DefocusNet, DefocusNetConfig, load_official_checkpoint
from .depth_blend import DepthAwareBlend, DepthBlendConfig, MegaDepthHourglass, load_megadepth_weights
from .mpfn import MPFN, MPFNConfig

__all__ = ["ARNET", "IUNET", "BokehMeNets", "DefocusNet", "DefocusNetConfig", "load_official_checkpoint",
           "MPFN", "MPFNConfig", "DepthAwareBlend", "DepthBlendConfig", "MegaDepthHourglass", "load_megadepth_weights"]
