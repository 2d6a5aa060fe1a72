"""Synthetic EBB!-like pairs from the ground-truth tracer: all-in-focus → ray-traced bokeh.

Each scene is traced at one fixed setting per item (like a photographer who focuses on the subject and
shoots wide open), so a depth-free network such as MPFN sees a consistent mapping. Used for smoke runs,
tests and CPU experiments; real work trains on EBB!.
"""

from __future__ import annotations

import numpy as np
import torch.utils.data

from ..synth.dataset import DatasetConfig, SyntheticBokehDataset
from .transforms import PairedTransform

__all__ = ["SyntheticPairs"]


class SyntheticPairs(torch.utils.data.Dataset):
    """``count`` scenes of the synthetic split ``split``, traced at ``size``² with blur strength
    ``strength_px`` (BokehMe's K) and γ ``gamma``; items look like :class:`EBBDataset`'s (``depth`` is the
    scene's normalised disparity). Scenes are traced on first use and kept in memory."""

    def __init__(self, count: int, *, size: int = 128, strength_px: float = 12.0, gamma: float = 2.2,
                 split: str = "train", seed_start: int = 0, transform: PairedTransform | None = None,
                 seed: int = 0) -> None:
        config = DatasetConfig(split=split, size=size, strengths_px=(strength_px,), focus_per_scene=1,
                               gammas=(gamma,))
        self.source = SyntheticBokehDataset(config, count=count, seed_start=seed_start)
        self.transform, self.seed, self.epoch = transform, seed, 0
        self._items: dict[int, dict[str, np.ndarray]] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.source)

    def _arrays(self, index: int) -> dict[str, np.ndarray]:
        if index not in self._items:
            item = self.source[index]
            self._items[index] = {"image": item["image"].permute(1, 2, 0).numpy(),
                                  "target": item["target"].permute(1, 2, 0).numpy(),
                                  "depth": item["disparity"].permute(1, 2, 0).numpy()}
        return self._items[index]

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        transform = self.transform or PairedTransform(crop=None, flips=False)
        out = transform(self._arrays(index), rng)
        out["index"] = index
        return out
