"""The backend contract is declared, fully exercised by the conformance suite, and all that blocks use.

The suite itself runs on every installed backend in the library's tests
(``test_backend_conformance.py``, parametrised over ``RECOSIM_TEST_RUNTIMES``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from recosim.core.backend import DISTRIBUTIONS, LINALG_FUNCTIONS, NUMPY_FUNCTIONS, OPERATIONS, Backend, NumpyBackend
from recosim.core.conformance import CASES, check_case, covered_names, declared_names

REPO = Path(__file__).resolve().parents[3]
BLOCK_SOURCES = [REPO / "packages" / "library" / "src", REPO / "packages" / "usecases" / "src", REPO / "examples"]
EXTRA_BACKEND_ATTRIBUTES = {"np", "tfd", "linalg", "name", "framework"}


def _is_backend(node: ast.AST, names: set[str]) -> bool:
    """``B``, a name bound to ``get_backend()``, a ``get_backend()`` call or ``self.backend``."""
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Call):
        func = node.func
        return (isinstance(func, ast.Name) and func.id in ("get_backend", "numpy_backend")) or (
            isinstance(func, ast.Attribute) and func.attr == "get_backend"
        )
    return isinstance(node, ast.Attribute) and node.attr == "backend"


def backend_uses(source: str) -> set[str]:
    """The contract names a module uses: ``np.sum`` for ``B.np.sum`` (or ``np_ = B.np; np_.sum``), ..."""
    tree = ast.parse(source)
    backends, namespaces = {"B"}, {"np_": "np"}
    assigns = [n for n in ast.walk(tree) if isinstance(n, ast.Assign) and len(n.targets) == 1]
    for node in assigns:
        if isinstance(node.targets[0], ast.Name) and _is_backend(node.value, backends):
            backends.add(node.targets[0].id)
    for node in assigns:
        value = node.value
        if isinstance(node.targets[0], ast.Name) and isinstance(value, ast.Attribute):
            if value.attr in ("np", "tfd", "linalg") and _is_backend(value.value, backends):
                namespaces[node.targets[0].id] = value.attr
    used = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        inner = node.value
        if isinstance(inner, ast.Name) and inner.id in namespaces:
            used.add(f"{namespaces[inner.id]}.{node.attr}")
        elif isinstance(inner, ast.Attribute) and inner.attr in ("np", "tfd", "linalg") and _is_backend(
            inner.value, backends
        ):
            used.add(f"{inner.attr}.{node.attr}")
        elif _is_backend(inner, backends) and node.attr not in EXTRA_BACKEND_ATTRIBUTES:
            used.add(f"op.{node.attr}")
    return used


def test_every_declared_operation_has_a_conformance_case():
    assert covered_names() == declared_names()
    assert all(hasattr(Backend, op) for op in OPERATIONS)
    assert {"sum", "where", "take_along_axis"} <= NUMPY_FUNCTIONS and "Categorical" in DISTRIBUTIONS
    assert LINALG_FUNCTIONS == {"inv", "solve", "cholesky", "det", "slogdet"}


def test_blocks_use_only_the_declared_contract():
    used: dict[str, set[str]] = {}
    for root in BLOCK_SOURCES:
        for path in sorted(root.rglob("*.py")):
            for name in backend_uses(path.read_text()):
                used.setdefault(name, set()).add(str(path.relative_to(REPO)))
    assert {"np.sum", "tfd.Categorical", "op.top_k"} <= set(used)  # the scan sees the library
    undeclared = {name: sorted(files) for name, files in used.items() if name not in declared_names()}
    assert not undeclared, f"backend operations used but not declared in recosim.core.backend: {undeclared}"


class _SumPlusOne:
    """``numpy`` with a ``sum`` that is off by one."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return np.sum(x, axis=axis, keepdims=keepdims) + 1.0


class _WrongSum(NumpyBackend):
    @property
    def np(self):
        return _SumPlusOne()


def test_the_scan_and_the_suite_can_fail():
    source = "def f():\n    B = get_backend()\n    np_ = B.np\n    return np_.fft(B.tfd.Zipf(1.0)), B.gather(x)\n"
    assert backend_uses(source) == {"np.fft", "tfd.Zipf", "op.gather"}
    (case,) = [c for c in CASES if c.name == "np.sum"]
    problem = check_case(case, _WrongSum())
    assert problem is not None and "np.sum[out] on numpy" in problem and "where NumPy gives" in problem


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(st.integers(0, 3), min_size=6, max_size=6), min_size=1, max_size=4),
    k=st.integers(1, 6),
)
def test_numpy_top_k_breaks_ties_by_the_lower_index(rows, k):
    x = np.asarray(rows, np.float32)  # few distinct values: many ties, also across the k-th place
    values, indices = NumpyBackend().top_k(x, k)
    expected = np.argsort(-x, axis=-1, kind="stable")[:, :k]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_array_equal(values, np.take_along_axis(x, expected, axis=-1))
