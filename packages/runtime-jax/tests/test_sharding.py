"""Population sharding's options and layouts (the run over 4 host devices, in a process of its own, is in
test_distributed.py)."""

from __future__ import annotations

import re

import pytest

from recosim.core.errors import UsageError
from recosim.jax.sharding import ENV_VAR, as_population_sharding, from_environment, population_sharding


def test_bad_sharding_options_are_refused_naming_the_option():
    with pytest.raises(ValueError, match="population of 10 does not split evenly over"):
        population_sharding(10, devices=[object(), object(), object()])
    with pytest.raises(ValueError, match="devices=99"):
        population_sharding(8, devices=99)
    with pytest.raises(ValueError, match="population must be a positive int"):
        population_sharding(0)
    with pytest.raises(TypeError, match="shard: expected"):
        as_population_sharding(4)


def test_only_population_long_leading_axes_are_split():
    from jax.sharding import PartitionSpec

    spec = population_sharding(6, devices=1)
    assert spec.sharding_for((6, 2)).spec == PartitionSpec("population")
    assert spec.sharding_for((2, 6)).spec == PartitionSpec() and spec.sharding_for(()).spec == PartitionSpec()


def test_the_environment_variable_is_read_only_when_set_and_checked_naming_the_option(monkeypatch):
    assert from_environment({}) is None and from_environment({ENV_VAR: " "}) is None
    spec = from_environment({ENV_VAR: "population=6, devices=1"})
    assert (spec.population, spec.devices) == (6, 1)
    monkeypatch.setenv(ENV_VAR, "devices=1,population=4")
    assert as_population_sharding(None).population == 4  # what a runtime built without shard= gets
    monkeypatch.delenv(ENV_VAR)
    assert as_population_sharding(None) is None
    bad = {
        "devices=4": "give both devices and population",
        "devices=2,devices=2,population=4": "expected 'devices=N,population=P'",
        "devices=x,population=4": "devices must be a positive integer, got 'x'",
        "devices=1,population=0": "population must be a positive integer, got 0",
        "devices=99,population=99": "--devices 99 (RECOSIM_SHARD=devices=99,population=99): only ",
    }
    for text, message in bad.items():
        with pytest.raises(UsageError, match=re.escape(message)):
            from_environment({ENV_VAR: text})
