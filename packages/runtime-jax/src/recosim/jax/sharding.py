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

Use it for one population too large or too slow for one device. For many runs or
many settings points, use `Runtime.run_batch` on one device or ``recosim sweep``
over processes and machines: independent runs need no communication at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["PopulationSharding", "population_sharding"]


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
    if isinstance(devices, Mesh):
        mesh = devices
        if axis_name not in mesh.shape:
            raise ValueError(
                f"population_sharding: the mesh has axes {list(mesh.shape)}, not the population axis {axis_name!r}"
            )
    else:
        available = jax.devices()
        if devices is None:
            chosen = list(available)
        elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
            if not 1 <= devices <= len(available):
                raise ValueError(
                    f"population_sharding: devices={devices}, but {len(available)} "
                    f"{available[0].platform} device(s) are visible (on CPU, more come from "
                    "XLA_FLAGS=--xla_force_host_platform_device_count=N set before JAX starts)"
                )
            chosen = list(available[: int(devices)])
        else:
            chosen = list(devices)  # type: ignore[arg-type]
            if not chosen:
                raise ValueError("population_sharding: the list of devices is empty")
        mesh = Mesh(np.array(chosen), (axis_name,))
    count = int(mesh.shape[axis_name])
    if population % count:
        raise ValueError(
            f"population_sharding: a population of {population} does not split evenly over {count} devices "
            f"(mesh axis {axis_name!r}); choose a device count that divides it"
        )
    return PopulationSharding(mesh=mesh, axis_name=axis_name, population=int(population))


def as_population_sharding(shard: PopulationSharding | Mapping[str, Any] | None) -> PopulationSharding | None:
    """The runtime option ``shard=``: a `PopulationSharding`, or the keyword arguments of `population_sharding`."""
    if shard is None or isinstance(shard, PopulationSharding):
        return shard
    if isinstance(shard, Mapping):
        return population_sharding(**dict(shard))
    raise TypeError(
        f"shard: expected population_sharding(...) or a dict such as {{'population': 1000, 'devices': 4}}, "
        f"got {type(shard).__name__}"
    )
