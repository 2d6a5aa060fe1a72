"""EBB! ("Everything is Better with Bokeh!", Ignatov et al. 2020) in its published layout.

``ROOT/Training/original/<i>.jpg`` (Canon 7D, 50 mm, f/16) and ``ROOT/Training/bokeh/<i>.jpg`` (f/1.8),
numbered pairs ``0 … 4693`` (``ROOT`` may also be the ``Training`` folder itself). An optional depth folder
(e.g. ``Training/depth/<i>.png`` from MegaDepth, as PyNET-bokeh used) is read as disparity (larger = nearer),
min-max normalised per image to [0, 1]. Splits used by the papers:

* ``val294``: pairs 4400–4693 (Dutta's Val294, also DMSHN's test.csv); ``train4400``: 0–4399;
* ``test100``: the first 100 pairs (MPFN's Test100); ``train-mpfn``: the other 4594;
* ``all``: every pair found.

The dataset is not reachable from this project's machines (and its licence is not stated), so nothing is
bundled; tests build a miniature tree in this layout.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch.utils.data

from ..errors import InputError, UnknownNameError
from ..io.images import linear_to_srgb, read_image
from .transforms import PairedTransform

__all__ = ["EBB_SPLITS", "EBBDataset", "read_display"]

EBB_SPLITS: dict[str, range | None] = {
    "all": None,
    "val294": range(4400, 4694),
    "train4400": range(0, 4400),
    "test100": range(0, 100),
    "train-mpfn": range(100, 4694),
}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def read_display(path: Path) -> np.ndarray:
    """A photo as display-encoded ``(H, W, 3)`` float32 in [0, 1] (what EBB! models see)."""
    linear, _ = read_image(path)
    return linear_to_srgb(linear)[0].permute(1, 2, 0).numpy()


def _numbered(folder: Path) -> dict[int, Path]:
    found = {}
    for entry in os.scandir(folder):
        stem, suffix = os.path.splitext(entry.name)
        if suffix.lower() in _IMAGE_SUFFIXES and stem.isdigit():
            found[int(stem)] = Path(entry.path)
    return found


class EBBDataset(torch.utils.data.Dataset):
    """Pairs of an EBB!-layout folder. Items: ``image``, ``target`` (3, h, w), ``coords`` (2, h, w), optional
    ``depth`` (1, h, w), ``index`` (the pair number).

    Args:
        root: the EBB! root (holding ``Training/``) or the ``Training`` folder.
        split: one of :data:`EBB_SPLITS`.
        transform: paired augmentation (training); ``None`` returns whole frames with their coordinate map.
        depth: name of a depth folder beside ``original``/``bokeh`` (e.g. ``"depth"``), or ``None``.
        seed: seeds the augmentation; item ``i`` of epoch ``e`` draws from ``(seed, e, i)`` — call
            :meth:`set_epoch` to move on (so runs are reproducible and resumable).
    """

    def __init__(self, root: str | os.PathLike, split: str = "all", *, transform: PairedTransform | None = None,
                 depth: str | None = None, seed: int = 0) -> None:
        root = Path(root)
        base = root / "Training" if (root / "Training").is_dir() else root
        if not (base / "original").is_dir() or not (base / "bokeh").is_dir():
            raise InputError(f"EBBDataset: root {str(root)!r} has no Training/original and Training/bokeh folders; "
                             "pass the folder the EBB! Training.zip unpacks into")
        if split not in EBB_SPLITS:
            raise UnknownNameError(f"EBBDataset: unknown split {split!r}; choose one of {sorted(EBB_SPLITS)}")
        originals, bokehs = _numbered(base / "original"), _numbered(base / "bokeh")
        if depth is not None and not (base / depth).is_dir():
            raise InputError(f"EBBDataset: depth folder {str(base / depth)!r} does not exist")
        depths = _numbered(base / depth) if depth is not None else None
        wanted = EBB_SPLITS[split]
        pairs = sorted(set(originals) & set(bokehs))
        if wanted is not None:
            missing = [i for i in wanted if i not in originals or i not in bokehs]
            if missing:
                raise InputError(f"EBBDataset: split {split!r} needs pairs {wanted.start}-{wanted.stop - 1}, but "
                                 f"{len(missing)} are missing under {str(base)!r} (first: {missing[0]}); "
                                 f"found {len(pairs)} pairs in all")
            pairs = list(wanted)
        if not pairs:
            raise InputError(f"EBBDataset: no numbered image pairs under {str(base)!r}")
        if depths is not None:
            absent = [i for i in pairs if i not in depths]
            if absent:
                raise InputError(f"EBBDataset: {len(absent)} pairs have no depth map in {str(base / depth)!r} "
                                 f"(first: {absent[0]})")
        self.indices = pairs
        self.files = {i: (originals[i], bokehs[i], depths[i] if depths else None) for i in pairs}
        self.transform, self.seed, self.epoch = transform, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict:
        index = self.indices[item]
        original, bokeh, depth = self.files[index]
        image, target = read_display(original), read_display(bokeh)
        # The pairs are not always the same size (PyNET crops to the intersection): use the common region.
        height, width = min(image.shape[0], target.shape[0]), min(image.shape[1], target.shape[1])
        arrays = {"image": image[:height, :width], "target": target[:height, :width]}
        if depth is not None:
            from ..io.depth_files import read_depth

            values = np.nan_to_num(read_depth(depth, kind="disparity").normalized().values[0, 0].numpy())
            arrays["depth"] = _resize_nearest(values, height, width)[..., None]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        transform = self.transform or PairedTransform(crop=None, flips=False)
        out = transform(arrays, rng)
        out["index"] = index
        return out


def _resize_nearest(values: np.ndarray, height: int, width: int) -> np.ndarray:
    if values.shape == (height, width):
        return values
    rows = (np.arange(height) * values.shape[0] // height)
    cols = (np.arange(width) * values.shape[1] // width)
    return values[rows][:, cols]
