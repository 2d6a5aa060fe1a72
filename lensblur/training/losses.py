"""Differentiable losses of the learned renderers (torch, ``(B, C, H, W)`` images in [0, 1])."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["sobel4", "advanced_sobel_loss", "ssim_map", "ssim_loss"]

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_SOBEL_D = torch.tensor([[-2.0, -1.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 1.0, 2.0]])
_SOBEL_4 = torch.stack([_SOBEL_X, _SOBEL_X.T, _SOBEL_D, _SOBEL_D.flip(1)])   # 0°, 90°, 45°, 135°


def sobel4(image: Tensor) -> Tensor:
    """The four-direction Sobel responses of every channel, ``(B, 4C, H, W)`` (replicate padding).

    MPFN's "advanced Sobel" (Eq. 13) cites earlier work without defining it; we read it as the Sobel
    operator extended from the two axes to the two diagonals as well.
    """
    channels = image.shape[1]
    weight = _SOBEL_4.to(image)[:, None].repeat(channels, 1, 1, 1)
    return F.conv2d(F.pad(image, (1, 1, 1, 1), mode="replicate"), weight, groups=channels)


def advanced_sobel_loss(output: Tensor, target: Tensor) -> Tensor:
    """Eq. 13: mean |Sobel*(output) − Sobel*(target)|."""
    return (sobel4(output) - sobel4(target)).abs().mean()


def _gaussian_window(size: int, sigma: float, like: Tensor) -> Tensor:
    t = torch.arange(size, dtype=like.dtype, device=like.device) - size // 2
    g = torch.exp(-t * t / (2 * sigma * sigma))
    return g / g.sum()


def ssim_map(a: Tensor, b: Tensor, *, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Wang et al.'s SSIM per pixel and channel over the valid region (the same definition as
    ``lensblur.evaluation.metrics.ssim``: 11 x 11 Gaussian, σ 1.5, K1 0.01, K2 0.03, peak 1)."""
    channels = a.shape[1]
    g = _gaussian_window(window, sigma, a)
    gx = g.view(1, 1, 1, -1).expand(channels, 1, 1, window)
    gy = g.view(1, 1, -1, 1).expand(channels, 1, window, 1)

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(x, gx, groups=channels), gy, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2))


def ssim_loss(output: Tensor, target: Tensor) -> Tensor:
    """Dutta's perceptual loss (Eq. 4): −SSIM."""
    return -ssim_map(output, target).mean()
