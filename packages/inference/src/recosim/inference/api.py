"""The public functions: one API on every runtime, the framework chosen by ``runtime=``.

Each function checks its input (names, shapes, options) without importing any
framework, then builds the engine of `recosim.inference.engines` on the runtime's
operations (``recosim.inference._jax.JAX`` or ``recosim.inference._tf.TF``) and
drives it with `recosim.inference.loop` (progress bar, checkpoints, resume).

The options shared by several methods are the frozen dataclasses of
`recosim.inference.options` (``sampler=``, ``optim=``, ``run=``); each of their
fields may also be given as a keyword (``num_chains=2``), which overrides the
method's default or the dataclass passed.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from recosim.core.story import network_from_story
from recosim.inference import engines, loop
from recosim.inference.frameworks import differentiable_runtimes, framework
from recosim.inference.options import (
    OptimizerOptions,
    RolloutOptions,
    RunOptions,
    SamplerOptions,
    as_config,
    count,
    positive,
    resolve,
)
from recosim.inference.policy import BASELINES, ReinforceSpec
from recosim.inference.problem import (
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

FUNCTIONS = (
    "sample_posterior",
    "fit_mcem",
    "fit_vi",
    "fit_mle",
    "fit_map",
    "train_reinforce",
    "train_grpo",
    "policy_gradient_estimates",
)
"""The methods' functions, which `recosim.inference` exports."""
__all__ = [*FUNCTIONS, "differentiable_runtimes", "method_for"]


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


def _drive(
    engine: Any,
    fw: Any,
    label: str,
    total: int,
    objective: str,
    config: dict[str, Any],
    run: RunOptions,
    boundaries: tuple[int, ...] = (),
) -> dict[str, np.ndarray]:
    options = loop.LoopOptions(
        label=label,
        total=total,
        objective=objective,
        config=config,
        checkpoint=run.checkpoint,
        checkpoint_every=run.checkpoint_every,
        resume=bool(run.resume),
        quiet=bool(run.quiet),
        callback=run.callback,
        boundaries=boundaries,
    )
    return loop.run(engine, options, fw.store)


def _latent_config(problem: Any, runtime: str) -> dict[str, Any]:
    return {
        "runtime": runtime,
        "latent": problem.names,
        "static": [s.name for s in problem.slots if s.static],
    }


# -- posterior sampling -------
DEFAULT_RUN = RunOptions()
"""Checkpoints (when ``checkpoint=`` names a directory) every 100 units."""
DEFAULT_SAMPLER = SamplerOptions()
"""`sample_posterior`'s sampler: NUTS, 4 chains, 500 warm-up steps, 1000 draws."""


def sample_posterior(
    model: Any,
    logged: Mapping[str, Any],
    latent: Sequence[str] | str,
    *,
    runtime: str = "jax",
    sampler: SamplerOptions = DEFAULT_SAMPLER,
    run: RunOptions = DEFAULT_RUN,
    seed: int = 0,
    init: Mapping[str, Any] | None = None,
    static: Sequence[str] | str = (),
    **options: Any,
) -> Posterior:
    """Draw the ``latent`` fields of ``model`` from their posterior given the ``logged`` trajectory.

    ``model`` is a Story, Network or list of variables; ``logged`` maps variable
    names to Values whose fields have a leading time axis (latent fields may be
    missing). ``sampler`` (or its fields as keywords: ``method="hmc"``,
    ``num_chains=2``, ...) says how (`SamplerOptions`); ``run`` (or ``checkpoint=``,
    ``quiet=True``, ...) how the run is driven (`RunOptions`). Chains start at
    ``init`` (or the logged values, or zeros) plus ``N(0, init_spread)`` noise.
    ``static`` names latents that the model's transition carries over unchanged
    (sampled once, repeated at every step, as latents of variables without a
    transition are). Returns a `Posterior`; ``post.to_arviz()`` gives ``arviz.InferenceData``.

    >>> import numpy as np
    >>> from recosim.inference.examples import conjugate_gaussian
    >>> x = np.zeros((10, 3), np.float32)
    >>> post = sample_posterior(conjugate_gaussian(), {"user": {}, "obs": {"x": x}}, ["user/intent"],
    ...                         num_warmup=100, num_samples=100, quiet=True)  # doctest: +SKIP
    >>> post.samples["user/intent"].shape  # doctest: +SKIP
    (4, 100, 3)
    """
    o = resolve("sample_posterior", {"sampler": sampler, "run": run}, options)
    s, r = o["sampler"], o["run"]
    fw = framework(runtime, s.method)
    problem = latent_problem(model, logged, latent, init=init, static=static)
    config = {
        **as_config(s),
        "seed": int(seed),
        **_latent_config(problem, runtime),
        "data": _fingerprint(problem.logged),
    }
    timer = _Timed(engines.PosteriorEngine(fw, problem, s, int(seed)), s.num_warmup)
    records = _drive(timer, fw, s.method, s.num_warmup + s.num_samples, "lp", config, r, (s.num_warmup,))
    samples = {k[len("position/") :]: np.swapaxes(v, 0, 1) for k, v in records.items() if k.startswith("position/")}
    stats = {k: np.swapaxes(v, 0, 1) for k, v in records.items() if not k.startswith("position/")}
    return Posterior(samples, stats, mcmc_diagnostics(samples, stats), s.method, runtime, timer.seconds, timer.chunks)


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


# -- variational inference -------
VI_FAMILIES = ("meanfield", "fullrank")
DEFAULT_VI_OPTIM = OptimizerOptions(learning_rate=0.05)


def fit_vi(
    model: Any,
    logged: Mapping[str, Any],
    latent: Sequence[str] | str,
    *,
    runtime: str = "jax",
    family: str = "meanfield",
    num_steps: int = 1000,
    num_draws: int = 8,
    init_scale: float = 0.1,
    optim: OptimizerOptions = DEFAULT_VI_OPTIM,
    run: RunOptions = DEFAULT_RUN,
    seed: int = 0,
    init: Mapping[str, Any] | None = None,
    static: Sequence[str] | str = (),
    **options: Any,
) -> VIFit:
    """Fit a Gaussian surrogate posterior over the ``latent`` fields by maximising the ELBO.

    ``family`` is ``"meanfield"`` (independent Gaussians) or ``"fullrank"`` (a
    multivariate normal with a Cholesky-factor scale). Each of ``num_steps`` steps
    estimates the ELBO with ``num_draws`` reparameterised draws
    (``tfp.vi.monte_carlo_variational_loss`` on the runtime's TFP substrate) and
    takes one optimiser step (``optim``: optax on JAX, Keras on TF). The result is
    the average of the iterates over the second half of the steps, which removes
    most of the noise that stochastic gradients leave in the last iterate;
    ``fit.diagnostics`` says whether the run looks converged (`VIFit`).
    """
    if family not in VI_FAMILIES:
        raise InferenceError(f"unknown VI family {family!r}; choose 'meanfield' or 'fullrank'")
    o = resolve("fit_vi", {"optim": optim, "run": run}, options)
    fw = framework(runtime, "vi")
    steps, draws, scale0 = (
        count("num_steps", num_steps),
        count("num_draws", num_draws),
        positive("init_scale", init_scale),
    )
    problem = latent_problem(model, logged, latent, init=init, static=static)
    config = {
        "family": family,
        "num_steps": steps,
        "num_draws": draws,
        "init_scale": scale0,
        **as_config(o["optim"]),
        "seed": int(seed),
        **_latent_config(problem, runtime),
        "data": _fingerprint(problem.logged),
        "averaging": "second half",
    }
    engine = engines.VIEngine(
        fw, problem, family=family, num_steps=steps, num_draws=draws, init_scale=scale0, optim=o["optim"], seed=seed
    )
    records = _drive(engine, fw, f"vi ({family})", steps, "elbo", config, o["run"])
    loc_flat, tril = engine.fitted()
    cov = tril @ tril.T
    std_flat = np.sqrt(np.diag(cov))
    loc, scale, start = {}, {}, 0
    for s in problem.slots:
        loc[s.name] = loc_flat[start : start + s.size].reshape(s.shape)
        scale[s.name] = std_flat[start : start + s.size].reshape(s.shape)
        start += s.size
    diagnostics = engines.vi_diagnostics(records["elbo"], engine.sums(), std_flat, family)
    return VIFit(
        loc,
        scale,
        cov,
        records["elbo"],
        family,
        runtime,
        problem.names,
        [s.shape for s in problem.slots],
        tril,
        diagnostics,
    )


# -- Monte-Carlo EM -------
def _model_network(make_model: Callable[[Any], Any], params: Mapping[str, np.ndarray]) -> Any:
    if not callable(make_model):
        raise InferenceError(f"make_model must be a function params -> model, got {type(make_model).__name__}")
    return network_from_story(make_model(unflatten_params(params)))


def _bounded(opt: OptimizerOptions, params: Mapping[str, np.ndarray]) -> OptimizerOptions:
    """``opt`` with its bounds checked against the parameters."""
    return dataclasses.replace(opt, bounds=check_bounds(opt.bounds, params))


DEFAULT_EM_SAMPLER = SamplerOptions(method="hmc", num_warmup=200, num_samples=100, num_leapfrog_steps=5)
DEFAULT_EM_OPTIM = OptimizerOptions(learning_rate=0.02)
DEFAULT_EM_RUN = RunOptions(checkpoint_every=10)


def fit_mcem(
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    logged: Mapping[str, Any],
    latent: Sequence[str] | str,
    *,
    runtime: str = "jax",
    num_iterations: int = 50,
    num_warmup_per_iteration: int = 20,
    m_steps: int = 1,
    sampler: SamplerOptions = DEFAULT_EM_SAMPLER,
    optim: OptimizerOptions = DEFAULT_EM_OPTIM,
    run: RunOptions = DEFAULT_EM_RUN,
    seed: int = 0,
    init: Mapping[str, Any] | None = None,
    static: Sequence[str] | str = (),
    **options: Any,
) -> EMFit:
    """Monte-Carlo EM: sample the ``latent`` fields, then raise the completed-data log-probability.

    ``make_model(params)`` builds the model from a dict of arrays (a pytree on
    JAX, ``tf.Variable`` s on TF). Each of ``num_iterations`` iterations runs an
    E-step of ``num_chains`` chains warm-started from the previous iteration (step
    size adapted for ``num_warmup`` steps in the first iteration and
    ``num_warmup_per_iteration`` afterwards) keeping ``num_samples`` draws per
    chain (``sampler``, by default HMC with 200 warm-up steps and 100 draws); the
    M-step takes ``m_steps`` optimiser steps (``optim``; ``bounds={"alpha": (0, 1)}``
    clips parameters after each) on the mean log-probability of the completed
    trajectories. ``static`` is as in `sample_posterior`.
    """
    o = resolve("fit_mcem", {"sampler": sampler, "optim": optim, "run": run}, options)
    s, opt = o["sampler"], o["optim"]
    fw = framework(runtime, "mcem")
    params = check_params(init_params)
    opt = _bounded(opt, params)
    iterations = count("num_iterations", num_iterations)
    later = count("num_warmup_per_iteration", num_warmup_per_iteration, 0)
    msteps = count("m_steps", m_steps)
    problem = latent_problem(_model_network(make_model, params), logged, latent, init=init, static=static)
    config = {
        **as_config(s, opt),
        "num_iterations": iterations,
        "num_warmup_per_iteration": later,
        "m_steps": msteps,
        "seed": int(seed),
        **_latent_config(problem, runtime),
        "data": _fingerprint(problem.logged, params),
    }
    engine = engines.MCEMEngine(
        fw, make_model, params, problem, s, opt, num_warmup_per_iteration=later, m_steps=msteps, seed=seed
    )
    history = _drive(engine, fw, f"mcem ({s.method})", iterations, "objective", config, o["run"])
    return EMFit(engine.params_numpy(), history, engine.last_samples)


# -- maximum likelihood and MAP -------
DEFAULT_FIT_OPTIM = OptimizerOptions(learning_rate=0.05)
DEFAULT_FIT_RUN = RunOptions(checkpoint_every=50)


def fit_mle(
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    trajectories: Any,
    *,
    runtime: str = "jax",
    log_prior: Callable[[Any], Any] | None = None,
    num_steps: int = 200,
    batch_size: int | None = None,
    optim: OptimizerOptions = DEFAULT_FIT_OPTIM,
    run: RunOptions = DEFAULT_FIT_RUN,
    seed: int = 0,
    **options: Any,
) -> ParameterFit:
    """Maximum-likelihood (or, with ``log_prior``, MAP) parameters of ``make_model`` for ``trajectories``.

    ``trajectories`` are fully observed: one mapping whose fields have leading axes
    ``[trajectories, steps, ...]`` (what ``runtime.run_many(..., length=T)``
    returns) or a list of single trajectories. All are scored in one batched,
    compiled call per step (``batch_size`` draws a random subset per step).
    ``log_prior(params)`` is written with ``recosim.core.get_backend()`` ops.
    """
    label = "mle" if log_prior is None else "map"
    o = resolve(f"fit_{label}", {"optim": optim, "run": run}, options)
    opt = o["optim"]
    fw = framework(runtime, label)
    params = check_params(init_params)
    if log_prior is not None and not callable(log_prior):
        raise InferenceError(f"log_prior must be a function params -> scalar, got {type(log_prior).__name__}")
    opt = _bounded(opt, params)
    network = _model_network(make_model, params)
    batch, _ = check_trajectory(network, stack_trajectories(trajectories), batched=True, what="the trajectories")
    total = next(x.shape[0] for f in batch.values() for x in f.values())
    steps = count("num_steps", num_steps)
    size = total if batch_size is None else min(count("batch_size", batch_size), total)
    config = {
        "num_steps": steps,
        **as_config(opt),
        "batch_size": None if batch_size is None else size,
        "seed": int(seed),
        "runtime": runtime,
        "method": label,
        "data": _fingerprint(batch, params),
    }
    engine = engines.FitEngine(
        fw, make_model, params, batch, opt, batch_size=size, log_prior=log_prior, seed=seed, label=label
    )
    history = _drive(engine, fw, label, steps, "objective", config, o["run"])
    return ParameterFit(engine.params_numpy(), history)


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


# -- REINFORCE and GRPO -------
DEFAULT_REINFORCE_OPTIM = OptimizerOptions(learning_rate=0.01)
DEFAULT_REINFORCE_RUN = RunOptions(checkpoint_every=10)
DEFAULT_ROLLOUT = RolloutOptions()
"""One group of 8 rollouts per update, sharing every variable's initial draws but the policy's; no discount."""


@dataclasses.dataclass(frozen=True)
class _PolicyTask:
    """What every policy-gradient method checks first: the runtime's operations, parameters, spec and horizon."""

    fw: engines.Framework
    params: dict[str, np.ndarray]
    spec: ReinforceSpec
    horizon: int
    reward: str

    def config(self, runtime: str, seed: int, *options: Any) -> dict[str, Any]:
        """The fields a checkpoint's configuration shares between the methods."""
        spec = self.spec
        return {
            "horizon": self.horizon,
            **as_config(*options),
            "seed": int(seed),
            "runtime": runtime,
            "policy": spec.label,
            "reward": self.reward,
            "group_size": spec.group_size,
            "num_rollouts": spec.num_rollouts,
            "population": spec.population,
            "discount": spec.discount,
            "params": _fingerprint(self.params),
        }


def _policy_task(
    label: str,
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    policy: str,
    reward: str,
    horizon: int,
    runtime: str,
    baseline: str | None,
    rollout: RolloutOptions,
) -> _PolicyTask:
    """Check a policy-gradient method's input before any work; ``label`` names the method in errors."""
    if baseline not in BASELINES:
        raise InferenceError(f"unknown baseline {baseline!r}; choose one of {list(BASELINES)}")
    fw = framework(runtime, label)
    params = check_params(init_params)
    network = _model_network(make_model, params)
    policy_var, _, policy_keys = check_field_name(network, policy, "policy")
    reward_var, reward_field, reward_keys = check_field_name(network, reward, "reward")
    if reward_field is None or len(reward_keys) != 1:
        raise InferenceError(f"reward {reward!r} must name one field ('variable/field'); it covers {reward_keys}")
    group = count("group_size", rollout.group_size, 2) if baseline == "group" else 1
    rollouts = group if rollout.num_rollouts is None else rollout.num_rollouts
    if rollouts % group:
        raise InferenceError(f"num_rollouts={rollouts} must be a multiple of group_size={group} for the group baseline")
    population = rollout.population
    if population is None:
        population = [n for n in network.names if n != policy_var]
    for name in population:
        if name not in network:
            raise InferenceError(
                f"population names {name!r}, which is not a variable of the model {sorted(network.names)}"
            )
    spec = ReinforceSpec(
        variable=policy_var,
        keys=policy_keys,
        reward_variable=reward_var,
        reward_key=reward_keys[0],
        population=list(population),
        baseline=baseline,
        group_size=group,
        num_rollouts=rollouts,
        discount=rollout.discount,
        label=policy,
    )
    return _PolicyTask(fw, params, spec, count("horizon", horizon), reward)


def train_reinforce(
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    *,
    policy: str,
    reward: str,
    horizon: int,
    baseline: str | None = "group",
    runtime: str = "jax",
    num_steps: int = 100,
    rollout: RolloutOptions = DEFAULT_ROLLOUT,
    optim: OptimizerOptions = DEFAULT_REINFORCE_OPTIM,
    run: RunOptions = DEFAULT_REINFORCE_RUN,
    seed: int = 0,
    **options: Any,
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
    advantages are normalised within the group (as GRPO does). ``rollout`` (or its
    fields as keywords: ``group_size=4``, ``num_rollouts=8``, ``population=[...]``,
    ``discount=0.9``) says which rollouts (`RolloutOptions`). A run whose loss,
    gradient or parameters stop being finite stops with an error naming the
    update; its last checkpoint (if any) is the last finite state.
    """
    o = resolve("train_reinforce", {"rollout": rollout, "optim": optim, "run": run}, options)
    task = _policy_task("reinforce", make_model, init_params, policy, reward, horizon, runtime, baseline, o["rollout"])
    opt, steps = _bounded(o["optim"], task.params), count("num_steps", num_steps)
    config = {**task.config(runtime, seed, opt), "baseline": baseline}
    engine = engines.ReinforceEngine(task.fw, make_model, task.params, task.spec, opt, horizon=task.horizon, seed=seed)
    history = _drive(engine, task.fw, "reinforce", steps, "mean_return", config, o["run"])
    return TrainingResult(engine.params_numpy(), history)


def train_grpo(
    make_model: Callable[[Any], Any],
    init_params: Mapping[str, Any],
    *,
    policy: str,
    reward: str,
    horizon: int,
    epochs: int = 4,
    clip: float = 0.2,
    kl: float = 0.0,
    runtime: str = "jax",
    num_steps: int = 100,
    rollout: RolloutOptions = DEFAULT_ROLLOUT,
    optim: OptimizerOptions = DEFAULT_REINFORCE_OPTIM,
    run: RunOptions = DEFAULT_REINFORCE_RUN,
    seed: int = 0,
    **options: Any,
) -> TrainingResult:
    """Train a policy by GRPO: `train_reinforce`'s group baseline, ``epochs`` clipped steps per batch, a KL penalty.

    Each update simulates ``num_rollouts`` rollouts (groups of ``group_size``
    sharing a population, as with ``baseline="group"``; `RolloutOptions`), normalises the
    reward-to-go within each group, and takes ``epochs`` optimiser steps on
    ``mean min(r A, clip(r, 1 - clip, 1 + clip) A) - kl * KL(policy || reference)``,
    where ``r`` is the probability ratio of the policy's draws to the policy that
    drew them and the reference is the initial parameters (``kl=0`` drops the
    penalty). ``history`` holds ``mean_return``, ``loss`` (after the last epoch)
    and ``grad_norm`` (of the first).
    """
    o = resolve("train_grpo", {"rollout": rollout, "optim": optim, "run": run}, options)
    task = _policy_task("grpo", make_model, init_params, policy, reward, horizon, runtime, "group", o["rollout"])
    opt, steps = _bounded(o["optim"], task.params), count("num_steps", num_steps)
    rounds, width = count("epochs", epochs), positive("clip", clip)
    if not np.isfinite(float(kl)) or float(kl) < 0:
        raise InferenceError(f"kl must be a non-negative number, got {kl!r}")
    config = {"method": "grpo", "epochs": rounds, "clip": width, "kl": float(kl), **task.config(runtime, seed, opt)}
    engine = engines.GRPOEngine(
        task.fw, make_model, task.params, task.spec, opt, horizon=task.horizon, seed=seed, epochs=rounds,
        clip=width, kl=float(kl),
    )  # fmt: skip
    history = _drive(engine, task.fw, "grpo", steps, "mean_return", config, o["run"])
    return TrainingResult(engine.params_numpy(), history)


def policy_gradient_estimates(
    make_model: Callable[[Any], Any],
    params: Mapping[str, Any],
    *,
    policy: str,
    reward: str,
    horizon: int,
    baseline: str | None = "group",
    runtime: str = "jax",
    rollout: RolloutOptions = DEFAULT_ROLLOUT,
    num_estimates: int = 20,
    seed: int = 0,
    **options: Any,
) -> np.ndarray:
    """``num_estimates`` independent REINFORCE gradient estimates at ``params``, flattened: ``[num_estimates, P]``.

    Each estimate uses what one update of `train_reinforce` would (``rollout``, or its
    fields as keywords; the same baseline; the ``"mean"`` baseline has no history
    here, so it is the batch's own mean). Use it to compare the variance of baselines.
    """
    o = resolve("policy_gradient_estimates", {"rollout": rollout}, options)
    task = _policy_task("reinforce", make_model, params, policy, reward, horizon, runtime, baseline, o["rollout"])
    engine = engines.ReinforceEngine(
        task.fw, make_model, task.params, task.spec, OptimizerOptions(learning_rate=1.0), horizon=task.horizon,
        seed=seed,
    )  # fmt: skip
    return engine.gradient_estimates(count("num_estimates", num_estimates, 2))


# -- the registered methods -------
_REGISTERED: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "hmc": (sample_posterior, {"method": "hmc"}),
    "nuts": (sample_posterior, {"method": "nuts"}),
    "mcem": (fit_mcem, {}),
    "vi": (fit_vi, {}),
    "mle": (fit_mle, {}),
    "map": (fit_map, {}),
    "reinforce": (train_reinforce, {}),
}


def method_for(name: str, runtime: str) -> functools.partial[Any]:
    """The registered inference method ``name`` with ``runtime`` bound (``"hmc"`` and ``"nuts"`` bind the sampler).

    >>> method_for("vi", "tf").keywords
    {'runtime': 'tf'}
    """
    if name not in _REGISTERED:
        raise InferenceError(f"unknown inference method {name!r}; recosim-inference offers {sorted(_REGISTERED)}")
    function, fixed = _REGISTERED[name]
    return functools.partial(function, runtime=runtime, **fixed)
