"""One simulation with its population split over several devices (``jax.sharding``).

`population_sharding` names the devices (a count, a list, or a ready
`jax.sharding.Mesh`), the mesh axis that carries the population, and the
population's size. The runtime then asks XLA to keep the leading axis of every
carried field of that size split over the mesh axis, and every other field whole
on each device; XLA's partitioner places the work and the communication.

>>> spec = population_sharding(population=8, devices=1)
>>> spec.devices
1
>>> tuple(spec.sharding_for((8, 3)).spec), tuple(spec.sharding_for((5,)).spec)
(('population',), ())

Random draws do not depend on the layout: JAX's partitionable Threefry
(``jax_threefry_partitionable``, on by default since JAX 0.5) gives the same bits
whether an array is split or not, so a sharded run equals the unsharded one up to
the order of floating-point reductions that cross the population axis (a sum over
users is added in a different order when its parts live on different devices).

Without ``shard=``, a `JaxRuntime` takes its sharding from the environment
variable ``RECOSIM_SHARD`` (`ENV_VAR`), ``devices=4,population=2000``, which is
how ``recosim run ... --devices 4`` reaches the runtimes a use case builds:

>>> from_environment({"RECOSIM_SHARD": "devices=1,population=6"}).population
6
>>> from_environment({}) is None
True

Use it for one population too large or too slow for one device. For many runs or
many settings points, use `Runtime.run_batch` on one device or ``recosim sweep``
over processes and machines: independent runs need no communication at all.
Across several hosts, `recosim.jax.distributed` builds the mesh over every
process's devices.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from recosim.core.errors import UsageError

__all__ = [
    "ENV_VAR",
    "PopulationSharding",
    "as_population_sharding",
    "device_mesh",
    "from_environment",
    "population_sharding",
]

ENV_VAR = "RECOSIM_SHARD"
"""The environment variable a `JaxRuntime` built without ``shard=`` reads: ``devices=N,population=P``."""

HOST_DEVICES_HINT = (
    "on CPU, more come from XLA_FLAGS=--xla_force_host_platform_device_count=N set before JAX starts"
)


@dataclass(frozen=True)
class PopulationSharding:
    """Where a population lives: mesh axis ``axis_name`` splits each field whose leading axis is ``population`` long."""

    mesh: Mesh
    axis_name: str
    population: int

    @property
    def devices(self) -> int:
        """The number of devices the population is split over."""
        return int(self.mesh.shape[self.axis_name])

    def sharding_for(self, shape: Sequence[int]) -> NamedSharding:
        """The sharding of one field of ``shape``: split along its leading axis when that is the population."""
        if len(shape) and int(shape[0]) == self.population:
            return NamedSharding(self.mesh, PartitionSpec(self.axis_name))
        return NamedSharding(self.mesh, PartitionSpec())

    def constrain(self, tree: Any) -> Any:
        """``tree`` with each array held to its sharding (inside ``jax.jit``: a constraint on XLA's layout)."""
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, self.sharding_for(np.shape(x))), tree)

    def replicated(self) -> NamedSharding:
        """Whole on every device (keys, settings)."""
        return NamedSharding(self.mesh, PartitionSpec())


def device_mesh(devices: int | Sequence[Any] | Mesh | None, axis_name: str, what: str) -> Mesh:
    """A 1-D mesh named ``axis_name`` over ``devices``: how many of ``jax.devices()`` (None: all), a list, or a mesh.

    A mesh is returned as it is once it is checked to have the axis. ``what`` names
    the caller in errors.
    """
    if isinstance(devices, Mesh):
        if axis_name not in devices.shape:
            raise ValueError(f"{what}: the mesh has axes {list(devices.shape)}, not the axis {axis_name!r}")
        return devices
    available = jax.devices()
    if devices is None:
        chosen = list(available)
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise ValueError(
                f"{what}: devices={devices}, but {len(available)} {available[0].platform} device(s) are visible "
                f"({HOST_DEVICES_HINT})"
            )
        chosen = list(available[: int(devices)])
    else:
        chosen = list(devices)  # type: ignore[arg-type]
        if not chosen:
            raise ValueError(f"{what}: the list of devices is empty")
    return Mesh(np.array(chosen), (axis_name,))


def population_sharding(
    population: int,
    devices: int | Sequence[Any] | Mesh | None = None,
    axis_name: str = "population",
) -> PopulationSharding:
    """Split the population axis (the leading axis of every field ``population`` long) over ``devices``.

    ``devices``: how many of ``jax.devices()`` (None: all), a list of devices, or a
    `jax.sharding.Mesh` whose axis ``axis_name`` carries the population (its other
    axes hold copies). ``population`` must divide evenly over that axis.
    """
    if isinstance(population, bool) or not isinstance(population, (int, np.integer)) or population < 1:
        raise ValueError(f"population_sharding: population must be a positive int, got {population!r}")
    mesh = device_mesh(devices, axis_name, "population_sharding")
    count = int(mesh.shape[axis_name])
    if population % count:
        raise ValueError(
            f"population_sharding: a population of {population} does not split evenly over {count} devices "
            f"(mesh axis {axis_name!r}); choose a device count that divides it"
        )
    return PopulationSharding(mesh=mesh, axis_name=axis_name, population=int(population))


def _parse_environment(text: str) -> dict[str, int]:
    """``devices=N,population=P`` as a dict of positive ints, or a `UsageError` naming `ENV_VAR`."""
    found: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        name, sep, number = part.partition("=")
        name = name.strip()
        if not sep or name not in ("devices", "population") or name in found:
            raise UsageError(
                f"{ENV_VAR}={text!r}: expected 'devices=N,population=P' (each once), e.g. 'devices=4,population=2000'"
            )
        try:
            found[name] = int(number)
        except ValueError:
            raise UsageError(f"{ENV_VAR}={text!r}: {name} must be a positive integer, got {number.strip()!r}") from None
        if found[name] < 1:
            raise UsageError(f"{ENV_VAR}={text!r}: {name} must be a positive integer, got {found[name]}")
    if set(found) != {"devices", "population"}:
        raise UsageError(f"{ENV_VAR}={text!r}: give both devices and population, e.g. 'devices=4,population=2000'")
    return found


def from_environment(environ: Mapping[str, str] | None = None) -> PopulationSharding | None:
    """The sharding ``RECOSIM_SHARD`` asks for (None when it is unset or empty).

    Errors are `recosim.core.errors.UsageError` s that name the command-line option
    and the variable: the ``recosim`` command prints them as one line (status 2).
    """
    text = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if not text:
        return None
    wanted = _parse_environment(text)
    devices, population = wanted["devices"], wanted["population"]
    visible = jax.devices()
    if devices > len(visible):
        raise UsageError(
            f"--devices {devices} ({ENV_VAR}={text}): only {len(visible)} {visible[0].platform} device(s) are "
            f"visible; {HOST_DEVICES_HINT}"
        )
    if population % devices:
        raise UsageError(
            f"--devices {devices} ({ENV_VAR}={text}): a population of {population} users does not split evenly "
            f"over {devices} devices; choose a user count divisible by {devices}"
        )
    return population_sharding(population, devices)


def as_population_sharding(shard: PopulationSharding | Mapping[str, Any] | None) -> PopulationSharding | None:
    """The runtime option ``shard=``: a `PopulationSharding`, or the keyword arguments of `population_sharding`.

    ``None`` takes the environment's choice (`from_environment`): no sharding unless
    ``RECOSIM_SHARD`` is set.
    """
    if shard is None:
        return from_environment()
    if isinstance(shard, PopulationSharding):
        return shard
    if isinstance(shard, Mapping):
        return population_sharding(**dict(shard))
    raise TypeError(
        f"shard: expected population_sharding(...) or a dict such as {{'population': 1000, 'devices': 4}}, "
        f"got {type(shard).__name__}"
    )
