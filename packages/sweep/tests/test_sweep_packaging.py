"""The distribution: a command plugin found through its entry point, cheap to load, namespace intact, doctests."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import recosim.sweep
from recosim.core.cli import build_parser
from recosim.core.plugins import get_plugins

PACKAGE = Path(__file__).resolve().parents[1]


def test_sweep_command_comes_from_the_entry_point_of_this_distribution():
    reg = get_plugins().lookup("commands", "sweep")
    assert (reg.plugin, reg.distribution) == ("sweep", "recosim-sweep")
    args = build_parser().parse_args(["sweep", "counting", "--seeds", "2"])
    assert type(args._func).__name__ == "SweepCommand" and args.seeds == 2


def test_loading_the_command_imports_no_heavy_library():
    code = ("import sys; from recosim.core.cli import build_parser; build_parser();"
            "import recosim.sweep, recosim.sweep.local, recosim.sweep.task;"
            "heavy = sorted(m for m in ('pyarrow', 'matplotlib', 'ray', 'pandas') if m in sys.modules);"
            "print(heavy); sys.exit(1 if heavy else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_no_namespace_init_and_every_dependency_declared():
    assert not (PACKAGE / "src" / "recosim" / "__init__.py").exists()
    text = (PACKAGE / "pyproject.toml").read_text()
    for dep in ("recosim-core", "pyarrow", "matplotlib", "numpy", 'ray = ["ray'):
        assert dep in text


MODULES = sorted(m.name for m in pkgutil.walk_packages(recosim.sweep.__path__, "recosim.sweep."))


@pytest.mark.parametrize("name", ["recosim.sweep", *MODULES])
def test_doctests(name):
    if name == "recosim.sweep.ray_backend":
        pytest.importorskip("ray")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
