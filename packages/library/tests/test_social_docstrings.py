"""The examples in the docstrings of the social modules run as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import recosim.library.social

MODULES = sorted(
    [
        recosim.library.social.__name__,
        *(m.name for m in pkgutil.iter_modules(recosim.library.social.__path__, recosim.library.social.__name__ + ".")),
    ]
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
    assert result.attempted > 0 or name == recosim.library.social.__name__  # every module shows an example
