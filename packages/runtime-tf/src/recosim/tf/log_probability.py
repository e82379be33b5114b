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

from recosim.core.backend import using_backend
from recosim.core.errors import NetworkError
from recosim.core.log_probability import LogProbabilityFn as CoreLogProbabilityFn
from recosim.core.log_probability import log_probability_accumulator_variables, step_log_probabilities
from recosim.core.network import Network
from recosim.core.replay import replay_variable
from recosim.core.seeds import fold
from recosim.core.settings import active_settings, using_settings
from recosim.core.story import network_from_story
from recosim.core.trajectory import check_num_steps, trajectory_length
from recosim.core.value import Value
from recosim.core.variable import Variable
from recosim.tf.backend import tf_backend
from recosim.tf.tensors import Flat, to_tensors
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


def _slice(traj: Flat, t: Any) -> dict[str, Value]:
    return {n: Value({k: tf.gather(x, t) for k, x in f.items()}) for n, f in traj.items()}


def _step_total(
    network: Network, current: Any, previous: Any, key: Any, dtype: Any = None, *, step: Any = None,
    validate: bool = False,
) -> Any:
    B = tf_backend()
    with edward2_random_variables():
        per_var = step_log_probabilities(
            network, current, previous, seed=key, backend=B, step=step, validate=validate
        )
    terms = [tf.convert_to_tensor(lp) for lp in per_var.values()]
    if dtype is None:
        floats = [t.dtype for t in terms if t.dtype.is_floating]
        dtype = floats[0] if floats else tf.float32
    total = tf.zeros((), dtype)
    for term in terms:
        total = total + tf.cast(tf.reduce_sum(term), dtype)
    return total


def _score(network: Network, traj: Flat, num_steps: Any, seed: Any, *, validate: bool = False) -> Any:
    """Sum of the step log-probabilities of steps ``0..num_steps`` (a graph-friendly loop).

    ``validate=True`` (checked mode, eager only) scores the steps in a Python loop
    and refuses impossible data, naming the variable, field and step.
    """
    B = tf_backend()
    def key_at(t: Any) -> Any:
        return None if seed is None else fold(B, seed, t)

    with using_backend(B):
        first = _step_total(network, _slice(traj, 0), None, key_at(0), step=0, validate=validate)
        if validate:
            total = first
            for t in range(1, int(num_steps) + 1):
                total = total + _step_total(
                    network, _slice(traj, t), _slice(traj, t - 1), key_at(t), total.dtype, step=t, validate=True
                )
            return total

        def body(t: Any, total: Any) -> tuple[Any, Any]:
            step = _step_total(network, _slice(traj, t), _slice(traj, t - 1), key_at(t), total.dtype)
            return t + 1, total + step

        _, total = tf.while_loop(lambda t, _: t <= num_steps, body, (tf.constant(1, tf.int32), first))
    return total


def _settings_in_force(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """``settings`` as tensors, or (None) those in force now: what a compiled scorer takes as its argument."""
    values = active_settings() if settings is None else settings
    return {name: tf.convert_to_tensor(v) for name, v in (values or {}).items()}


def _compiled_scorer(network: Network) -> Any:
    """``fn(traj, num_steps, settings, seed=None)``, one ``tf.function`` per model (settings are an argument)."""
    key = tuple(id(v) for v in network.variables)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0].variables == network.variables:
        _COMPILED.move_to_end(key)
        return hit[1]

    def score(traj: Flat, num_steps: Any, settings: Mapping[str, Any], seed: Any = None) -> Any:
        with using_settings(settings):
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
    steps = check_num_steps(num_steps, trajectory_length(network.names, value_trajectory))
    return network, to_tensors({n: value_trajectory[n] for n in network.names}, network), steps


def log_probability_from_value_trajectory(
    variables: Network | Sequence[Variable] | Any,
    value_trajectory: Mapping[str, Any],
    num_steps: int | None = None,
    *,
    seed: int | Any = None,
    compiled: bool = True,
    validate: bool = False,
    settings: Mapping[str, Any] | None = None,
) -> Any:
    """Log-probability of steps ``0..num_steps`` of ``value_trajectory`` under ``variables``.

    ``value_trajectory`` maps every variable to a Value whose fields have a leading
    time axis (NumPy arrays or tensors). Unlogged draws are an error naming them,
    unless ``seed`` (an int or an ``int32[2]`` tensor) is given to sample them. The
    compiled function is cached per model, so calling this in a training loop
    traces once per trajectory shape. Returns a scalar tensor. Data outside its
    distribution's support scores ``-inf``; ``validate=True`` (checked mode, run
    eagerly) refuses it instead, naming the variable, field and step. Behaviours
    read ``settings`` (name -> value; default: the settings in force,
    `recosim.core.settings`), an argument of the compiled function.
    """
    network, traj, steps = _prepare(variables, value_trajectory, num_steps)
    B = tf_backend()
    key = None if seed is None else (B.make_seed(seed) if isinstance(seed, int) else seed)
    values = _settings_in_force(settings)
    if not compiled or validate:
        with using_settings(values):
            return _score(network, traj, steps, key, validate=validate)
    fn = _compiled_scorer(network)
    count = tf.constant(steps, tf.int32)
    return fn(traj, count, values, key) if key is not None else fn(traj, count, values)


class LogProbabilityFn(CoreLogProbabilityFn):
    """``fn(*latent_values)``: the log-probability of a trajectory with its latent entries replaced.

    Built by :func:`make_log_probability_fn`; compiled (one cached ``tf.function``
    per model) and differentiable. Latent names mean what they mean on every
    runtime (`recosim.core.log_probability`): ``"variable/field"`` (a dotted field
    covers its sub-fields and takes a Value) or ``"variable"`` (the whole Value).
    ``initial_state`` holds their values in the given trajectory as tensors (a
    starting point for a ``tfp.mcmc`` chain).
    """

    def __init__(
        self,
        variables: Network | Sequence[Variable] | Any,
        value_trajectory: Mapping[str, Any],
        latent: Sequence[str] | str,
        num_steps: int | None = None,
        *,
        seed: int | Any = None,
        validate: bool = False,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(variables, value_trajectory, latent, num_steps, backend=tf_backend(), validate=validate)
        B = tf_backend()
        self.seed = None if seed is None else (B.make_seed(seed) if isinstance(seed, int) else seed)
        self.settings = _settings_in_force(settings)
        self._base = to_tensors(self.base, self.network)
        self._fn = _compiled_scorer(self.network)

    @property
    def initial_state(self) -> list[Any]:
        return [tf.nest.map_structure(tf.convert_to_tensor, v) for v in self.latent_values()]

    def _fill(self, values: Sequence[Any]) -> Flat:
        """The base trajectory's tensors with the latent entries replaced, each in the base's dtype and shape."""
        filled = self.trajectory_with(*values)
        traj = {n: dict(f) for n, f in self._base.items()}
        for name, (var, field) in zip(self.latent, self.slots):
            new = Value(filled[var])
            keys = [k for k in new if field is None or k == field or k.startswith(field + ".")]
            traj.setdefault(var, {})
            if field is None:
                traj[var] = {}
            for key in keys:
                old = self._base.get(var, {}).get(key)
                x = new[key]
                if old is None:
                    traj[var][key] = to_tensors({var: {key: x}}, self.network)[var][key]
                    continue
                x = tf.cast(x, old.dtype) if tf.is_tensor(x) else tf.convert_to_tensor(x, dtype=old.dtype)
                if not x.shape.is_compatible_with(old.shape):
                    raise NetworkError(
                        f"latent {name!r}: field {key!r} has shape {tuple(old.shape)} in the trajectory; "
                        f"got a value of shape {tuple(x.shape)}"
                    )
                traj[var][key] = x
        return traj

    def __call__(self, *values: Any) -> Any:
        traj = self._fill(values)
        steps = tf.constant(check_num_steps(self.num_steps, trajectory_length(self.network.names, traj)), tf.int32)
        if self.validate:
            with using_settings(self.settings):
                return _score(self.network, traj, steps, self.seed, validate=True)
        if self.seed is None:
            return self._fn(traj, steps, self.settings)
        return self._fn(traj, steps, self.settings, self.seed)


def make_log_probability_fn(
    variables: Network | Sequence[Variable] | Any,
    value_trajectory: Mapping[str, Any],
    latent: Sequence[str] | str,
    num_steps: int | None = None,
    *,
    seed: int | Any = None,
) -> LogProbabilityFn:
    """Hold out ``latent`` fields of ``value_trajectory`` and score proposals for them.

    ``latent`` names ``"variable/field"`` entries (a dotted field covers its
    sub-fields) or whole ``"variable"`` Values, as on every runtime. The
    trajectory's values of those entries fix their shapes and dtypes and give
    ``initial_state``; a whole latent variable may be left out. It scores under
    the settings in force when it is built. The result is a
    ``tfp.mcmc`` target: ``target_log_prob_fn=fn`` with ``current_state=fn.initial_state``.
    """
    return LogProbabilityFn(variables, value_trajectory, latent, num_steps, seed=seed)
