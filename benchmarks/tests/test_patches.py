"""The RecSim NG run-time fixes (run where the reference's dependencies are installed)."""

from __future__ import annotations

import sys

import pytest

gym = pytest.importorskip("gym")

import numpy as np  # noqa: E402
import recsim_ng_patches  # noqa: E402


def test_numpy_inf_and_gym_box_shapes_are_fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")
    recsim_ng_patches.apply()
    assert np.Inf == np.inf
    box = gym.spaces.Box(-np.Inf, np.Inf, shape=(np.int64(3), np.array(2)))  # framework scalars, not ints
    assert box.shape == (3, 2)
    assert recsim_ng_patches.apply() == []  # idempotent: nothing left to apply


def test_scipy_distribution_without_sampler_gets_one_that_refuses() -> None:
    import scipy.stats

    recsim_ng_patches.apply()
    with pytest.raises(NotImplementedError, match="dirichlet_multinomial"):
        scipy.stats.dirichlet_multinomial.rvs([1.0, 1.0], 3)


def test_legacy_keras_switch_refuses_once_tensorflow_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    with pytest.raises(recsim_ng_patches.PatchError, match="before TensorFlow is imported"):
        recsim_ng_patches.apply()
