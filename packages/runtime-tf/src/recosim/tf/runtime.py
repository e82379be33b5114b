"""`TFRuntime`: the whole simulation compiled into one TensorFlow graph.

``trajectory`` runs the initial step and then the transitions in a
``tf.while_loop`` writing each step into ``TensorArray`` s; ``execute`` runs the
same loop keeping only the last value. Both are ``tf.function`` s (optionally
XLA-compiled with ``xla=True``) cached on the runtime, so repeated calls with new
seeds do not retrace; ``run_many`` runs many independent simulations in one
call. ``eager=True`` runs the very same step functions in a
Python loop, for debugging; it gives the same numbers as the compiled run.

>>> from recosim.core.examples import counting_variables
>>> TFRuntime(counting_variables(), seed=0).trajectory(4)["count"].get("n").numpy().tolist()
[0, 1, 2, 3]

Seeds follow the NumPy runtime's convention: a call's key is
``fold(make_seed(seed), call_index)`` (or ``make_seed(seed=...)``) and step
``t`` draws under ``seed(fold(key, t))`` (`recosim.core.seeds`).

Settings (`recosim.core.settings`) are a tensor argument of every compiled
function, so new values of the same dtype and shape do not retrace:

>>> from recosim.core import Value, ValueSpec, FieldSpec, Variable, value, setting
>>> total = Variable("total", ValueSpec(x=FieldSpec((), "float32")))
>>> total.initial_value = value(lambda: Value(x=setting("rate")))
>>> total.value = value(lambda p: Value(x=p.get("x") + setting("rate")), (total.previous,))
>>> rt = TFRuntime([total], seed=0, settings={"rate": 1.0})
>>> [float(rt.execute(3, settings={"rate": r})["total"].get("x")) for r in (1.0, 2.5)]
[4.0, 10.0]
>>> rt.tracing_count
1
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import tensorflow as tf

from recosim.core.backend import Backend
from recosim.core.checks import checked
from recosim.core.errors import SpecError
from recosim.core.evaluation import initial_step, transition
from recosim.core.network import NetworkValue
from recosim.core.plugins import COMPILES, DIFFERENTIABLE, SHARDS, VECTORISES
from recosim.core.runtime import ModelLike, RunKind, Runtime
from recosim.core.seeds import fold
from recosim.core.settings import using_settings
from recosim.core.value import Value, shape_of
from recosim.tf.backend import enable_numpy_behavior, tf_backend
from recosim.tf.log_probability import LogProbabilityFn, log_probability_from_value_trajectory
from recosim.tf.tensors import Flat, as_values, field_spec, to_tensors
from recosim.tf.tracing import step_handlers

__all__ = ["TFRuntime", "to_tensors", "Flat"]  # to_tensors and Flat live in recosim.tf.tensors


class TFRuntime(Runtime):
    """Graph-compiled ancestral sampling on TensorFlow.

    Args:
        network: a Network, Story, list of variables or story function.
        seed: the runtime's seed (random when omitted).
        xla: compile with XLA (``jit_compile=True``). XLA samples differ from
            non-XLA samples for the same seed (TensorFlow's samplers transform the
            random bits differently), but are reproducible among themselves.
        eager: run the step functions in a Python loop instead of a graph.
        validate: checked mode (`recosim.core.checks`): the steps run eagerly and
            every draw and value is checked, errors naming the variable, field
            and step; log-probabilities refuse impossible data instead of
            scoring it ``-inf``.

    Compiled functions see Python state (attributes, recosim handlers opened
    around the call) as it was when they were traced; parameters meant to change
    between calls belong in ``tf.Variable`` s, or in settings (``settings={...}``,
    read with `recosim.core.setting`), which every compiled function takes as an
    argument.
    """

    name = "tf"

    capabilities = frozenset({COMPILES, VECTORISES, DIFFERENTIABLE, SHARDS})

    runs_per_call = 1
    """Runs one `run_many` call should hold by default: one. TensorFlow already spreads each
    large op of a run over every core (intra-op threads), and `run_many` loops over its runs
    inside one graph, so a batch saves only the call overhead while holding more runs'
    results back from a resumable store."""

    def __init__(
        self,
        network: ModelLike,
        *,
        seed: int | None = None,
        xla: bool = False,
        eager: bool = False,
        validate: bool = False,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(network, seed=seed, validate=validate, settings=settings)
        enable_numpy_behavior()
        if xla and (eager or validate):
            raise ValueError(
                "TFRuntime: xla=True compiles the graph and "
                + ("eager=True" if eager else "validate=True (checked mode runs the steps eagerly)")
                + " avoids it; choose one"
            )
        self.xla = bool(xla)
        self.eager = bool(eager)
        self._functions: dict[tuple[Any, ...], Any] = {}

    @property
    def backend(self) -> Backend:
        return tf_backend()

    # -- the step functions (shared by the compiled and the eager paths) ---------
    def initial_step(self, key: Any) -> Flat:  # type: ignore[override]
        """The initial value under the seed ``fold(key, 0)``, as tensors.

        Behaviours read the settings in force (a run's), else the runtime's declared ones.
        """
        B = self.backend
        with using_settings(self.current_settings()), step_handlers(fold(B, key, 0)), self._checked(0):
            value = initial_step(self.network)
        return to_tensors(value, self.network)

    def transition(self, key: Any, t: Any, previous: Flat) -> Flat:  # type: ignore[override]
        """One transition from ``previous`` under the seed ``fold(key, t)``, as tensors.

        Every field must keep the dtype, and a shape compatible with, its value in
        ``previous``; otherwise a `SpecError` names the variable and field.
        """
        B = self.backend
        with using_settings(self.current_settings()), step_handlers(fold(B, key, t)), self._checked(t):
            value = transition(self.network, as_values(previous), step=t)
        return self._conform(value, previous)

    def _checked(self, step: Any) -> AbstractContextManager[Any]:
        return checked(step) if self.validate else nullcontext()

    def _conform(self, value: NetworkValue, previous: Flat) -> Flat:
        out: Flat = {}
        for name, before in previous.items():
            new = Value(value[name])
            fields: dict[str, Any] = {}
            for key, old in before.items():
                x = new[key]
                if isinstance(x, tf.Variable):
                    x = tf.convert_to_tensor(x)
                elif not tf.is_tensor(x):
                    try:
                        python_scalar = isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)
                        x = tf.constant(x, old.dtype) if python_scalar else tf.convert_to_tensor(np.asarray(x))
                    except Exception as err:
                        raise SpecError(
                            f"variable {name!r}, field {key!r}: the transition returned "
                            f"{type(x).__name__}, which cannot become a {old.dtype.name} tensor ({err})"
                        ) from None
                if x.dtype != old.dtype:
                    raise SpecError(
                        f"variable {name!r}, field {key!r}: the transition returns dtype {x.dtype.name} "
                        f"but the value it follows has dtype {old.dtype.name}; a compiled loop needs one "
                        "dtype per field (cast in the behaviour, or declare the dtype in the spec)"
                    )
                invariant = self._invariant(name, key, old)
                if not invariant.is_compatible_with(x.shape):
                    raise SpecError(
                        f"variable {name!r}, field {key!r}: the transition returns shape "
                        f"{tuple(x.shape.as_list())} but the loop carries shape {_shape_str(invariant)}; "
                        "declare changing axes as None in the variable's FieldSpec"
                    )
                fields[key] = x
            out[name] = fields
        return out

    def _invariant(self, name: str, key: str, x: Any) -> tf.TensorShape:
        """The loop shape of a field: its spec's shape (``None`` axes free), else its first shape."""
        spec = field_spec(self.network, name, key)
        if spec is not None and spec.shape is not None and len(spec.shape) == len(shape_of(x)):
            return tf.TensorShape(list(spec.shape)).merge_with(
                tf.TensorShape([None if s is None else d for s, d in zip(spec.shape, shape_of(x))])
            )
        return tf.TensorShape(x.shape)

    def _invariants(self, flat: Flat) -> Flat:
        return {n: {k: self._invariant(n, k, x) for k, x in f.items()} for n, f in flat.items()}

    # -- compiled loops ------------------------------------------------------------
    def _first(self, key: Any, start: Flat | None) -> Flat:
        return self.initial_step(key) if start is None else start

    def _trajectory_loop(self, length: int, key: Any, start: Flat | None) -> Flat:
        first = self._first(key, start)
        invariants = self._invariants(first)
        arrays = {
            n: {
                k: tf.TensorArray(x.dtype, size=length, element_shape=invariants[n][k]).write(0, x)
                for k, x in f.items()
            }
            for n, f in first.items()
        }

        def body(t: Any, current: Flat, arrays: dict[str, dict[str, Any]]) -> tuple[Any, Flat, Any]:
            new = self.transition(key, t, current)
            written = {n: {k: arrays[n][k].write(t, x) for k, x in f.items()} for n, f in new.items()}
            return t + 1, new, written

        ta_invariants = {n: {k: tf.TensorShape(None) for k in f} for n, f in first.items()}
        _, _, arrays = tf.while_loop(
            lambda t, *_: t < length,
            body,
            (tf.constant(1, tf.int32), first, arrays),
            shape_invariants=(tf.TensorShape([]), invariants, ta_invariants),
        )
        return {n: {k: ta.stack() for k, ta in f.items()} for n, f in arrays.items()}

    def _execute_loop(self, num_steps: Any, key: Any, start: Flat | None) -> Flat:
        first = self._first(key, start)

        def body(t: Any, current: Flat) -> tuple[Any, Flat]:
            return t + 1, self.transition(key, t, current)

        _, last = tf.while_loop(
            lambda t, _: t <= num_steps,
            body,
            (tf.constant(1, tf.int32), first),
            shape_invariants=(tf.TensorShape([]), self._invariants(first)),
        )
        return last

    def _compiled(self, kind: str, length: int | None, from_start: bool) -> Any:
        """``fn(key, settings, start=None[, num_steps])``: one run; the settings are tensors in force inside."""
        cache_key = (kind, length, from_start)
        fn = self._functions.get(cache_key)
        if fn is None:
            if kind == "trajectory":
                assert length is not None

                def python_fn(key: Any, settings: Mapping[str, Any], start: Flat | None = None) -> Flat:
                    with using_settings(settings):
                        return self._trajectory_loop(length, key, start)
            else:

                def python_fn(  # type: ignore[misc]
                    key: Any, settings: Mapping[str, Any], start: Flat | None = None, num_steps: Any = None
                ) -> Flat:
                    with using_settings(settings):
                        return self._execute_loop(num_steps, key, start)

            fn = tf.function(python_fn, autograph=False, jit_compile=self.xla or None)
            self._functions[cache_key] = fn
        return fn

    def many_loop(
        self, kind: str, n: Any, keys: Any, start: Flat | None, statistic: Callable[[Flat], Flat] | None = None
    ) -> Flat:
        """Runs for each of ``keys`` (``[runs, 2]``) in a ``tf.while_loop``, stacked on a leading run axis."""
        loop = self._trajectory_loop if kind == "trajectory" else self._execute_loop

        def one(key: Any) -> Flat:
            out = loop(n, key, start)
            return out if statistic is None else statistic(out)

        num_runs = tf.shape(keys)[0]
        first = one(keys[0])
        arrays = tf.nest.map_structure(
            lambda x: tf.TensorArray(x.dtype, size=num_runs, element_shape=x.shape).write(0, x), first
        )

        def body(i: Any, arrays: Any) -> tuple[Any, Any]:
            return i + 1, tf.nest.map_structure(lambda ta, x: ta.write(i, x), arrays, one(keys[i]))

        _, arrays = tf.while_loop(lambda i, _: i < num_runs, body, (tf.constant(1, tf.int32), arrays))
        return tf.nest.map_structure(lambda ta: ta.stack(), arrays)

    def _compiled_many(self, kind: str, n: int, from_start: bool) -> Any:
        cache_key = ("many", kind, n, from_start)
        fn = self._functions.get(cache_key)
        if fn is None:

            def python_fn(keys: Any, settings: Mapping[str, Any], start: Flat | None = None) -> Flat:
                count = n if kind == "trajectory" else tf.constant(n, tf.int32)
                with using_settings(settings):
                    return self.many_loop(kind, count, keys, start)

            fn = tf.function(python_fn, autograph=False, jit_compile=self.xla or None)
            self._functions[cache_key] = fn
        return fn

    def batch_outputs(
        self,
        kind: RunKind,
        n: int,
        keys: Any,
        start: NetworkValue | None,
        points: Mapping[str, np.ndarray],
        outputs: Callable[[NetworkValue], Mapping[str, Any]],
        runs_per_call: int | None,
    ) -> dict[str, np.ndarray]:
        """Every (point, key) run through ``outputs`` in one ``tf.function`` (a ``tf.while_loop`` over both).

        The settings points are a tensor argument, so new values do not retrace;
        ``runs_per_call`` splits the keys into calls of that many runs (the last
        padded, so every call has one shape). Checked and eager runtimes loop run
        by run (the base class).
        """
        if self.eager or self.validate:
            return super().batch_outputs(kind, n, keys, start, points, outputs, runs_per_call)
        self._refuse_outer_handlers()
        flat_start = None if start is None else to_tensors(start, self.network)
        keys = tf.convert_to_tensor(keys)
        num_runs = int(keys.shape[0])
        unit = min(runs_per_call or num_runs, num_runs)
        grid = {name: tf.convert_to_tensor(v) for name, v in points.items()}
        fn = self._compiled_batch(kind, n, flat_start is not None, outputs)
        chunks = []
        for first in range(0, num_runs, unit):
            chunk = keys[first : first + unit]
            real = int(chunk.shape[0])
            if real < unit:
                chunk = tf.concat([chunk, tf.repeat(chunk[-1:], unit - real, axis=0)], axis=0)
            out = fn(chunk, grid) if flat_start is None else fn(chunk, grid, flat_start)
            chunks.append({k: v.numpy()[:, :real] for k, v in out.items()})
        return {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}

    def _compiled_batch(self, kind: str, n: int, from_start: bool, outputs: Callable[..., Any]) -> Any:
        """``fn(keys[runs], settings[points, ...], start=None) -> {name: [points, runs, ...]}``."""
        cache_key = ("batch", kind, n, from_start, outputs)
        fn = self._functions.get(cache_key)
        if fn is None:
            loop = self._trajectory_loop if kind == "trajectory" else self._execute_loop

            def python_fn(keys: Any, grid: Mapping[str, Any], start: Flat | None = None) -> dict[str, Any]:
                num_runs = tf.shape(keys)[0]
                num_points = tf.shape(next(iter(grid.values())))[0] if grid else tf.constant(1, tf.int32)
                count = n if kind == "trajectory" else tf.constant(n, tf.int32)

                def one(i: Any) -> dict[str, Any]:
                    p, r = i // num_runs, i % num_runs
                    settings = {name: tf.gather(v, p) for name, v in grid.items()}
                    with using_settings(settings):
                        value = as_values(loop(count, keys[r], start))
                        got = self.apply_outputs(outputs, value)
                    return {k: tf.convert_to_tensor(v) for k, v in got.items()}

                first = one(tf.constant(0, tf.int32))
                total = num_points * num_runs
                arrays = {
                    k: tf.TensorArray(x.dtype, size=total, element_shape=x.shape).write(0, x) for k, x in first.items()
                }

                def body(i: Any, arrays: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
                    got = one(i)
                    return i + 1, {k: arrays[k].write(i, got[k]) for k in arrays}

                _, arrays = tf.while_loop(lambda i, _: i < total, body, (tf.constant(1, tf.int32), arrays))
                out = {}
                for k, ta in arrays.items():
                    stacked = ta.stack()
                    out[k] = tf.reshape(stacked, tf.concat([[num_points, num_runs], tf.shape(stacked)[1:]], 0))
                return out

            fn = tf.function(python_fn, autograph=False, jit_compile=self.xla or None)
            self._functions[cache_key] = fn
        return fn

    @property
    def tracing_count(self) -> int:
        """How many times this runtime's compiled functions have been traced (for checking caching)."""
        return sum(int(f.experimental_get_tracing_count()) for f in self._functions.values())

    # -- eager loops -----------------------------------------------------------------
    def _eager_steps(self, count: int, key: Any, start: Flat | None) -> list[Flat]:
        steps = [self._first(key, start)]
        for t in range(1, count):
            steps.append(self.transition(key, tf.constant(t, tf.int32), steps[-1]))
        return steps

    # -- the Runtime contract -------------------------------------------------------
    def simulate(self, kind: RunKind, n: int, key: Any, start: NetworkValue | None) -> NetworkValue:
        """One run: the compiled loop (unless ``eager``), from a checked starting value or the initial step."""
        flat_start = None if start is None else to_tensors(start, self.network)
        if self.eager or self.validate:
            steps = self._eager_steps(n if kind == "trajectory" else n + 1, key, flat_start)
            if kind == "execute":
                return as_values(steps[-1])
            return as_values({nm: {k: tf.stack([s[nm][k] for s in steps]) for k in f} for nm, f in steps[0].items()})
        self._refuse_outer_handlers()
        settings = self.current_settings()
        if kind == "trajectory":
            fn = self._compiled("trajectory", n, flat_start is not None)
            return as_values(fn(key, settings) if flat_start is None else fn(key, settings, flat_start))
        fn = self._compiled("execute", None, flat_start is not None)
        return as_values(fn(key, settings, flat_start, tf.constant(n, tf.int32)))

    def simulate_batch(self, kind: RunKind, n: int, keys: Any, start: NetworkValue | None) -> NetworkValue:
        """Every key's run in one compiled call (a ``tf.while_loop`` over the keys), unless ``eager``."""
        if self.eager or self.validate:
            return super().simulate_batch(kind, n, keys, start)
        self._refuse_outer_handlers()
        fn = self._compiled_many(kind, n, start is not None)
        settings = self.current_settings()
        return as_values(fn(keys, settings) if start is None else fn(keys, settings, to_tensors(start, self.network)))

    def log_probability(
        self,
        value_trajectory: Mapping[str, Value],
        num_steps: int | None = None,
        *,
        seed: int | Any = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Any:
        """Log-probability of ``value_trajectory``, compiled (unless ``eager``) and differentiable.

        Scored under the runtime's settings (overridden by ``settings``), an argument of the compiled function.
        """
        return log_probability_from_value_trajectory(
            self.network,
            value_trajectory,
            num_steps,
            seed=seed,
            compiled=not self.eager,
            validate=self.validate,
            settings=self.backend_settings(settings),
        )

    def log_probability_fn(
        self,
        value_trajectory: Mapping[str, Any],
        latent: Sequence[str] | str,
        num_steps: int | None = None,
        *,
        seed: int | Any = None,
        settings: Mapping[str, Any] | None = None,
    ) -> LogProbabilityFn:
        """The log-probability as a compiled, differentiable function of the ``latent`` entries (tfp.mcmc target).

        It scores under the runtime's settings (overridden by ``settings``) as they are when it is built.
        """
        return LogProbabilityFn(
            self.network,
            value_trajectory,
            latent,
            num_steps,
            seed=seed,
            validate=self.validate,
            settings=self.backend_settings(settings),
        )

    def step_function(self, kind: str = "trajectory") -> Callable[..., Any]:
        """The Python function that ``kind`` ("trajectory" or "execute") compiles, for use in other graphs.

        ``trajectory``: ``fn(length, key, start=None)``; ``execute``: ``fn(num_steps, key, start=None)``.
        Both take ``key`` as an ``int32[2]`` seed tensor and return nested dicts of tensors. Behaviours
        read the settings in force where it runs (`recosim.core.settings.using_settings`), else the
        runtime's declared ones.
        """
        if kind == "trajectory":
            return self._trajectory_loop
        if kind == "execute":
            return self._execute_loop
        raise ValueError(f"step_function kind must be 'trajectory' or 'execute', got {kind!r}")


def _shape_str(shape: tf.TensorShape) -> str:
    return "unknown" if shape.rank is None else str(tuple(shape.as_list()))
