"""The examples in the docstrings of the choice modules run as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import recosim.library.choice

MODULES = sorted(
    [
        recosim.library.choice.__name__,
        *(m.name for m in pkgutil.iter_modules(recosim.library.choice.__path__, recosim.library.choice.__name__ + ".")),
    ]
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
