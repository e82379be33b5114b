"""The JAX implementations: blackjax samplers, optax optimisers, TFP's JAX substrate for VI.

Imported only when a method runs with ``runtime="jax"``. Every engine here is
driven by `recosim.inference.loop.run`; its state is a pytree whose leaves are
written to a plain ``.npz`` file for checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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

from recosim.core.backend import import_substrate_without_tensorflow, using_backend
from recosim.core.evaluation import initial_step
from recosim.core.random import seed as seed_handler
from recosim.core.story import network_from_story
from recosim.core.value import Value
from recosim.inference.loop import LeafState, NpzStore
from recosim.inference.policy import shared_initial_draws, step_log_prob
from recosim.inference.problem import InferenceError, LatentProblem, flatten_params, unflatten_params
from recosim.jax.backend import jax_backend, strong
from recosim.jax.log_probability import TrajectoryScorer, replace_fields
from recosim.jax.runtime import JaxRuntime

__all__ = ["STORE", "PosteriorEngine", "VIEngine", "MCEMEngine", "FitEngine", "ReinforceEngine"]

STORE = NpzStore()
Builder = Callable[[Any], Any]


def _base_key(seed: int) -> Any:
    return jax_backend().make_seed(int(seed))


def _step_keys(base: Any, start: int, n: int) -> Any:
    return jax.vmap(lambda t: jax.random.fold_in(base, t))(jnp.arange(start, start + n, dtype=jnp.uint32))


def _np(tree: Any) -> Any:
    return jax.tree.map(np.asarray, tree)


class _PytreeState(LeafState):
    """Checkpoint support: the engine's state is the pytree ``self._tree()``."""

    def _flatten(self, tree: Any) -> tuple[list[Any], Callable[[Sequence[Any]], Any]]:
        leaves, treedef = jax.tree.flatten(tree)
        return leaves, lambda new: jax.tree.unflatten(treedef, list(new))

    def _restored_leaf(self, saved: np.ndarray, like: Any) -> Any:
        return jnp.asarray(saved, dtype=jnp.asarray(like).dtype)


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


def check_finite_start(density: JointDensity, params: Any, positions: Mapping[str, Any], what: str) -> None:
    """Refuse to start from a point of zero density, naming the chain, variable and step."""
    from recosim.inference.problem import explain_non_finite

    lps = np.asarray(jax.jit(jax.vmap(density, in_axes=(None, 0)))(params, positions))
    bad = np.flatnonzero(~np.isfinite(lps))
    if bad.size:
        c = int(bad[0])
        point = {k: np.asarray(v[c]) for k, v in positions.items()}
        network = network_from_story(density.build(params))
        raise InferenceError(
            f"{what}: the log-probability at the starting point of chain {c} is {lps[c]}; "
            + explain_non_finite(network, density.problem.trajectory_with(point), jax_backend())
        )


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
                new, a = jax.vmap(one, in_axes=(0, 0, 0, None, None))(
                    *carry, jax.random.split(key, num_chains), stage, length
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


class PosteriorEngine(_PytreeState):
    """HMC or NUTS over the latents: ``num_warmup`` adaptation steps, then ``num_samples`` draws."""

    def __init__(self, problem: LatentProblem, method: str, o: Mapping[str, Any]) -> None:
        network = problem.network
        self.problem = problem
        self.method = method
        self.o = dict(o)
        self.density = JointDensity(lambda _: network, problem)
        self.chains = Chains(
            self.density,
            method,
            o["num_chains"],
            num_leapfrog_steps=o["num_leapfrog_steps"],
            max_tree_depth=o["max_tree_depth"],
            target_accept=o["target_accept"],
        )
        self.key = _base_key(o["seed"])
        self.schedule = np.asarray(build_schedule(o["num_warmup"])) if o["num_warmup"] else np.zeros((0, 2), int)

    def start(self) -> None:
        o = self.o
        pos = {
            k: jnp.asarray(v) for k, v in self.problem.chain_inits(o["num_chains"], o["init_spread"], o["seed"]).items()
        }
        check_finite_start(self.density, {}, pos, f"{self.method} on JAX")
        self.states = self.chains.init({}, pos)
        self.step_size = jnp.full((o["num_chains"],), o["step_size"], jnp.float32)
        self.imm = jnp.ones((o["num_chains"], self.problem.dimension), jnp.float32)
        self.adapt = self.chains.adaptation(pos, self.step_size, self.imm)

    def _tree(self) -> Any:
        return (self.states, self.adapt, self.step_size, self.imm)

    def _set_tree(self, tree: Any) -> None:
        self.states, self.adapt, self.step_size, self.imm = tree

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        keys = _step_keys(self.key, done, n)
        warm = self.o["num_warmup"]
        if done < warm:
            stages = jnp.asarray(self.schedule[done : done + n])
            self.states, self.adapt = self.chains.warmup({}, self.states, self.adapt, keys, stages)
            if done + n == warm:
                self.step_size, self.imm = self.chains.final(self.adapt)
            return {}
        self.states, rec = self.chains.sample({}, self.states, self.step_size, self.imm, keys)
        return _sample_records(rec, self.step_size, self.method)


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


class _Optimised(_PytreeState):
    """Shared by the engines that train parameters with optax."""

    def _setup_params(self, init_params: Mapping[str, np.ndarray], o: Mapping[str, Any]) -> None:
        self.init_params = unflatten_params({k: jnp.asarray(v) for k, v in init_params.items()})
        self.bounds = o.get("bounds", {})
        self.opt = make_optimizer(o.get("optimizer"), o["learning_rate"])

        def update(params: Any, opt_state: Any, grads: Any) -> Any:
            neg = jax.tree.map(lambda g: -g, grads)  # optax minimises; we maximise the objective
            updates, opt_state = self.opt.update(neg, opt_state, params)
            return _clip(optax.apply_updates(params, updates), self.bounds), opt_state

        self._update = update

    def _start_params(self) -> None:
        self.params = self.init_params
        self.opt_state = self.opt.init(self.params)

    def params_numpy(self) -> dict[str, Any]:
        return _np(self.params)


# -- Monte-Carlo EM -------
class MCEMEngine(_Optimised):
    """One unit is one EM iteration: an E-step with warm-started chains, then ``m_steps`` optax steps."""

    def __init__(
        self, make_model: Builder, init_params: Mapping[str, np.ndarray], problem: LatentProblem, o: Mapping[str, Any]
    ) -> None:
        self.o = dict(o)
        self.problem = problem
        self._setup_params(init_params, o)
        self.density = JointDensity(make_model, problem)
        self.chains = Chains(
            self.density,
            o["method"],
            o["num_chains"],
            num_leapfrog_steps=o["num_leapfrog_steps"],
            max_tree_depth=o["max_tree_depth"],
            target_accept=o["target_accept"],
        )
        self.key = _base_key(o["seed"])
        self.last_samples: dict[str, np.ndarray] = {}
        density = self.density

        def objective(params: Any, samples: Any) -> Any:
            return jnp.mean(jax.vmap(density, in_axes=(None, 0))(params, samples))

        value_and_grad = jax.value_and_grad(objective)

        def m_step(params: Any, opt_state: Any, samples: Any) -> Any:
            value, grads = value_and_grad(params, samples)
            params, opt_state = self._update(params, opt_state, grads)
            return params, opt_state, value

        self.m_step = jax.jit(m_step)

    def start(self) -> None:
        o = self.o
        self._start_params()
        pos = {
            k: jnp.asarray(v) for k, v in self.problem.chain_inits(o["num_chains"], o["init_spread"], o["seed"]).items()
        }
        check_finite_start(self.density, self.params, pos, "mcem on JAX")
        self.positions = pos
        self.step_size = jnp.full((o["num_chains"],), o["step_size"], jnp.float32)
        self.imm = jnp.ones((o["num_chains"], self.problem.dimension), jnp.float32)

    def _tree(self) -> Any:
        return (self.params, self.opt_state, self.positions, self.step_size, self.imm)

    def _set_tree(self, tree: Any) -> None:
        self.params, self.opt_state, self.positions, self.step_size, self.imm = tree

    def _e_step(self, iteration: int) -> Any:
        o = self.o
        key = jax.random.fold_in(self.key, iteration)
        warm = o["num_warmup"] if iteration == 0 else o["num_warmup_per_iteration"]
        states = self.chains.init(self.params, self.positions)
        if warm:
            if iteration == 0:
                stages = jnp.asarray(build_schedule(warm))
            else:  # step size only: keep the mass matrix adapted in the first iteration
                stages = jnp.zeros((warm, 2), jnp.int32)
            adapt = self.chains.adaptation(self.positions, self.step_size, self.imm)
            states, adapt = self.chains.warmup(
                self.params, states, adapt, _step_keys(jax.random.fold_in(key, 0), 0, warm), stages
            )
            step_size, imm = self.chains.final(adapt)
            self.step_size = step_size
            if iteration == 0:
                self.imm = imm
        keys = _step_keys(jax.random.fold_in(key, 1), 0, o["num_samples"])
        states, rec = self.chains.sample(self.params, states, self.step_size, self.imm, keys)
        self.positions = states.position
        return rec

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        rows = []
        for it in range(done, done + n):
            rec = self._e_step(it)
            samples = {k: v.reshape((-1, *v.shape[2:])) for k, v in rec["position"].items()}
            objective = None
            for _ in range(self.o["m_steps"]):
                self.params, self.opt_state, value = self.m_step(self.params, self.opt_state, samples)
                objective = value if objective is None else objective
            self.last_samples = {k: np.asarray(v).swapaxes(0, 1) for k, v in rec["position"].items()}
            row = {
                "objective": np.asarray(objective),
                "acceptance_rate": np.asarray(jnp.mean(rec["acceptance_rate"])),
                "divergences": np.asarray(jnp.sum(rec["diverging"])),
                "step_size": np.asarray(jnp.mean(self.step_size)),
            }
            row.update({f"params/{k}": np.asarray(v) for k, v in flatten_params(self.params).items()})
            rows.append(row)
        return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


# -- variational inference -------
def _tfp() -> Any:
    return import_substrate_without_tensorflow("jax")


class VIEngine(_PytreeState):
    """A Gaussian surrogate (mean-field or full-rank) over the flattened latents, fitted with optax."""

    def __init__(self, problem: LatentProblem, o: Mapping[str, Any]) -> None:
        tfp = _tfp()
        tfd, tfb = tfp.distributions, tfp.bijectors
        self.o = dict(o)
        self.problem = problem
        network = problem.network
        self.density = JointDensity(lambda _: network, problem)
        self.key = _base_key(o["seed"])
        self.opt = make_optimizer(o.get("optimizer"), o["learning_rate"])
        slots = problem.slots
        fill = tfb.FillScaleTriL(diag_shift=1e-6)
        self.fill = fill
        family = o["family"]

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

        def target(z: Any) -> Any:
            return jax.vmap(lambda x: self.density({}, unflatten(x)))(z)

        def loss(theta: Any, key: Any) -> Any:
            return tfp.vi.monte_carlo_variational_loss(target, surrogate(theta), sample_size=o["num_draws"], seed=key)

        grad = jax.value_and_grad(loss)

        def chunk(theta: Any, opt_state: Any, keys: Any) -> Any:
            def body(carry: Any, key: Any) -> Any:
                theta, opt_state = carry
                value, g = grad(theta, key)
                updates, opt_state = self.opt.update(g, opt_state, theta)
                return (optax.apply_updates(theta, updates), opt_state), -value

            return jax.lax.scan(body, (theta, opt_state), keys)

        self.unflatten = unflatten
        self.surrogate = surrogate
        self.chunk = jax.jit(chunk)

    def start(self) -> None:
        o = self.o
        loc = jnp.concatenate([jnp.asarray(self.problem.init[s.name]).ravel() for s in self.problem.slots])
        d = loc.shape[0]
        check_finite_start(self.density, {}, {k: v[None] for k, v in self.unflatten(loc).items()}, "vi on JAX")
        if o["family"] == "meanfield":
            raw = jnp.full((d,), np.log(np.expm1(o["init_scale"])), jnp.float32)
        else:
            raw = self.fill.inverse(o["init_scale"] * jnp.eye(d, dtype=jnp.float32))
        self.theta = {"loc": loc.astype(jnp.float32), "raw": raw}
        self.opt_state = self.opt.init(self.theta)

    def _tree(self) -> Any:
        return (self.theta, self.opt_state)

    def _set_tree(self, tree: Any) -> None:
        self.theta, self.opt_state = tree

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        (self.theta, self.opt_state), elbo = self.chunk(self.theta, self.opt_state, _step_keys(self.key, done, n))
        return {"elbo": np.asarray(elbo)}

    def fitted(self) -> tuple[np.ndarray, np.ndarray]:
        """The surrogate's flat mean and lower-triangular scale."""
        q = self.surrogate(self.theta)
        loc = np.asarray(self.theta["loc"])
        if self.o["family"] == "meanfield":
            return loc, np.diag(np.asarray(q.stddev()))
        return loc, np.asarray(self.fill.forward(self.theta["raw"]))


# -- maximum likelihood / MAP -------
class FitEngine(_Optimised):
    """Mean log-probability of a batch of fully observed trajectories (plus a log prior / N for MAP)."""

    def __init__(
        self,
        make_model: Builder,
        init_params: Mapping[str, np.ndarray],
        batch: Mapping[str, Mapping[str, np.ndarray]],
        o: Mapping[str, Any],
        log_prior: Callable[[Any], Any] | None,
    ) -> None:
        self.o = dict(o)
        self._setup_params(init_params, o)
        self.make_model = make_model
        self.batch = {n: Value({k: jnp.asarray(x) for k, x in f.items()}) for n, f in batch.items()}
        self.count = next(np.shape(x)[0] for f in batch.values() for x in f.values())
        self.key = _base_key(o["seed"])
        batch_size = o.get("batch_size") or self.count
        count = self.count

        def per_trajectory(params: Any, traj: Any) -> Any:
            return TrajectoryScorer(network_from_story(make_model(params))).traced_total(traj, None, None)

        def objective(params: Any, data: Any) -> Any:
            value = jnp.mean(jax.vmap(per_trajectory, in_axes=(None, 0))(params, data))
            if log_prior is not None:
                with using_backend(jax_backend()):
                    value = value + log_prior(params) / count
            return value

        self.per_trajectory = jax.jit(jax.vmap(per_trajectory, in_axes=(None, 0)))
        grad = jax.value_and_grad(objective)

        def chunk(params: Any, opt_state: Any, keys: Any) -> Any:
            def body(carry: Any, key: Any) -> Any:
                params, opt_state = carry
                data = self.batch
                if batch_size < count:
                    idx = jax.random.choice(key, count, (batch_size,), replace=False)
                    data = jax.tree.map(lambda x: x[idx], data)
                value, g = grad(params, data)
                params, opt_state = self._update(params, opt_state, g)
                return (params, opt_state), value

            return jax.lax.scan(body, (params, opt_state), keys)

        self.chunk = jax.jit(chunk)

    def start(self) -> None:
        self._start_params()
        lps = np.asarray(self.per_trajectory(self.params, self.batch))
        bad = np.flatnonzero(~np.isfinite(lps))
        if bad.size:
            from recosim.inference.problem import explain_non_finite

            i = int(bad[0])
            traj = {n: {k: np.asarray(x[i]) for k, x in v.items()} for n, v in self.batch.items()}
            network = network_from_story(self.make_model(self.params))
            raise InferenceError(
                f"trajectory {i} has log-probability {lps[i]} at the initial parameters; "
                + explain_non_finite(network, traj, jax_backend())
            )

    def _tree(self) -> Any:
        return (self.params, self.opt_state)

    def _set_tree(self, tree: Any) -> None:
        self.params, self.opt_state = tree

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        (self.params, self.opt_state), values = self.chunk(self.params, self.opt_state, _step_keys(self.key, done, n))
        return {"objective": np.asarray(values)}


# -- REINFORCE -------
class ReinforceEngine(_Optimised):
    """Rollouts with the current parameters, advantages on the host, a gradient step on the policy's log-probability."""

    def __init__(
        self, make_model: Builder, init_params: Mapping[str, np.ndarray], spec: Any, o: Mapping[str, Any]
    ) -> None:
        self.o = dict(o)
        self.spec = spec
        self._setup_params(init_params, o)
        self.key = _base_key(o["seed"])
        B = jax_backend()
        horizon = o["horizon"]

        def rollout(params: Any, pop_key: Any, run_key: Any) -> Any:
            network = network_from_story(make_model(params))
            runtime = JaxRuntime(network)
            with (
                using_backend(B),
                seed_handler(B.fold_in(run_key, 0), B),
                shared_initial_draws(B.fold_in(pop_key, 0), spec.population, B),
            ):
                first = initial_step(network)
            first = {n: Value({k: strong(x) for k, x in Value(v).items()}) for n, v in first.items()}
            if horizon == 1:
                return jax.tree.map(lambda x: x[None], first)

            def body(carry: Any, t: Any) -> Any:
                nxt = runtime.transition(run_key, t, carry)
                return nxt, nxt

            _, rest = jax.lax.scan(body, first, jnp.arange(1, horizon, dtype=jnp.int32))
            return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)

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
            params, opt_state = self._update(params, opt_state, g)
            return params, opt_state, -value, jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(g)))

        self.rollouts = jax.jit(jax.vmap(rollout, in_axes=(None, 0, 0)))
        self.log_probs = jax.jit(jax.vmap(policy_log_prob, in_axes=(None, 0)))
        self.gradient = jax.jit(lambda p, t, a: grad(p, t, a)[1])
        self.step = jax.jit(step)

    def start(self) -> None:
        self._start_params()
        self.running = jnp.zeros((self.o["horizon"],), jnp.float32)
        self.has_running = jnp.zeros((), jnp.bool_)

    def _tree(self) -> Any:
        return (self.params, self.opt_state, self.running, self.has_running)

    def _set_tree(self, tree: Any) -> None:
        self.params, self.opt_state, self.running, self.has_running = tree

    def sample(self, params: Any, update: int) -> tuple[Any, np.ndarray]:
        key = jax.random.fold_in(self.key, update)
        pop, run = self.spec.keys_for(key, jax.random.fold_in)
        trajs = self.rollouts(params, jnp.stack(pop), jnp.stack(run))
        return trajs, self.spec.rewards(trajs)

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        rows = []
        for update in range(done, done + n):
            trajs, rewards = self.sample(self.params, update)
            running = np.asarray(self.running) if bool(self.has_running) else None
            if not self.spec.checked:
                self.spec.check_first(rewards, np.asarray(self.log_probs(self.params, trajs)), fresh=update == 0)
            adv, new_running = self.spec.advantages(rewards, running)
            if new_running is not None:
                self.running, self.has_running = jnp.asarray(new_running, jnp.float32), jnp.ones((), jnp.bool_)
            self.params, self.opt_state, loss, norm = self.step(
                self.params, self.opt_state, trajs, jnp.asarray(adv, jnp.float32)
            )
            rows.append(
                {"mean_return": self.spec.mean_return(rewards), "loss": np.asarray(loss), "grad_norm": np.asarray(norm)}
            )
        return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}

    def gradient_estimates(self, num_estimates: int) -> np.ndarray:
        """Independent gradient estimates at the initial parameters, flattened: ``[num_estimates, P]``."""
        self.start()
        out = []
        for k in range(num_estimates):
            trajs, rewards = self.sample(self.params, k)
            if not self.spec.checked:
                self.spec.check_first(rewards, np.asarray(self.log_probs(self.params, trajs)))
            adv, _ = self.spec.advantages(rewards, None)
            g = self.gradient(self.params, trajs, jnp.asarray(adv, jnp.float32))
            out.append(np.concatenate([np.asarray(x).ravel() for x in jax.tree.leaves(g)]))
        return np.stack(out)
