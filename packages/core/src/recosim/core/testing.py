"""Helpers for testing blocks and models on every installed runtime.

Use :func:`runtime_names` to parametrise a test over runtimes, and
:func:`run_block` to evaluate a behaviour through a real runtime (compiled on TF
and JAX) and get NumPy arrays back.

>>> out = run_block("numpy", lambda: Value(x=get_backend().np.ones(2, dtype="float32")))
>>> out["x"].tolist()
[[1.0, 1.0]]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.backend import get_backend, numpy_backend, using_backend
from recosim.core.plugins import get_plugins
from recosim.core.random import realize
from recosim.core.random import seed as seed_handler
from recosim.core.value import FieldSpec, Value, ValueSpec
from recosim.core.variable import Variable, value

__all__ = [
    "runtime_names",
    "run_block",
    "to_numpy",
    "make_runtime_for",
    "framework_session",
    "keep_runtime_tests",
    "under",
]


def runtime_names() -> list[str]:
    """Runtimes whose framework imports here (``RECOSIM_TEST_RUNTIMES=numpy,jax`` restricts them)."""
    wanted = os.environ.get("RECOSIM_TEST_RUNTIMES")
    names = []
    for name in get_plugins().runtime_names():
        if wanted and name not in wanted.split(","):
            continue
        try:
            get_plugins().get_runtime(name)
        except Exception:
            continue
        names.append(name)
    return names


def framework_session() -> bool:
    """Whether ``RECOSIM_TEST_RUNTIMES`` selects framework runtimes only (a TF or JAX test session).

    Such a session repeats a suite that a NumPy session also runs; what does not run on
    a selected runtime was tested there already.
    """
    wanted = os.environ.get("RECOSIM_TEST_RUNTIMES") or ""
    return bool(wanted) and "numpy" not in wanted.split(",")


def under(item: Any, folder: str | os.PathLike[str]) -> bool:
    """Whether the collected test ``item`` lives in ``folder`` (or below it).

    A conftest's ``pytest_collection_modifyitems`` hook sees every item of the run,
    those of other packages' suites too when one pytest run collects several:
    a suite's hook acts only on the items ``under`` its own folder.
    """
    return Path(str(item.path)).resolve().is_relative_to(Path(folder).resolve())


def keep_runtime_tests(items: list[Any], config: Any, folder: str | os.PathLike[str] | None = None) -> None:
    """Deselect, in a `framework_session`, the collected tests that run on no selected runtime.

    Call it from a suite's ``pytest_collection_modifyitems`` hook, with the suite's
    folder (``Path(__file__).parent``): only the items there are considered. A test
    is kept when it takes a ``runtime`` argument (fixture or parameter) or carries
    the ``every_session`` marker (a test that reads which runtimes are installed);
    the rest ran in the suite's NumPy session and would only repeat themselves.
    """
    if not framework_session():
        return
    keep: list[Any] = []
    drop: list[Any] = []
    for item in items:
        runs_on_runtime = "runtime" in getattr(item, "fixturenames", ())
        mine = folder is None or under(item, folder)
        (keep if not mine or runs_on_runtime or item.get_closest_marker("every_session") else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def to_numpy(tree: Any) -> Any:
    """Convert a network value / Value / array of any backend to NumPy, recursively."""
    if isinstance(tree, Value):
        return {k: np.asarray(v) for k, v in tree.items()}
    if isinstance(tree, Mapping):
        return {k: to_numpy(v) for k, v in tree.items()}
    return np.asarray(tree)


def make_runtime_for(runtime: str, variables: Sequence[Variable], seed: int = 0, **kwargs: Any) -> Any:
    """Instantiate runtime ``runtime`` on ``variables``."""
    return get_plugins().get_runtime(runtime)(variables, seed=seed, **kwargs)


def run_block(
    runtime: str,
    initial: Callable[[], Mapping[str, Any]],
    transition: Callable[[Value], Mapping[str, Any]] | None = None,
    *,
    length: int = 1,
    seed: int = 0,
    spec: ValueSpec | None = None,
) -> dict[str, np.ndarray]:
    """Run ``initial`` (and ``transition`` from the previous value) as one variable.

    Returns the trajectory's fields as NumPy arrays with a leading time axis of
    ``length``. The spec is discovered by a NumPy dry run unless given.
    """
    if spec is None:
        B = numpy_backend()
        with using_backend(B), seed_handler(B.make_seed(seed), B):
            probe = realize(initial())
        spec = ValueSpec({k: FieldSpec() for k in probe})
    var = Variable("block", spec)
    var.initial_value = value(lambda: initial())
    if transition is not None:
        var.value = value(lambda prev: transition(prev), (var.previous,))
    traj = make_runtime_for(runtime, [var], seed=seed).trajectory(length)
    return to_numpy(traj["block"])


get_backend = get_backend  # re-exported for doctests and tests
