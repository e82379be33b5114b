"""The examples in the integrity modules' docstrings run as written."""

import doctest
import importlib

import pytest

MODULES = ["", ".model", ".grid", ".statistics", ".plots", ".learning", ".runner"]


@pytest.mark.parametrize("suffix", MODULES)
def test_docstring_examples(suffix):
    module = importlib.import_module("recosim.usecases.integrity" + suffix)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
