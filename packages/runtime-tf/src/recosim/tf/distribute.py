"""Independent simulation runs over the replicas of a ``tf.distribute`` strategy.

>>> from recosim.core.examples import random_walk_variables
>>> result = run_distributed(tf.distribute.get_strategy(), random_walk_variables(3), num_runs=4, num_steps=2, seed=0)
>>> result.values["walk"].get("position").shape
TensorShape([4, 3])
>>> result.mean["walk"].get("position").shape, result.num_runs
((3,), 4)

Run ``i`` uses the key ``fold(make_seed(seed), i)``, the key of the ``i``-th
call of ``TFRuntime(model, seed=seed)``, so each run can be reproduced alone.
Mean and standard error come from core's `recosim.core.summary.summarize`, the
same convention on every runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from recosim.core.network import NetworkValue
from recosim.core.runtime import ModelLike
from recosim.core.seeds import fold
from recosim.core.summary import RunSummary, summarize
from recosim.core.trajectory import check_count
from recosim.core.value import Value
from recosim.tf.runtime import TFRuntime
from recosim.tf.tensors import Flat, as_values

__all__ = ["run_distributed", "DistributedResult"]


@dataclass(frozen=True)
class DistributedResult:
    """What :func:`run_distributed` returns.

    ``values``: every run's result (tensors) stacked on a leading run axis;
    ``summary``: core's `RunSummary` of them, whose ``mean`` and ``stderr``
    (NumPy float64; the standard error is NaN for a single run) are also
    attributes here.
    """

    values: NetworkValue
    summary: RunSummary
    num_replicas: int

    @property
    def mean(self) -> NetworkValue:
        return self.summary.mean  # type: ignore[no-any-return]

    @property
    def stderr(self) -> NetworkValue:
        return self.summary.stderr  # type: ignore[no-any-return]

    @property
    def num_runs(self) -> int:
        return self.summary.num_runs


def run_distributed(
    strategy: tf.distribute.Strategy,
    model: TFRuntime | ModelLike,
    num_runs: int,
    num_steps: int,
    *,
    seed: int | None = None,
    statistic: Callable[[NetworkValue], Mapping[str, Any]] | None = None,
) -> DistributedResult:
    """Execute ``num_runs`` independent runs of ``num_steps`` transitions over ``strategy``'s replicas.

    ``model`` is a `TFRuntime` (its seed is used unless ``seed`` is given) or
    anything a runtime accepts. Runs are dealt round-robin to the replicas; each
    replica runs its share in one graph (a loop over the compiled
    simulation). ``statistic`` maps a run's final network value to the Values to
    keep (default: the final value itself).
    """
    runtime = model if isinstance(model, TFRuntime) else TFRuntime(model, seed=seed)
    num_runs = check_count(num_runs, "num_runs", 1)
    num_steps = check_count(num_steps, "num_steps", 0)
    B = runtime.backend
    base = B.make_seed(runtime.seed if seed is None else int(seed))
    replicas = int(strategy.num_replicas_in_sync)
    if num_runs % replicas:
        raise ValueError(f"num_runs={num_runs} must be a multiple of the strategy's {replicas} replica(s)")
    keys = tf.stack([fold(B, base, i) for i in range(num_runs)])

    def keep(last: Flat) -> Flat:
        out = statistic(as_values(last))  # type: ignore[misc]
        return {n: dict(Value(v)) for n, v in out.items()}

    def replica_fn(replica_keys: Any) -> Flat:
        steps = tf.constant(num_steps, tf.int32)
        return runtime.many_loop("execute", steps, replica_keys, None, None if statistic is None else keep)

    def keys_for(context: tf.distribute.experimental.ValueContext) -> Any:
        return tf.gather(keys, tf.range(context.replica_id_in_sync_group, num_runs, replicas))

    @tf.function(autograph=False, jit_compile=runtime.xla or None)
    def run_all(per_replica_keys: Any) -> Any:
        return strategy.run(replica_fn, args=(per_replica_keys,))

    distributed_keys = strategy.experimental_distribute_values_from_function(keys_for)
    per_replica = run_all(distributed_keys)
    parts = [strategy.experimental_local_results(x) for x in tf.nest.flatten(per_replica)]
    concatenated = [r + replicas * j for r in range(replicas) for j in range(num_runs // replicas)]
    inverse = np.argsort(concatenated)
    flat = [tf.gather(tf.concat(list(p), axis=0), inverse) for p in parts]
    stacked = tf.nest.pack_sequence_as(_structure(per_replica, strategy), flat)
    values = as_values(stacked)
    return DistributedResult(values, summarize(values), replicas)


def _structure(per_replica: Any, strategy: tf.distribute.Strategy) -> Any:
    return tf.nest.map_structure(lambda x: strategy.experimental_local_results(x)[0], per_replica)
