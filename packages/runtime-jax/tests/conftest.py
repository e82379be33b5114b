"""Fixtures of the JAX runtime tests."""

import pytest
from jax_models import drift_variables


@pytest.fixture
def drift():
    return drift_variables
