"""Two processes on localhost, two host devices each, one population: the numbers of one process on four devices.

Each process is started with ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``
and ``JAX_PROCESS_ID`` (`recosim.jax.distributed.initialize` reads them) and
``XLA_FLAGS`` making two CPU devices; both run `run_sharded` on a population of 8
users split over the 4 devices of the two processes, and print what they gathered.
A third process, alone with 4 host devices, runs the same call.
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

CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from recosim.jax.distributed import initialize, run_sharded
    cluster = initialize(timeout_s=120)
    from jax_models import drift_variables
    from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, value

    def model():
        (chain,) = drift_variables(num_agents=8)
        mean = Variable("mean", ValueSpec(m=FieldSpec((), "float32")))
        average = lambda c: Value(m=get_backend().np.mean(c.get("x")))
        mean.initial_value = value(average, (chain,))
        mean.value = value(average, (chain,))
        return [chain, mean]

    out = run_sharded(model(), 6, population=8, seed=5)
    print("RESULT" + json.dumps({{
        "process": cluster.process_id, "processes": cluster.num_processes,
        "devices": cluster.devices, "local_devices": cluster.local_devices,
        "x": out["chain"].get("x").tolist(), "m": out["mean"].get("m").tolist(),
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


def _result(proc: subprocess.Popen, what: str) -> dict:
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{what} did not finish in 240 s:\n{err[-2000:]}")
    assert proc.returncode == 0, f"{what} failed:\n{err[-3000:]}"
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


@pytest.mark.devices
@pytest.mark.skipif(cpu_collectives_available() is not None, reason=f"{cpu_collectives_available()}")
def test_two_processes_gather_the_numbers_of_one_process_on_four_devices():
    port = _free_port()
    code = CHILD.format(tests=str(TESTS))
    cluster = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=_env(2, **cluster, JAX_PROCESS_ID=str(i)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    alone = subprocess.Popen([sys.executable, "-c", code], env=_env(4), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    first, second = (_result(p, f"process {i}") for i, p in enumerate(procs))
    single = _result(alone, "the single process")
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
