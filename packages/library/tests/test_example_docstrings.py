"""The examples in the docstrings of the bandits, entities and stories modules run as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import recosim.library.bandits
import recosim.library.entities
import recosim.library.stories

MODULES = sorted(
    name
    for package in (recosim.library.bandits, recosim.library.entities, recosim.library.stories)
    for name in [package.__name__, *(m.name for m in pkgutil.iter_modules(package.__path__, package.__name__ + "."))]
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
