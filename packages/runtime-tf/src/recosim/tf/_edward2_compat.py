"""Import Edward2 0.0.2 on current SciPy.

Edward2 0.0.2 (its last release) wraps the ``rvs`` method of every distribution
that ``scipy.stats`` exports when ``edward2.numpy`` is imported. SciPy 1.11 added
``scipy.stats.dirichlet_multinomial``, which has no ``rvs``, so ``import edward2``
fails with ``AttributeError``. :func:`import_edward2` gives that SciPy class a
placeholder ``rvs`` that raises `NotImplementedError` (SciPy itself cannot sample
from it either) and then imports Edward2. Nothing else in SciPy is touched, and
a SciPy that already has the method is left alone.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["import_edward2", "patch_scipy_for_edward2", "PATCHED_DISTRIBUTIONS"]

PATCHED_DISTRIBUTIONS: tuple[str, ...] = ("dirichlet_multinomial",)
"""The ``scipy.stats`` distributions that lack ``rvs`` and receive a placeholder."""


def _placeholder_rvs(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError(
        f"scipy.stats.{type(self).__name__.removesuffix('_gen')} has no sampler; "
        "recosim gave it this placeholder only so that edward2 can be imported"
    )


def patch_scipy_for_edward2() -> list[str]:
    """Give the ``scipy.stats`` distributions that lack ``rvs`` a placeholder; return their names."""
    import scipy.stats

    patched = []
    for name in PATCHED_DISTRIBUTIONS:
        dist = getattr(scipy.stats, name, None)
        if dist is None or callable(getattr(dist, "rvs", None)):
            continue
        type(dist).rvs = _placeholder_rvs  # type: ignore[attr-defined]
        patched.append(name)
    return patched


def import_edward2() -> ModuleType:
    """``import edward2`` after :func:`patch_scipy_for_edward2`; return the module."""
    patch_scipy_for_edward2()
    try:
        return importlib.import_module("edward2")
    except Exception as err:
        raise ImportError(
            f"recosim-runtime-tf could not import edward2 ({type(err).__name__}: {err}); "
            "it needs edward2==0.0.2 with tensorflow and tensorflow-probability installed"
        ) from err
