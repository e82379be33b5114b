"""The examples in the package's docstrings run as written."""

import doctest
import importlib
import pkgutil

import pytest

import recosim.gym

MODULES = ["recosim.gym", *(m.name for m in pkgutil.iter_modules(recosim.gym.__path__, "recosim.gym."))]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
