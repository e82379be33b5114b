"""Compiled, differentiable log-probabilities of value trajectories on JAX.

The functions mirror `recosim.core.log_probability` (and the TF runtime's):

* :func:`log_probability_from_value_trajectory` scores a logged trajectory: step 0
  with the initial-value behaviours, then a ``lax.scan`` over the transitions, all
  in one jit-compiled function;
* :func:`make_log_probability_fn` holds some fields out (latent) and returns a
  function of their values, the target density an MCMC sampler needs;
* :func:`replace_fields` (core's) puts proposed latent values into a trajectory.

Gradients with respect to model parameters come from building the model inside
the differentiated function:

>>> import jax, jax.numpy as jnp
>>> from recosim.core.examples import random_walk_variables
>>> traj = {"walk": {"position": jnp.zeros((3, 1))}}
>>> g = jax.grad(lambda s: log_probability_from_value_trajectory(random_walk_variables(1, s), traj))
>>> round(float(g(1.0)), 4)  # d/ds of 3 log N(0; 0, s) = -3/s
-3.0
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from recosim.core.backend import Backend, using_backend
from recosim.core.errors import SpecError
from recosim.core.log_probability import LogProbabilityFn as CoreLogProbabilityFn
from recosim.core.log_probability import replace_fields, step_log_probabilities
from recosim.core.network import Network
from recosim.core.settings import active_settings, using_settings
from recosim.core.story import network_from_story
from recosim.core.trajectory import check_num_steps, trajectory_length
from recosim.core.value import Value
from recosim.core.variable import Variable
from recosim.jax.backend import config_value, jax_backend
from recosim.jax.compile_cache import ensure_configured

__all__ = [
    "log_probability_from_value_trajectory",
    "make_log_probability_fn",
    "replace_fields",
    "LogProbabilityFn",
    "TrajectoryScorer",
    "refuse_64_bit_specs",
    "total_of",
]

ScoreFn = Callable[[dict[str, Value], Any], dict[str, Any]]


def _float_dtype() -> Any:
    return jax.dtypes.canonicalize_dtype(np.float64)  # float32 unless x64 is enabled


_WIDE = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}


def refuse_64_bit_specs(network: Network) -> None:
    """A `SpecError` for the first field whose spec declares a 64-bit dtype while JAX's 64-bit mode is off.

    Without ``jax_enable_x64`` JAX silently makes such arrays 32-bit, so a
    declared ``int64`` counter would wrap at ``2**31``.
    """
    if config_value("jax_enable_x64"):
        return
    for var in network.variables:
        for key, spec in var.spec.items():
            if spec.dtype in _WIDE:
                raise SpecError(
                    f"variable {var.name!r}, field {key!r}: its FieldSpec declares {spec.dtype}, which JAX "
                    f"carries as {_WIDE[spec.dtype]} unless 64-bit mode is on; call "
                    "jax.config.update('jax_enable_x64', True) first, or declare a 32-bit dtype"
                )


def _as_jax(name: str, key: str, field: Any) -> Any:
    """A logged field as a JAX array; 64-bit integers that 32 bits cannot hold are refused, not wrapped."""
    if isinstance(field, jax.core.Tracer):
        return field
    if not config_value("jax_enable_x64") and isinstance(field, (np.ndarray, np.generic)) and field.size:
        kind, wide = field.dtype.kind, field.dtype.itemsize > 4
        if kind in "iu" and wide:
            info = np.iinfo(np.int32 if kind == "i" else np.uint32)
            low, high = field.min(), field.max()
            if low < info.min or high > info.max:
                raise SpecError(
                    f"variable {name!r}, field {key!r}: the logged {field.dtype.name} values reach "
                    f"{low if low < info.min else high}, which JAX would wrap to 32 bits; turn on "
                    "jax_enable_x64, or log values that fit"
                )
    return jnp.asarray(field)


def prepare_trajectory(network: Network, value_trajectory: Mapping[str, Any]) -> tuple[dict[str, Value], int]:
    """The network's variables of ``value_trajectory`` as JAX arrays, and its number of steps (checked by core).

    Logged 64-bit integers that do not fit in 32 bits are refused (a `SpecError`)
    unless JAX's 64-bit mode is on, instead of wrapping to another class.
    """
    length = trajectory_length(network.names, value_trajectory)
    out = {
        name: Value({key: _as_jax(name, key, field) for key, field in Value(value_trajectory[name]).items()})
        for name in network.names
    }
    return out, length


def _per_variable(network: Network, lps: Mapping[str, Any]) -> dict[str, Any]:
    dtype = _float_dtype()
    return {name: jnp.asarray(lps.get(name, 0.0), dtype=dtype) for name in network.names}


class TrajectoryScorer:
    """Per-variable, per-step log-probabilities of trajectories under one network.

    Compiled functions are cached per number of scored transitions (and per
    trajectory shapes, by ``jax.jit`` itself). Settings (`recosim.core.settings`)
    are an argument of the compiled function: ``settings=`` of each call, or
    those in force when it is called. With ``jit=False`` the steps are
    scored in a Python loop on concrete arrays, which is easier to debug; so
    they are with ``validate=True`` (checked mode: impossible data is refused,
    naming the variable, field and step, instead of scoring ``-inf``).
    """

    def __init__(
        self, network: Network, backend: Backend | None = None, *, jit: bool = True, validate: bool = False
    ) -> None:
        self.network = network
        self.backend = backend if backend is not None else jax_backend()
        self.validate = bool(validate)
        self.jit = jit and not self.validate  # checked mode reads concrete values: a Python loop
        self._compiled: dict[tuple[int, bool], Callable[..., dict[str, Any]]] = {}
        if self.jit:
            ensure_configured()

    def by_step(
        self,
        value_trajectory: Mapping[str, Any],
        num_steps: int | None = None,
        *,
        seed: Any = None,
        settings: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``{variable: log-probabilities of steps 0..num_steps}`` (arrays of length ``num_steps + 1``)."""
        traj, length = prepare_trajectory(self.network, value_trajectory)
        steps = check_num_steps(num_steps, length)
        key = self._key(seed)
        values = settings_in_force(settings)
        if not self.jit:
            with using_settings(values):
                return self.score_loop(steps, traj, key)
        cache_key = (steps, key is not None)
        fn = self._compiled.get(cache_key)
        if fn is None:

            def score(tr: dict[str, Value], k: Any, st: Mapping[str, Any]) -> dict[str, Any]:
                with using_settings(st):
                    return self.score_scan(steps, tr, k)

            fn = self._compiled[cache_key] = jax.jit(score)
        return fn(traj, key, values)

    def total(
        self,
        value_trajectory: Mapping[str, Any],
        num_steps: int | None = None,
        *,
        seed: Any = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Any:
        """Sum over variables and steps of :meth:`by_step`."""
        return total_of(self.by_step(value_trajectory, num_steps, seed=seed, settings=settings))

    def traced_total(
        self,
        value_trajectory: Mapping[str, Any],
        num_steps: int | None,
        seed: Any,
        settings: Mapping[str, Any] | None = None,
    ) -> Any:
        """:meth:`total` without a jit of its own, for use inside a caller's compiled function.

        ``settings`` (default: those in force) may be traced values of the caller's function.
        """
        traj, length = prepare_trajectory(self.network, value_trajectory)
        steps = check_num_steps(num_steps, length)
        score = self.score_scan if self.jit else self.score_loop
        with using_settings(settings_in_force(settings)):
            return total_of(score(steps, traj, self._key(seed)))

    def _key(self, seed: Any) -> Any:
        return None if seed is None else (self.backend.make_seed(seed) if isinstance(seed, int) else seed)

    # -- the two evaluation strategies ---------------------------------------------------------
    def _step(self, current: Mapping[str, Value], previous: Mapping[str, Value] | None, key: Any, t: Any) -> Any:
        B = self.backend
        step_key = None if key is None else B.fold_in(key, t)
        with using_backend(B):
            lps = step_log_probabilities(
                self.network, current, previous, seed=step_key, backend=B, step=t, validate=self.validate
            )
        return _per_variable(self.network, lps)

    def score_scan(self, steps: int, traj: dict[str, Value], key: Any) -> dict[str, Any]:
        """Score step 0, then ``lax.scan`` over the transitions (traceable; no jit of its own)."""
        first = jax.tree.map(lambda x: x[0], traj)
        lp0 = self._step(first, None, key, 0)
        if steps == 0:
            return {n: v[None] for n, v in lp0.items()}
        current = jax.tree.map(lambda x: x[1 : steps + 1], traj)
        previous = jax.tree.map(lambda x: x[:steps], traj)

        def body(carry: None, xs: tuple[Any, Any, Any]) -> tuple[None, dict[str, Any]]:
            cur, prev, t = xs
            return None, self._step(cur, prev, key, t)

        _, rest = jax.lax.scan(body, None, (current, previous, jnp.arange(1, steps + 1, dtype=jnp.int32)))
        return {n: jnp.concatenate([lp0[n][None], rest[n]]) for n in lp0}

    def score_loop(self, steps: int, traj: dict[str, Value], key: Any) -> dict[str, Any]:
        """Score the steps one by one in a Python loop."""
        rows = []
        previous = None
        for t in range(steps + 1):
            current = jax.tree.map(lambda x, t=t: x[t], traj)
            rows.append(self._step(current, previous, key, t))
            previous = current
        return {n: jnp.stack([r[n] for r in rows]) for n in self.network.names}


def settings_in_force(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """``settings`` as JAX arrays, or (None) those in force now: what a compiled scorer takes as its argument."""
    values = active_settings() if settings is None else settings
    return {name: jnp.asarray(v) for name, v in (values or {}).items()}


def total_of(per_step: Mapping[str, Any]) -> Any:
    """The sum of per-variable, per-step log-probabilities."""
    return sum((jnp.sum(v) for v in per_step.values()), jnp.zeros((), _float_dtype()))


_SCORERS: weakref.WeakKeyDictionary[Network, TrajectoryScorer] = weakref.WeakKeyDictionary()


def _scorer(variables: Network | Sequence[Variable], jit: bool) -> TrajectoryScorer:
    network = network_from_story(variables)
    if not jit:
        return TrajectoryScorer(network, jit=False)
    scorer = _SCORERS.get(network)
    if scorer is None:
        scorer = _SCORERS[network] = TrajectoryScorer(network)
    return scorer


def log_probability_from_value_trajectory(
    variables: Network | Sequence[Variable],
    value_trajectory: Mapping[str, Any],
    num_steps: int | None = None,
    *,
    seed: Any = None,
    jit: bool = True,
) -> Any:
    """Log-probability of steps ``0..num_steps`` of ``value_trajectory`` (a JAX scalar).

    ``value_trajectory`` maps every variable to a Value whose fields have a leading
    time axis, as ``JaxRuntime.trajectory`` returns. Every draw must be logged as a
    field of its variable unless ``seed`` is given, in which case unlogged draws are
    sampled (and not scored). Differentiable with ``jax.grad`` with respect to the
    trajectory and to parameters the variables close over.
    """
    return _scorer(variables, jit).total(value_trajectory, num_steps, seed=seed)


class LogProbabilityFn(CoreLogProbabilityFn):
    """The log-probability of a trajectory as a function of its held-out (latent) entries, on JAX.

    Call it with one value per entry of ``latent``, in order (as TFP's MCMC kernels
    call ``target_log_prob_fn(*state)``); a whole variable, or a dotted field
    covering several, takes a Value. It is jit-compiled once and differentiable
    with respect to those values; for several chains at once, ``jax.vmap`` it.
    Latent names mean what they mean on every runtime (`recosim.core.log_probability`).
    """

    def __init__(
        self,
        variables: Network | Sequence[Variable],
        value_trajectory: Mapping[str, Any],
        latent: Sequence[str] | str,
        num_steps: int | None = None,
        *,
        seed: Any = None,
        jit: bool = True,
        validate: bool = False,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            variables, value_trajectory, latent, num_steps, seed=seed, backend=jax_backend(), validate=validate
        )
        self._base = jax.tree.map(jnp.asarray, self.base)
        self._scorer = TrajectoryScorer(self.network, jit=jit, validate=self.validate)
        self.settings = settings_in_force(settings)
        jit = jit and not self.validate

        def evaluate(base: dict[str, Value], values: tuple[Any, ...], settings: Mapping[str, Any]) -> Any:
            traj = replace_fields(base, dict(zip(self.latent, values)))
            return self._scorer.traced_total(traj, self.num_steps, self.seed, settings)

        self._fn = jax.jit(evaluate) if jit else evaluate

    def __call__(self, *values: Any) -> Any:
        self.trajectory_with(*values)  # checks the number of values
        return self._fn(self._base, values, self.settings)


def make_log_probability_fn(
    variables: Network | Sequence[Variable],
    value_trajectory: Mapping[str, Any],
    latent: Sequence[str] | str,
    num_steps: int | None = None,
    *,
    seed: Any = None,
    jit: bool = True,
) -> LogProbabilityFn:
    """A function of the ``latent`` fields' values giving the trajectory's log-probability.

    ``latent`` names ``"variable/field"`` entries (a dotted field covers its
    sub-fields) or whole ``"variable"`` Values; the trajectory may omit them or
    hold placeholders. It scores under the settings in force when it is built
    (`recosim.core.settings.using_settings`). The result is the target
    density for MCMC over latent state, e.g. with the JAX substrate of TFP:

    >>> import jax.numpy as jnp
    >>> from recosim.core.examples import random_walk_variables
    >>> fn = make_log_probability_fn(random_walk_variables(1), {"walk": {}}, latent=["walk/position"])
    >>> round(float(fn(jnp.zeros((2, 1)))), 4)  # two steps at 0: 2 log N(0; 0, 1)
    -1.8379
    """
    return LogProbabilityFn(variables, value_trajectory, latent, num_steps, seed=seed, jit=jit)
