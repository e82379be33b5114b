"""`JaxRuntime`: the network's steps compiled with ``jax.jit`` and iterated with ``lax.scan``.

>>> from recosim.core.examples import counting_variables
>>> rt = JaxRuntime(counting_variables(), seed=0)
>>> rt.trajectory(4)["count"].get("n").tolist()
[0, 1, 2, 3]
>>> int(rt.execute(10)["count"].get("n"))
10

Keys follow core's convention (`recosim.core.seeds`): a call's key is the
runtime's next call key (or ``make_seed(seed=...)``); step ``t`` is evaluated
under ``seed(fold(key, t))`` and each draw folds in the hash of its name. The same
seed therefore gives the same trajectory on every call, and runs in a batch
(``run_many``) equal the runs made one seed at a time.

On CPU ``run_many`` runs the single-run compiled function once per key, as many
runs at a time as there are cores and memory for (`JaxRuntime.parallel_runs`),
each in its own thread (XLA releases the interpreter lock while it computes).
Measured on the ecosystem model (2000 users x 400 documents, 2 cores), a
``vmap`` ped batch of 8 runs takes longer per run than 8 single runs, while two
runs side by side on two cores take little more than one. On other devices
(GPU, TPU) the batch is one ``vmap`` ped call.

Settings (`recosim.core.settings`) are an argument of every compiled function
(the single run, the ``vmap`` ped batch, and the function traced inside a
caller's transformation), so a call with new values of the same dtype and shape
reuses the compiled code:

>>> from recosim.core import Value, ValueSpec, FieldSpec, Variable, value, setting
>>> rate = Variable("total", ValueSpec(x=FieldSpec((), "float32")))
>>> rate.initial_value = value(lambda: Value(x=setting("rate")))
>>> rate.value = value(lambda p: Value(x=p.get("x") + setting("rate")), (rate.previous,))
>>> rt = JaxRuntime([rate], seed=0, settings={"rate": 1.0})
>>> [float(rt.execute(3, settings={"rate": r})["total"].get("x")) for r in (1.0, 2.5)]
[4.0, 10.0]
>>> len(rt._executables)  # one compiled program for both values
1
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jax_extend_core  # find_top_trace: whether a transformation is tracing

from recosim.core.backend import Backend, using_backend
from recosim.core.checks import checked
from recosim.core.errors import SpecError
from recosim.core.evaluation import carried_dtype_problem, initial_step, transition
from recosim.core.network import NetworkValue
from recosim.core.plugins import COMPILES, DIFFERENTIABLE, SHARDS, VECTORISES
from recosim.core.random import seed as seed_handler
from recosim.core.runtime import ModelLike, RunKind, Runtime
from recosim.core.seeds import fold
from recosim.core.settings import using_settings
from recosim.core.trajectory import stack_steps
from recosim.core.value import Value, shape_of
from recosim.jax._pytree import register_value_pytree
from recosim.jax.backend import config_value, is_weakly_typed, jax_backend, strong
from recosim.jax.compile_cache import configure as configure_compile_cache
from recosim.jax.compile_cache import ensure_configured
from recosim.jax.log_probability import LogProbabilityFn, TrajectoryScorer, refuse_64_bit_specs
from recosim.jax.sharding import PopulationSharding, as_population_sharding

__all__ = ["JaxRuntime", "available_memory", "cpu_cores"]

register_value_pytree()


def _carry_value(name: str, value: Any, where: str) -> Value:
    """A variable's Value with every field a strongly typed JAX array."""
    fields = {}
    for key, field in Value(value).items():
        try:
            fields[key] = strong(field)
        except (TypeError, ValueError, OverflowError) as err:
            raise SpecError(
                f"variable {name!r}, field {key!r}: {where} is a {type(field).__name__}, "
                f"which is not an array the JAX runtime can carry ({err})"
            ) from None
    return Value(fields)


def _conform(name: str, new: Any, previous: Value) -> Value:
    """Make a transition's output match the carried value's shape and dtype, or say why it cannot."""
    new_v = Value(new)
    if set(new_v.keys()) != set(previous.keys()):
        raise SpecError(
            f"variable {name!r}: the transition returns the fields {sorted(new_v.keys())} "
            f"but the previous step holds {sorted(previous.keys())}"
        )
    fields = {}
    for key, field in new_v.items():
        ref = previous[key]
        shape = shape_of(field)
        if shape != tuple(ref.shape):
            raise SpecError(
                f"variable {name!r}, field {key!r}: the transition returns shape {shape} but the previous "
                f"step holds shape {tuple(ref.shape)}; a scanned simulation keeps every field's shape fixed"
            )
        dtype = jnp.result_type(field) if not hasattr(field, "dtype") else field.dtype
        new_name, ref_name = np.dtype(dtype).name, np.dtype(ref.dtype).name
        castable = is_weakly_typed(field) and carried_dtype_problem(new_name, ref_name, weak=True) is None
        if dtype != ref.dtype and not castable:
            raise SpecError(
                f"variable {name!r}, field {key!r}: the transition returns dtype {np.dtype(dtype).name} but "
                f"the previous step holds {np.dtype(ref.dtype).name}; give both the same dtype (declare it "
                "in the FieldSpec, and convert initial values with B.asarray(x, dtype))"
            )
        fields[key] = strong(field, ref.dtype)
    return Value(fields)


def refuse_wide_logged_floats(network: Any, value_trajectory: Mapping[str, Any]) -> None:
    """A `SpecError` for the first logged 64-bit float field whose spec declares a dtype, as NumPy and TF refuse it.

    Without JAX's 64-bit mode such a field would be narrowed to 32 bits without a word.
    """
    if config_value("jax_enable_x64"):
        return
    for name in network.names:
        if name not in value_trajectory:
            continue
        specs = network[name].spec.as_dict
        for key, field in Value(value_trajectory[name]).items():
            dtype = getattr(field, "dtype", None)
            if dtype is None or isinstance(field, jax.core.Tracer):
                continue
            dt = np.dtype(dtype)
            if dt.kind in "fc" and dt.itemsize > (8 if dt.kind == "c" else 4):
                declared = getattr(specs.get(key), "dtype", None)
                if declared is None:  # no declared dtype: scored at 32 bits, as the model's own draws are
                    continue
                raise SpecError(
                    f"variable {name!r}, field {key!r}: the logged data has dtype {dt.name} where the model "
                    f"carries {declared}; convert it (x.astype({declared!r})) or turn on jax_enable_x64"
                )


def _on_cpu() -> bool:
    return jax.default_backend() == "cpu"


def _outside_traces() -> bool:
    """True when no JAX transformation (jit, grad, vmap) is tracing the caller."""
    # public in jax.extend.core on current JAX, in jax.core on JAX 0.6
    find = getattr(jax_extend_core, "find_top_trace", None) or getattr(jax.core, "find_top_trace", None)
    if find is None:  # a JAX without it: take the path that is right inside traces too
        return False
    return type(find(())).__name__ == "EvalTrace"


def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not offered on every platform
        return max(1, os.cpu_count() or 1)


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable`` of ``/proc/meminfo``; 4 GiB where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


class JaxRuntime(Runtime):
    """Ancestral sampling compiled with ``jax.jit``; time is a ``lax.scan``.

    ``jit=False`` evaluates the same steps eagerly in a Python loop (concrete
    arrays, breakpoints work). ``validate=True`` is checked mode
    (`recosim.core.checks`): the steps run eagerly and every draw and value is
    checked, errors naming the variable, field and step. A field whose spec
    declares a 64-bit dtype is refused unless JAX's 64-bit mode is on (JAX would
    otherwise carry it in 32 bits). ``callback(t)`` is called on the host after each
    transition (single runs only). Compiled functions are cached per call kind and
    length: build a new runtime after changing parameters the behaviours close over
    (or build the model inside a function you jit or differentiate), or make them
    settings (``settings={...}``, read with `recosim.core.setting`), which every
    compiled function takes as an argument.

    Compiled programs are kept in JAX's persistent compilation cache, so a new
    process loads them instead of compiling again (`recosim.jax.compile_cache`):
    on by default in the user's cache folder; ``compile_cache`` moves it (a
    folder), turns it off (None or ``"off"``) or keeps the environment's choice
    (``RECOSIM_COMPILE_CACHE``; the default ``"env"``). The setting is the
    process's: the last runtime built with an explicit value decides.

    ``shard`` splits one simulation's population over several devices
    (`recosim.jax.sharding`): ``shard=population_sharding(population=2000, devices=4)``
    or the same as a dict, ``shard={"population": 2000, "devices": 4}``. Every
    carried field whose leading axis is ``population`` long is split over the
    devices, the rest is copied to each; results equal the unsharded run's up to
    the order of sums across the population.
    """

    name = "jax"

    capabilities = frozenset({COMPILES, VECTORISES, DIFFERENTIABLE, SHARDS})

    runs_per_call: int
    """Runs one `run_many` call should hold by default here: `parallel_runs` (see the module notes)."""

    def __init__(
        self,
        network: ModelLike,
        *,
        seed: int | None = None,
        jit: bool = True,
        callback: Callable[[int], None] | None = None,
        validate: bool = False,
        settings: Mapping[str, Any] | None = None,
        compile_cache: str | os.PathLike[str] | None = "env",
        shard: PopulationSharding | Mapping[str, Any] | None = None,
    ) -> None:
        self.shard = as_population_sharding(shard)
        if not (isinstance(compile_cache, str) and compile_cache == "env"):
            configure_compile_cache(compile_cache)
        super().__init__(network, seed=seed, validate=validate, settings=settings)
        refuse_64_bit_specs(self.network)
        self.jit = bool(jit)
        if self.jit:
            ensure_configured()
        self.callback = callback
        self._compiled: dict[tuple[Any, ...], Callable[..., Any]] = {}
        self._scorer = TrajectoryScorer(self.network, self.backend, jit=self.jit, validate=self.validate)
        self._executables: dict[tuple[Any, ...], Any] = {}
        self.runs_per_call = cpu_cores() if _on_cpu() else 8

    def parallel_runs(self, kind: RunKind = "execute", n: int = 1) -> int:
        """How many single runs of this kind and length ``run_many`` computes side by side on CPU.

        One per core, but no more than half the memory now available holds: the
        peak of one run is measured from the compiled function (XLA's memory
        analysis of its arguments, outputs and temporaries).
        """
        return self._parallel_runs(self._executable(kind, n, self.backend.make_seed(0), None, self.current_settings()))

    def _parallel_runs(self, executable: Any) -> int:
        cores = cpu_cores()
        if cores <= 1:
            return 1
        try:
            stats = executable.memory_analysis()
            per_run = int(stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes)
        except Exception:  # memory analysis is not offered everywhere: one run at a time
            return 1
        return int(max(1, min(cores, available_memory() // (2 * max(per_run, 1)))))

    def _executable(
        self,
        kind: RunKind,
        n: int,
        key: Any,
        start: NetworkValue | None,
        settings: Mapping[str, Any],
        report: bool = False,
    ) -> Any:
        """The compiled single run for these arguments' shapes (compiled once, ahead of the call).

        Settings are an argument: their values never enter the cache key, only their shapes and dtypes.
        """
        leaves, tree = jax.tree.flatten((start, settings))
        cache_key = (kind, n, report, tree, tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves))
        exe = self._executables.get(cache_key)
        if exe is None:
            exe = jax.jit(partial(self._run, kind, n, report)).lower(key, start, settings).compile()
            self._executables[cache_key] = exe
        return exe

    @property
    def backend(self) -> Backend:
        return jax_backend()

    # -- one step ---------------------------------------------------------------
    def initial_step(self, key: Any) -> NetworkValue:
        """The initial value under step key ``fold_in(key, 0)`` (traceable).

        Behaviours read the settings in force (a run's), else the runtime's declared ones.
        """
        B = self.backend
        with using_backend(B), using_settings(self.current_settings()), seed_handler(fold(B, key, 0), B):
            with self._checked(0):
                out = initial_step(self.network)
        return self._placed({n: _carry_value(n, v, "its initial value") for n, v in out.items()})

    def transition(self, key: Any, t: Any, previous: NetworkValue) -> NetworkValue:
        """The value at step ``t`` from ``previous``, under step key ``fold_in(key, t)`` (traceable)."""
        B = self.backend
        with using_backend(B), using_settings(self.current_settings()), seed_handler(fold(B, key, t), B):
            with self._checked(t):
                out = transition(self.network, previous, step=t)
        return self._placed({n: _conform(n, out[n], previous[n]) for n in self.network.names})

    def _placed(self, value: NetworkValue) -> NetworkValue:
        """The step's value held to the population sharding, if there is one."""
        return value if self.shard is None else self.shard.constrain(value)

    def _checked(self, step: Any) -> AbstractContextManager[Any]:
        return checked(step) if self.validate else nullcontext()

    @staticmethod
    def _carry_start(start: NetworkValue | None) -> NetworkValue | None:
        """A (checked) starting value as strongly typed arrays, as the scan carries them."""
        if start is None:
            return None
        return {n: _carry_value(n, v, "its starting value") for n, v in start.items()}

    # -- whole runs (pure functions of the key) ------------------------------------
    def _report(self, t: Any) -> None:
        if self.callback is not None:
            callback = self.callback
            jax.debug.callback(lambda step: callback(int(step)), t, ordered=True)

    def _trajectory_fn(self, length: int, report: bool, key: Any, start: NetworkValue | None) -> NetworkValue:
        first = self.initial_step(key) if start is None else start
        if length == 1:
            return jax.tree.map(lambda x: x[None], first)

        def body(carry: NetworkValue, t: Any) -> tuple[NetworkValue, NetworkValue]:
            nxt = self.transition(key, t, carry)
            if report:
                self._report(t)
            return nxt, nxt

        _, rest = jax.lax.scan(body, first, jnp.arange(1, length, dtype=jnp.int32))
        return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)

    def _execute_fn(self, num_steps: int, report: bool, key: Any, start: NetworkValue | None) -> NetworkValue:
        first = self.initial_step(key) if start is None else start
        if num_steps == 0:
            return first

        def body(carry: NetworkValue, t: Any) -> tuple[NetworkValue, None]:
            nxt = self.transition(key, t, carry)
            if report:
                self._report(t)
            return nxt, None

        last, _ = jax.lax.scan(body, first, jnp.arange(1, num_steps + 1, dtype=jnp.int32))
        return last

    def _eager(self, count: int, key: Any, start: NetworkValue | None, stack: bool) -> NetworkValue:
        current = self.initial_step(key) if start is None else start
        steps = [current]
        for t in range(1, count):
            current = self.transition(key, t, current)
            if self.callback is not None:
                self.callback(t)
            if stack:
                steps.append(current)
        return stack_steps(steps, self.backend) if stack else current

    def _run_fn(self, kind: str) -> Callable[..., NetworkValue]:
        return self._trajectory_fn if kind == "trajectory" else self._execute_fn

    def _run(
        self, kind: str, n: int, report: bool, key: Any, start: NetworkValue | None, settings: Mapping[str, Any]
    ) -> NetworkValue:
        """One whole run with ``settings`` (the compiled function's argument) in force while it is traced."""
        with using_settings(settings):
            return self._run_fn(kind)(n, report, key, start)

    def _jitted_fn(self, kind: str, n: int, report: bool) -> Callable[..., NetworkValue]:
        """One run as a ``jax.jit`` function (traced again for new argument shapes or closed-over tracers)."""
        cache_key = ("single", kind, n, report)
        fn = self._compiled.get(cache_key)
        if fn is None:
            fn = jax.jit(partial(self._run, kind, n, report))
            self._compiled[cache_key] = fn
        return fn

    def _batched_fn(self, kind: str, n: int) -> Callable[..., NetworkValue]:
        """The whole run ``vmap`` ped over a leading axis of keys, compiled (GPU and TPU, and inside traces)."""
        cache_key = ("batch", kind, n)
        fn = self._compiled.get(cache_key)
        if fn is None:
            fn = jax.jit(jax.vmap(partial(self._run, kind, n, False), in_axes=(0, None, None)))
            self._compiled[cache_key] = fn
        return fn

    # -- the Runtime contract ---------------------------------------------------------
    def simulate(self, kind: RunKind, n: int, key: Any, start: NetworkValue | None) -> NetworkValue:
        """One run, compiled (a ``lax.scan`` over steps) unless ``jit=False``."""
        start = self._carry_start(start)
        if not self.jit or self.validate:
            count, stack = (n, True) if kind == "trajectory" else (n + 1, False)
            return self._eager(count, key, start, stack)
        self._refuse_outer_handlers()
        report = self.callback is not None
        settings = self.current_settings()
        if not _outside_traces():  # inside grad or jit the model may close over tracers: trace it along
            return self._jitted_fn(kind, n, report)(key, start, settings)
        return self._executable(kind, n, key, start, settings, report)(key, start, settings)

    def simulate_batch(self, kind: RunKind, n: int, keys: Any, start: NetworkValue | None) -> NetworkValue:
        """Every key's run: single compiled runs side by side on CPU, one ``vmap`` ped call elsewhere."""
        if not self.jit or self.validate:
            return super().simulate_batch(kind, n, keys, start)
        self._refuse_outer_handlers()
        start = self._carry_start(start)
        settings = self.current_settings()
        if not _on_cpu() or not _outside_traces():
            return self._batched_fn(kind, n)(keys, start, settings)
        keys = jnp.asarray(keys)
        fn = self._executable(kind, n, keys[0], start, settings)
        workers = min(self._parallel_runs(fn), int(keys.shape[0]))
        if workers <= 1:
            runs = [fn(key, start, settings) for key in keys]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recosim-run") as pool:
                runs = list(pool.map(lambda key: jax.block_until_ready(fn(key, start, settings)), keys))
        return jax.tree.map(lambda *xs: jnp.stack(xs), *runs)

    # -- batches of runs x settings points ----------------------------------------------------
    def batch_runs_per_call(self) -> int | None:
        """The runs one `run_batch` program holds by default: 1 on CPU, else every run (None).

        On CPU one compiled run per core side by side beat a ``vmap`` ped batch on
        the large models measured (see the module notes); small models, whose runs
        are mostly overhead, gain from ``run_batch(..., runs_per_call=k)``.
        """
        return 1 if _on_cpu() else None

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
        """Every (point, key) run through ``outputs``, compiled: one ``vmap`` ped program over points x runs.

        With one run per call (the CPU default) each point's runs are single
        compiled runs, computed side by side on the cores as in `run_many`. The
        settings are the programs' arguments, so new values never compile again.
        Checked and eager runtimes loop run by run (the base class).
        """
        if not self.jit or self.validate:
            return super().batch_outputs(kind, n, keys, start, points, outputs, runs_per_call)
        self._refuse_outer_handlers()
        start = self._carry_start(start)
        keys = jnp.asarray(keys)
        num_runs = int(keys.shape[0])
        grid = {name: jnp.asarray(v) for name, v in points.items()}
        num_points = int(next(iter(points.values())).shape[0]) if points else 1
        unit = runs_per_call or self.batch_runs_per_call() or num_runs
        unit = min(unit, num_runs)
        if unit == 1:
            return self._batch_one_at_a_time(kind, n, keys, start, grid, num_points, outputs)
        fn = self._batch_program(kind, n, outputs)
        chunks = []
        for first in range(0, num_runs, unit):
            chunk = keys[first : first + unit]
            real = int(chunk.shape[0])
            if real < unit:  # pad with the last key: one program shape for every chunk
                chunk = jnp.concatenate([chunk, jnp.repeat(chunk[-1:], unit - real, axis=0)])
            out = fn(chunk, start, grid)
            chunks.append({k: np.asarray(v)[:, :real] for k, v in out.items()})
        return {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}

    def _outputs_run(
        self, kind: str, n: int, outputs: Callable[[NetworkValue], Mapping[str, Any]]
    ) -> Callable[..., dict[str, Any]]:
        def run(key: Any, start: NetworkValue | None, settings: Mapping[str, Any]) -> dict[str, Any]:
            value = self._run(kind, n, False, key, start, settings)
            with using_settings(settings):
                got = self.apply_outputs(outputs, value)
            return {k: jnp.asarray(v) for k, v in got.items()}

        return run

    def _batch_program(self, kind: str, n: int, outputs: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
        """``fn(keys[runs], start, settings[points, ...]) -> {name: [points, runs, ...]}``, jitted."""
        cache_key = ("run_batch", kind, n, outputs)
        fn = self._compiled.get(cache_key)
        if fn is None:
            over_runs = jax.vmap(self._outputs_run(kind, n, outputs), in_axes=(0, None, None))
            fn = jax.jit(jax.vmap(over_runs, in_axes=(None, None, 0)))
            self._compiled[cache_key] = fn
        return fn

    def _batch_one_at_a_time(
        self,
        kind: str,
        n: int,
        keys: Any,
        start: NetworkValue | None,
        grid: Mapping[str, Any],
        num_points: int,
        outputs: Callable[..., Any],
    ) -> dict[str, np.ndarray]:
        """Single compiled runs (run + outputs), side by side on CPU cores, over every point and key."""
        point0 = {k: v[0] for k, v in grid.items()}
        inside = not _outside_traces()
        leaves, tree = jax.tree.flatten((start, point0))
        cache_key = ("run_batch_one", kind, n, outputs, tree, tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves))
        fn = self._executables.get(cache_key)
        if fn is None:
            jitted = jax.jit(self._outputs_run(kind, n, outputs))
            fn = jitted if inside else jitted.lower(keys[0], start, point0).compile()
            self._executables[cache_key] = fn
        tasks = [(p, i) for p in range(num_points) for i in range(int(keys.shape[0]))]
        points = [{k: v[p] for k, v in grid.items()} for p in range(num_points)]

        def one(task: tuple[int, int]) -> dict[str, Any]:
            p, i = task
            return jax.block_until_ready(fn(keys[i], start, points[p]))

        workers = 1 if inside or not _on_cpu() else min(self._parallel_runs(fn), len(tasks))
        if workers <= 1:
            runs = [one(t) for t in tasks]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recosim-run") as pool:
                runs = list(pool.map(one, tasks))
        count = int(keys.shape[0])
        rows = [runs[p * count : (p + 1) * count] for p in range(num_points)]
        return {k: np.stack([np.stack([np.asarray(r[k]) for r in row]) for row in rows]) for k in runs[0]}

    # -- log-probabilities ---------------------------------------------------------------------
    def log_probability(
        self,
        value_trajectory: Mapping[str, Value],
        num_steps: int | None = None,
        *,
        seed: Any = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Any:
        """Log-probability of ``value_trajectory`` (steps ``0..num_steps``), compiled with a scan over steps.

        Equal to `recosim.core.log_probability.log_probability_from_value_trajectory`
        on the same data; ``seed`` samples draws that the data does not log. Scored
        under the runtime's settings (overridden by ``settings``), an argument of the
        compiled function.
        """
        refuse_wide_logged_floats(self.network, value_trajectory)
        return self._scorer.total(value_trajectory, num_steps, seed=seed, settings=self.backend_settings(settings))

    def log_probability_fn(
        self,
        value_trajectory: Mapping[str, Any],
        latent: Sequence[str] | str,
        num_steps: int | None = None,
        *,
        seed: Any = None,
        settings: Mapping[str, Any] | None = None,
    ) -> LogProbabilityFn:
        """The log-probability as a jit-compiled, differentiable function of the ``latent`` entries.

        It scores under the runtime's settings (overridden by ``settings``) as they are when it is built.
        """
        refuse_wide_logged_floats(self.network, value_trajectory)
        return LogProbabilityFn(
            self.network,
            value_trajectory,
            latent,
            num_steps,
            seed=seed,
            jit=self.jit,
            validate=self.validate,
            settings=self.backend_settings(settings),
        )

    def log_probability_by_step(
        self,
        value_trajectory: Mapping[str, Value],
        num_steps: int | None = None,
        *,
        seed: Any = None,
        settings: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``{variable: [log-probability of step t for t in 0..num_steps]}``, under the runtime's settings."""
        refuse_wide_logged_floats(self.network, value_trajectory)
        return self._scorer.by_step(value_trajectory, num_steps, seed=seed, settings=self.backend_settings(settings))
