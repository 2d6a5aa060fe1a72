"""Scoring renderers: metrics, dataset protocols and the ground-truth benchmark harness."""

from .metrics import discontinuity_band, masked_psnr, psnr, ssim

__all__ = ["psnr", "masked_psnr", "ssim", "discontinuity_band"]
