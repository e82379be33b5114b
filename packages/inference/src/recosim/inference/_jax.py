"""The JAX operations of the inference engines: blackjax kernels, optax steps, ``jax.grad`` and ``jax.jit``.

Imported only when a method runs with ``runtime="jax"``. The algorithms live in
`recosim.inference.engines`; this module gives them `JAX` (a
`recosim.inference.engines.Framework`): parameters as a pytree with optax state,
densities and rollouts written with the JAX runtime, and compiled programs
(``jax.jit`` over ``jax.lax.scan``) for sampler chunks, VI and fit steps. TFP's JAX
substrate is imported through `recosim.jax.import_substrate_without_tensorflow`, so it works as the first
thing a process does on every JAX that recosim supports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from blackjax.adaptation.mass_matrix import mass_matrix_adaptation
from blackjax.adaptation.step_size import dual_averaging_adaptation
from blackjax.adaptation.window_adaptation import build_schedule
from jax.flatten_util import ravel_pytree

from recosim.core.backend import using_backend
from recosim.core.evaluation import initial_step
from recosim.core.random import seed as seed_handler
from recosim.core.story import network_from_story
from recosim.core.value import Value
from recosim.inference.engines import Batch, Framework, LogPrior, Rollouts
from recosim.inference.options import OptimizerOptions, SamplerOptions
from recosim.inference.policy import ReinforceSpec, shared_initial_draws, step_log_prob
from recosim.inference.problem import InferenceError, LatentProblem, flatten_params, unflatten_params
from recosim.jax import import_substrate_without_tensorflow
from recosim.jax.backend import jax_backend, strong
from recosim.jax.log_probability import TrajectoryScorer, replace_fields
from recosim.jax.runtime import JaxRuntime

__all__ = ["JAX", "JaxFramework", "make_optimizer", "window_adaptation", "jittered_length"]

Builder = Callable[[Any], Any]


def tfp_jax() -> Any:
    """TFP's JAX substrate, with the JAX aliases it needs restored (see `recosim.jax._tfp_compat`)."""
    return import_substrate_without_tensorflow("jax")


def _step_keys(base: Any, start: int, n: int) -> Any:
    return jax.vmap(lambda t: jax.random.fold_in(base, t))(jnp.arange(start, start + n, dtype=jnp.uint32))


def _np(tree: Any) -> Any:
    return jax.tree.map(np.asarray, tree)


# -- densities -------
class JointDensity:
    """``log p(logged trajectory with the latents set to positions; params)`` as a JAX function."""

    def __init__(self, build: Builder, problem: LatentProblem) -> None:
        self.build = build
        self.problem = problem
        self.logged = {n: Value({k: jnp.asarray(x) for k, x in f.items()}) for n, f in problem.logged.items()}

    def __call__(self, params: Any, positions: Mapping[str, Any]) -> Any:
        network = network_from_story(self.build(params))
        repl = {s.name: self.problem.per_step(s, positions[s.name], jnp.broadcast_to) for s in self.problem.slots}
        traj = replace_fields(self.logged, repl)
        return TrajectoryScorer(network).traced_total(traj, None, None)

    def batch(self, params: Any, positions: Mapping[str, np.ndarray]) -> np.ndarray:
        """The density of each chain's position (leading axis), as NumPy."""
        pos = {k: jnp.asarray(v) for k, v in positions.items()}
        return np.asarray(jax.jit(jax.vmap(self, in_axes=(None, 0)))(params, pos))


# -- Markov chains -------
class WindowState(NamedTuple):
    """Warm-up state of one chain: dual averaging, the mass-matrix estimate, and the values in use."""

    ss_state: Any
    imm_state: Any
    step_size: Any
    inverse_mass_matrix: Any


def window_adaptation(target_accept: float) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """Stan's windowed warm-up as ``(init, update, final)``, from blackjax's dual averaging and mass matrix.

    ``update(state, (stage, window_end), position, acceptance_rate)`` follows a
    schedule from ``build_schedule``: fast stages adapt the step size only; slow
    stages also accumulate the (diagonal) covariance of the positions, which
    becomes the inverse mass matrix at the end of each slow window, where the step
    size restarts from its window average. ``final`` gives the averaged step size
    and the last inverse mass matrix.
    """
    mm_init, mm_update, mm_final = mass_matrix_adaptation(True)
    da_init, da_update, da_final = dual_averaging_adaptation(target_accept)

    def init(position: Any, step_size: Any) -> WindowState:
        imm = mm_init(ravel_pytree(position)[0].size)
        return WindowState(da_init(step_size), imm, step_size, imm.inverse_mass_matrix)

    def fast(position: Any, accept: Any, ws: WindowState) -> WindowState:
        ss = da_update(ws.ss_state, accept)
        return WindowState(ss, ws.imm_state, jnp.exp(ss.log_step_size), ws.inverse_mass_matrix)

    def slow(position: Any, accept: Any, ws: WindowState) -> WindowState:
        ss = da_update(ws.ss_state, accept)
        imm = mm_update(ws.imm_state, position)
        return WindowState(ss, imm, jnp.exp(ss.log_step_size), ws.inverse_mass_matrix)

    def window_end(ws: WindowState) -> WindowState:
        imm = mm_final(ws.imm_state)
        ss = da_init(da_final(ws.ss_state))
        return WindowState(ss, imm, jnp.exp(ss.log_step_size), imm.inverse_mass_matrix)

    def update(ws: WindowState, stage: Any, position: Any, accept: Any) -> WindowState:
        ws = jax.lax.switch(stage[0], (fast, slow), position, accept, ws)
        return jax.lax.cond(stage[1], window_end, lambda x: x, ws)

    def final(ws: WindowState) -> tuple[Any, Any]:
        return jnp.exp(ws.ss_state.log_step_size_avg), ws.imm_state.inverse_mass_matrix

    return init, update, final


def jittered_length(key: Any, num_leapfrog_steps: int) -> Any:
    """An HMC trajectory's number of leapfrog steps: uniform on ``1 .. 2 n - 1`` (mean ``n``).

    A fixed length can resonate with the posterior (on a Gaussian, about half a
    period gives antithetic draws: wrong variances, effective sample sizes above
    the number of draws); jittering it breaks that. One length per step, shared
    by the chains, so a vectorised step costs ``n`` leapfrog steps on average.
    """
    return jax.random.randint(key, (), 1, 2 * num_leapfrog_steps)


class Chains:
    """Vectorised blackjax HMC or NUTS chains with Stan's window adaptation, run in chunks."""

    def __init__(
        self,
        density: JointDensity,
        method: str,
        num_chains: int,
        *,
        num_leapfrog_steps: int,
        max_tree_depth: int,
        target_accept: float,
    ) -> None:
        self.num_chains = num_chains
        self.dimension = density.problem.dimension
        adapt_init, adapt_update, adapt_final = window_adaptation(target_accept)
        kernel = blackjax.hmc.build_kernel() if method == "hmc" else blackjax.nuts.build_kernel()

        def step(params: Any, state: Any, key: Any, step_size: Any, imm: Any, length: Any) -> Any:
            logdensity = lambda pos: density(params, pos)  # noqa: E731
            if method == "hmc":
                return kernel(key, state, logdensity, step_size, imm, length)
            return kernel(key, state, logdensity, step_size, imm, max_num_doublings=max_tree_depth)

        def init(params: Any, positions: Any) -> Any:
            return jax.vmap(lambda p: blackjax.hmc.init(p, lambda x: density(params, x)))(positions)

        def adaptation(positions: Any, step_size: Any, imm: Any) -> Any:
            states = jax.vmap(adapt_init)(positions, step_size)
            return states._replace(inverse_mass_matrix=imm)

        def warmup(params: Any, states: Any, adapt: Any, keys: Any, stages: Any) -> Any:
            def one(state: Any, a: Any, key: Any, stage: Any, length: Any) -> Any:
                new, info = step(params, state, key, a.step_size, a.inverse_mass_matrix, length)
                return new, adapt_update(a, (stage[0], stage[1]), new.position, info.acceptance_rate)

            def body(carry: Any, xs: Any) -> Any:
                key, stage = xs
                length_key, key = jax.random.split(key)
                length = jittered_length(length_key, num_leapfrog_steps)
                states, adapted = carry
                new, a = jax.vmap(one, in_axes=(0, 0, 0, None, None))(
                    states, adapted, jax.random.split(key, num_chains), stage, length
                )
                return (new, a), None

            (states, adapt), _ = jax.lax.scan(body, (states, adapt), (keys, stages))
            return states, adapt

        def sample(params: Any, states: Any, step_size: Any, imm: Any, keys: Any) -> Any:
            def body(states: Any, key: Any) -> Any:
                length_key, key = jax.random.split(key)
                length = jittered_length(length_key, num_leapfrog_steps)
                keys = jax.random.split(key, num_chains)
                new, info = jax.vmap(step, in_axes=(None, 0, 0, 0, 0, None))(
                    params, states, keys, step_size, imm, length
                )
                rec = {
                    "position": new.position,
                    "lp": new.logdensity,
                    "acceptance_rate": info.acceptance_rate,
                    "diverging": info.is_divergent,
                    "n_steps": info.num_integration_steps,
                }
                return new, rec

            return jax.lax.scan(body, states, keys)

        self.init = jax.jit(init)
        self.adaptation = jax.jit(adaptation)
        self.warmup = jax.jit(warmup)
        self.final = jax.jit(jax.vmap(adapt_final))
        self.sample = jax.jit(sample)


def _sample_records(rec: Any, step_size: Any, method: str) -> dict[str, np.ndarray]:
    out = {f"position/{k}": np.asarray(v) for k, v in rec["position"].items()}
    n = out[next(iter(out))].shape[0]
    out["lp"] = np.asarray(rec["lp"])
    out["acceptance_rate"] = np.asarray(rec["acceptance_rate"])
    out["diverging"] = np.asarray(rec["diverging"])
    out["step_size"] = np.broadcast_to(np.asarray(step_size), (n, *np.shape(step_size))).copy()
    if method == "nuts":
        out["n_steps"] = np.asarray(rec["n_steps"])
    return out


# -- optimisers -------
def make_optimizer(optimizer: Any, learning_rate: float) -> Any:
    """An optax transformation from ``"adam"``, ``"sgd"`` or an optax object."""
    if optimizer is None or optimizer == "adam":
        return optax.adam(learning_rate)
    if optimizer == "sgd":
        return optax.sgd(learning_rate)
    if isinstance(optimizer, optax.GradientTransformation):
        return optimizer
    raise InferenceError(
        f"optimizer must be 'adam', 'sgd' or an optax GradientTransformation on JAX, got {optimizer!r}"
    )


def _clip(params: Any, bounds: Mapping[str, tuple[float, float]]) -> Any:
    if not bounds:
        return params
    flat = flatten_params(params)
    for name, (low, high) in bounds.items():
        flat[name] = jnp.clip(flat[name], low, high)
    return unflatten_params(flat)


class Trainable:
    """Parameters as a pytree with optax state; `update` is the pure ascent step the compiled programs call."""

    def __init__(self, init_params: Mapping[str, np.ndarray], optim: OptimizerOptions) -> None:
        self.init_params = unflatten_params({k: jnp.asarray(v) for k, v in init_params.items()})
        self.bounds = dict(optim.bounds or {})
        self.opt = make_optimizer(optim.optimizer, optim.learning_rate)

    def update(self, params: Any, opt_state: Any, grads: Any) -> Any:
        neg = jax.tree.map(lambda g: -g, grads)  # optax minimises; we maximise the objective
        updates, opt_state = self.opt.update(neg, opt_state, params)
        return _clip(optax.apply_updates(params, updates), self.bounds), opt_state

    def start(self) -> None:
        self.params = self.init_params
        self.opt_state = self.opt.init(self.params)

    def tree(self) -> Any:
        return (self.params, self.opt_state)

    def set_tree(self, tree: Any) -> None:
        self.params, self.opt_state = tree

    def flat_numpy(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in flatten_params(self.params).items()}


# -- HMC and NUTS -------
class ChainOps:
    """blackjax chains for posterior sampling and for the E-step of Monte-Carlo EM."""

    def __init__(
        self,
        problem: LatentProblem,
        sampler: SamplerOptions,
        make_model: Builder | None,
        trainable: Trainable | None,
        num_warmup_per_iteration: int,
    ) -> None:
        network = problem.network
        self.problem = problem
        self.s = sampler
        self.trainable = trainable
        self.make_model = make_model
        self.warm_later = num_warmup_per_iteration
        self.density = JointDensity(make_model if make_model is not None else (lambda _: network), problem)
        self.chains = Chains(
            self.density,
            sampler.method,
            sampler.num_chains,
            num_leapfrog_steps=sampler.num_leapfrog_steps,
            max_tree_depth=sampler.max_tree_depth,
            target_accept=sampler.target_accept,
        )
        n = sampler.num_warmup
        self.schedule = np.asarray(build_schedule(n)) if n else np.zeros((0, 2), int)
        if trainable is not None:
            density = self.density

            def objective(params: Any, samples: Any) -> Any:
                return jnp.mean(jax.vmap(density, in_axes=(None, 0))(params, samples))

            value_and_grad = jax.value_and_grad(objective)

            def m_step(params: Any, opt_state: Any, samples: Any) -> Any:
                value, grads = value_and_grad(params, samples)
                params, opt_state = trainable.update(params, opt_state, grads)
                return params, opt_state, value

            self._m_step = jax.jit(m_step)

    def _params(self) -> Any:
        return {} if self.trainable is None else self.trainable.params

    def log_density(self, positions: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.density.batch(self._params(), positions)

    def network(self) -> Any:
        return network_from_story(self.density.build(self._params()))

    def _initial_adaptation(self) -> tuple[Any, Any]:
        step_size = jnp.full((self.s.num_chains,), self.s.step_size, jnp.float32)
        return step_size, jnp.ones((self.s.num_chains, self.problem.dimension), jnp.float32)

    # posterior sampling: state (chain states, adaptation, step size, inverse mass matrix)
    def start(self, positions: Mapping[str, np.ndarray]) -> None:
        pos = {k: jnp.asarray(v) for k, v in positions.items()}
        self.states = self.chains.init({}, pos)
        self.step, self.imm = self._initial_adaptation()
        self.adapt = self.chains.adaptation(pos, self.step, self.imm)
        self._tree_kind = "posterior"

    def advance(self, key: Any, done: int, n: int) -> dict[str, np.ndarray]:
        keys = _step_keys(key, done, n)
        warm = self.s.num_warmup
        if done < warm:
            stages = jnp.asarray(self.schedule[done : done + n])
            self.states, self.adapt = self.chains.warmup({}, self.states, self.adapt, keys, stages)
            if done + n == warm:
                self.step, self.imm = self.chains.final(self.adapt)
            return {}
        self.states, rec = self.chains.sample({}, self.states, self.step, self.imm, keys)
        return _sample_records(rec, self.step, self.s.method)

    # Monte-Carlo EM: state (positions, step size, inverse mass matrix)
    def start_em(self, positions: Mapping[str, np.ndarray]) -> None:
        self.positions = {k: jnp.asarray(v) for k, v in positions.items()}
        self.step, self.imm = self._initial_adaptation()
        self._tree_kind = "em"

    def e_step(self, key: Any, iteration: int) -> dict[str, np.ndarray]:
        params = self._params()
        warm = self.s.num_warmup if iteration == 0 else self.warm_later
        states = self.chains.init(params, self.positions)
        if warm:
            if iteration == 0:
                stages = jnp.asarray(build_schedule(warm))
            else:  # step size only: keep the mass matrix adapted in the first iteration
                stages = jnp.zeros((warm, 2), jnp.int32)
            adapt = self.chains.adaptation(self.positions, self.step, self.imm)
            states, adapt = self.chains.warmup(
                params, states, adapt, _step_keys(jax.random.fold_in(key, 0), 0, warm), stages
            )
            step_size, imm = self.chains.final(adapt)
            self.step = step_size
            if iteration == 0:
                self.imm = imm
        keys = _step_keys(jax.random.fold_in(key, 1), 0, self.s.num_samples)
        states, rec = self.chains.sample(params, states, self.step, self.imm, keys)
        self.positions = states.position
        self.draws = {k: v.reshape((-1, *v.shape[2:])) for k, v in rec["position"].items()}
        out = {f"position/{k}": np.asarray(v) for k, v in rec["position"].items()}
        out["acceptance_rate"] = np.asarray(rec["acceptance_rate"])
        out["diverging"] = np.asarray(rec["diverging"])
        return out

    def m_step(self) -> Any:
        t = self.trainable
        assert t is not None
        t.params, t.opt_state, value = self._m_step(t.params, t.opt_state, self.draws)
        return np.asarray(value)

    def step_size(self) -> np.ndarray:
        return np.asarray(jnp.mean(self.step))

    def tree(self) -> Any:
        if self._tree_kind == "posterior":
            return (self.states, self.adapt, self.step, self.imm)
        return (self.positions, self.step, self.imm)

    def set_tree(self, tree: Any) -> None:
        if self._tree_kind == "posterior":
            self.states, self.adapt, self.step, self.imm = tree
        else:
            self.positions, self.step, self.imm = tree


# -- variational inference -------
class VIOps:
    """A Gaussian surrogate (mean-field or full-rank) over the flattened latents, fitted with optax.

    Each step estimates the ELBO with ``tfp.vi.monte_carlo_variational_loss`` on
    TFP's JAX substrate and takes one optax step; a chunk of steps is one compiled
    ``lax.scan`` that also sums the iterates over the engine's averaging windows.
    """

    def __init__(
        self, problem: LatentProblem, family: str, num_draws: int, init_scale: float, optim: OptimizerOptions
    ) -> None:
        tfp = tfp_jax()
        tfd, tfb = tfp.distributions, tfp.bijectors
        self.problem = problem
        self.family = family
        self.init_scale = init_scale
        network = problem.network
        self.density = JointDensity(lambda _: network, problem)
        self.opt = make_optimizer(optim.optimizer, optim.learning_rate)
        slots = problem.slots
        fill = tfb.FillScaleTriL(diag_shift=1e-6)
        self.fill = fill

        def unflatten(z: Any) -> dict[str, Any]:
            out, start = {}, 0
            for s in slots:
                out[s.name] = z[start : start + s.size].reshape(s.shape)
                start += s.size
            return out

        def surrogate(theta: Any) -> Any:
            if family == "meanfield":
                return tfd.MultivariateNormalDiag(theta["loc"], jax.nn.softplus(theta["raw"]) + 1e-6)
            return tfd.MultivariateNormalTriL(theta["loc"], fill.forward(theta["raw"]))

        def scale(theta: Any) -> Any:
            if family == "meanfield":
                return jax.nn.softplus(theta["raw"]) + 1e-6
            return fill.forward(theta["raw"])

        def target(z: Any) -> Any:
            return jax.vmap(lambda x: self.density({}, unflatten(x)))(z)

        def loss(theta: Any, key: Any) -> Any:
            return tfp.vi.monte_carlo_variational_loss(target, surrogate(theta), sample_size=num_draws, seed=key)

        grad = jax.value_and_grad(loss)

        def chunk(theta: Any, opt_state: Any, keys: Any, weights: Any) -> Any:
            d = theta["loc"].shape[0]
            sums = (jnp.zeros((2, d), jnp.float32), jnp.zeros((2, *jnp.shape(scale(theta))), jnp.float32))

            def body(carry: Any, xs: Any) -> Any:
                theta, opt_state, (s_loc, s_scale) = carry
                key, w = xs
                value, g = grad(theta, key)
                updates, opt_state = self.opt.update(g, opt_state, theta)
                theta = optax.apply_updates(theta, updates)
                sc = scale(theta)
                s_loc = s_loc + w[:, None] * theta["loc"][None]
                s_scale = s_scale + w.reshape((2, *([1] * sc.ndim))) * sc[None]
                return (theta, opt_state, (s_loc, s_scale)), -value

            (theta, opt_state, sums), elbo = jax.lax.scan(body, (theta, opt_state, sums), (keys, weights))
            return theta, opt_state, sums, elbo

        self.surrogate = surrogate
        self.unflatten = unflatten
        self._scale = scale
        self.chunk = jax.jit(chunk)

    def log_density(self, positions: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.density.batch({}, positions)

    def network(self) -> Any:
        return self.problem.network

    def start(self, loc: np.ndarray) -> None:
        d = loc.shape[0]
        if self.family == "meanfield":
            raw = jnp.full((d,), np.log(np.expm1(self.init_scale)), jnp.float32)
        else:
            raw = self.fill.inverse(self.init_scale * jnp.eye(d, dtype=jnp.float32))
        self.theta = {"loc": jnp.asarray(loc, jnp.float32), "raw": raw}
        self.opt_state = self.opt.init(self.theta)

    def tree(self) -> Any:
        return (self.theta, self.opt_state)

    def set_tree(self, tree: Any) -> None:
        self.theta, self.opt_state = tree

    def advance(self, key: Any, done: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keys = _step_keys(key, done, weights.shape[0])
        self.theta, self.opt_state, (s_loc, s_scale), elbo = self.chunk(
            self.theta, self.opt_state, keys, jnp.asarray(weights)
        )
        return np.asarray(elbo), np.asarray(s_loc, np.float64), np.asarray(s_scale, np.float64)

    def fitted(self) -> tuple[np.ndarray, np.ndarray]:
        loc = np.asarray(self.theta["loc"])
        scale = np.asarray(self._scale(self.theta))
        return loc, (np.diag(scale) if self.family == "meanfield" else scale)


# -- maximum likelihood / MAP -------
class FitOps:
    """Batched, compiled scoring of fully observed trajectories and optax steps on their mean log-probability."""

    def __init__(
        self, make_model: Builder, trainable: Trainable, batch: Batch, batch_size: int, log_prior: LogPrior
    ) -> None:
        self.make_model = make_model
        self.t = trainable
        self.batch = {n: Value({k: jnp.asarray(x) for k, x in f.items()}) for n, f in batch.items()}
        count = next(np.shape(x)[0] for f in batch.values() for x in f.values())

        def per_trajectory(params: Any, traj: Any) -> Any:
            return TrajectoryScorer(network_from_story(make_model(params))).traced_total(traj, None, None)

        def objective(params: Any, data: Any) -> Any:
            value = jnp.mean(jax.vmap(per_trajectory, in_axes=(None, 0))(params, data))
            if log_prior is not None:
                with using_backend(jax_backend()):
                    value = value + log_prior(params) / count
            return value

        self._per_trajectory = jax.jit(jax.vmap(per_trajectory, in_axes=(None, 0)))
        grad = jax.value_and_grad(objective)

        def chunk(params: Any, opt_state: Any, keys: Any) -> Any:
            def body(carry: Any, key: Any) -> Any:
                params, opt_state = carry
                data = self.batch
                if batch_size < count:
                    idx = jax.random.choice(key, count, (batch_size,), replace=False)
                    data = jax.tree.map(lambda x: x[idx], data)
                value, g = grad(params, data)
                params, opt_state = trainable.update(params, opt_state, g)
                return (params, opt_state), value

            return jax.lax.scan(body, (params, opt_state), keys)

        self.chunk = jax.jit(chunk)

    def per_trajectory(self) -> np.ndarray:
        return np.asarray(self._per_trajectory(self.t.params, self.batch))

    def trajectory(self, i: int) -> dict[str, dict[str, np.ndarray]]:
        return {n: {k: np.asarray(x[i]) for k, x in v.items()} for n, v in self.batch.items()}

    def network(self) -> Any:
        return network_from_story(self.make_model(self.t.params))

    def advance(self, key: Any, done: int, n: int) -> np.ndarray:
        (self.t.params, self.t.opt_state), values = self.chunk(
            self.t.params, self.t.opt_state, _step_keys(key, done, n)
        )
        return np.asarray(values)


# -- REINFORCE -------
def _grad_norm(grads: Any) -> Any:
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(grads)))


class ReinforceOps:
    """Vectorised, compiled rollouts (the JAX runtime's transition in ``lax.scan``) and optax steps.

    A rollout for a gradient step also scores the policy's draws at every step of its
    scan (`recosim.inference.policy.step_log_prob` on the step just simulated, with
    the live parameters) under ``jax.vjp``, while the simulation itself runs on the
    parameters held fixed (``lax.stop_gradient``). The policy's scores are then the
    same computation on the same inputs in one compiled program, which XLA computes
    once, and the gradient step runs only the backward pass, with the cotangent
    ``advantages / normaliser``: one forward pass of the network per training step
    instead of two, and the same gradient as evaluating the policy again.
    """

    def __init__(self, make_model: Builder, trainable: Trainable, spec: ReinforceSpec, horizon: int) -> None:
        self.t = trainable
        B = jax_backend()

        def rollout(params: Any, pop_key: Any, run_key: Any, record: bool = False) -> Any:
            network = network_from_story(make_model(jax.lax.stop_gradient(params) if record else params))
            runtime = JaxRuntime(network)
            with (
                using_backend(B),
                seed_handler(B.fold_in(run_key, 0), B),
                shared_initial_draws(B.fold_in(pop_key, 0), spec.population, B),
            ):
                first = initial_step(network)
            first = {n: Value({k: strong(x) for k, x in Value(v).items()}) for n, v in first.items()}
            if not record:
                return _scanned(runtime, run_key, first, None)
            live = network_from_story(make_model(params))
            return _scanned(runtime, run_key, first, live)

        def _scanned(runtime: JaxRuntime, run_key: Any, first: Any, live: Any) -> Any:
            lp0 = None
            if live is not None:
                with using_backend(B):
                    lp0 = step_log_prob(live, spec.variable, spec.keys, first, None, B)
            if horizon == 1:
                traj = jax.tree.map(lambda x: x[None], first)
                return traj if lp0 is None else (traj, lp0[None])

            def body(carry: Any, t: Any) -> Any:
                nxt = runtime.transition(run_key, t, carry)
                if live is None:
                    return nxt, nxt
                with using_backend(B):
                    return nxt, (nxt, step_log_prob(live, spec.variable, spec.keys, nxt, carry, B))

            _, rest = jax.lax.scan(body, first, jnp.arange(1, horizon, dtype=jnp.int32))
            if lp0 is None:
                return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)
            rest, lps = rest
            traj = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)
            return traj, jnp.concatenate([jnp.broadcast_to(lp0, lps.shape[1:])[None], lps])

        def sample(params: Any, pop_keys: Any, run_keys: Any) -> Any:
            def log_probs(p: Any) -> Any:
                trajs, lp = jax.vmap(partial(rollout, record=True), in_axes=(None, 0, 0))(p, pop_keys, run_keys)
                return lp, trajs

            lp, pullback, trajs = jax.vjp(log_probs, params, has_aux=True)
            return trajs, lp, pullback

        def policy_log_prob(params: Any, traj: Any) -> Any:
            network = network_from_story(make_model(params))
            with using_backend(B):
                first = jax.tree.map(lambda x: x[0], traj)
                lp0 = step_log_prob(network, spec.variable, spec.keys, first, None, B)
            if horizon == 1:
                return lp0[None]

            def body(carry: None, xs: Any) -> Any:
                cur, prev = xs
                with using_backend(B):
                    return None, step_log_prob(network, spec.variable, spec.keys, cur, prev, B)

            cur = jax.tree.map(lambda x: x[1:], traj)
            prev = jax.tree.map(lambda x: x[:-1], traj)
            _, rest = jax.lax.scan(body, None, (cur, prev))
            return jnp.concatenate([jnp.broadcast_to(lp0, rest.shape[1:])[None], rest])

        def surrogate_loss(params: Any, trajs: Any, adv: Any) -> Any:
            lp = jax.vmap(policy_log_prob, in_axes=(None, 0))(params, trajs)
            return jnp.sum(lp * adv) / spec.normaliser(adv.shape)

        grad = jax.value_and_grad(surrogate_loss)

        def step(params: Any, opt_state: Any, trajs: Any, adv: Any) -> Any:
            value, g = grad(params, trajs, adv)
            params, opt_state = trainable.update(params, opt_state, g)
            return params, opt_state, -value, _grad_norm(g)

        def pulled(lp: Any, pullback: Any, adv: Any) -> Any:
            scale = spec.normaliser(adv.shape)
            return jnp.sum(lp * adv) / scale, pullback(adv / scale)[0]

        def pulled_step(params: Any, opt_state: Any, lp: Any, pullback: Any, adv: Any) -> Any:
            value, g = pulled(lp, pullback, adv)
            params, opt_state = trainable.update(params, opt_state, g)
            return params, opt_state, -value, _grad_norm(g)

        self._rollouts = jax.jit(jax.vmap(rollout, in_axes=(None, 0, 0)))
        self._sample = jax.jit(sample)
        self._log_probs = jax.jit(jax.vmap(policy_log_prob, in_axes=(None, 0)))
        self._gradient = jax.jit(lambda p, t, a: grad(p, t, a)[1])
        self._pulled_gradient = jax.jit(lambda lp, pb, a: pulled(lp, pb, a)[1])
        self._step = jax.jit(step)
        self._pulled_step = jax.jit(pulled_step)

        def clipped_objective(params: Any, trajs: Any, adv: Any, old: Any, ref: Any, clip: Any, beta: Any) -> Any:
            lp = jax.vmap(policy_log_prob, in_axes=(None, 0))(params, trajs)
            ratio = jnp.exp(lp - old)
            gain = jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip, 1.0 + clip) * adv)
            gap = ref - lp  # k3 estimate of KL(policy || reference): exp(gap) - gap - 1 >= 0
            return jnp.sum(gain - beta * (jnp.exp(gap) - gap - 1.0)) / spec.normaliser(adv.shape)

        clipped_grad = jax.value_and_grad(clipped_objective)

        def clipped_step(params: Any, opt_state: Any, *data: Any) -> Any:
            value, g = clipped_grad(params, *data)
            params, opt_state = trainable.update(params, opt_state, g)
            return params, opt_state, -value, _grad_norm(g)

        self._clipped_step = jax.jit(clipped_step)

    def rollouts(self, pop_keys: Sequence[Any], run_keys: Sequence[Any], *, differentiable: bool = False) -> Rollouts:
        pop, run = jnp.stack(list(pop_keys)), jnp.stack(list(run_keys))
        if not differentiable:
            return Rollouts(self._rollouts(self.t.params, pop, run))
        trajectories, lp, pullback = self._sample(self.t.params, pop, run)
        return Rollouts(trajectories, lp, pullback)

    def log_probs(self, trajectories: Any) -> np.ndarray:
        return np.asarray(self._log_probs(self.t.params, trajectories))

    def step(self, batch: Rollouts, advantages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = self.t
        adv = jnp.asarray(advantages, jnp.float32)
        if batch.pullback is None:
            t.params, t.opt_state, loss, norm = self._step(t.params, t.opt_state, batch.trajectories, adv)
        else:
            t.params, t.opt_state, loss, norm = self._pulled_step(
                t.params, t.opt_state, batch.log_probs, batch.pullback, adv
            )
        return np.asarray(loss), np.asarray(norm)

    def log_probs_at(self, params: Mapping[str, np.ndarray], trajectories: Any) -> np.ndarray:
        tree = unflatten_params({k: jnp.asarray(v) for k, v in params.items()})
        return np.asarray(self._log_probs(tree, trajectories))

    def clipped_step(
        self, trajectories: Any, advantages: np.ndarray, old: np.ndarray, ref: np.ndarray, clip: float, beta: float
    ) -> tuple[np.ndarray, np.ndarray]:
        t = self.t
        f32 = jnp.float32
        t.params, t.opt_state, loss, norm = self._clipped_step(
            t.params, t.opt_state, trajectories, jnp.asarray(advantages, f32), jnp.asarray(old, f32),
            jnp.asarray(ref, f32), jnp.asarray(clip, f32), jnp.asarray(beta, f32),
        )  # fmt: skip
        return np.asarray(loss), np.asarray(norm)

    def gradient(self, batch: Rollouts, advantages: np.ndarray) -> np.ndarray:
        adv = jnp.asarray(advantages, jnp.float32)
        if batch.pullback is None:
            g = self._gradient(self.t.params, batch.trajectories, adv)
        else:
            g = self._pulled_gradient(batch.log_probs, batch.pullback, adv)
        return np.concatenate([np.asarray(x).ravel() for x in jax.tree.leaves(g)])


# -- the framework -------
class JaxFramework(Framework):
    """`recosim.inference.engines.Framework` on JAX."""

    name = "JAX"
    trainable_ops = Trainable
    chain_ops = ChainOps
    vi_ops = VIOps
    fit_ops = FitOps
    reinforce_ops = ReinforceOps

    def backend(self) -> Any:
        return jax_backend()

    def distributions(self) -> Any:
        return tfp_jax().distributions

    def key(self, seed: int) -> Any:
        return jax_backend().make_seed(int(seed))

    def fold(self, key: Any, data: int) -> Any:
        return jax.random.fold_in(key, data)

    def flatten(self, tree: Any) -> tuple[list[Any], Callable[[Sequence[Any]], Any]]:
        leaves, treedef = jax.tree.flatten(tree)
        return leaves, lambda new: jax.tree.unflatten(treedef, list(new))

    def restored_array(self, saved: np.ndarray, like: Any) -> Any:
        return jnp.asarray(saved, dtype=jnp.asarray(like).dtype)


JAX = JaxFramework()
