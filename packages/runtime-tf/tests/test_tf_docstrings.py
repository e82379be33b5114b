import doctest
import importlib

import pytest

MODULES = [
    "recosim.tf.backend",
    "recosim.tf.runtime",
    "recosim.tf.tracing",
    "recosim.tf.log_probability",
    "recosim.tf.trainable",
    "recosim.tf.distribute",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
