"""Row-span normalised scatter in plain torch: runs on any device (CUDA included) and is differentiable
with respect to the image (and, through the partial edge coverage and the weights, almost everywhere
with respect to the blur radius).

One pass per row offset dy, vectorised over all sources: each source's strip at dy becomes four steps
of a running sum (``index_add_``), then one ``cumsum`` per row. Same geometry as
``optics.apertures.row_span``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...optics.apertures import MIN_RADIUS_PX, span_table
from ...types import Aperture


def _lerp(table: Tensor, ymin: float, ymax: float, t: Tensor) -> Tensor:
    n = table.shape[0]
    u = ((t - ymin) / (ymax - ymin) * (n - 1)).clamp(0, n - 1)
    i = u.floor().long().clamp(max=n - 2)
    f = u - i
    return table[i] * (1 - f) + table[i + 1] * f


def scatter_torch(image: Tensor, coc_px: Tensor, aperture: Aperture) -> Tensor:
    """Normalised scatter of ``image`` (B, 3, H, W) with signed radii ``coc_px`` (B, 1, H, W)."""
    table = span_table(aperture)
    batch, channels, height, width = image.shape
    device = image.device
    geo = torch.float64 if device.type == "cpu" else torch.float32
    cxl = torch.as_tensor(table.cxl, dtype=geo, device=device)
    cxr = torch.as_tensor(table.cxr, dtype=geo, device=device)
    sy_all, sx_all = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device),
                                    indexing="ij")
    sy_all, sx_all = sy_all.reshape(-1), sx_all.reshape(-1)
    outputs = []
    for b in range(batch):
        r_all = coc_px[b, 0].reshape(-1).to(geo).abs()
        rho_all = r_all.clamp_min(MIN_RADIUS_PX)
        dy_lo_all = torch.floor(rho_all * table.ymin - 0.5).long() + 1
        dy_hi_all = torch.ceil(rho_all * table.ymax + 0.5).long() - 1
        weight = (1.0 / (r_all * r_all + 0.2)).to(image.dtype)
        values = torch.cat([image[b].reshape(channels, -1).t() * weight[:, None], weight[:, None]], dim=1)
        acc = torch.zeros(height * (width + 1), channels + 1, dtype=image.dtype, device=device)
        direct = torch.zeros_like(acc)
        for dy in range(int(dy_lo_all.min()), int(dy_hi_all.max()) + 1):
            keep = (dy >= dy_lo_all) & (dy <= dy_hi_all) & (sy_all + dy >= 0) & (sy_all + dy < height)
            idx = keep.nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            rho = rho_all[idx]
            t0 = ((dy - 0.5) / rho).clamp_min(table.ymin)
            t1 = ((dy + 0.5) / rho).clamp_max(table.ymax)
            dt = t1 - t0
            ok = dt > 1e-12
            dt_safe = torch.where(ok, dt, torch.ones_like(dt))
            scale = rho / dt_safe
            left = sx_all[idx] + (_lerp(cxl, table.ymin, table.ymax, t1) - _lerp(cxl, table.ymin, table.ymax, t0)) * scale
            right = sx_all[idx] + (_lerp(cxr, table.ymin, table.ymax, t1) - _lerp(cxr, table.ymin, table.ymax, t0)) * scale
            strip = torch.where(ok, dt * rho, torch.zeros_like(dt))
            a = torch.floor(left + 0.5)
            bb = torch.floor(right + 0.5)
            single = a == bb
            ea = torch.where(single, right - left, a + 0.5 - left)
            eb = torch.where(single, torch.zeros_like(ea), right - bb + 0.5)
            run = (bb - a >= 2).to(strip.dtype)
            # partial end pixels are added directly; the full run between them is two running-sum steps
            # (so an in-focus pixel never passes through cancelling steps and stays exact)
            direct_amount = torch.stack([strip * ea, strip * eb]).to(image.dtype)
            direct_cols = torch.stack([a, bb]).long()
            step_amount = torch.stack([strip * run, -strip * run]).to(image.dtype)
            step_cols = torch.stack([a + 1, bb]).long().clamp(0, width)
            rows = (sy_all[idx] + dy) * (width + 1)
            vals = values[idx][None, :, :]
            inside = (direct_cols >= 0) & (direct_cols < width)
            direct_amount = direct_amount * inside
            flat = (rows[None, :] + direct_cols.clamp(0, width)).reshape(-1)
            direct = direct.index_add(0, flat, (direct_amount[:, :, None] * vals).reshape(-1, channels + 1))
            flat = (rows[None, :] + step_cols).reshape(-1)
            acc = acc.index_add(0, flat, (step_amount[:, :, None] * vals).reshape(-1, channels + 1))
        sums = acc.view(height, width + 1, channels + 1)[:, :width].cumsum(dim=1)
        sums = sums + direct.view(height, width + 1, channels + 1)[:, :width]
        outputs.append((sums[..., :channels] / sums[..., channels:]).clamp_min(0).permute(2, 0, 1))
    return torch.stack(outputs)
