"""The TensorFlow implementations: tfp.mcmc samplers, Keras optimisers, tfp.vi.

Imported only when a method runs with ``runtime="tf"``. Parameters live in
``tf.Variable`` s that this module owns and passes to ``make_model`` once; the
compiled log-probabilities read them, so gradient steps change the model in
place. Checkpoints are ``.npz`` files of the state's tensors, as on JAX.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability.python.internal import unnest

from recosim.core.backend import using_backend
from recosim.core.evaluation import initial_step
from recosim.core.log_probability import step_log_probabilities
from recosim.core.story import network_from_story
from recosim.core.value import Value
from recosim.inference.loop import LeafState, NpzStore
from recosim.inference.policy import shared_initial_draws, step_log_prob
from recosim.inference.problem import InferenceError, LatentProblem, explain_non_finite, unflatten_params
from recosim.tf.backend import enable_numpy_behavior, tf_backend
from recosim.tf.log_probability import log_probability_from_value_trajectory, make_log_probability_fn
from recosim.tf.runtime import TFRuntime, to_tensors
from recosim.tf.tracing import step_handlers

__all__ = ["STORE", "PosteriorEngine", "VIEngine", "MCEMEngine", "FitEngine", "ReinforceEngine"]

tfd, tfb = tfp.distributions, tfp.bijectors


STORE = NpzStore()
"""Engine state as the leaves of its nest of tensors and variables in a NumPy ``.npz`` (as on JAX)."""


def _seed(seed: int) -> Any:
    return tf_backend().make_seed(int(seed))


def _fold(key: Any, t: int) -> Any:
    return tf_backend().fold_in(key, int(t))


class _TFState(LeafState):
    """Checkpoint support: ``self._tree()`` is a nest of tensors and ``tf.Variable`` s."""

    def _flatten(self, tree: Any) -> tuple[list[Any], Callable[[Sequence[Any]], Any]]:
        return tf.nest.flatten(tree), lambda new: tf.nest.pack_sequence_as(tree, list(new))

    def _restored_leaf(self, saved: np.ndarray, like: Any) -> Any:
        if hasattr(like, "assign"):  # tf.Variable, or a Keras optimiser's variable: restored in place
            like.assign(saved)
            return like
        return tf.constant(saved, dtype=like.dtype)


def _map(fn: Callable[[Any], Any], elems: Any) -> Any:
    """``fn`` over the leading axis of ``elems`` (float32 results); gradients reach ``tf.Variable`` s."""
    return tf.map_fn(fn, elems, fn_output_signature=tf.float32, parallel_iterations=16)


# -- densities and chains -------
UNROLL_STEPS = 64
"""Trajectories up to this many steps are scored with the steps unrolled (XLA compiles them)."""
UNROLL_CHAINS = 16
"""Up to this many chains, the density of each is written out (not vectorised) for HMC and NUTS."""


class Compiled:
    """``fn`` as a ``tf.function`` compiled with XLA, or without it where XLA cannot compile it.

    XLA turns the many small ops of a sampler step into one kernel (for the
    latent-variable model, about 30x faster than graph mode). A model whose ops XLA
    does not support (a ``tf.while_loop`` carrying variables inside a vectorised
    map, say) falls back to a plain graph on the first call, with the same numbers.
    """

    def __init__(self, fn: Callable[..., Any], xla: bool = True) -> None:
        self.fn = fn
        self.xla = xla
        self.compiled = tf.function(fn, autograph=False, jit_compile=xla)

    def __call__(self, *args: Any) -> Any:
        if not self.xla:
            return self.compiled(*args)
        try:
            return self.compiled(*args)
        except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError) as err:
            if "XLA" not in str(err) and "tf2xla" not in str(err) and "xla" not in str(err):
                raise
            self.xla = False
            self.compiled = tf.function(self.fn, autograph=False)
            return self.compiled(*args)


class ChainDensity:
    """``target(*parts)``: the log-probability of each chain's latents (parts ``[chains, ...]``).

    One chain's log-probability is core's step log-probabilities summed over the
    logged steps, unrolled for short trajectories (`UNROLL_STEPS`) and otherwise
    the TF runtime's compiled ``tf.while_loop`` scorer. Up to `UNROLL_CHAINS`
    chains of a short trajectory are scored one by one in the same graph; more
    (the M-step's posterior draws) are vectorised with ``tf.vectorized_map``,
    whose gradients reach the parameters' ``tf.Variable`` s.
    """

    def __init__(self, network: Any, problem: LatentProblem) -> None:
        self.problem = problem
        self.network = network
        self.unrolled = problem.length <= UNROLL_STEPS
        if self.unrolled:
            self.base = {n: {k: tf.constant(x) for k, x in f.items()} for n, f in problem.logged.items()}
        else:
            self.fn = make_log_probability_fn(network, problem.logged, latent=problem.names)

    def one(self, parts: Sequence[Any]) -> Any:
        values = [self.problem.per_step(s, x, tf.broadcast_to) for s, x in zip(self.problem.slots, parts)]
        if not self.unrolled:
            return self.fn(*values)
        traj = {n: dict(f) for n, f in self.base.items()}
        for slot, x in zip(self.problem.slots, values):
            traj[slot.variable][slot.key] = tf.cast(x, traj[slot.variable][slot.key].dtype)
        B = tf_backend()
        total = tf.zeros((), tf.float32)
        previous = None
        with using_backend(B):
            for t in range(self.problem.length):
                current = {n: Value({k: x[t] for k, x in f.items()}) for n, f in traj.items()}
                for lp in step_log_probabilities(self.network, current, previous, backend=B).values():
                    total = total + tf.reduce_sum(tf.cast(lp, tf.float32))
                previous = current
        return total

    def __call__(self, *parts: Any) -> Any:
        count = parts[0].shape[0]
        if self.unrolled and count is not None and count <= UNROLL_CHAINS:
            # one copy of the density per chain: XLA compiles it once, whereas the gradient of a
            # vectorised map is recompiled whenever the chains' values change
            return tf.stack([self.one([x[i] for x in parts]) for i in range(count)])
        return tf.vectorized_map(lambda xs: self.one(xs), tuple(_dense_gradient(x) for x in parts))

    def check_start(self, parts: Sequence[Any], what: str) -> None:
        lps = self(*parts).numpy()
        bad = np.flatnonzero(~np.isfinite(lps))
        if bad.size:
            c = int(bad[0])
            point = {s.name: np.asarray(x[c]) for s, x in zip(self.problem.slots, parts)}
            raise InferenceError(
                f"{what}: the log-probability at the starting point of chain {c} is {lps[c]}; "
                + explain_non_finite(self.network, self.problem.trajectory_with(point), tf_backend())
            )


@tf.custom_gradient
def _dense_gradient(x: Any) -> Any:
    """``x``, with its gradient made a dense tensor (a gather over time steps gives ``IndexedSlices``)."""

    def grad(dy: Any) -> Any:
        return tf.convert_to_tensor(dy)

    return tf.identity(x), grad


class JitteredLeapfrogSteps(tfp.mcmc.TransitionKernel):
    """``inner_kernel`` (HMC) with its number of leapfrog steps drawn uniformly from ``1 .. 2 n - 1`` at every step.

    A fixed trajectory length can resonate with the posterior (on a Gaussian, a
    trajectory near half its period gives antithetic draws: variances come out
    wrong while effective sample sizes look better than independent); jittering
    the length (mean ``n``, shared by the chains of a step) breaks it. The HMC kernel
    keeps its parameters in its results (``store_parameters_in_results=True``),
    so step-size adaptation around this kernel works unchanged.
    """

    def __init__(self, inner_kernel: Any, num_leapfrog_steps: int) -> None:
        self._inner = inner_kernel
        self._steps = int(num_leapfrog_steps)
        self._parameters = {"inner_kernel": inner_kernel, "num_leapfrog_steps": self._steps}

    @property
    def inner_kernel(self) -> Any:
        return self._inner

    @property
    def parameters(self) -> dict[str, Any]:
        return self._parameters

    @property
    def is_calibrated(self) -> bool:
        return True

    def one_step(self, current_state: Any, previous_kernel_results: Any, seed: Any = None) -> Any:
        length_seed, step_seed = tfp.random.split_seed(seed, n=2)
        length = tf.random.stateless_uniform((), length_seed, minval=1, maxval=2 * self._steps, dtype=tf.int32)
        results = unnest.replace_innermost(previous_kernel_results, num_leapfrog_steps=length)
        return self._inner.one_step(current_state, results, seed=step_seed)

    def bootstrap_results(self, init_state: Any) -> Any:
        return self._inner.bootstrap_results(init_state)


class Chains:
    """tfp.mcmc HMC (jittered trajectory lengths) or NUTS, dual-averaging step size (one for all chains)."""

    def __init__(self, target: ChainDensity, method: str, o: Mapping[str, Any]) -> None:
        self.target = target
        self.method = method
        self.o = dict(o)
        self._compiled: dict[tuple[int, int, int], Any] = {}

    def kernel(self, step_size: Any, num_adaptation: int) -> Any:
        o = self.o
        if self.method == "hmc":
            steps = o["num_leapfrog_steps"]
            hmc = tfp.mcmc.HamiltonianMonteCarlo(self.target, step_size, steps, store_parameters_in_results=True)
            inner = JitteredLeapfrogSteps(hmc, steps)
        else:
            inner = tfp.mcmc.NoUTurnSampler(self.target, step_size, max_tree_depth=o["max_tree_depth"])
        return tfp.mcmc.DualAveragingStepSizeAdaptation(
            inner, num_adaptation_steps=max(int(num_adaptation), 1), target_accept_prob=o["target_accept"]
        )

    def _trace(self, _: Any, results: Any) -> dict[str, Any]:
        inner = results.inner_results
        step = tf.convert_to_tensor(results.new_step_size)
        if self.method == "hmc":
            lp = inner.accepted_results.target_log_prob
            diverging = inner.log_accept_ratio < -1000.0
            n_steps = tf.fill(tf.shape(lp), self.o["num_leapfrog_steps"])
        else:
            lp = inner.target_log_prob
            diverging = inner.has_divergence
            n_steps = inner.leapfrogs_taken
        accept = tf.exp(tf.minimum(inner.log_accept_ratio, 0.0))
        return {
            "lp": lp,
            "acceptance_rate": accept,
            "diverging": diverging,
            "n_steps": n_steps,
            "step_size": tf.broadcast_to(step, tf.shape(lp)),
        }

    def run(
        self, state: list[Any], results: Any, step_size: Any, num_adaptation: int, n: int, burnin: int, seed: Any
    ) -> Any:
        """``n`` recorded draws after ``burnin`` steps from ``state`` (and ``results``, or bootstrap)."""
        key = (n, burnin, num_adaptation, results is None)
        fn = self._compiled.get(key)
        if fn is None:

            def go(state: Any, results: Any, step_size: Any, seed: Any) -> Any:
                kernel = self.kernel(step_size, num_adaptation)
                return tfp.mcmc.sample_chain(
                    num_results=n,
                    num_burnin_steps=burnin,
                    current_state=state,
                    previous_kernel_results=results,
                    kernel=kernel,
                    trace_fn=self._trace,
                    seed=seed,
                    return_final_kernel_results=True,
                )

            fn = self._compiled[key] = Compiled(go)
        return fn(state, results, step_size, seed)

    def bootstrap(self, state: list[Any], step_size: Any, num_adaptation: int) -> Any:
        return self.kernel(step_size, num_adaptation).bootstrap_results(state)


def _records(out: Any, problem: LatentProblem, method: str) -> dict[str, np.ndarray]:
    rec = {f"position/{s.name}": np.asarray(x) for s, x in zip(problem.slots, out.all_states)}
    for k, v in out.trace.items():
        if k != "n_steps" or method == "nuts":
            rec[k] = np.asarray(v)
    return rec


class PosteriorEngine(_TFState):
    """HMC or NUTS over the latents: ``num_warmup`` adaptation steps, then ``num_samples`` draws."""

    def __init__(self, problem: LatentProblem, method: str, o: Mapping[str, Any]) -> None:
        enable_numpy_behavior()
        self.problem = problem
        self.method = method
        self.o = dict(o)
        self.density = ChainDensity(problem.network, problem)
        self.chains = Chains(self.density, method, o)
        self.key = _seed(o["seed"])

    def start(self) -> None:
        o = self.o
        inits = self.problem.chain_inits(o["num_chains"], o["init_spread"], o["seed"])
        self.positions = [tf.constant(inits[s.name]) for s in self.problem.slots]
        self.density.check_start(self.positions, f"{self.method} on TF")
        step = tf.constant(o["step_size"], tf.float32)
        self.results = self.chains.bootstrap(self.positions, step, o["num_warmup"])

    def _tree(self) -> Any:
        return (self.positions, self.results)

    def _set_tree(self, tree: Any) -> None:
        self.positions, self.results = tree

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        step = tf.constant(self.o["step_size"], tf.float32)
        out = self.chains.run(self.positions, self.results, step, self.o["num_warmup"], n, 0, _fold(self.key, done))
        self.positions = [x[-1] for x in out.all_states]
        self.results = out.final_kernel_results
        return {} if done < self.o["num_warmup"] else _records(out, self.problem, self.method)


# -- optimisers -------
def make_optimizer(optimizer: Any, learning_rate: float) -> Any:
    """A Keras optimiser from ``"adam"``, ``"sgd"`` or a Keras optimiser object."""
    if optimizer is None or optimizer == "adam":
        return tf.keras.optimizers.Adam(learning_rate)
    if optimizer == "sgd":
        return tf.keras.optimizers.SGD(learning_rate)
    if hasattr(optimizer, "apply_gradients") and hasattr(optimizer, "build"):
        return optimizer
    raise InferenceError(f"optimizer must be 'adam', 'sgd' or a Keras optimizer on TF, got {optimizer!r}")


class _Optimised(_TFState):
    """Parameters as ``tf.Variable`` s (created once, reset by :meth:`_start_params`) and a Keras optimiser."""

    def _setup_params(self, init_params: Mapping[str, np.ndarray], o: Mapping[str, Any]) -> None:
        enable_numpy_behavior()
        self.init_params = dict(init_params)
        self.flat_vars = {k: tf.Variable(v, name=k.replace("/", "_")) for k, v in init_params.items()}
        self.variables = unflatten_params(self.flat_vars)
        self.var_list = list(self.flat_vars.values())
        self.bounds = o.get("bounds", {})
        self.opt = make_optimizer(o.get("optimizer"), o["learning_rate"])
        self.opt.build(self.var_list)
        self.opt_initial = [v.numpy() for v in self.opt.variables]

    def _start_params(self) -> None:
        for k, v in self.flat_vars.items():
            v.assign(self.init_params[k])
        for v, x in zip(self.opt.variables, self.opt_initial):
            v.assign(x)

    def _apply(self, grads: Sequence[Any]) -> Any:
        """One ascent step on the objective whose gradients are ``grads``."""
        self.opt.apply_gradients([(-g, v) for g, v in zip(grads, self.var_list)])
        for name, (low, high) in self.bounds.items():
            var = self.flat_vars[name]
            var.assign(tf.clip_by_value(var, low, high))
        return tf.linalg.global_norm(list(grads))

    def _param_tree(self) -> list[Any]:
        return [*self.var_list, *self.opt.variables]

    def params_numpy(self) -> dict[str, Any]:
        return unflatten_params({k: v.numpy() for k, v in self.flat_vars.items()})


# -- Monte-Carlo EM -------
class MCEMEngine(_Optimised):
    """One unit is one EM iteration: an E-step with warm-started chains, then ``m_steps`` Keras steps."""

    def __init__(
        self,
        make_model: Callable[[Any], Any],
        init_params: Mapping[str, np.ndarray],
        problem: LatentProblem,
        o: Mapping[str, Any],
    ) -> None:
        self.o = dict(o)
        self.problem = problem
        self._setup_params(init_params, o)
        network = network_from_story(make_model(self.variables))
        self.density = ChainDensity(network, problem)
        self.chains = Chains(self.density, o["method"], o)
        self.key = _seed(o["seed"])
        self.last_samples: dict[str, np.ndarray] = {}

        def m_step(samples: Any) -> Any:
            with tf.GradientTape() as tape:
                value = tf.reduce_mean(self.density(*samples))
            grads = tape.gradient(value, self.var_list)
            self._apply(grads)
            return value

        # not XLA: the gradient of a vectorised map is recompiled for every new set of draws
        self.m_step = Compiled(m_step, xla=False)

    def start(self) -> None:
        o = self.o
        self._start_params()
        inits = self.problem.chain_inits(o["num_chains"], o["init_spread"], o["seed"])
        self.positions = [tf.constant(inits[s.name]) for s in self.problem.slots]
        self.density.check_start(self.positions, "mcem on TF")
        self.step_size = tf.constant(o["step_size"], tf.float32)

    def _tree(self) -> Any:
        return (self._param_tree(), self.positions, self.step_size)

    def _set_tree(self, tree: Any) -> None:
        _, self.positions, self.step_size = tree

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        o = self.o
        rows = []
        for it in range(done, done + n):
            warm = o["num_warmup"] if it == 0 else o["num_warmup_per_iteration"]
            out = self.chains.run(
                self.positions, None, self.step_size, warm, o["num_samples"], warm, _fold(self.key, it)
            )
            self.positions = [x[-1] for x in out.all_states]
            self.step_size = tf.convert_to_tensor(out.final_kernel_results.new_step_size)
            samples = [tf.reshape(x, (-1, *x.shape[2:])) for x in out.all_states]
            objective = None
            for _ in range(o["m_steps"]):
                value = self.m_step(samples)
                objective = value if objective is None else objective
            self.last_samples = {
                s.name: np.swapaxes(np.asarray(x), 0, 1) for s, x in zip(self.problem.slots, out.all_states)
            }
            row = {
                "objective": np.asarray(objective),
                "acceptance_rate": np.mean(out.trace["acceptance_rate"]),
                "divergences": np.sum(out.trace["diverging"]),
                "step_size": np.asarray(self.step_size),
            }
            row.update({f"params/{k}": v.numpy() for k, v in self.flat_vars.items()})
            rows.append(row)
        return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}


# -- variational inference -------
class VIEngine(_TFState):
    """A Gaussian surrogate (mean-field or full-rank) over the flattened latents, fitted with a Keras optimiser."""

    def __init__(self, problem: LatentProblem, o: Mapping[str, Any]) -> None:
        enable_numpy_behavior()
        self.o = dict(o)
        self.problem = problem
        self.density = ChainDensity(problem.network, problem)
        self.key = _seed(o["seed"])
        self.fill = tfb.FillScaleTriL(diag_shift=1e-6)
        d = problem.dimension
        self.loc = tf.Variable(tf.zeros((d,), tf.float32), name="loc")
        raw_shape = (d,) if o["family"] == "meanfield" else (d * (d + 1) // 2,)
        self.raw = tf.Variable(tf.zeros(raw_shape, tf.float32), name="raw")
        self.opt = make_optimizer(o.get("optimizer"), o["learning_rate"])
        self.opt.build([self.loc, self.raw])
        self.opt_initial = [v.numpy() for v in self.opt.variables]

        def step(seed: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = tfp.vi.monte_carlo_variational_loss(
                    self._target, self.surrogate(), sample_size=o["num_draws"], seed=seed
                )
            grads = tape.gradient(loss, [self.loc, self.raw])
            self.opt.apply_gradients(zip(grads, [self.loc, self.raw]))
            return -loss

        self.step = tf.function(step, autograph=False)

    def _unflatten(self, z: Any) -> list[Any]:
        out, start = [], 0
        for s in self.problem.slots:
            out.append(tf.reshape(z[..., start : start + s.size], (*z.shape[:-1], *s.shape)))
            start += s.size
        return out

    def _target(self, z: Any) -> Any:
        return self.density(*self._unflatten(z))

    def surrogate(self) -> Any:
        if self.o["family"] == "meanfield":
            return tfd.MultivariateNormalDiag(self.loc, tf.nn.softplus(self.raw) + 1e-6)
        return tfd.MultivariateNormalTriL(self.loc, self.fill.forward(self.raw))

    def start(self) -> None:
        o = self.o
        loc = np.concatenate([self.problem.init[s.name].ravel() for s in self.problem.slots]).astype(np.float32)
        self.density.check_start([tf.constant(x[None]) for x in self._unflatten(tf.constant(loc))], "vi on TF")
        self.loc.assign(loc)
        if o["family"] == "meanfield":
            self.raw.assign(np.full(loc.shape, np.log(np.expm1(o["init_scale"])), np.float32))
        else:
            self.raw.assign(self.fill.inverse(o["init_scale"] * tf.eye(loc.shape[0])))
        for v, x in zip(self.opt.variables, self.opt_initial):
            v.assign(x)

    def _tree(self) -> Any:
        return [self.loc, self.raw, *self.opt.variables]

    def _set_tree(self, tree: Any) -> None:
        pass

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        return {"elbo": np.array([self.step(_fold(self.key, t)).numpy() for t in range(done, done + n)])}

    def fitted(self) -> tuple[np.ndarray, np.ndarray]:
        loc = self.loc.numpy()
        if self.o["family"] == "meanfield":
            return loc, np.diag(tf.nn.softplus(self.raw).numpy() + 1e-6)
        return loc, self.fill.forward(self.raw).numpy()


# -- maximum likelihood / MAP -------
class FitEngine(_Optimised):
    """Mean log-probability of a batch of fully observed trajectories (plus a log prior / N for MAP)."""

    def __init__(
        self,
        make_model: Callable[[Any], Any],
        init_params: Mapping[str, np.ndarray],
        batch: Mapping[str, Mapping[str, np.ndarray]],
        o: Mapping[str, Any],
        log_prior: Callable[[Any], Any] | None,
    ) -> None:
        self.o = dict(o)
        self._setup_params(init_params, o)
        self.network = network_from_story(make_model(self.variables))
        self.batch = {n: {k: tf.constant(x) for k, x in f.items()} for n, f in batch.items()}
        self.count = next(int(x.shape[0]) for f in batch.values() for x in f.values())
        self.key = _seed(o["seed"])
        batch_size = o.get("batch_size") or self.count
        count = self.count

        def per_trajectory(data: Any) -> Any:
            return _map(
                lambda traj: log_probability_from_value_trajectory(
                    self.network, {n: Value(f) for n, f in traj.items()}
                ),
                data,
            )

        def step(seed: Any) -> Any:
            data = self.batch
            if batch_size < count:
                idx = tf.argsort(tf.random.stateless_uniform((count,), seed=seed))[:batch_size]
                data = tf.nest.map_structure(lambda x: tf.gather(x, idx), data)
            with tf.GradientTape() as tape:
                value = tf.reduce_mean(per_trajectory(data))
                if log_prior is not None:
                    with using_backend(tf_backend()):
                        value = value + tf.cast(log_prior(self.variables), value.dtype) / count
            self._apply(tape.gradient(value, self.var_list))
            return value

        self.per_trajectory = tf.function(per_trajectory, autograph=False)
        self.step = tf.function(step, autograph=False)

    def start(self) -> None:
        self._start_params()
        lps = self.per_trajectory(self.batch).numpy()
        bad = np.flatnonzero(~np.isfinite(lps))
        if bad.size:
            i = int(bad[0])
            traj = {n: {k: x[i].numpy() for k, x in f.items()} for n, f in self.batch.items()}
            raise InferenceError(
                f"trajectory {i} has log-probability {lps[i]} at the initial parameters; "
                + explain_non_finite(self.network, traj, tf_backend())
            )

    def _tree(self) -> Any:
        return self._param_tree()

    def _set_tree(self, tree: Any) -> None:
        pass

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        return {"objective": np.array([self.step(_fold(self.key, t)).numpy() for t in range(done, done + n)])}


# -- REINFORCE -------
def _slice(flat: Mapping[str, Mapping[str, Any]], t: Any) -> dict[str, Value]:
    return {n: Value({k: tf.gather(x, t) for k, x in f.items()}) for n, f in flat.items()}


class ReinforceEngine(_Optimised):
    """Rollouts with the current parameters, advantages on the host, a Keras step on the policy's log-probability."""

    def __init__(
        self, make_model: Callable[[Any], Any], init_params: Mapping[str, np.ndarray], spec: Any, o: Mapping[str, Any]
    ) -> None:
        self.o = dict(o)
        self.spec = spec
        self._setup_params(init_params, o)
        network = network_from_story(make_model(self.variables))
        runtime = TFRuntime(network, seed=0)
        loop = runtime.step_function("trajectory")
        B = tf_backend()
        horizon = o["horizon"]
        self.key = _seed(o["seed"])

        def rollouts(pop_keys: Any, run_keys: Any) -> Any:
            runs = []
            for r in range(run_keys.shape[0]):
                with (
                    step_handlers(B.fold_in(run_keys[r], 0)),
                    shared_initial_draws(B.fold_in(pop_keys[r], 0), spec.population, B),
                ):
                    first = initial_step(network)
                runs.append(loop(horizon, run_keys[r], to_tensors(first, network)))
            return tf.nest.map_structure(lambda *xs: tf.stack(xs), *runs)

        def policy_log_prob(flat: Any) -> Any:
            with using_backend(B):
                lp0 = tf.convert_to_tensor(step_log_prob(network, spec.variable, spec.keys, _slice(flat, 0), None, B))
                if horizon == 1:
                    return lp0[None]

                def body(t: Any, acc: Any) -> Any:
                    lp = step_log_prob(network, spec.variable, spec.keys, _slice(flat, t), _slice(flat, t - 1), B)
                    return t + 1, acc.write(t, tf.broadcast_to(tf.cast(lp, lp0.dtype), tf.shape(lp0)))

                acc = tf.TensorArray(lp0.dtype, size=horizon, element_shape=lp0.shape).write(0, lp0)
                _, acc = tf.while_loop(lambda t, _: t < horizon, body, (tf.constant(1), acc))
                return acc.stack()

        def all_log_probs(trajs: Any) -> Any:
            count = tf.nest.flatten(trajs)[0].shape[0]
            return tf.stack([policy_log_prob(tf.nest.map_structure(lambda x, r=r: x[r], trajs)) for r in range(count)])

        def objective(trajs: Any, adv: Any) -> Any:
            return tf.reduce_sum(all_log_probs(trajs) * adv) / spec.normaliser(tuple(adv.shape))

        def gradient(trajs: Any, adv: Any) -> Any:
            with tf.GradientTape() as tape:
                value = objective(trajs, adv)
            return value, tape.gradient(value, self.var_list)

        def step(trajs: Any, adv: Any) -> Any:
            value, grads = gradient(trajs, adv)
            return -value, self._apply(grads)

        self.rollouts = tf.function(rollouts, autograph=False)
        self.log_probs = tf.function(all_log_probs, autograph=False)
        self.gradient = tf.function(lambda t, a: gradient(t, a)[1], autograph=False)
        self.step = tf.function(step, autograph=False)

    def start(self) -> None:
        self._start_params()
        self.running = tf.zeros((self.o["horizon"],), tf.float32)
        self.has_running = tf.constant(False)

    def _tree(self) -> Any:
        return (self._param_tree(), self.running, self.has_running)

    def _set_tree(self, tree: Any) -> None:
        _, self.running, self.has_running = tree

    def sample(self, update: int) -> tuple[Any, np.ndarray]:
        key = _fold(self.key, update)
        pop, run = self.spec.keys_for(key, tf_backend().fold_in)
        trajs = self.rollouts(tf.stack(pop), tf.stack(run))
        return trajs, self.spec.rewards(trajs)

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        rows = []
        for update in range(done, done + n):
            trajs, rewards = self.sample(update)
            if not self.spec.checked:
                self.spec.check_first(rewards, self.log_probs(trajs).numpy(), fresh=update == 0)
            running = self.running.numpy() if bool(self.has_running) else None
            adv, new_running = self.spec.advantages(rewards, running)
            if new_running is not None:
                self.running, self.has_running = tf.constant(new_running, tf.float32), tf.constant(True)
            loss, norm = self.step(trajs, tf.constant(adv, tf.float32))
            rows.append(
                {"mean_return": self.spec.mean_return(rewards), "loss": loss.numpy(), "grad_norm": norm.numpy()}
            )
        return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}

    def gradient_estimates(self, num_estimates: int) -> np.ndarray:
        self.start()
        out = []
        for k in range(num_estimates):
            trajs, rewards = self.sample(k)
            if not self.spec.checked:
                self.spec.check_first(rewards, self.log_probs(trajs).numpy())
            adv, _ = self.spec.advantages(rewards, None)
            grads = self.gradient(trajs, tf.constant(adv, tf.float32))
            out.append(np.concatenate([np.asarray(g).ravel() for g in grads]))
        return np.stack(out)
