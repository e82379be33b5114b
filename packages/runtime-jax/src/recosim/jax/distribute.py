"""Policy-gradient training with the rollouts shared out over a 1-D device mesh.

:func:`make_reinforce_step` builds a REINFORCE training step: each update's
rollouts are dealt to the devices of a mesh (``shard_map`` over the mesh axis
``"rollouts"``), each device differentiates its share of the objective, the
gradients are summed across devices (``psum``) and an optax optimiser updates the
parameters, which every device holds whole. :func:`initialize_platform` makes the
mesh: several host CPU devices (as tests and single machines need) or the GPUs.

It is the JAX counterpart of `recosim.tf.distribute.make_reinforce_step`, with
the same keys and the same objective, so the two runtimes' curves are directly
comparable and one device and several follow the same curve:

>>> import optax
>>> from recosim.core.examples import random_walk_variables
>>> step = make_reinforce_step(1, lambda p: random_walk_variables(2), {"unused": jnp.zeros(())},
...                            optax.sgd(0.1), policy="walk", reward="walk/position", horizon=3, num_rollouts=2)
>>> sorted(step(0)), step.num_devices, step.num_rollouts
(['grad_norm', 'loss', 'mean_return'], 1, 2)
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from recosim.core.log_probability import log_probability_accumulator_variables
from recosim.core.network import Network
from recosim.core.runtime import ModelLike
from recosim.core.seeds import fold
from recosim.core.story import network_from_story
from recosim.core.trajectory import check_count
from recosim.jax.backend import jax_backend
from recosim.jax.runtime import JaxRuntime
from recosim.jax.sharding import device_mesh

__all__ = ["ReinforceStep", "initialize_platform", "make_reinforce_step"]

AXIS = "rollouts"
"""The mesh axis the rollouts are dealt over."""


def _shard_map(fn: Callable[..., Any], mesh: Mesh, in_specs: Any, out_specs: Any) -> Callable[..., Any]:
    """``shard_map`` of this JAX (``jax.shard_map`` or the experimental one), with its replication checks off.

    The sums across devices are written out (``psum``): the gradient of the
    replicated parameters is each device's own share, summed explicitly.
    """
    public = getattr(jax, "shard_map", None)
    if public is not None:
        params = inspect.signature(public).parameters
        off = {"check_vma": False} if "check_vma" in params else {"check_rep": False} if "check_rep" in params else {}
        return public(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, **off)  # type: ignore[no-any-return]
    from jax.experimental.shard_map import shard_map  # JAX before shard_map was public

    return shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_rep=False)  # type: ignore[no-any-return]


def initialize_platform(platform: str = "cpu", num_devices: int | None = None) -> tuple[Mesh, int]:
    """A 1-D mesh (axis ``"rollouts"``) and its number of devices.

    ``platform="cpu"`` with ``num_devices=n`` first makes ``n`` host CPU devices,
    which must happen before JAX has started its backends (a `RuntimeError` says so
    otherwise); ``"gpu"`` (or ``"tpu"``) takes the visible accelerators
    (``num_devices`` of them, default all).
    """
    platform = platform.lower()
    if platform not in ("cpu", "gpu", "tpu"):
        raise ValueError(f"initialize_platform: platform must be 'cpu', 'gpu' or 'tpu', got {platform!r}")
    if platform == "cpu" and num_devices is not None:
        num_devices = check_count(num_devices, "num_devices", 1)
        try:
            jax.config.update("jax_num_cpu_devices", num_devices)
        except AttributeError:  # a JAX without the option: the XLA flag, read when the backend starts
            flags = os.environ.get("XLA_FLAGS", "")
            os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={num_devices}".strip()
        except RuntimeError as err:
            have = len(jax.devices("cpu"))
            if have != num_devices:
                raise RuntimeError(
                    f"initialize_platform(num_devices={num_devices}): JAX has already started with {have} CPU "
                    f"device(s); call it before any JAX computation runs ({err})"
                ) from None
    try:
        devices = list(jax.devices(platform))
    except RuntimeError as err:
        raise RuntimeError(f"initialize_platform: no {platform} device is visible ({err})") from None
    if num_devices is not None:
        if num_devices > len(devices):
            raise ValueError(
                f"initialize_platform: num_devices={num_devices} but only {len(devices)} {platform} device(s) "
                "are visible"
            )
        devices = devices[:num_devices]
    return Mesh(np.array(devices), (AXIS,)), len(devices)


class ReinforceStep:
    """A REINFORCE training step over a mesh's devices; call it with the update number.

    ``step(update)`` returns ``{"mean_return", "loss", "grad_norm"}`` as floats and
    replaces ``step.params`` and ``step.opt_state`` with the updated ones.
    ``num_devices`` and ``num_rollouts`` (all devices together) describe the split.
    """

    def __init__(
        self,
        run: Callable[..., Any],
        keys: Callable[[int], Any],
        params: Any,
        opt_state: Any,
        mesh: Mesh,
        num_rollouts: int,
    ) -> None:
        self._run = run
        self._keys = keys
        self.params = params
        self.opt_state = opt_state
        self.mesh = mesh
        self.num_devices = int(mesh.devices.size)
        self.num_rollouts = int(num_rollouts)

    def __call__(self, update: int) -> dict[str, float]:
        keys = self._keys(int(update))
        self.params, self.opt_state, loss, mean_return, norm = self._run(self.params, self.opt_state, keys)
        return {"mean_return": float(mean_return), "loss": float(loss), "grad_norm": float(norm)}


def make_reinforce_step(
    devices: int | Sequence[Any] | Mesh | None,
    make_model: Callable[[Any], ModelLike],
    params: Any,
    optimizer: Any,
    *,
    policy: str,
    reward: str,
    horizon: int,
    num_rollouts: int,
    seed: int = 0,
) -> ReinforceStep:
    """One REINFORCE step with the ``num_rollouts`` rollouts dealt out to a mesh's devices.

    ``devices``: a mesh with the axis ``"rollouts"`` (`initialize_platform` makes
    one), a number of ``jax.devices()`` (None: all) or a list of devices.
    ``make_model(params)`` builds the model from a parameter pytree (``params``,
    the initial values); ``optimizer`` is an optax ``GradientTransformation``;
    ``policy`` names the variable whose draws are the actions and ``reward`` the
    per-user reward field (``"user response/reward"``).

    Update ``u`` draws rollout ``i`` with the key ``fold(make_seed(seed), u, i)``;
    device ``d`` of ``D`` runs rollouts ``[d k, (d + 1) k)``, ``k = num_rollouts /
    D``, with the policy's log-probability per step and user (a log-probability
    accumulator of the policy). The advantage of a user at a step is the
    reward-to-go minus its mean over all rollouts (summed across devices), the
    objective ``sum A log p / (num_rollouts * users)``; each device's gradient of
    its share is summed across devices (the mean over rollouts of the per-rollout
    gradients), and ``optimizer`` minimises the negated objective. The same keys
    give the same rollouts whatever the number of devices, so one device and
    several follow the same learning curve up to the order of floating-point sums.
    """
    mesh = device_mesh(devices, AXIS, "make_reinforce_step")
    count = int(mesh.shape[AXIS])
    num_rollouts = check_count(num_rollouts, "num_rollouts", 1)
    horizon = check_count(horizon, "horizon", 1)
    if num_rollouts % count:
        raise ValueError(f"num_rollouts={num_rollouts} must be a multiple of the mesh's {count} device(s)")
    if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))):
        raise TypeError(
            f"make_reinforce_step: optimizer must be an optax GradientTransformation (init and update), "
            f"got {type(optimizer).__name__}"
        )
    params = jax.tree.map(jnp.asarray, params)
    network = network_from_story(make_model(params))
    if policy not in network:
        raise ValueError(f"policy={policy!r} is not a variable of the model; it has {sorted(network.names)}")
    reward_var, _, reward_field = reward.partition("/")
    if reward_var not in network or not reward_field or reward_field not in network[reward_var].spec:
        raise ValueError(f"reward={reward!r} must name a field 'variable/field' of the model")
    B = jax_backend()
    base = B.make_seed(int(seed))

    def rollout(p: Any, key: Any) -> tuple[Any, Any]:
        """One rollout's policy log-probabilities and rewards, ``[horizon, ...]`` each (differentiable in ``p``)."""
        net = network_from_story(make_model(p))
        (scorer,) = log_probability_accumulator_variables([net[policy]], cumulative=False)
        runtime = JaxRuntime(Network([*net.variables, scorer]))
        runtime.shard = None  # the rollouts are dealt over the mesh here; each population stays whole
        first = runtime.initial_step(key)
        if horizon == 1:
            steps = jax.tree.map(lambda x: x[None], first)
        else:

            def body(carry: Any, t: Any) -> tuple[Any, Any]:
                nxt = runtime.transition(key, t, carry)
                return nxt, nxt

            _, rest = jax.lax.scan(body, first, jnp.arange(1, horizon, dtype=jnp.int32))
            steps = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)
        return steps[scorer.name].get("log_prob"), steps[reward_var].get(reward_field)

    def share(p: Any, keys: Any) -> tuple[Any, Any, Any]:
        """One device's rollouts: its share of the loss and of the mean return, and the gradient of its share."""

        def objective(q: Any) -> tuple[Any, Any]:
            log_prob, rewards = jax.vmap(lambda key: rollout(q, key))(keys)  # [k, T, users...]
            log_prob, rewards = log_prob.astype(jnp.float32), rewards.astype(jnp.float32)
            if log_prob.ndim > rewards.ndim:
                raise ValueError(
                    f"the policy {policy!r} has log-probabilities of shape {log_prob.shape[2:]} per step but the "
                    f"reward {reward!r} has shape {rewards.shape[2:]}; give one reward per policy draw (per user)"
                )
            log_prob = log_prob.reshape(log_prob.shape + (1,) * (rewards.ndim - log_prob.ndim))
            to_go = jnp.flip(jnp.cumsum(jnp.flip(rewards, axis=1), axis=1), axis=1)
            baseline = jax.lax.psum(jnp.sum(to_go, axis=0), AXIS) / num_rollouts
            advantage = jax.lax.stop_gradient(to_go - baseline)
            users = float(math.prod(rewards.shape[2:]))
            loss = -jnp.sum(advantage * log_prob) / (num_rollouts * users)
            return loss, jnp.sum(rewards) / (num_rollouts * users)

        (loss, mean_return), grads = jax.value_and_grad(objective, has_aux=True)(p)
        return jax.lax.psum(loss, AXIS), jax.lax.psum(grads, AXIS), jax.lax.psum(mean_return, AXIS)

    whole = PartitionSpec()
    sharded = _shard_map(share, mesh, in_specs=(whole, PartitionSpec(AXIS)), out_specs=(whole, whole, whole))

    def update_fn(p: Any, opt_state: Any, keys: Any) -> tuple[Any, Any, Any, Any, Any]:
        loss, grads, mean_return = sharded(p, keys)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        p = jax.tree.map(lambda x, u: x + u, p, updates)  # optax.apply_updates
        norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
        return p, opt_state, loss, mean_return, norm

    dealt = NamedSharding(mesh, PartitionSpec(AXIS))
    keys_of = jax.jit(
        lambda update: jax.vmap(lambda i: B.fold_in(fold(B, base, update), i))(
            jnp.arange(num_rollouts, dtype=jnp.uint32)
        )
    )

    def keys(update: int) -> Any:
        return jax.device_put(keys_of(np.uint32(update)), dealt)

    # the parameters and the optimiser's state start where every update leaves them, whole on each device of the
    # mesh: the first update then compiles the program every later one reuses
    replicated = NamedSharding(mesh, whole)
    params = jax.device_put(params, replicated)
    opt_state = jax.device_put(optimizer.init(params), replicated)
    return ReinforceStep(jax.jit(update_fn), keys, params, opt_state, mesh, num_rollouts)
