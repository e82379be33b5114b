"""Which of the use cases' tests a session collects, and on which runtimes.

A test that runs a model on a runtime says so: a ``runtime`` parameter, or the
``needs_runtime("jax")`` mark for a test written for one runtime (it skips where
that runtime does not import). A session restricted to compiled runtimes
(``RECOSIM_TEST_RUNTIMES=tf``, as in the ``tests(tf)`` and ``tests(jax)`` nox
sessions) collects only the tests that run a model on one of them; the tests of
options, files and summaries that involve no runtime run once, where NumPy is
among the runtimes (the ``tests(usecases)`` session).

The runtime rule. A use case is a composition of library blocks, and each block is
tested on every runtime in the library's suites. So a runtime-parametrised use-case
test runs on NumPy and JAX only (the reference runtime and one compiled runtime),
unless it carries the ``every_runtime`` mark declared here: each use case keeps one
cheap test so marked, which runs its model end to end on every runtime, TF included.
"""

import os
from pathlib import Path

import pytest

from recosim.core.testing import runtime_names, under

EVERY_RUNTIME = "every_runtime"
# the runtimes an unmarked runtime-parametrised test runs on
DEFAULT_RUNTIMES = ("numpy", "jax")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{EVERY_RUNTIME}: this use-case test runs on every runtime (TF too); an unmarked test that takes a "
        f"runtime runs on {' and '.join(DEFAULT_RUNTIMES)} only",
    )


def _runtime_of(item: pytest.Item) -> object:
    mark = item.get_closest_marker("needs_runtime")
    if mark is not None:
        return str(mark.args[0])
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("runtime")


def _runs_here(item: pytest.Item, runtime: str | None, wanted: list[str] | None) -> bool:
    restricted = wanted is not None and "numpy" not in wanted
    if restricted and runtime not in wanted:  # a TF or JAX session: only what runs on its runtime
        return False
    if not isinstance(runtime, str) or runtime in DEFAULT_RUNTIMES:  # no runtime, or an empty parameter list
        return True
    return item.get_closest_marker(EVERY_RUNTIME) is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    env = os.environ.get("RECOSIM_TEST_RUNTIMES")
    wanted = env.split(",") if env else None
    keep, drop = [], []
    here = Path(__file__).parent
    for item in items:
        if not under(item, here):  # another suite's test, in a run that collects several
            keep.append(item)
            continue
        runtime = _runtime_of(item)
        if item.get_closest_marker("needs_runtime") is not None and runtime not in runtime_names():
            item.add_marker(pytest.mark.skip(reason=f"needs the {runtime} runtime"))
        (keep if _runs_here(item, runtime, wanted) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
