"""Run-time fixes that let RecSim NG 0.1.2 run on today's stack, for side-by-side timing.

RecSim NG's last release (0.1.2, 2022) predates numpy 2, SciPy 1.11, gym 0.26's
stricter spaces and Keras 3. Nothing here edits the installed package: each fix
is applied in the benchmark's own process, before RecSim NG is imported, and
changes as little as the failure needs.

=====================  ===============================================================
breakage               fix
=====================  ===============================================================
Keras 3                TensorFlow 2.16+ ships Keras 3, whose layers hide the
                       recommender's trainable variables from
                       ``entity.story_with_trainable_variables`` (0 found), so the
                       interest-evolution policy cannot be trained. Setting
                       ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported makes
                       ``tf.keras`` the tf-keras 2 package (which must be installed).
edward2 0.0.2          ``import edward2`` wraps the ``rvs`` of every ``scipy.stats``
                       distribution; SciPy >= 1.11's ``dirichlet_multinomial`` has
                       none, so the import fails. Its class gets an ``rvs`` that
                       raises (SciPy cannot sample it either).
numpy 2                ``np.Inf`` was removed; RecSim NG uses it in every space and
                       mask. It is restored as an alias of ``np.inf``.
gym 0.26               ``gym.spaces.Box`` asserts that every shape entry is a Python
                       int; RecSim NG's state models pass TensorFlow scalars. ``Box``
                       is given the shape converted with ``int()`` first.
=====================  ===============================================================

>>> applied = apply()          # doctest: +SKIP
>>> sorted(applied)            # doctest: +SKIP
['edward2-scipy', 'gym-box-shape', 'keras-legacy', 'numpy-inf']
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

__all__ = ["apply", "check_keras", "FIXES"]

FIXES = ("keras-legacy", "edward2-scipy", "numpy-inf", "gym-box-shape")


class PatchError(RuntimeError):
    """A fix could not be applied; the message says which and why."""


def _keras_legacy() -> bool:
    if os.environ.get("TF_USE_LEGACY_KERAS") == "1":
        return False
    if "tensorflow" in sys.modules:
        raise PatchError(
            "TF_USE_LEGACY_KERAS=1 must be set before TensorFlow is imported; "
            "apply the RecSim NG patches first thing in the process"
        )
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    return True


def _edward2_scipy() -> bool:
    import scipy.stats

    dist = getattr(scipy.stats, "dirichlet_multinomial", None)
    if dist is None or callable(getattr(dist, "rvs", None)):
        return False

    def rvs(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("scipy.stats.dirichlet_multinomial cannot be sampled")

    type(dist).rvs = rvs
    return True


def _numpy_inf() -> bool:
    import numpy as np

    if "Inf" in np.__dict__:
        return False
    np.Inf = np.inf  # type: ignore[attr-defined]
    return True


def _gym_box_shape() -> bool:
    import gym.spaces

    box = gym.spaces.Box
    if getattr(box.__init__, "_int_shapes", False):
        return False
    original = box.__init__

    @functools.wraps(original)
    def init(self: Any, low: Any, high: Any, shape: Any = None, *args: Any, **kwargs: Any) -> None:
        if shape is not None:
            shape = tuple(int(s) for s in shape)
        original(self, low, high, shape, *args, **kwargs)

    init._int_shapes = True  # type: ignore[attr-defined]
    box.__init__ = init
    return True


_APPLY = {
    "keras-legacy": _keras_legacy,
    "edward2-scipy": _edward2_scipy,
    "numpy-inf": _numpy_inf,
    "gym-box-shape": _gym_box_shape,
}


def apply() -> list[str]:
    """Apply every fix that this process still needs; return the names of those applied now.

    Call it before anything imports TensorFlow or RecSim NG. Calling it again is harmless.
    """
    applied = []
    for name in FIXES:
        try:
            if _APPLY[name]():
                applied.append(name)
        except ImportError as err:
            raise PatchError(f"RecSim NG fix {name!r} needs a package that is not installed: {err}") from err
    return applied


def check_keras(trainable_variables: Any, where: str) -> None:
    """Fail clearly when Keras 3 has hidden a model's trainable variables."""
    if not list(trainable_variables):
        import tensorflow as tf

        raise PatchError(
            f"{where}: RecSim NG found no trainable variables (tf.keras is {tf.keras.__name__} "
            f"{getattr(tf.keras, '__version__', '?')}); install tf-keras and set TF_USE_LEGACY_KERAS=1 "
            "before TensorFlow is imported"
        )
