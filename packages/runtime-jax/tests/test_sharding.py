"""One simulation with its population split over 4 host devices equals the unsharded run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recosim.core.errors import UsageError
from recosim.jax.sharding import ENV_VAR, as_population_sharding, from_environment, population_sharding

TESTS = Path(__file__).parent

# A population of 8 drifting users and their mean (a sum across the population),
# run on 1 device and split over 4, in a process that sees 4 CPU devices.
CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    import jax
    import numpy as np
    from jax_models import drift_variables
    from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, value
    from recosim.jax.runtime import JaxRuntime

    def model():
        (chain,) = drift_variables(num_agents=8)
        mean = Variable("mean", ValueSpec(m=FieldSpec((), "float32")))
        average = lambda c: Value(m=get_backend().np.mean(c.get("x")))
        mean.initial_value = value(average, (chain,))
        mean.value = value(average, (chain,))
        return [chain, mean]

    assert len(jax.devices()) == 4, jax.devices()
    plain = JaxRuntime(model(), seed=5).trajectory(7)
    split = JaxRuntime(model(), seed=5, shard={{"population": 8, "devices": 4}}).trajectory(7)
    x = split["chain"].get("x")
    many = JaxRuntime(model(), seed=5, shard={{"population": 8, "devices": 4}}).run_many([1, 2], length=4)
    plain_many = JaxRuntime(model(), seed=5).run_many([1, 2], length=4)
    import os  # what `recosim run --devices 4` sets while a use case builds its runtimes
    os.environ["RECOSIM_SHARD"] = "devices=4,population=8"
    from_env = JaxRuntime(model(), seed=5).trajectory(7)["chain"].get("x")
    del os.environ["RECOSIM_SHARD"]
    print(json.dumps({{
        "x_equal": bool(np.array_equal(np.asarray(plain["chain"].get("x")), np.asarray(x))),
        "mean_gap": float(np.max(np.abs(np.asarray(plain["mean"].get("m")) - np.asarray(split["mean"].get("m"))))),
        "x_devices": len(x.sharding.device_set),
        "many_equal": bool(np.array_equal(np.asarray(plain_many["chain"].get("x")), np.asarray(many["chain"].get("x")))),
        "env_devices": len(from_env.sharding.device_set),
        "env_equal": bool(np.array_equal(np.asarray(plain["chain"].get("x")), np.asarray(from_env))),
    }}))
    """
)


@pytest.mark.devices
def test_four_host_devices_give_the_unsharded_numbers():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLA_FLAGS", "JAX_", "RECOSIM_SHARD"))}
    env |= {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    env["RECOSIM_COMPILE_CACHE"] = "off"
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(tests=str(TESTS))], env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["x_devices"] == 4  # the users' field really is split
    # per-user draws and updates do not depend on the layout: bit for bit
    assert got["x_equal"] and got["many_equal"]
    # the mean sums across devices in another order: equal to float32 rounding
    assert got["mean_gap"] <= 1e-6
    # RECOSIM_SHARD (set by `recosim run --devices`) splits a runtime built without shard= the same way
    assert got["env_devices"] == 4 and got["env_equal"]


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
