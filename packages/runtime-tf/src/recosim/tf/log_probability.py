"""Log-probabilities of value trajectories on TensorFlow: compiled and differentiable.

The semantics are core's (`recosim.core.log_probability`): each behaviour is
re-run on the logged inputs with its draws substituted by the logged fields of
the same name, and the log-probabilities of those draws are summed. Here the
steps run in a ``tf.while_loop`` inside a cached ``tf.function``, every draw is
an Edward2 random variable, and gradients flow to the ``tf.Variable`` s that
behaviours read (use a ``tf.GradientTape``):

>>> from recosim.core.examples import random_walk_variables
>>> walk = random_walk_variables(1)
>>> traj = {"walk": Value(position=tf.zeros((3, 1)))}
>>> round(float(log_probability_from_value_trajectory(walk, traj)), 4)
-2.7568

Also here: :func:`make_log_probability_fn` (latent fields held out, a
``tfp.mcmc`` target), and core's replay variables and per-step accumulators,
re-exported because they run compiled and differentiable on this runtime.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf

from recosim.core.errors import NetworkError
from recosim.core.log_probability import log_probability_accumulator_variables, step_log_probabilities
from recosim.core.network import Network
from recosim.core.replay import replay_variable
from recosim.core.story import network_from_story
from recosim.core.value import Value, shape_of
from recosim.core.variable import Variable
from recosim.tf.backend import tf_backend
from recosim.tf.tensors import Flat, as_values, to_tensors
from recosim.tf.tracing import edward2_random_variables

__all__ = [
    "log_probability_from_value_trajectory",
    "make_log_probability_fn",
    "LogProbabilityFn",
    "log_probability_accumulator_variables",
    "replay_variable",
]

_CACHE_SIZE = 32
_COMPILED: OrderedDict[tuple[int, ...], tuple[Network, Any]] = OrderedDict()


def _length(network: Network, traj: Flat) -> int:
    lengths = {(n, k): shape_of(x)[0] if shape_of(x) else None for n, f in traj.items() for k, x in f.items()}
    known = {v for v in lengths.values() if v is not None}
    if None in lengths.values() or len(known) > 1:
        raise NetworkError(f"the value trajectory's fields need one static time axis; their lengths are {lengths}")
    return known.pop() if known else 1


def _slice(traj: Flat, t: Any) -> dict[str, Value]:
    return {n: Value({k: tf.gather(x, t) for k, x in f.items()}) for n, f in traj.items()}


def _step_total(network: Network, current: Any, previous: Any, key: Any, dtype: Any = None) -> Any:
    B = tf_backend()
    with edward2_random_variables():
        per_var = step_log_probabilities(network, current, previous, seed=key, backend=B)
    terms = [tf.convert_to_tensor(lp) for lp in per_var.values()]
    if dtype is None:
        floats = [t.dtype for t in terms if t.dtype.is_floating]
        dtype = floats[0] if floats else tf.float32
    total = tf.zeros((), dtype)
    for term in terms:
        total = total + tf.cast(tf.reduce_sum(term), dtype)
    return total


def _score(network: Network, traj: Flat, num_steps: Any, seed: Any) -> Any:
    """Sum of the step log-probabilities of steps ``0..num_steps`` (a graph-friendly loop)."""
    B = tf_backend()
    from recosim.core.backend import using_backend

    def key_at(t: Any) -> Any:
        return None if seed is None else B.fold_in(seed, t)

    with using_backend(B):
        first = _step_total(network, _slice(traj, 0), None, key_at(0))

        def body(t: Any, total: Any) -> tuple[Any, Any]:
            step = _step_total(network, _slice(traj, t), _slice(traj, t - 1), key_at(t), total.dtype)
            return t + 1, total + step

        _, total = tf.while_loop(lambda t, _: t <= num_steps, body, (tf.constant(1, tf.int32), first))
    return total


def _compiled_scorer(network: Network) -> Any:
    key = tuple(id(v) for v in network.variables)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0].variables == network.variables:
        _COMPILED.move_to_end(key)
        return hit[1]

    def score(traj: Flat, num_steps: Any, seed: Any = None) -> Any:
        return _score(network, traj, num_steps, seed)

    fn = tf.function(score, autograph=False)
    _COMPILED[key] = (network, fn)
    while len(_COMPILED) > _CACHE_SIZE:
        _COMPILED.popitem(last=False)
    return fn


def _prepare(
    variables: Network | Sequence[Variable] | Any, value_trajectory: Mapping[str, Any], num_steps: int | None
) -> tuple[Network, Flat, int]:
    network = network_from_story(variables)
    missing = [n for n in network.names if n not in value_trajectory]
    if missing:
        raise NetworkError(f"the value trajectory lacks the variable(s) {missing}")
    traj = to_tensors({n: value_trajectory[n] for n in network.names}, None)
    length = _length(network, traj)
    steps = length - 1 if num_steps is None else int(num_steps)
    if steps < 0 or steps >= length:
        raise NetworkError(f"num_steps={num_steps} but the trajectory holds {length} steps")
    return network, traj, steps


def log_probability_from_value_trajectory(
    variables: Network | Sequence[Variable] | Any,
    value_trajectory: Mapping[str, Any],
    num_steps: int | None = None,
    *,
    seed: int | Any = None,
    compiled: bool = True,
) -> Any:
    """Log-probability of steps ``0..num_steps`` of ``value_trajectory`` under ``variables``.

    ``value_trajectory`` maps every variable to a Value whose fields have a leading
    time axis (NumPy arrays or tensors). Unlogged draws are an error naming them,
    unless ``seed`` (an int or an ``int32[2]`` tensor) is given to sample them. The
    compiled function is cached per model, so calling this in a training loop
    traces once per trajectory shape. Returns a scalar tensor.
    """
    network, traj, steps = _prepare(variables, value_trajectory, num_steps)
    B = tf_backend()
    key = None if seed is None else (B.make_seed(seed) if isinstance(seed, int) else seed)
    if not compiled:
        return _score(network, traj, steps, key)
    fn = _compiled_scorer(network)
    return fn(traj, tf.constant(steps, tf.int32), key) if key is not None else fn(traj, tf.constant(steps, tf.int32))


def _resolve_latent(network: Network, traj: Flat, name: str) -> tuple[str, str]:
    var, sep, field = name.partition("/")
    if var not in traj:
        raise NetworkError(f"latent {name!r}: no variable {var!r} in the model; it has {sorted(traj)}")
    fields = traj[var]
    if not sep:
        if len(fields) != 1:
            raise NetworkError(
                f"latent {name!r}: variable {var!r} has the fields {sorted(fields)}; name one as '{var}/<field>'"
            )
        return var, next(iter(fields))
    if field not in fields:
        raise NetworkError(f"latent {name!r}: variable {var!r} has no field {field!r}; it has {sorted(fields)}")
    return var, field


class LogProbabilityFn:
    """``fn(*latent_values)``: the log-probability of a trajectory with its latent fields replaced.

    Built by :func:`make_log_probability_fn`. ``latent`` lists the held-out fields
    in argument order and ``initial_state`` their values in the trajectory (a
    starting point for a Markov chain).
    """

    def __init__(self, network: Network, traj: Flat, latent: list[tuple[str, str]], steps: int, seed: Any) -> None:
        self.network = network
        self.latent = [f"{v}/{k}" for v, k in latent]
        self._slots = latent
        self._traj = traj
        self._steps = tf.constant(steps, tf.int32)
        self._seed = seed
        self._fn = _compiled_scorer(network)

    @property
    def initial_state(self) -> list[Any]:
        return [self._traj[v][k] for v, k in self._slots]

    def trajectory_with(self, *latent_values: Any) -> dict[str, Value]:
        """The trajectory with the latent fields set to ``latent_values``."""
        return as_values(self._fill(latent_values))

    def _fill(self, latent_values: Sequence[Any]) -> Flat:
        if len(latent_values) != len(self._slots):
            raise TypeError(
                f"this log-probability takes {len(self._slots)} latent value(s) {self.latent}, got {len(latent_values)}"
            )
        traj = {n: dict(f) for n, f in self._traj.items()}
        for (v, k), x in zip(self._slots, latent_values):
            old = traj[v][k]
            x = tf.convert_to_tensor(x, dtype=old.dtype)
            if not x.shape.is_compatible_with(old.shape):
                raise NetworkError(
                    f"latent '{v}/{k}' has shape {tuple(old.shape)} in the trajectory; "
                    f"got a value of shape {tuple(x.shape)}"
                )
            traj[v][k] = x
        return traj

    def __call__(self, *latent_values: Any) -> Any:
        traj = self._fill(latent_values)
        if self._seed is None:
            return self._fn(traj, self._steps)
        return self._fn(traj, self._steps, self._seed)


def make_log_probability_fn(
    variables: Network | Sequence[Variable] | Any,
    value_trajectory: Mapping[str, Any],
    latent: Sequence[str],
    num_steps: int | None = None,
    *,
    seed: int | Any = None,
) -> LogProbabilityFn:
    """Hold out ``latent`` fields of ``value_trajectory`` and score proposals for them.

    ``latent`` names fields as ``"variable/field"`` (or ``"variable"`` when it has
    one field). The trajectory's values of those fields only fix their shapes and
    dtypes (and give ``initial_state``). The result is a ``tfp.mcmc`` target:
    ``target_log_prob_fn=fn`` with ``current_state=fn.initial_state``.
    """
    network, traj, steps = _prepare(variables, value_trajectory, num_steps)
    if not latent:
        raise ValueError("make_log_probability_fn needs at least one latent field")
    slots = [_resolve_latent(network, traj, name) for name in latent]
    B = tf_backend()
    key = None if seed is None else (B.make_seed(seed) if isinstance(seed, int) else seed)
    return LogProbabilityFn(network, traj, slots, steps, key)
