"""The examples in the framework-free modules' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "recosim.inference",
    "recosim.inference.api",
    "recosim.inference.options",
    "recosim.inference.problem",
    "recosim.inference.examples",
    "recosim.inference.policy",
    "recosim.inference.results",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
