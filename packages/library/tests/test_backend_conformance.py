"""The backend contract on every installed backend: each declared operation matches NumPy (TFP's habit)."""

import pytest

from recosim.core.conformance import CASES, check_case
from recosim.core.plugins import get_plugins


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_backend_conforms(runtime, case):
    assert check_case(case, get_plugins().get_backend(runtime)) is None
