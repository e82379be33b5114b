"""Package-level guarantees: no framework imports, the PEP 420 namespace, doctests."""

import doctest
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import recosim.core

REPO = Path(__file__).resolve().parents[3]


def test_core_import_leaves_frameworks_out():
    code = ("import sys, recosim.core, recosim.core.cli, recosim.core.testing;"
            "from recosim.core.examples import random_walk_variables;"
            "from recosim.core import NumpyRuntime;"
            "NumpyRuntime(random_walk_variables(2), seed=0).trajectory(3);"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'jax', 'edward2'));"
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_no_distribution_ships_the_namespace_init():
    offenders = sorted(str(p.relative_to(REPO)) for p in REPO.glob("packages/*/src/recosim/__init__.py"))
    assert offenders == []
    assert not hasattr(sys.modules["recosim"], "__file__") or sys.modules["recosim"].__file__ is None


MODULES = sorted(m.name for m in pkgutil.walk_packages(recosim.core.__path__, "recosim.core."))


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0

