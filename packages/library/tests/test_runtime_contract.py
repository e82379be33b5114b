"""Contract every runtime keeps: compiled runtimes refuse handlers opened around a call."""

import pytest

from recosim.core import RandomVariableError
from recosim.core.examples import random_walk_variables
from recosim.core.random import substitute
from recosim.core.testing import make_runtime_for, runtime_names

COMPILED = [r for r in runtime_names() if r != "numpy"]


@pytest.mark.parametrize("runtime", COMPILED)
def test_compiled_runtimes_refuse_outer_handlers(runtime):
    rt = make_runtime_for(runtime, random_walk_variables(2), seed=0)
    with (
        substitute({"walk/position": 0.0}),
        pytest.raises(RandomVariableError, match="inside the handler\\(s\\) substitute"),
    ):
        rt.trajectory(2)
    assert rt.trajectory(2)["walk"].get("position").shape == (2, 2)
