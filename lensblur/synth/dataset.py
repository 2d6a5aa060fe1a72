"""Synthetic bokeh datasets: written once as shards (``write_dataset``), or generated on the fly.

Both give the same samples. A dataset is defined by a :class:`DatasetConfig`; scene ``seed`` yields one
layered scene, traced at every (K, d_f) setting of that scene with all gammas in one pass. The focus
disparities of a scene are drawn from its own disparity range by a generator seeded from the scene
seed, so a sample depends on nothing but its config and seed.

Folder layout written by ``write_dataset`` (also described in the README.md written beside it)::

    DIR/dataset.json          config, format version, the samples' seeds and settings, field docs
    DIR/README.md             this layout in words
    DIR/shard-00000.npz       samples [0, shard_size), then shard-00001.npz, ...

Each shard holds, for S scenes, T settings per scene and G gammas (images float16, HDR kept):
``seed (S,)``, ``disparity (S, H, W)``, ``all_in_focus_linear (S, G, H, W, 3)``,
``bokeh_linear (S, T, G, H, W, 3)``, ``strength_px (S, T)``, ``focus_disparity (S, T)``.
``*_linear`` hold Σ α·D^γ; the display image for γ is ``clip(linear ** (1/γ), 0, 1)``.
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.utils.data

from ..errors import InvalidParameterError, OutputExistsError, hint
from ..io.images import atomic_write_bytes
from ..types import Aperture
from .raytrace import DEFAULT_CELL_PX, trace_all_in_focus, trace_defocus
from .scenes import SPLITS, make_scene, scene_rng

__all__ = ["DatasetConfig", "SceneSample", "make_sample", "write_dataset", "ShardDataset", "SyntheticBokehDataset"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class DatasetConfig:
    """What a synthetic dataset holds.

    Attributes:
        split: "train" or "test" (disjoint textures, outline families and seed streams).
        size: square canvas side in px.
        strengths_px: BokehMe's K values traced for every scene (BokehMe used 12 and 24).
        focus_per_scene: focus disparities drawn per scene, uniformly over its disparity range.
        gammas: gammas accumulated in one pass (BokehMe: 1..5).
        blades: aperture blades (None = circle).
        cell_px: the tracer's accuracy knob (``trace_defocus``).
    """

    split: str = "train"
    size: int = 256
    strengths_px: tuple[float, ...] = (12.0, 24.0)
    focus_per_scene: int = 2
    gammas: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)
    blades: int | None = None
    cell_px: float = DEFAULT_CELL_PX

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise InvalidParameterError(f"DatasetConfig.split must be one of {SPLITS}; got {self.split!r}")
        if not isinstance(self.size, int) or self.size < 16:
            raise InvalidParameterError(f"DatasetConfig.size must be an integer >= 16 px; got {self.size!r}")
        if not self.strengths_px or any(not (math.isfinite(k) and k >= 0) for k in self.strengths_px):
            raise InvalidParameterError(
                f"DatasetConfig.strengths_px must be non-negative K values; got {self.strengths_px!r}")
        if not isinstance(self.focus_per_scene, int) or self.focus_per_scene < 1:
            raise InvalidParameterError(
                f"DatasetConfig.focus_per_scene must be an integer >= 1; got {self.focus_per_scene!r}")
        object.__setattr__(self, "strengths_px", tuple(float(k) for k in self.strengths_px))
        object.__setattr__(self, "gammas", tuple(float(g) for g in self.gammas))

    @property
    def margin(self) -> int:
        # Twice K: slanted planes (the floor) extend beyond the canvas past [0, 1] disparity, so a ray from
        # a border pixel can reach farther than K px.
        return 2 * int(math.ceil(max(self.strengths_px))) + 2

    @property
    def settings_per_scene(self) -> int:
        return len(self.strengths_px) * self.focus_per_scene


@dataclass(frozen=True, eq=False)
class SceneSample:
    """One scene traced at all its settings (see the module docstring for the array layouts)."""

    seed: int
    disparity: np.ndarray = field(repr=False)
    all_in_focus_linear: np.ndarray = field(repr=False)
    bokeh_linear: np.ndarray = field(repr=False)
    strength_px: np.ndarray = field(repr=False)
    focus_disparity: np.ndarray = field(repr=False)


def scene_settings(config: DatasetConfig, seed: int, disparity: np.ndarray) -> list[tuple[float, float]]:
    """The (K, d_f) settings of scene ``seed``: every K with focus disparities drawn from the scene."""
    rng = np.random.default_rng(scene_rng(seed, config.split).integers(0, 2**63 - 1) ^ 0x666F637573)
    lo, hi = float(disparity.min()), float(disparity.max())
    focus = rng.uniform(lo, hi, size=config.focus_per_scene)
    return [(k, float(f)) for k in config.strengths_px for f in focus]


def make_sample(config: DatasetConfig, seed: int) -> SceneSample:
    """Generate and trace scene ``seed`` of ``config`` (deterministic)."""
    scene = make_scene(seed, config.split, config.size, config.size, margin=config.margin)
    aperture = Aperture(blades=config.blades)
    bokeh = []
    base = trace_all_in_focus(scene, config.gammas)
    settings = scene_settings(config, seed, base.disparity)
    for strength, focus in settings:
        gt = trace_defocus(scene, strength_px=strength, focus_disparity=focus, aperture=aperture,
                           gammas=config.gammas, cell_px=config.cell_px)
        bokeh.append(gt.bokeh_linear)
    return SceneSample(int(seed), base.disparity, base.all_in_focus_linear, np.stack(bokeh),
                       np.array([s[0] for s in settings], np.float32), np.array([s[1] for s in settings], np.float32))


_README = """# lensblur synthetic bokeh dataset

Written by `lensblur synth` (lensblur.synth.write_dataset); `dataset.json` holds the config and the
seeds. Regenerate any sample bit-for-bit with `lensblur.synth.make_sample(config, seed)`.

* `shard-NNNNN.npz`: numpy archives of up to `shard_size` scenes each:
  - `seed (S,)` int64: scene seeds (`make_scene(seed, split, size, size)`).
  - `disparity (S, H, W)` float32: disparity of the front-most layer, in [0, 1], 1 = nearest.
  - `all_in_focus_linear (S, G, H, W, 3)` float16: pinhole image, sum of alpha * D^gamma per gamma.
  - `bokeh_linear (S, T, G, H, W, 3)` float16: ray-traced thin-lens defocus, same encoding.
  - `strength_px (S, T)`, `focus_disparity (S, T)` float32: BokehMe's K and d_f of each setting.
* Display images: `clip(linear ** (1 / gamma), 0, 1)`; the network input of a sample at gamma g is the
  display all-in-focus image, its target the display bokeh image.
* Disparity convention: r = K * (d - d_f) px; r > 0 in front of the focal plane.
"""


def write_dataset(out_dir: str | os.PathLike, config: DatasetConfig, *, count: int, seed_start: int = 0,
                  shard_size: int = 8, overwrite: bool = False, progress=None) -> Path:
    """Generate ``count`` scenes (seeds ``seed_start ...``) into ``out_dir`` as shards, atomically per file.

    Refuses to write into a folder that already holds a dataset unless ``overwrite`` is true.
    """
    out = Path(out_dir)
    if not isinstance(count, int) or count < 1:
        raise InvalidParameterError(f"count must be an integer >= 1; got {count!r}")
    if not isinstance(shard_size, int) or shard_size < 1:
        raise InvalidParameterError(f"shard_size must be an integer >= 1; got {shard_size!r}")
    if not isinstance(seed_start, int) or seed_start < 0:
        raise InvalidParameterError(f"seed_start must be a non-negative integer; got {seed_start!r}")
    if (out / "dataset.json").exists() and not overwrite:
        raise OutputExistsError(f"{out} already holds a dataset (dataset.json); pass "
                                f"{hint('overwrite=True', '--overwrite')} or choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(seed_start, seed_start + count))
    shards = []
    for first in range(0, count, shard_size):
        chunk = [make_sample(config, seed) for seed in seeds[first:first + shard_size]]
        name = f"shard-{first // shard_size:05d}.npz"
        _atomic_npz(out / name, {
            "seed": np.array([s.seed for s in chunk], np.int64),
            "disparity": np.stack([s.disparity for s in chunk]).astype(np.float32),
            "all_in_focus_linear": np.stack([s.all_in_focus_linear for s in chunk]).astype(np.float16),
            "bokeh_linear": np.stack([s.bokeh_linear for s in chunk]).astype(np.float16),
            "strength_px": np.stack([s.strength_px for s in chunk]),
            "focus_disparity": np.stack([s.focus_disparity for s in chunk]),
        })
        shards.append({"file": name, "seeds": [s.seed for s in chunk]})
        if progress is not None:
            progress(len(chunk))
    meta = {"format_version": FORMAT_VERSION, "config": asdict(config), "count": count,
            "seed_start": seed_start, "shard_size": shard_size, "shards": shards}
    atomic_write_bytes(out / "dataset.json", json.dumps(meta, indent=1).encode())
    atomic_write_bytes(out / "README.md", _README.encode())
    return out


def _atomic_npz(path: Path, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _item(sample: SceneSample, gammas: tuple[float, ...], t: int, g: int) -> dict:
    gamma = gammas[g]

    def display(linear):
        return torch.from_numpy(np.clip(np.maximum(linear.astype(np.float32), 0) ** (1 / gamma), 0, 1)).permute(2, 0, 1)

    return {
        "image": display(sample.all_in_focus_linear[g]),
        "disparity": torch.from_numpy(sample.disparity.astype(np.float32))[None],
        "target": display(sample.bokeh_linear[t, g]),
        "strength_px": float(sample.strength_px[t]),
        "focus_disparity": float(sample.focus_disparity[t]),
        "gamma": float(gamma),
        "seed": int(sample.seed),
    }


class _Items(torch.utils.data.Dataset):
    """Index i -> (scene i // (T·G), setting, gamma): one training pair per bokeh image, as BokehMe trains."""

    config: DatasetConfig
    n_scenes: int

    def __len__(self) -> int:
        return self.n_scenes * self.config.settings_per_scene * len(self.config.gammas)

    def _split_index(self, index: int) -> tuple[int, int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} items")
        per_scene = self.config.settings_per_scene * len(self.config.gammas)
        scene, rest = divmod(index, per_scene)
        t, g = divmod(rest, len(self.config.gammas))
        return scene, t, g


class SyntheticBokehDataset(_Items):
    """A torch-style dataset that generates and traces its scenes on the fly (one scene cached).

    Items are dicts: ``image (3, H, W)`` display all-in-focus, ``disparity (1, H, W)``, ``target (3, H, W)``
    display bokeh, and the floats ``strength_px``, ``focus_disparity``, ``gamma`` plus the ``seed``.
    """

    def __init__(self, config: DatasetConfig, *, count: int, seed_start: int = 0) -> None:
        self.config, self.n_scenes, self.seed_start = config, count, seed_start
        self._cache: tuple[int, SceneSample] | None = None

    def sample(self, scene_index: int) -> SceneSample:
        if self._cache is None or self._cache[0] != scene_index:
            self._cache = (scene_index, make_sample(self.config, self.seed_start + scene_index))
        return self._cache[1]

    def __getitem__(self, index: int) -> dict:
        scene, t, g = self._split_index(index)
        return _item(self.sample(scene), self.config.gammas, t, g)


class ShardDataset(_Items):
    """The same items read from a folder written by ``write_dataset`` (one shard cached)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        meta_path = self.folder / "dataset.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{self.folder} holds no dataset.json; write one with `lensblur synth`")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise InvalidParameterError(
                f"{meta_path} has format_version {meta.get('format_version')!r}; this lensblur reads {FORMAT_VERSION}")
        cfg = dict(meta["config"])
        cfg["strengths_px"] = tuple(cfg["strengths_px"])
        cfg["gammas"] = tuple(cfg["gammas"])
        self.config = DatasetConfig(**cfg)
        self.n_scenes = meta["count"]
        self.shard_size = meta["shard_size"]
        self._shards = meta["shards"]
        self._cache: tuple[int, dict] | None = None

    def sample(self, scene_index: int) -> SceneSample:
        shard, row = divmod(scene_index, self.shard_size)
        if self._cache is None or self._cache[0] != shard:
            with np.load(self.folder / self._shards[shard]["file"]) as data:
                self._cache = (shard, {k: data[k] for k in data.files})
        d = self._cache[1]
        return SceneSample(int(d["seed"][row]), d["disparity"][row], d["all_in_focus_linear"][row],
                           d["bokeh_linear"][row], d["strength_px"][row], d["focus_disparity"][row])

    def __getitem__(self, index: int) -> dict:
        scene, t, g = self._split_index(index)
        return _item(self.sample(scene), self.config.gammas, t, g)
