"""The examples in the docstrings of the state modules run as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import recosim.library.state

MODULES = sorted(
    [
        recosim.library.state.__name__,
        *(m.name for m in pkgutil.iter_modules(recosim.library.state.__path__, recosim.library.state.__name__ + ".")),
    ]
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
