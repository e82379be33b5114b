"""One population over several host devices: split over 4 devices of one process, and over two processes.

A process alone with 4 host devices runs a population of 8 users unsharded and
split over its devices (`JaxRuntime` with ``shard=``, and ``RECOSIM_SHARD``), then
`run_sharded` on it. Two more processes on localhost, two host devices each, are
started with ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and
``JAX_PROCESS_ID`` (`recosim.jax.distributed.initialize` reads them) and run the
same `run_sharded` call over the 4 devices of the two: they must gather the
numbers of the single process. One process serves both checks (a process and its
compilations cost seconds).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from recosim.jax.distributed import cpu_collectives_available, initialize

TESTS = Path(__file__).parent

# The model both scripts run (pasted into each): a drifting chain of 8 agents and its mean.
MODEL = textwrap.dedent(
    """
    def model():
        (chain,) = drift_variables(num_agents=8)
        mean = Variable("mean", ValueSpec(m=FieldSpec((), "float32")))
        average = lambda c: Value(m=get_backend().np.mean(c.get("x")))
        mean.initial_value = value(average, (chain,))
        mean.value = value(average, (chain,))
        return [chain, mean]
    """
)

CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from recosim.jax.distributed import initialize, run_sharded
    cluster = initialize(timeout_s=120)
    from jax_models import drift_variables
    from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, value

    {model}

    out = run_sharded(model(), 6, population=8, seed=5)
    print("RESULT" + json.dumps({{
        "process": cluster.process_id, "processes": cluster.num_processes,
        "devices": cluster.devices, "local_devices": cluster.local_devices,
        "x": out["chain"].get("x").tolist(), "m": out["mean"].get("m").tolist(),
    }}))
    """
)

# The process alone with 4 host devices: a runtime's own sharding against the unsharded run
# (printed as SHARDING), then the cluster's call above as a cluster of one.
ALONE = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, {tests!r})
    from recosim.jax.distributed import initialize
    initialize()  # no cluster described: a single process, nothing started
    import jax
    import numpy as np
    from jax_models import drift_variables
    from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, value
    from recosim.jax.runtime import JaxRuntime

    {model}

    assert len(jax.devices()) == 4, jax.devices()
    plain = JaxRuntime(model(), seed=5).trajectory(7)
    split = JaxRuntime(model(), seed=5, shard={{"population": 8, "devices": 4}}).trajectory(7)
    x = split["chain"].get("x")
    many = JaxRuntime(model(), seed=5, shard={{"population": 8, "devices": 4}}).run_many([1, 2], length=4)
    plain_many = JaxRuntime(model(), seed=5).run_many([1, 2], length=4)
    # what `recosim run --devices 4` sets while a use case builds its runtimes
    os.environ["RECOSIM_SHARD"] = "devices=4,population=8"
    from_env = JaxRuntime(model(), seed=5).trajectory(7)["chain"].get("x")
    del os.environ["RECOSIM_SHARD"]
    print("SHARDING" + json.dumps({{
        "x_equal": bool(np.array_equal(np.asarray(plain["chain"].get("x")), np.asarray(x))),
        "mean_gap": float(np.max(np.abs(np.asarray(plain["mean"].get("m")) - np.asarray(split["mean"].get("m"))))),
        "x_devices": len(x.sharding.device_set),
        "many_equal": bool(np.array_equal(np.asarray(plain_many["chain"].get("x")), np.asarray(many["chain"].get("x")))),
        "env_devices": len(from_env.sharding.device_set),
        "env_equal": bool(np.array_equal(np.asarray(plain["chain"].get("x")), np.asarray(from_env))),
    }}))
    """
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(devices: int, **cluster: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLA_FLAGS", "JAX_", "RECOSIM_SHARD"))}
    env |= {"XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    env |= {"RECOSIM_COMPILE_CACHE": "off", **cluster}
    return env


def _output(proc: subprocess.Popen, what: str) -> str:
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{what} did not finish in 240 s:\n{err[-2000:]}")
    assert proc.returncode == 0, f"{what} failed:\n{err[-3000:]}"
    return out


def _line(out: str, tag: str) -> dict:
    line = next(ln for ln in out.splitlines() if ln.startswith(tag))
    return json.loads(line[len(tag):])


def _result(proc: subprocess.Popen, what: str) -> dict:
    return _line(_output(proc, what), "RESULT")


class _Alone:
    """The process alone with 4 host devices, started once; what it printed, read once."""

    def __init__(self) -> None:
        # the sharding checks first, then the cluster's call (its initialize() is then a second call: the same cluster)
        code = ALONE.format(tests=str(TESTS), model=MODEL) + CHILD.format(tests=str(TESTS), model=MODEL)
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=_env(4), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)  # fmt: skip
        self._out: str | None = None

    def output(self) -> str:
        if self._out is None:
            self._out = _output(self.proc, "the single process")
        return self._out


@pytest.fixture(scope="module")
def alone():
    """The process alone with 4 host devices (it runs beside the two processes of a cluster)."""
    started = _Alone()
    yield started
    if started.proc.poll() is None:
        started.proc.kill()
        started.proc.communicate()


@pytest.mark.devices
@pytest.mark.skipif(cpu_collectives_available() is not None, reason=f"{cpu_collectives_available()}")
def test_two_processes_gather_the_numbers_of_one_process_on_four_devices(alone):
    port = _free_port()
    code = CHILD.format(tests=str(TESTS), model=MODEL)
    cluster = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=_env(2, **cluster, JAX_PROCESS_ID=str(i)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    first, second = (_result(p, f"process {i}") for i, p in enumerate(procs))
    single = _line(alone.output(), "RESULT")
    for got in (first, second, single):
        print(f"process {got['process']} of {got['processes']}: {got['local_devices']} of {got['devices']} devices, "
              f"mean by step {np.round(got['m'], 6).tolist()}")
    assert [first["process"], second["process"]] == [0, 1]
    assert first["processes"] == second["processes"] == 2 and first["devices"] == second["devices"] == 4
    assert first["local_devices"] == 2 and single["processes"] == 1 and single["devices"] == 4
    x = np.asarray(single["x"])
    assert x.shape == (6, 8)
    for got in (first, second):
        # each user's draws and updates do not depend on where it lives: bit for bit
        np.testing.assert_array_equal(np.asarray(got["x"]), x)
        # the mean sums across processes: equal to float32 rounding
        np.testing.assert_allclose(got["m"], single["m"], rtol=0, atol=1e-6)


@pytest.mark.devices
def test_four_host_devices_give_the_unsharded_numbers(alone):
    got = _line(alone.output(), "SHARDING")
    assert got["x_devices"] == 4  # the users' field really is split
    # per-user draws and updates do not depend on the layout: bit for bit
    assert got["x_equal"] and got["many_equal"]
    # the mean sums across devices in another order: equal to float32 rounding
    assert got["mean_gap"] <= 1e-6
    # RECOSIM_SHARD (set by `recosim run --devices`) splits a runtime built without shard= the same way
    assert got["env_devices"] == 4 and got["env_equal"]


def test_a_partial_cluster_description_is_refused_naming_what_is_missing():
    with pytest.raises(ValueError, match="missing JAX_PROCESS_ID"):
        initialize(environ={"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1234", "JAX_NUM_PROCESSES": "2"})
    with pytest.raises(ValueError, match=r"JAX_PROCESS_ID=2 must be in \[0, JAX_NUM_PROCESSES\)"):
        initialize("127.0.0.1:1234", 2, 2, environ={})
    with pytest.raises(ValueError, match="must be host:port"):
        initialize("127.0.0.1", 2, 0, environ={})
    alone = initialize(environ={})
    assert (alone.process_id, alone.num_processes, alone.is_coordinator) == (0, 1, True)


def test_docstring_example():
    import doctest

    import recosim.jax.distributed as mod

    assert doctest.testmod(mod, optionflags=doctest.ELLIPSIS).failed == 0
