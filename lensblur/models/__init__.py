"""Neural networks (architectures and their weights); no rendering logic lives here."""

from .bokehme import ARNET, IUNET, BokehMeNets, DefocusNet, DefocusNetConfig, load_official_checkpoint

__all__ = ["ARNET", "IUNET", "BokehMeNets", "DefocusNet", "DefocusNetConfig", "load_official_checkpoint"]
