"""Which of the use cases' tests a session collects.

A test that runs a model on a runtime says so: a ``runtime`` parameter, or the
``needs_runtime("jax")`` mark for a test written for one runtime (it skips where
that runtime does not import). A session restricted to compiled runtimes
(``RECOSIM_TEST_RUNTIMES=tf``, as in the ``tests(tf)`` and ``tests(jax)`` nox
sessions) collects only the tests that run a model on one of them; the tests of
options, files and summaries that involve no runtime run once, where NumPy is
among the runtimes (the ``tests(usecases)`` session).
"""

import os

import pytest

from recosim.core.testing import runtime_names


def _runtime_of(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("needs_runtime")
    if mark is not None:
        return str(mark.args[0])
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("runtime")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = os.environ.get("RECOSIM_TEST_RUNTIMES")
    restricted = bool(wanted) and "numpy" not in wanted.split(",")
    keep, drop = [], []
    for item in items:
        runtime = _runtime_of(item)
        mark = item.get_closest_marker("needs_runtime")
        if mark is not None and runtime not in runtime_names():
            item.add_marker(pytest.mark.skip(reason=f"needs the {runtime} runtime"))
        (drop if restricted and runtime not in wanted.split(",") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
