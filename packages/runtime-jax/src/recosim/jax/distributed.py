"""One population over several hosts: ``jax.distributed`` and a mesh over every process's devices.

Every host runs the same program (JAX's multi-controller model). Each process
calls `initialize` first, before JAX computes anything, then `run_sharded`:

>>> cluster = initialize(environ={})  # no cluster named: this process alone
>>> cluster.num_processes, cluster.process_id
(1, 0)

`initialize` starts ``jax.distributed`` from its arguments or, for those not
given, from the environment: ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process
0, which serves the coordination service), ``JAX_NUM_PROCESSES`` and
``JAX_PROCESS_ID``. With none of them set the process runs alone (nothing is
started), so the same script runs on one machine and on a cluster. On CPU it
selects JAX's gloo collectives, which carry the cross-host sums over TCP.

`run_sharded` builds a `JaxRuntime` whose population is split over
`global_mesh` (every device of every process, process by process), runs it, and
gathers the result so that every process holds the whole of it as NumPy arrays.
Random draws do not depend on the layout, so the numbers equal one process's run
over the same number of devices (and the unsharded run, up to the order of sums
across the population).

Sharding across hosts is for one population too large for one host's devices.
Many independent runs (seeds, settings points) need no communication: spread
those with ``recosim sweep`` (processes or a Ray cluster) instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from recosim.core.network import NetworkValue
from recosim.core.runtime import ModelLike
from recosim.core.value import Value
from recosim.jax.backend import config_value
from recosim.jax.runtime import JaxRuntime
from recosim.jax.sharding import PopulationSharding, population_sharding

__all__ = [
    "COORDINATOR_ENV",
    "NUM_PROCESSES_ENV",
    "PROCESS_ID_ENV",
    "Cluster",
    "cpu_collectives_available",
    "gather",
    "global_mesh",
    "global_population_sharding",
    "initialize",
    "run_sharded",
]

COORDINATOR_ENV = "JAX_COORDINATOR_ADDRESS"
"""``host:port`` of process 0 (JAX reads the same variable)."""
NUM_PROCESSES_ENV = "JAX_NUM_PROCESSES"
"""How many processes take part, one per host (or per accelerator group)."""
PROCESS_ID_ENV = "JAX_PROCESS_ID"
"""This process's index, ``0 .. JAX_NUM_PROCESSES - 1``; process 0 runs the coordinator."""


@dataclass(frozen=True)
class Cluster:
    """The processes taking part and their devices, as this process sees them."""

    process_id: int
    num_processes: int
    local_devices: int
    devices: int
    platform: str

    @property
    def is_coordinator(self) -> bool:
        """Process 0: the one that should write shared results."""
        return self.process_id == 0


def _current() -> Cluster:
    return Cluster(
        process_id=int(jax.process_index()),
        num_processes=int(jax.process_count()),
        local_devices=int(jax.local_device_count()),
        devices=int(jax.device_count()),
        platform=str(jax.devices()[0].platform),
    )


_STARTED = False
"""Whether `initialize` started ``jax.distributed`` in this process."""


def _is_initialized() -> bool:
    check = getattr(jax.distributed, "is_initialized", None)
    if check is not None:
        return bool(check())
    return _STARTED  # a JAX without the public query: what this module started


def cpu_collectives_available() -> str | None:
    """None when this JAX can sum across processes on CPU (gloo collectives), else why not."""
    try:
        config_value("jax_cpu_collectives_implementation")
    except (AttributeError, KeyError):
        return f"jax {jax.__version__} has no jax_cpu_collectives_implementation option"
    return None


def _from_environment(name: str, given: Any, environ: Mapping[str, str]) -> str | None:
    if given is not None:
        return str(given)
    text = environ.get(name, "").strip()
    return text or None


def _as_int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"initialize: {name} must be an integer, got {text!r}") from None


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids: Sequence[int] | None = None,
    timeout_s: int = 300,
    environ: Mapping[str, str] | None = None,
) -> Cluster:
    """Start ``jax.distributed`` (once per process, before any JAX computation) and describe the cluster.

    Arguments not given are read from ``JAX_COORDINATOR_ADDRESS``,
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (``environ``, default
    ``os.environ``). None of the three anywhere: a single process, nothing started.
    Some but not all: a `ValueError` naming what is missing. A second call returns
    the cluster already started. ``timeout_s`` bounds the wait for every process
    to join. JAX's gloo collectives carry the sums between processes on CPU,
    unless the user chose another implementation.
    """
    env = os.environ if environ is None else environ
    address = _from_environment(COORDINATOR_ENV, coordinator_address, env)
    count_text = _from_environment(NUM_PROCESSES_ENV, num_processes, env)
    index_text = _from_environment(PROCESS_ID_ENV, process_id, env)
    named = {COORDINATOR_ENV: address, NUM_PROCESSES_ENV: count_text, PROCESS_ID_ENV: index_text}
    if _is_initialized():
        return _current()
    if all(v is None for v in named.values()):
        return _current()
    missing = [k for k, v in named.items() if v is None]
    if missing:
        raise ValueError(
            "initialize: a cluster needs the coordinator address, the number of processes and this process's id; "
            f"missing {', '.join(missing)} (give them as arguments or environment variables)"
        )
    assert address is not None and count_text is not None and index_text is not None
    count = _as_int(NUM_PROCESSES_ENV, count_text)
    index = _as_int(PROCESS_ID_ENV, index_text)
    if count < 1 or not 0 <= index < count:
        raise ValueError(
            f"initialize: {PROCESS_ID_ENV}={index} must be in [0, {NUM_PROCESSES_ENV}) "
            f"with {NUM_PROCESSES_ENV}={count} >= 1"
        )
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"initialize: {COORDINATOR_ENV}={address!r} must be host:port (such as 10.0.0.1:1234)")
    # the CPU backend's cross-process sums: JAX's gloo collectives (no effect on accelerators)
    if cpu_collectives_available() is None and not config_value("jax_cpu_collectives_implementation"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs: dict[str, Any] = {"initialization_timeout": int(timeout_s)}
    if local_device_ids is not None:
        kwargs["local_device_ids"] = list(local_device_ids)
    global _STARTED
    jax.distributed.initialize(address, count, index, **kwargs)
    _STARTED = True
    return _current()


def global_mesh(axis_name: str = "population") -> Mesh:
    """A 1-D mesh over every device of every process (process by process, as ``jax.devices()`` lists them)."""
    return Mesh(np.array(jax.devices()), (axis_name,))


def global_population_sharding(population: int, axis_name: str = "population") -> PopulationSharding:
    """`recosim.jax.sharding.population_sharding` over `global_mesh`: the population split over every device."""
    return population_sharding(population, devices=global_mesh(axis_name), axis_name=axis_name)


def gather(tree: Any) -> Any:
    """``tree`` with every array whole, as NumPy, on this process (arrays split across processes are gathered)."""
    from jax.experimental import multihost_utils

    def whole(x: Any) -> Any:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(whole, tree)


def run_sharded(
    model: ModelLike,
    length: int,
    *,
    population: int,
    seed: int = 0,
    kind: str = "trajectory",
    settings: Mapping[str, Any] | None = None,
    axis_name: str = "population",
) -> NetworkValue:
    """One run of ``model`` with its population split over every process's devices; the whole result on each process.

    ``kind="trajectory"``: ``length`` steps stacked on a leading time axis;
    ``kind="execute"``: the value after ``length`` transitions. Every process must
    call it with the same arguments (the same program runs everywhere); each gets
    the same NumPy arrays back.
    """
    if kind not in ("trajectory", "execute"):
        raise ValueError(f"run_sharded: kind must be 'trajectory' or 'execute', got {kind!r}")
    shard = global_population_sharding(population, axis_name)
    runtime = JaxRuntime(model, seed=seed, settings=settings, shard=shard)
    out = runtime.trajectory(length) if kind == "trajectory" else runtime.execute(length)
    return {name: Value(gather(dict(Value(v).items()))) for name, v in out.items()}
