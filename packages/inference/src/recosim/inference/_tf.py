"""The TensorFlow operations of the inference engines: tfp.mcmc kernels, Keras steps, ``tf.GradientTape``.

Imported only when a method runs with ``runtime="tf"``. The algorithms live in
`recosim.inference.engines`; this module gives them `TF` (a
`recosim.inference.engines.Framework`). Parameters live in ``tf.Variable`` s that
this module owns and passes to ``make_model`` once; the compiled
log-probabilities read them, so gradient steps change the model in place.
Checkpoints are ``.npz`` files of the state's tensors, as on JAX.
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
from recosim.inference.engines import Batch, Framework, LogPrior, Rollouts
from recosim.inference.options import OptimizerOptions, SamplerOptions
from recosim.inference.policy import ReinforceSpec, shared_initial_draws, step_log_prob
from recosim.inference.problem import InferenceError, LatentProblem, unflatten_params
from recosim.tf.backend import enable_numpy_behavior, tf_backend
from recosim.tf.log_probability import log_probability_from_value_trajectory, make_log_probability_fn
from recosim.tf.runtime import TFRuntime, to_tensors
from recosim.tf.tracing import step_handlers

__all__ = ["TF", "TFFramework", "make_optimizer", "Compiled", "ChainDensity", "JitteredLeapfrogSteps"]

tfd, tfb = tfp.distributions, tfp.bijectors
Builder = Callable[[Any], Any]


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

    def __init__(self, target: ChainDensity, method: str, sampler: SamplerOptions) -> None:
        self.target = target
        self.method = method
        self.s = sampler
        self._compiled: dict[tuple[int, int, int, bool], Any] = {}

    def kernel(self, step_size: Any, num_adaptation: int) -> Any:
        s = self.s
        if self.method == "hmc":
            steps = s.num_leapfrog_steps
            hmc = tfp.mcmc.HamiltonianMonteCarlo(self.target, step_size, steps, store_parameters_in_results=True)
            inner = JitteredLeapfrogSteps(hmc, steps)
        else:
            inner = tfp.mcmc.NoUTurnSampler(self.target, step_size, max_tree_depth=s.max_tree_depth)
        return tfp.mcmc.DualAveragingStepSizeAdaptation(
            inner, num_adaptation_steps=max(int(num_adaptation), 1), target_accept_prob=s.target_accept
        )

    def _trace(self, _: Any, results: Any) -> dict[str, Any]:
        inner = results.inner_results
        step = tf.convert_to_tensor(results.new_step_size)
        if self.method == "hmc":
            lp = inner.accepted_results.target_log_prob
            diverging = inner.log_accept_ratio < -1000.0
            n_steps = tf.fill(tf.shape(lp), self.s.num_leapfrog_steps)
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


class Trainable:
    """Parameters as ``tf.Variable`` s (created once, reset by `start`) and a Keras optimiser."""

    def __init__(self, init_params: Mapping[str, np.ndarray], optim: OptimizerOptions) -> None:
        enable_numpy_behavior()
        self.init_params = dict(init_params)
        self.flat_vars = {k: tf.Variable(v, name=k.replace("/", "_")) for k, v in init_params.items()}
        self.variables = unflatten_params(self.flat_vars)
        self.var_list = list(self.flat_vars.values())
        self.bounds = dict(optim.bounds or {})
        self.opt = make_optimizer(optim.optimizer, optim.learning_rate)
        self.opt.build(self.var_list)
        self.opt_initial = [v.numpy() for v in self.opt.variables]

    def start(self) -> None:
        for k, v in self.flat_vars.items():
            v.assign(self.init_params[k])
        for v, x in zip(self.opt.variables, self.opt_initial):
            v.assign(x)

    def apply(self, grads: Sequence[Any]) -> Any:
        """One ascent step on the objective whose gradients are ``grads``; the gradients' global norm."""
        self.opt.apply_gradients([(-g, v) for g, v in zip(grads, self.var_list)])
        for name, (low, high) in self.bounds.items():
            var = self.flat_vars[name]
            var.assign(tf.clip_by_value(var, low, high))
        return tf.linalg.global_norm(list(grads))

    def tree(self) -> Any:
        return [*self.var_list, *self.opt.variables]

    def set_tree(self, tree: Any) -> None:
        pass  # restored in place

    def flat_numpy(self) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in self.flat_vars.items()}


# -- HMC and NUTS -------
class ChainOps:
    """tfp.mcmc chains for posterior sampling and for the E-step of Monte-Carlo EM."""

    def __init__(
        self,
        problem: LatentProblem,
        sampler: SamplerOptions,
        make_model: Builder | None,
        trainable: Trainable | None,
        num_warmup_per_iteration: int,
    ) -> None:
        enable_numpy_behavior()
        self.problem = problem
        self.s = sampler
        self.trainable = trainable
        self.warm_later = num_warmup_per_iteration
        if make_model is None:
            network = problem.network
        else:
            if trainable is None:
                raise ValueError("a model builder needs the trainable parameters it is built from")
            network = network_from_story(make_model(trainable.variables))
        self._network = network
        self.density = ChainDensity(network, problem)
        self.chains = Chains(self.density, sampler.method, sampler)
        if trainable is not None:

            def m_step(samples: Any) -> Any:
                with tf.GradientTape() as tape:
                    value = tf.reduce_mean(self.density(*samples))
                trainable.apply(tape.gradient(value, trainable.var_list))
                return value

            # not XLA: the gradient of a vectorised map is recompiled for every new set of draws
            self._m_step = Compiled(m_step, xla=False)

    def _parts(self, positions: Mapping[str, np.ndarray]) -> list[Any]:
        return [tf.constant(positions[s.name]) for s in self.problem.slots]

    def log_density(self, positions: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.density(*self._parts(positions)).numpy()

    def network(self) -> Any:
        return self._network

    # posterior sampling: state (positions, kernel results)
    def start(self, positions: Mapping[str, np.ndarray]) -> None:
        self.positions = self._parts(positions)
        step = tf.constant(self.s.step_size, tf.float32)
        self.results = self.chains.bootstrap(self.positions, step, self.s.num_warmup)
        self._tree_kind = "posterior"

    def advance(self, key: Any, done: int, n: int) -> dict[str, np.ndarray]:
        step = tf.constant(self.s.step_size, tf.float32)
        warm = self.s.num_warmup
        out = self.chains.run(self.positions, self.results, step, warm, n, 0, tf_backend().fold_in(key, done))
        self.positions = [x[-1] for x in out.all_states]
        self.results = out.final_kernel_results
        return {} if done < warm else _records(out, self.problem, self.s.method)

    # Monte-Carlo EM: state (positions, step size)
    def start_em(self, positions: Mapping[str, np.ndarray]) -> None:
        self.positions = self._parts(positions)
        self.step = tf.constant(self.s.step_size, tf.float32)
        self._tree_kind = "em"

    def e_step(self, key: Any, iteration: int) -> dict[str, np.ndarray]:
        warm = self.s.num_warmup if iteration == 0 else self.warm_later
        out = self.chains.run(self.positions, None, self.step, warm, self.s.num_samples, warm, key)
        self.positions = [x[-1] for x in out.all_states]
        self.step = tf.convert_to_tensor(out.final_kernel_results.new_step_size)
        self.draws = [tf.reshape(x, (-1, *x.shape[2:])) for x in out.all_states]
        rec = {f"position/{s.name}": np.asarray(x) for s, x in zip(self.problem.slots, out.all_states)}
        rec["acceptance_rate"] = np.asarray(out.trace["acceptance_rate"])
        rec["diverging"] = np.asarray(out.trace["diverging"])
        return rec

    def m_step(self) -> Any:
        return np.asarray(self._m_step(self.draws))

    def step_size(self) -> np.ndarray:
        return np.asarray(self.step)

    def tree(self) -> Any:
        if self._tree_kind == "posterior":
            return (self.positions, self.results)
        return (self.positions, self.step)

    def set_tree(self, tree: Any) -> None:
        if self._tree_kind == "posterior":
            self.positions, self.results = tree
        else:
            self.positions, self.step = tree


# -- variational inference -------
class VIOps:
    """A Gaussian surrogate (mean-field or full-rank) over the flattened latents, fitted with a Keras optimiser."""

    def __init__(
        self, problem: LatentProblem, family: str, num_draws: int, init_scale: float, optim: OptimizerOptions
    ) -> None:
        enable_numpy_behavior()
        self.problem = problem
        self.family = family
        self.init_scale = init_scale
        self.density = ChainDensity(problem.network, problem)
        self.fill = tfb.FillScaleTriL(diag_shift=1e-6)
        d = problem.dimension
        self.loc = tf.Variable(tf.zeros((d,), tf.float32), name="loc")
        raw_shape = (d,) if family == "meanfield" else (d * (d + 1) // 2,)
        self.raw = tf.Variable(tf.zeros(raw_shape, tf.float32), name="raw")
        self.opt = make_optimizer(optim.optimizer, optim.learning_rate)
        self.opt.build([self.loc, self.raw])
        self.opt_initial = [v.numpy() for v in self.opt.variables]

        def step(seed: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = tfp.vi.monte_carlo_variational_loss(
                    self._target, self.surrogate(), sample_size=num_draws, seed=seed
                )
            grads = tape.gradient(loss, [self.loc, self.raw])
            self.opt.apply_gradients(zip(grads, [self.loc, self.raw]))
            return -loss, self.loc.read_value(), self._scale()

        self.step = tf.function(step, autograph=False)

    def _unflatten(self, z: Any) -> list[Any]:
        out, start = [], 0
        for s in self.problem.slots:
            out.append(tf.reshape(z[..., start : start + s.size], (*z.shape[:-1], *s.shape)))
            start += s.size
        return out

    def _target(self, z: Any) -> Any:
        return self.density(*self._unflatten(z))

    def _scale(self) -> Any:
        if self.family == "meanfield":
            return tf.nn.softplus(self.raw) + 1e-6
        return self.fill.forward(self.raw)

    def surrogate(self) -> Any:
        if self.family == "meanfield":
            return tfd.MultivariateNormalDiag(self.loc, tf.nn.softplus(self.raw) + 1e-6)
        return tfd.MultivariateNormalTriL(self.loc, self.fill.forward(self.raw))

    def log_density(self, positions: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.density(*[tf.constant(positions[s.name]) for s in self.problem.slots]).numpy()

    def network(self) -> Any:
        return self.problem.network

    def start(self, loc: np.ndarray) -> None:
        self.loc.assign(loc)
        if self.family == "meanfield":
            self.raw.assign(np.full(loc.shape, np.log(np.expm1(self.init_scale)), np.float32))
        else:
            self.raw.assign(self.fill.inverse(self.init_scale * tf.eye(loc.shape[0])))
        for v, x in zip(self.opt.variables, self.opt_initial):
            v.assign(x)

    def tree(self) -> Any:
        return [self.loc, self.raw, *self.opt.variables]

    def set_tree(self, tree: Any) -> None:
        pass  # restored in place

    def advance(self, key: Any, done: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        B = tf_backend()
        elbo = []
        s_loc = np.zeros((2, self.loc.shape[0]), np.float64)
        s_scale: Any = 0.0
        for i, w in enumerate(np.asarray(weights, np.float64)):
            value, loc, scale = self.step(B.fold_in(key, done + i))
            elbo.append(value.numpy())
            s_loc += w[:, None] * loc.numpy()[None]
            sc = scale.numpy().astype(np.float64)
            s_scale = s_scale + w.reshape((2, *([1] * sc.ndim))) * sc[None]
        return np.asarray(elbo), s_loc, np.broadcast_to(s_scale, (2, *self._scale().shape)).copy()

    def fitted(self) -> tuple[np.ndarray, np.ndarray]:
        loc = self.loc.numpy()
        if self.family == "meanfield":
            return loc, np.diag(tf.nn.softplus(self.raw).numpy() + 1e-6)
        return loc, self.fill.forward(self.raw).numpy()


# -- maximum likelihood / MAP -------
class FitOps:
    """Scoring of fully observed trajectories (``tf.map_fn``) and Keras steps on their mean log-probability."""

    def __init__(
        self, make_model: Builder, trainable: Trainable, batch: Batch, batch_size: int, log_prior: LogPrior
    ) -> None:
        self.t = trainable
        self._network = network_from_story(make_model(trainable.variables))
        self.batch = {n: {k: tf.constant(x) for k, x in f.items()} for n, f in batch.items()}
        count = next(int(x.shape[0]) for f in batch.values() for x in f.values())

        def per_trajectory(data: Any) -> Any:
            return _map(
                lambda traj: log_probability_from_value_trajectory(
                    self._network, {n: Value(f) for n, f in traj.items()}
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
                        value = value + tf.cast(log_prior(trainable.variables), value.dtype) / count
            trainable.apply(tape.gradient(value, trainable.var_list))
            return value

        self._per_trajectory = tf.function(per_trajectory, autograph=False)
        self.step = tf.function(step, autograph=False)

    def per_trajectory(self) -> np.ndarray:
        return self._per_trajectory(self.batch).numpy()

    def trajectory(self, i: int) -> dict[str, dict[str, np.ndarray]]:
        return {n: {k: x[i].numpy() for k, x in f.items()} for n, f in self.batch.items()}

    def network(self) -> Any:
        return self._network

    def advance(self, key: Any, done: int, n: int) -> np.ndarray:
        B = tf_backend()
        return np.array([self.step(B.fold_in(key, t)).numpy() for t in range(done, done + n)])


# -- REINFORCE -------
def _slice(flat: Mapping[str, Mapping[str, Any]], t: Any) -> dict[str, Value]:
    return {n: Value({k: tf.gather(x, t) for k, x in f.items()}) for n, f in flat.items()}


class ReinforceOps:
    """Rollouts with the TF runtime's compiled trajectory loop and Keras steps on the policy's log-probability."""

    def __init__(self, make_model: Builder, trainable: Trainable, spec: ReinforceSpec, horizon: int) -> None:
        self.t = trainable
        network = network_from_story(make_model(trainable.variables))
        runtime = TFRuntime(network, seed=0)
        loop = runtime.step_function("trajectory")
        B = tf_backend()

        def first_step(pop_key: Any, run_key: Any) -> Any:
            with step_handlers(B.fold_in(run_key, 0)), shared_initial_draws(B.fold_in(pop_key, 0), spec.population, B):
                return to_tensors(initial_step(network), network)

        def rollouts(pop_keys: Any, run_keys: Any) -> Any:
            # one traced rollout for all of them (a graph loop over the runs), not a copy of the model's graph per run
            # (traced once as a function: its outputs' structure is the loop's signature, and the loop calls it)
            one_run = tf.function(lambda keys: loop(horizon, keys[1], first_step(*keys)), autograph=False)
            traced = one_run.get_concrete_function(
                (tf.TensorSpec(pop_keys.shape[1:], pop_keys.dtype), tf.TensorSpec(run_keys.shape[1:], run_keys.dtype))
            )
            signature = tf.nest.map_structure(lambda x: tf.TensorSpec(x.shape, x.dtype), traced.structured_outputs)
            return tf.map_fn(one_run, (pop_keys, run_keys), fn_output_signature=signature)

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
            # one traced body for every rollout (a graph loop), not a copy of the policy's graph per rollout
            one_run = lambda run: tf.cast(policy_log_prob(run), tf.float32)  # noqa: E731
            return tf.map_fn(one_run, trajs, fn_output_signature=tf.float32)

        def objective(trajs: Any, adv: Any) -> Any:
            return tf.reduce_sum(all_log_probs(trajs) * adv) / spec.normaliser(tuple(adv.shape))

        def gradient(trajs: Any, adv: Any) -> Any:
            with tf.GradientTape() as tape:
                value = objective(trajs, adv)
            return value, tape.gradient(value, trainable.var_list)

        def step(trajs: Any, adv: Any) -> Any:
            value, grads = gradient(trajs, adv)
            return -value, trainable.apply(grads)

        self._rollouts = tf.function(rollouts, autograph=False)
        self._log_probs = tf.function(all_log_probs, autograph=False)
        self._gradient = tf.function(lambda t, a: gradient(t, a)[1], autograph=False)
        self._step = tf.function(step, autograph=False)

        def clipped_step(trajs: Any, adv: Any, old: Any, ref: Any, clip: Any, beta: Any) -> Any:
            with tf.GradientTape() as tape:
                lp = all_log_probs(trajs)
                ratio = tf.exp(lp - old)
                gain = tf.minimum(ratio * adv, tf.clip_by_value(ratio, 1.0 - clip, 1.0 + clip) * adv)
                gap = ref - lp  # k3 estimate of KL(policy || reference): exp(gap) - gap - 1 >= 0
                value = tf.reduce_sum(gain - beta * (tf.exp(gap) - gap - 1.0)) / spec.normaliser(tuple(adv.shape))
            return -value, trainable.apply(tape.gradient(value, trainable.var_list))

        self._clipped_step = tf.function(clipped_step, autograph=False)

    def rollouts(self, pop_keys: Sequence[Any], run_keys: Sequence[Any], *, differentiable: bool = False) -> Rollouts:
        """The trajectories alone: a gradient step evaluates the policy's log-probabilities on them anew."""
        return Rollouts(self._rollouts(tf.stack(list(pop_keys)), tf.stack(list(run_keys))))

    def log_probs(self, trajectories: Any) -> np.ndarray:
        return self._log_probs(trajectories).numpy()

    def step(self, batch: Rollouts, advantages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        loss, norm = self._step(batch.trajectories, tf.constant(advantages, tf.float32))
        return loss.numpy(), norm.numpy()

    def log_probs_at(self, params: Mapping[str, np.ndarray], trajectories: Any) -> np.ndarray:
        current = self.t.flat_numpy()
        try:
            for k, v in self.t.flat_vars.items():
                v.assign(params[k])
            return self._log_probs(trajectories).numpy()
        finally:
            for k, v in self.t.flat_vars.items():
                v.assign(current[k])

    def clipped_step(
        self, trajectories: Any, advantages: np.ndarray, old: np.ndarray, ref: np.ndarray, clip: float, beta: float
    ) -> tuple[np.ndarray, np.ndarray]:
        f32 = tf.float32
        loss, norm = self._clipped_step(
            trajectories, tf.constant(advantages, f32), tf.constant(old, f32), tf.constant(ref, f32),
            tf.constant(clip, f32), tf.constant(beta, f32),
        )  # fmt: skip
        return loss.numpy(), norm.numpy()

    def gradient(self, batch: Rollouts, advantages: np.ndarray) -> np.ndarray:
        grads = self._gradient(batch.trajectories, tf.constant(advantages, tf.float32))
        return np.concatenate([np.asarray(g).ravel() for g in grads])


# -- the framework -------
class TFFramework(Framework):
    """`recosim.inference.engines.Framework` on TensorFlow."""

    name = "TF"
    trainable_ops = Trainable
    chain_ops = ChainOps
    vi_ops = VIOps
    fit_ops = FitOps
    reinforce_ops = ReinforceOps

    def backend(self) -> Any:
        return tf_backend()

    def distributions(self) -> Any:
        return tfd

    def key(self, seed: int) -> Any:
        return tf_backend().make_seed(int(seed))

    def fold(self, key: Any, data: int) -> Any:
        return tf_backend().fold_in(key, int(data))

    def flatten(self, tree: Any) -> tuple[list[Any], Callable[[Sequence[Any]], Any]]:
        return tf.nest.flatten(tree), lambda new: tf.nest.pack_sequence_as(tree, list(new))

    def restored_array(self, saved: np.ndarray, like: Any) -> Any:
        if hasattr(like, "assign"):  # tf.Variable, or a Keras optimiser's variable: restored in place
            like.assign(saved)
            return like
        return tf.constant(saved, dtype=like.dtype)


TF = TFFramework()
