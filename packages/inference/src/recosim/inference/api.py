"""The public functions: one API on every runtime, the framework chosen by ``runtime=``.

Each function checks its input (names, shapes, options) without importing any
framework, then hands the run to the runtime's implementation
(``recosim.inference._jax`` or ``recosim.inference._tf``), driven by
`recosim.inference.loop` (progress bar, checkpoints, resume).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from recosim.core.errors import UnknownPluginError
from recosim.core.plugins import get_plugins
from recosim.core.story import network_from_story
from recosim.inference import loop
from recosim.inference.policy import BASELINES, ReinforceSpec
from recosim.inference.problem import (
    RUNTIMES,
    InferenceError,
    check_bounds,
    check_field_name,
    check_params,
    check_trajectory,
    latent_problem,
    stack_trajectories,
    unflatten_params,
)
from recosim.inference.results import EMFit, ParameterFit, Posterior, TrainingResult, VIFit, mcmc_diagnostics

__all__ = [
    "sample_posterior",
    "fit_mcem",
    "fit_vi",
    "fit_mle",
    "fit_map",
    "train_reinforce",
    "policy_gradient_estimates",
    "hmc",
    "nuts",
    "mcem",
    "vi",
    "mle",
    "map_fit",
    "reinforce",
]

PathLike = str | os.PathLike[str] | None
Callback = Callable[[int, dict[str, np.ndarray]], Any] | None
SAMPLERS = ("hmc", "nuts")
_EXTRA = {"jax": "blackjax, optax, arviz", "tf": "tensorflow, tensorflow-probability, arviz"}


def _implementation(runtime: str, method: str) -> Any:
    """The runtime's implementation module, or an error naming the method and runtime."""
    if runtime not in RUNTIMES:
        installed = get_plugins().runtime_names()
        if runtime in installed:
            raise InferenceError(f"{method} runs on the runtimes {list(RUNTIMES)}, not on {runtime!r}")
        raise InferenceError(
            f"unknown runtime {runtime!r} for {method}; {method} runs on {list(RUNTIMES)} "
            f"(installed runtimes: {installed})"
        )
    try:
        get_plugins().get_runtime(runtime)
    except UnknownPluginError as err:
        raise InferenceError(f"{method} on {runtime!r} needs recosim-runtime-{runtime}: {err}") from None
    try:
        return importlib.import_module(f"recosim.inference._{runtime}")
    except ImportError as err:
        raise InferenceError(
            f"{method} on {runtime!r} needs {_EXTRA[runtime]} (pip install 'recosim-inference[{runtime}]'): {err}"
        ) from None


def _count(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InferenceError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _positive(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InferenceError(f"{name} must be a positive number, got {value!r}") from None
    if not np.isfinite(out) or out <= 0:
        raise InferenceError(f"{name} must be a positive number, got {value!r}")
    return out


def _fingerprint(*trees: Any) -> str:
    digest = hashlib.sha1()

    def visit(x: Any) -> None:
        if isinstance(x, Mapping):
            for k in sorted(x):
                digest.update(str(k).encode())
                visit(x[k])
        else:
            arr = np.ascontiguousarray(np.asarray(x))
            digest.update(f"{arr.dtype}{arr.shape}".encode())
            digest.update(arr.tobytes())

    for tree in trees:
        visit(tree)
    return digest.hexdigest()


def _optimizer_name(optimizer: Any) -> str:
    return optimizer if isinstance(optimizer, str) or optimizer is None else type(optimizer).__name__


def _options(
    label: str,
    total: int,
    objective: str,
    config: dict[str, Any],
    run: Mapping[str, Any],
    boundaries: tuple[int, ...] = (),
) -> loop.LoopOptions:
    return loop.LoopOptions(
        label=label,
        total=total,
        objective=objective,
        config=config,
        checkpoint=run["checkpoint"],
        checkpoint_every=run["checkpoint_every"],
        resume=bool(run["resume"]),
        quiet=bool(run["quiet"]),
        callback=run["callback"],
        boundaries=boundaries,
    )


def _check_sampler(method: str) -> str:
    if method not in SAMPLERS:
        raise InferenceError(f"unknown sampling method {method!r}; choose one of {list(SAMPLERS)}")
    return method


def _sampler_options(
    num_chains: int,
    step_size: float,
    num_leapfrog_steps: int,
    target_accept: float,
    max_tree_depth: int,
    init_spread: float,
) -> dict[str, Any]:
    if not 0.0 < float(target_accept) < 1.0:
        raise InferenceError(f"target_accept must be in (0, 1), got {target_accept!r}")
    if float(init_spread) < 0 or not np.isfinite(float(init_spread)):
        raise InferenceError(f"init_spread must be a non-negative number, got {init_spread!r}")
    return {
        "num_chains": _count("num_chains", num_chains),
        "step_size": _positive("step_size", step_size),
        "num_leapfrog_steps": _count("num_leapfrog_steps", num_leapfrog_steps),
        "target_accept": float(target_accept),
        "max_tree_depth": _count("max_tree_depth", max_tree_depth),
        "init_spread": float(init_spread),
    }


# -- posterior sampling -------
def sample_posterior(
    model: Any,
    logged: Mapping[str, Any],
    latent: Sequence[str] | str,
    *,
    runtime: str = "jax",
    method: str = "nuts",
    num_chains: int = 4,
    num_warmup: int = 500,
    num_samples: int = 1000,
    seed: int = 0,
    init: Mapping[str, Any] | None = None,
    static: Sequence[str] | str = (),
    init_spread: float = 0.5,
    step_size: float = 0.1,
    num_leapfrog_steps: int = 10,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    checkpoint: PathLike = None,
    checkpoint_every: int = 100,
    resume: bool = False,
    quiet: bool = False,
    callback: Callback = None,
) -> Posterior:
    """Draw the ``latent`` fields of ``model`` from their posterior given the ``logged`` trajectory.

    ``model`` is a Story, Network or list of variables; ``logged`` maps variable
    names to Values whose fields have a leading time axis (latent fields may be
    missing). ``method`` is ``"hmc"`` (fixed ``num_leapfrog_steps``) or ``"nuts"``.
    The first ``num_warmup`` steps adapt the step size (on JAX also a diagonal mass
    matrix); chains start at ``init`` (or the logged values, or zeros) plus
    ``N(0, init_spread)`` noise. ``static`` names latents that the model's
    transition carries over unchanged (sampled once, repeated at every step, as
    latents of variables without a transition are). Returns a `Posterior`; ``post.to_arviz()`` gives
    ``arviz.InferenceData``.

    >>> import numpy as np
    >>> from recosim.inference.examples import conjugate_gaussian
    >>> x = np.zeros((10, 3), np.float32)
    >>> post = sample_posterior(conjugate_gaussian(), {"user": {}, "obs": {"x": x}}, ["user/intent"],
    ...                         num_warmup=100, num_samples=100, quiet=True)  # doctest: +SKIP
    >>> post.samples["user/intent"].shape  # doctest: +SKIP
    (4, 100, 3)
    """
    _check_sampler(method)
    impl = _implementation(runtime, method)
    o = _sampler_options(num_chains, step_size, num_leapfrog_steps, target_accept, max_tree_depth, init_spread)
    o.update(
        num_warmup=_count("num_warmup", num_warmup, 0), num_samples=_count("num_samples", num_samples), seed=int(seed)
    )
    problem = latent_problem(model, logged, latent, init=init, static=static)
    config = {
        **o,
        "method": method,
        "runtime": runtime,
        "latent": problem.names,
        "static": [s.name for s in problem.slots if s.static],
        "data": _fingerprint(problem.logged),
    }
    engine = impl.PosteriorEngine(problem, method, o)
    timer = _Timed(engine, o["num_warmup"])
    run = dict(checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume, quiet=quiet, callback=callback)
    records = loop.run(
        timer, _options(method, o["num_warmup"] + o["num_samples"], "lp", config, run, (o["num_warmup"],)), impl.STORE
    )
    samples = {k[len("position/") :]: np.swapaxes(v, 0, 1) for k, v in records.items() if k.startswith("position/")}
    stats = {k: np.swapaxes(v, 0, 1) for k, v in records.items() if not k.startswith("position/")}
    return Posterior(samples, stats, mcmc_diagnostics(samples, stats), method, runtime, timer.seconds, timer.chunks)


class _Timed:
    """Wraps an engine to time the units from ``after`` on (sampling, not warm-up)."""

    def __init__(self, engine: Any, after: int) -> None:
        self.engine = engine
        self.after = after
        self.seconds = 0.0
        self.chunks: list[tuple[int, float]] = []

    def start(self) -> None:
        self.engine.start()

    def state(self) -> dict[str, np.ndarray]:
        return self.engine.state()

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.engine.restore(arrays)

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        begin = time.perf_counter()
        out = self.engine.advance(done, n)
        if done >= self.after:
            took = time.perf_counter() - begin
            self.seconds += took
            self.chunks.append((n, took))
        return out


def hmc(model: Any, logged: Mapping[str, Any], latent: Sequence[str] | str, **options: Any) -> Posterior:
    """`sample_posterior` with ``method="hmc"``."""
    return sample_posterior(model, logged, latent, method="hmc", **options)


def nuts(model: Any, logged: Mapping[str, Any], latent: Sequence[str] | str, **options: Any) -> Posterior:
    """`sample_posterior` with ``method="nuts"``."""
    return sample_posterior(model, logged, latent, method="nuts", **options)


# -- variational inference -------
def fit_vi(
    model: Any,
    logged: Mapping[str, Any],
    latent: Sequence[str] | str,
    *,
    runtime: str = "jax",
    family: str = "meanfield",
    num_steps: int = 1000,
    num_draws: int = 8,
    learning_rate: float = 0.05,
    optimizer: Any = None,
    init: Mapping[str, Any] | None = None,
    static: Sequence[str] | str = (),
    init_scale: float = 0.1,
    seed: int = 0,
    checkpoint: PathLike = None,
    checkpoint_every: int = 100,
    resume: bool = False,
    quiet: bool = False,
    callback: Callback = None,
) -> VIFit:
    """Fit a Gaussian surrogate posterior over the ``latent`` fields by maximising the ELBO.

    ``family`` is ``"meanfield"`` (independent Gaussians) or ``"fullrank"`` (a
    multivariate normal with a Cholesky-factor scale). Each step estimates the
    ELBO with ``num_draws`` reparameterised draws (``tfp.vi.monte_carlo_variational_loss``
    on the runtime's TFP substrate) and takes one optimiser step (optax on JAX,
    Keras on TF). Returns a `VIFit` with the surrogate and the ELBO trace.
    """
    if family not in ("meanfield", "fullrank"):
        raise InferenceError(f"unknown VI family {family!r}; choose 'meanfield' or 'fullrank'")
    impl = _implementation(runtime, "vi")
    o = {
        "family": family,
        "num_steps": _count("num_steps", num_steps),
        "num_draws": _count("num_draws", num_draws),
        "learning_rate": _positive("learning_rate", learning_rate),
        "optimizer": optimizer,
        "init_scale": _positive("init_scale", init_scale),
        "seed": int(seed),
    }
    problem = latent_problem(model, logged, latent, init=init, static=static)
    config = {
        **o,
        "optimizer": _optimizer_name(optimizer),
        "runtime": runtime,
        "latent": problem.names,
        "static": [s.name for s in problem.slots if s.static],
        "data": _fingerprint(problem.logged),
    }
    engine = impl.VIEngine(problem, o)
    run = dict(checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume, quiet=quiet, callback=callback)
    records = loop.run(engine, _options(f"vi ({family})", o["num_steps"], "elbo", config, run), impl.STORE)
    loc_flat, tril = engine.fitted()
    cov = tril @ tril.T
    std_flat = np.sqrt(np.diag(cov))
    loc, scale, start = {}, {}, 0
    for s in problem.slots:
        loc[s.name] = loc_flat[start : start + s.size].reshape(s.shape)
        scale[s.name] = std_flat[start : start + s.size].reshape(s.shape)
        start += s.size
    return VIFit(
        loc, scale, cov, records["elbo"], family, runtime, problem.names, [s.shape for s in problem.slots], tril
    )


def vi(model: Any, logged: Mapping[str, Any], latent: Sequence[str] | str, **options: Any) -> VIFit:
    """`fit_vi`."""
    return fit_vi(model, logged, latent, **options)


# -- Monte-Carlo EM -------
def _model_network(make_model: Callable[[Any], Any], params: Mapping[str, np.ndarray]) -> Any:
    if not callable(make_model):
        raise InferenceError(f"make_model must be a function params -> model, got {type(make_model).__name__}")
    return network_from_story(make_model(unflatten_params(params)))


def fit_mcem(
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    logged: Mapping[str, Any],
    latent: Sequence[str] | str,
    *,
    runtime: str = "jax",
    method: str = "hmc",
    num_iterations: int = 50,
    num_chains: int = 4,
    num_warmup: int = 200,
    num_warmup_per_iteration: int = 20,
    num_samples: int = 100,
    m_steps: int = 1,
    learning_rate: float = 0.02,
    optimizer: Any = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    init: Mapping[str, Any] | None = None,
    static: Sequence[str] | str = (),
    init_spread: float = 0.5,
    step_size: float = 0.1,
    num_leapfrog_steps: int = 5,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    seed: int = 0,
    checkpoint: PathLike = None,
    checkpoint_every: int = 10,
    resume: bool = False,
    quiet: bool = False,
    callback: Callback = None,
) -> EMFit:
    """Monte-Carlo EM: sample the ``latent`` fields, then raise the completed-data log-probability.

    ``make_model(params)`` builds the model from a dict of arrays (a pytree on
    JAX, ``tf.Variable`` s on TF). Each iteration's E-step runs ``num_chains``
    chains warm-started from the previous iteration (step size adapted for
    ``num_warmup`` steps in the first iteration and ``num_warmup_per_iteration``
    afterwards) and keeps ``num_samples`` draws per chain; the M-step takes
    ``m_steps`` optimiser steps on the mean log-probability of the completed
    trajectories. ``bounds={"alpha": (0, 1)}`` clips parameters after each step;
    ``static`` is as in `sample_posterior`.
    """
    _check_sampler(method)
    impl = _implementation(runtime, "mcem")
    params = check_params(init_params)
    o = _sampler_options(num_chains, step_size, num_leapfrog_steps, target_accept, max_tree_depth, init_spread)
    o.update(
        method=method,
        num_iterations=_count("num_iterations", num_iterations),
        num_warmup=_count("num_warmup", num_warmup, 0),
        num_warmup_per_iteration=_count("num_warmup_per_iteration", num_warmup_per_iteration, 0),
        num_samples=_count("num_samples", num_samples),
        m_steps=_count("m_steps", m_steps),
        learning_rate=_positive("learning_rate", learning_rate),
        optimizer=optimizer,
        bounds=check_bounds(bounds, params),
        seed=int(seed),
    )
    problem = latent_problem(_model_network(make_model, params), logged, latent, init=init, static=static)
    config = {
        **o,
        "optimizer": _optimizer_name(optimizer),
        "runtime": runtime,
        "latent": problem.names,
        "static": [s.name for s in problem.slots if s.static],
        "data": _fingerprint(problem.logged, params),
    }
    engine = impl.MCEMEngine(make_model, params, problem, o)
    run = dict(checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume, quiet=quiet, callback=callback)
    history = loop.run(engine, _options(f"mcem ({method})", o["num_iterations"], "objective", config, run), impl.STORE)
    return EMFit(engine.params_numpy(), history, engine.last_samples)


def mcem(
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    logged: Mapping[str, Any],
    latent: Sequence[str] | str,
    **options: Any,
) -> EMFit:
    """`fit_mcem`."""
    return fit_mcem(make_model, init_params, logged, latent, **options)


# -- maximum likelihood and MAP -------
def _fit(
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    trajectories: Any,
    log_prior: Callable[[Any], Any] | None,
    label: str,
    *,
    runtime: str,
    num_steps: int,
    learning_rate: float,
    optimizer: Any,
    bounds: Mapping[str, tuple[float, float]] | None,
    batch_size: int | None,
    seed: int,
    run: dict[str, Any],
) -> ParameterFit:
    impl = _implementation(runtime, label)
    params = check_params(init_params)
    if log_prior is not None and not callable(log_prior):
        raise InferenceError(f"log_prior must be a function params -> scalar, got {type(log_prior).__name__}")
    network = _model_network(make_model, params)
    batch, _ = check_trajectory(network, stack_trajectories(trajectories), batched=True, what="the trajectories")
    count = next(x.shape[0] for f in batch.values() for x in f.values())
    o = {
        "num_steps": _count("num_steps", num_steps),
        "learning_rate": _positive("learning_rate", learning_rate),
        "optimizer": optimizer,
        "bounds": check_bounds(bounds, params),
        "batch_size": None if batch_size is None else min(_count("batch_size", batch_size), count),
        "seed": int(seed),
    }
    config = {
        **o,
        "optimizer": _optimizer_name(optimizer),
        "runtime": runtime,
        "method": label,
        "data": _fingerprint(batch, params),
    }
    engine = impl.FitEngine(make_model, params, batch, o, log_prior)
    history = loop.run(engine, _options(label, o["num_steps"], "objective", config, run), impl.STORE)
    return ParameterFit(engine.params_numpy(), history)


def fit_mle(
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    trajectories: Any,
    *,
    runtime: str = "jax",
    log_prior: Callable[[Any], Any] | None = None,
    num_steps: int = 200,
    learning_rate: float = 0.05,
    optimizer: Any = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    checkpoint: PathLike = None,
    checkpoint_every: int = 50,
    resume: bool = False,
    quiet: bool = False,
    callback: Callback = None,
) -> ParameterFit:
    """Maximum-likelihood (or, with ``log_prior``, MAP) parameters of ``make_model`` for ``trajectories``.

    ``trajectories`` are fully observed: one mapping whose fields have leading axes
    ``[trajectories, steps, ...]`` (what ``runtime.run_many(..., length=T)``
    returns) or a list of single trajectories. All are scored in one batched,
    compiled call per step (``batch_size`` draws a random subset per step).
    ``log_prior(params)`` is written with ``recosim.core.get_backend()`` ops.
    """
    run = dict(checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume, quiet=quiet, callback=callback)
    label = "mle" if log_prior is None else "map"
    return _fit(
        make_model, init_params, trajectories, log_prior, label, runtime=runtime, num_steps=num_steps,
        learning_rate=learning_rate, optimizer=optimizer, bounds=bounds, batch_size=batch_size, seed=seed, run=run,
    )  # fmt: skip


def fit_map(
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    trajectories: Any,
    log_prior: Callable[[Any], Any],
    **options: Any,
) -> ParameterFit:
    """`fit_mle` plus ``log_prior(params)``: the objective is the mean log-likelihood plus ``log_prior / N``."""
    if log_prior is None:
        raise InferenceError("fit_map needs log_prior, a function params -> scalar log-density")
    return fit_mle(make_model, init_params, trajectories, log_prior=log_prior, **options)


def mle(
    make_model: Callable[[Any], Any], init_params: Mapping[str, Any], trajectories: Any, **options: Any
) -> ParameterFit:
    """`fit_mle`."""
    return fit_mle(make_model, init_params, trajectories, **options)


def map_fit(
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    trajectories: Any,
    log_prior: Callable[[Any], Any],
    **options: Any,
) -> ParameterFit:
    """`fit_map` (registered as ``map``)."""
    return fit_map(make_model, init_params, trajectories, log_prior, **options)


# -- REINFORCE -------
def _reinforce_setup(
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    *,
    policy: str,
    reward: str,
    horizon: int,
    runtime: str,
    baseline: str | None,
    group_size: int,
    num_rollouts: int | None,
    population: Sequence[str] | None,
    discount: float,
    learning_rate: float,
    optimizer: Any,
    bounds: Mapping[str, tuple[float, float]] | None,
    seed: int,
) -> tuple[Any, dict[str, np.ndarray], ReinforceSpec, dict[str, Any]]:
    if baseline not in BASELINES:
        raise InferenceError(f"unknown baseline {baseline!r}; choose one of {list(BASELINES)}")
    impl = _implementation(runtime, "reinforce")
    params = check_params(init_params)
    network = _model_network(make_model, params)
    policy_var, _, policy_keys = check_field_name(network, policy, "policy")
    reward_var, reward_field, reward_keys = check_field_name(network, reward, "reward")
    if reward_field is None or len(reward_keys) != 1:
        raise InferenceError(f"reward {reward!r} must name one field ('variable/field'); it covers {reward_keys}")
    group = _count("group_size", group_size, 2) if baseline == "group" else 1
    rollouts = group if num_rollouts is None else _count("num_rollouts", num_rollouts)
    if rollouts % group:
        raise InferenceError(f"num_rollouts={rollouts} must be a multiple of group_size={group} for the group baseline")
    if population is None:
        population = [n for n in network.names if n != policy_var]
    for name in population:
        if name not in network:
            raise InferenceError(
                f"population names {name!r}, which is not a variable of the model {sorted(network.names)}"
            )
    if not 0.0 < float(discount) <= 1.0:
        raise InferenceError(f"discount must be in (0, 1], got {discount!r}")
    spec = ReinforceSpec(
        variable=policy_var,
        keys=policy_keys,
        reward_variable=reward_var,
        reward_key=reward_keys[0],
        population=list(population),
        baseline=baseline,
        group_size=group,
        num_rollouts=rollouts,
        discount=float(discount),
        label=policy,
    )
    o = {
        "horizon": _count("horizon", horizon),
        "learning_rate": _positive("learning_rate", learning_rate),
        "optimizer": optimizer,
        "bounds": check_bounds(bounds, params),
        "seed": int(seed),
    }
    return impl, params, spec, o


def train_reinforce(
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    *,
    policy: str,
    reward: str,
    horizon: int,
    runtime: str = "jax",
    num_steps: int = 100,
    baseline: str | None = "group",
    group_size: int = 8,
    num_rollouts: int | None = None,
    population: Sequence[str] | None = None,
    discount: float = 1.0,
    learning_rate: float = 0.01,
    optimizer: Any = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    seed: int = 0,
    checkpoint: PathLike = None,
    checkpoint_every: int = 10,
    resume: bool = False,
    quiet: bool = False,
    callback: Callback = None,
) -> TrainingResult:
    """Train the parameters of a recommender by REINFORCE on its draws' log-probability.

    Each of ``num_steps`` updates simulates ``num_rollouts`` rollouts of
    ``horizon`` steps with the current parameters, computes per user and step
    the reward-to-go of field ``reward`` (``"metrics/reward"``, one reward per
    step, per user), subtracts a baseline, and ascends
    ``sum_t,u A[t,u] * log p(policy draws at t for u) / (rollouts * users)``, where
    ``policy`` names the variable (or field) whose draws are the actions
    (``"recommender/slate"``). ``baseline``: ``None``; ``"mean"`` (a running mean
    of the reward-to-go per step); or ``"group"``: rollouts come in groups of
    ``group_size`` that share their population (the initial draws of the
    ``population`` variables, by default every variable but the policy's), and
    advantages are normalised within the group (as GRPO does).
    """
    impl, params, spec, o = _reinforce_setup(
        make_model,
        init_params,
        policy=policy,
        reward=reward,
        horizon=horizon,
        runtime=runtime,
        baseline=baseline,
        group_size=group_size,
        num_rollouts=num_rollouts,
        population=population,
        discount=discount,
        learning_rate=learning_rate,
        optimizer=optimizer,
        bounds=bounds,
        seed=seed,
    )
    steps = _count("num_steps", num_steps)
    config = {
        **o,
        "optimizer": _optimizer_name(optimizer),
        "runtime": runtime,
        "policy": policy,
        "reward": reward,
        "baseline": baseline,
        "group_size": spec.group_size,
        "num_rollouts": spec.num_rollouts,
        "population": spec.population,
        "discount": spec.discount,
        "params": _fingerprint(params),
    }
    engine = impl.ReinforceEngine(make_model, params, spec, o)
    run = dict(checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume, quiet=quiet, callback=callback)
    history = loop.run(engine, _options("reinforce", steps, "mean_return", config, run), impl.STORE)
    return TrainingResult(engine.params_numpy(), history)


def reinforce(make_model: Callable[[Any], Any], init_params: Mapping[str, Any], **options: Any) -> TrainingResult:
    """`train_reinforce`."""
    return train_reinforce(make_model, init_params, **options)


def policy_gradient_estimates(
    make_model: Callable[[Any], Any],
    params: Mapping[str, Any],
    *,
    policy: str,
    reward: str,
    horizon: int,
    runtime: str = "jax",
    baseline: str | None = "group",
    group_size: int = 8,
    num_rollouts: int | None = None,
    population: Sequence[str] | None = None,
    discount: float = 1.0,
    num_estimates: int = 20,
    seed: int = 0,
) -> np.ndarray:
    """``num_estimates`` independent REINFORCE gradient estimates at ``params``, flattened: ``[num_estimates, P]``.

    Each estimate uses what one update of `train_reinforce` would (``num_rollouts``
    rollouts, the same baseline; the ``"mean"`` baseline has no history here, so it
    is the batch's own mean). Use it to compare the variance of baselines.
    """
    impl, flat, spec, o = _reinforce_setup(
        make_model,
        params,
        policy=policy,
        reward=reward,
        horizon=horizon,
        runtime=runtime,
        baseline=baseline,
        group_size=group_size,
        num_rollouts=num_rollouts,
        population=population,
        discount=discount,
        learning_rate=1.0,
        optimizer=None,
        bounds=None,
        seed=seed,
    )
    engine = impl.ReinforceEngine(make_model, flat, spec, o)
    return engine.gradient_estimates(_count("num_estimates", num_estimates, 2))
