"""Simulation runs and policy-gradient training over the replicas of a ``tf.distribute`` strategy.

:func:`run_distributed` deals independent runs to the replicas and summarises
them; :func:`make_reinforce_step` builds a REINFORCE training step whose
rollouts are shared out among the replicas (see its docstring); and
:func:`initialize_platform` makes a strategy over several logical CPU devices
(or the GPUs), as tests and single machines need.

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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from recosim.core.log_probability import log_probability_accumulator_variables
from recosim.core.network import Network, NetworkValue
from recosim.core.runtime import ModelLike
from recosim.core.seeds import fold
from recosim.core.story import network_from_story
from recosim.core.summary import RunSummary, summarize
from recosim.core.trajectory import check_count
from recosim.core.value import Value
from recosim.tf.runtime import TFRuntime
from recosim.tf.tensors import Flat, as_values

__all__ = ["run_distributed", "DistributedResult", "initialize_platform", "make_reinforce_step", "ReinforceStep"]


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


def initialize_platform(platform: str = "CPU", num_replicas: int | None = None) -> tuple[tf.distribute.Strategy, int]:
    """A ``MirroredStrategy`` and its number of replicas.

    ``platform="CPU"`` with ``num_replicas=n`` first splits the CPU into ``n``
    logical devices, which must happen before TensorFlow has initialised its
    devices (a `RuntimeError` says so otherwise); ``"GPU"`` mirrors over the
    visible GPUs (``num_replicas`` of them, default all).
    """
    platform = platform.upper()
    if platform not in ("CPU", "GPU"):
        raise ValueError(f"platform must be 'CPU' or 'GPU', got {platform!r}")
    if platform == "CPU" and num_replicas is not None:
        num_replicas = check_count(num_replicas, "num_replicas", 1)
        (cpu, *_) = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_replicas)]
            )
        except RuntimeError as err:
            have = len(tf.config.list_logical_devices("CPU"))
            if have != num_replicas:
                raise RuntimeError(
                    f"initialize_platform(num_replicas={num_replicas}): TensorFlow has already set up {have} "
                    f"logical CPU device(s); call it before any TensorFlow operation runs ({err})"
                ) from None
    devices = [d.name for d in tf.config.list_logical_devices(platform)]
    if not devices:
        raise RuntimeError(f"initialize_platform: no {platform} device is visible")
    if num_replicas is not None:
        if num_replicas > len(devices):
            raise ValueError(f"num_replicas={num_replicas} but only {len(devices)} {platform} device(s) are visible")
        devices = devices[:num_replicas]
    return tf.distribute.MirroredStrategy(devices), len(devices)


@dataclass
class ReinforceStep:
    """A REINFORCE training step over a strategy's replicas; call it with the update number.

    ``step(update)`` returns ``{"mean_return", "loss", "grad_norm"}`` as floats and
    updates the parameters in place. ``num_replicas`` and ``num_rollouts`` (all
    replicas together) describe the split.
    """

    run: Callable[[int], dict[str, float]]
    num_replicas: int
    num_rollouts: int

    def __call__(self, update: int) -> dict[str, float]:
        return self.run(int(update))


def make_reinforce_step(
    strategy: tf.distribute.Strategy,
    model: ModelLike,
    parameters: Sequence[tf.Variable],
    optimizer: Any,
    *,
    policy: str,
    reward: str,
    horizon: int,
    num_rollouts: int,
    seed: int = 0,
) -> ReinforceStep:
    """One REINFORCE step with the ``num_rollouts`` rollouts dealt out to ``strategy``'s replicas.

    ``model`` reads ``parameters`` (``tf.Variable`` s created outside the strategy's
    scope) in its behaviours; ``policy`` names the variable whose draws are the
    actions and ``reward`` the per-user reward field (``"user response/reward"``).
    Each update draws its rollouts with keys ``fold(make_seed(seed), update, i)``;
    replica ``r`` of ``R`` runs rollouts ``i`` in ``[r k, (r + 1) k)``, ``k =
    num_rollouts / R``, with the policy's log-probability per step and user (a
    log-probability accumulator of the policy, differentiable in the
    parameters). The advantage of a user at a step is the reward-to-go minus its
    mean over all rollouts (summed across replicas), and the objective
    ``sum A log p / (num_rollouts * users)``; the replicas' gradients are summed
    and ``optimizer`` (a Keras optimizer) applies them. The same keys give the
    same rollouts whatever the number of replicas, so one replica and several
    follow the same learning curve up to the order of floating-point sums.
    """
    replicas = int(strategy.num_replicas_in_sync)
    num_rollouts = check_count(num_rollouts, "num_rollouts", 1)
    horizon = check_count(horizon, "horizon", 1)
    if num_rollouts % replicas:
        raise ValueError(f"num_rollouts={num_rollouts} must be a multiple of the strategy's {replicas} replica(s)")
    params = list(parameters)
    if not params or not all(isinstance(p, tf.Variable) for p in params):
        raise TypeError("make_reinforce_step needs the model's parameters as a non-empty list of tf.Variables")
    network = network_from_story(model)
    if policy not in network:
        raise ValueError(f"policy={policy!r} is not a variable of the model; it has {sorted(network.names)}")
    reward_var, _, reward_field = reward.partition("/")
    if reward_var not in network or not reward_field or reward_field not in network[reward_var].spec:
        raise ValueError(f"reward={reward!r} must name a field 'variable/field' of the model")
    (scorer,) = log_probability_accumulator_variables([network[policy]], cumulative=False)
    runtime = TFRuntime(Network([*network.variables, scorer]), seed=seed)
    B = runtime.backend
    base = B.make_seed(int(seed))
    per_replica = num_rollouts // replicas

    def replica_fn(keys: Any) -> tuple[Any, Any, Any]:
        context = tf.distribute.get_replica_context()
        with tf.GradientTape() as tape:
            flat = runtime.many_loop("trajectory", horizon, keys, None)
            log_prob = tf.cast(flat[scorer.name]["log_prob"], tf.float32)  # [k, T, users]
            rewards = tf.cast(flat[reward_var][reward_field], tf.float32)  # [k, T, users]
            to_go = tf.cumsum(rewards, axis=1, reverse=True)
            baseline = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(to_go, axis=0)) / num_rollouts
            advantage = tf.stop_gradient(to_go - baseline)
            users = tf.cast(tf.reduce_prod(tf.shape(rewards)[2:]), tf.float32)
            objective = tf.reduce_sum(advantage * log_prob) / (num_rollouts * users)
            loss = -objective
        grads = tape.gradient(loss, params)
        grads = [tf.zeros_like(p) if g is None else tf.convert_to_tensor(g) for g, p in zip(grads, params)]
        total_return = tf.reduce_sum(rewards) / (num_rollouts * users)
        return loss, grads, total_return

    def keys_for(context: tf.distribute.experimental.ValueContext) -> Any:
        start = context.replica_id_in_sync_group * per_replica
        return current_keys[start : start + per_replica]

    @tf.function(autograph=False)
    def run_all(per_replica_keys: Any) -> Any:
        out = strategy.run(replica_fn, args=(per_replica_keys,))
        return tf.nest.map_structure(lambda x: strategy.reduce(tf.distribute.ReduceOp.SUM, x, axis=None), out)

    current_keys: Any = None

    def step(update: int) -> dict[str, float]:
        nonlocal current_keys
        current_keys = tf.stack([fold(B, base, update, i) for i in range(num_rollouts)])
        loss, grads, mean_return = run_all(strategy.experimental_distribute_values_from_function(keys_for))
        optimizer.apply_gradients(zip(grads, params))
        norm = tf.linalg.global_norm(grads)
        return {"mean_return": float(mean_return), "loss": float(loss), "grad_norm": float(norm)}

    return ReinforceStep(step, replicas, num_rollouts)
