"""The influencers part of ``recosim run social-agents``: accounts that learn to gain followers.

On the social platform of opinion learners with follow dynamics
(`recosim.library.influence`), ``--influencer-count`` accounts are influencers
whose policy chooses a stance to post and whose feeds to push it into; their
reward is the net number of followers gained per step. Two policy families are
trained side by side:

* ``restricted``: three stances (-1, 0, +1) and three audiences (like-minded
  non-followers, followers, anyone), observing its own follower share and last
  gain (self-observation);
* ``full``: a stance anywhere in (-1, 1) and any viewer as a target (a logit per
  account plus the viewer's last post and whether it follows), no self-observation.

Each variant is trained by GRPO (`recosim.inference.train_grpo`) and by REINFORCE
with the group baseline (`recosim.inference.train_reinforce`), ``--trainer``
saying which, ``--training-seeds`` independent runs each (run ``s`` of every
variant and trainer shares its seed). The platform is a random geometric graph
of ``--influencer-accounts`` accounts (mean degree about 8) drawn from the run's seed;
training rollouts last ``--horizon`` steps.

Then every final policy, the variant's initial policy and the fixed rule (post
its own opinion, push to random viewers) are evaluated on ``--eval-runs`` runs
that share their seeds (paired): followers per influencer at the horizon and
approvals per view of the influencers' posts.

Under ``--out``/influencers: ``learning_curves.csv`` (variant, trainer, seed,
update, mean return: followers gained per influencer over a training rollout),
``final_rewards.csv`` (per training run: the evaluated followers of its final
policy and its last training returns), ``comparison.csv`` (per variant and
trainer: the spread of the final reward across seeds and the paired differences
against the fixed rule and the initial policy), ``runs.jsonl`` (the evaluation
runs, core's `RunStore`), ``training/<variant>-<trainer>-<seed>-<hash>/`` (checkpoints
every update and ``result.json``), ``learning_curves.png``, ``final_rewards.png``.
A job stopped at any point and started again with the same ``--out`` loses no
finished update and recomputes no finished evaluation.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.errors import UsageError
from recosim.core.plugins import DIFFERENTIABLE, get_plugins
from recosim.core.results import RunStore, write_bytes_atomic, write_json_atomic
from recosim.core.seeds import derive_seed
from recosim.core.summary import summarize
from recosim.core.usecase import Parameter, Progress, RunSetup
from recosim.library.influence import (
    LEARNED_VARIANTS,
    POLICY,
    REWARD,
    InfluenceConfig,
    InfluencePlatform,
    initial_policy,
)
from recosim.library.opinion import GraphError, OpinionGraph, geometric_graph

__all__ = [
    "PARAMETERS",
    "TRAINERS",
    "TrainedPolicy",
    "check",
    "evaluate_policies",
    "platform_config",
    "platform_graph",
    "simulate",
    "train_influencers",
]

PART = "influencers"
MODEL_VERSION = 1
"""Bumped whenever the platform's behaviour changes, so results of an older model are not resumed."""
TRAINERS = ("grpo", "reinforce")
FIXED = "fixed"
MEAN_DEGREE = 8.0
"""The expected degree the platform's geometric graph is drawn for (radius ``sqrt(8 / (pi N))``)."""
FILES = {
    "curves": "learning_curves.csv",
    "final": "final_rewards.csv",
    "comparison": "comparison.csv",
    "runs": "runs.jsonl",
    "curves_png": "learning_curves.png",
    "final_png": "final_rewards.png",
}

PARAMETERS: tuple[Parameter, ...] = (
    Parameter("influencer_accounts", int, 60, "accounts on the influencers' platform (opinion learners and "
              "influencers); the model is dense, so time grows as its square", minimum=4),
    Parameter("influencer_count", int, 4, "influencer accounts among the opinion learners", minimum=1),
    Parameter("influencer_reach", int, 5, "viewers whose feeds each influencer pushes its post into per step",
              minimum=1),
    Parameter("influencer_feed_size", int, 3, "posts in each viewer's feed per step", minimum=1),
    Parameter("influencer_p_follow", float, 0.3, "probability that a viewer who approves of a post follows its author"),
    Parameter("influencer_p_unfollow", float, 0.2,
              "probability that a viewer who disapproves of a followed author's post unfollows it"),
    Parameter("influencer_sharpness", float, 2.0,
              "approval of stance s by opinion o is ((1 + s o) / 2) ** sharpness; > 0"),
    Parameter("influencer_variants", str, "restricted,full",
              "comma-separated influencer policies to train: restricted (small action set, self-observation), full"),
    Parameter("influencer_learning_rate", float, 0.05, "Adam learning rate of the influencers' policy; > 0"),
    Parameter("influencer_group_size", int, 8, "rollouts per group sharing a population (group-relative baseline)",
              minimum=2),
    Parameter("influencer_groups", int, 2, "groups of rollouts per training update", minimum=1),
    Parameter("influencer_epochs", int, 4, "GRPO optimisation epochs per batch of rollouts", minimum=1),
)  # fmt: skip


# -- options -------------------------------------------------------------------------------------------------
def parse_variants(text: str) -> tuple[str, ...]:
    """``"restricted,full"`` as a tuple of distinct learned variants, or a `UsageError` naming the flag."""
    names = [v.strip() for v in str(text).split(",")]
    if not names or any(not v for v in names):
        raise UsageError(f"--influencer-variants: give comma-separated variants, got {text!r}")
    bad = [v for v in names if v not in LEARNED_VARIANTS]
    if bad:
        raise UsageError(f"--influencer-variants: {bad[0]!r} is not one of {', '.join(LEARNED_VARIANTS)}")
    if len(set(names)) != len(names):
        raise UsageError(f"--influencer-variants: a variant repeats in {text!r}")
    return tuple(names)


def trainers_of(params: Mapping[str, Any]) -> tuple[str, ...]:
    """The trainers ``--trainer`` names (``grpo``, ``reinforce`` or ``both``; default both)."""
    choice = str(params.get("trainer", "both") or "both")
    if choice == "both":
        return TRAINERS
    if choice not in TRAINERS:
        raise UsageError(f"--trainer must be grpo, reinforce or both, got {choice!r}")
    return (choice,)


def check(params: dict[str, Any]) -> None:
    """Cross-option checks of the influencers' options (and the shared sizes they depend on)."""
    parse_variants(params["influencer_variants"])
    trainers_of(params)
    for name in ("influencer_p_follow", "influencer_p_unfollow"):
        if not 0.0 <= float(params[name]) <= 1.0:
            raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1], got {params[name]}")
    for name in ("influencer_learning_rate", "influencer_sharpness"):
        if not float(params[name]) > 0.0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0, got {params[name]}")
    n, k = params.get("influencer_accounts"), int(params["influencer_count"])
    if n is not None:
        if 2 * k > int(n):
            raise UsageError(f"--influencer-count {k} must be at most half of --influencer-accounts {n}")
        if int(params["influencer_reach"]) > int(n) - k:
            raise UsageError(
                f"--influencer-reach {params['influencer_reach']} exceeds the {int(n) - k} viewers "
                f"(--influencer-accounts {n} minus --influencer-count {k})"
            )
        rollouts = int(params["influencer_group_size"]) * int(params["influencer_groups"])
        horizon = int(params.get("horizon") or 1)
        need = training_bytes(int(n), horizon, rollouts)
        have = _available_bytes()
        if need > have // 2:
            raise UsageError(
                f"--influencer-accounts {n} with --horizon {horizon} and {rollouts} rollouts per update "
                f"(--influencer-group-size x --influencer-groups): training keeps about {need / 2**30:.1f} GiB of "
                f"trajectories (the feed's [N, N] noise and follow relation per step) and {have / 2**30:.1f} GiB is "
                "available; lower one of them"
            )
        try:
            platform_graph(int(n), 0)
        except GraphError as err:
            raise UsageError(f"--influencer-accounts {n}: the platform's graph cannot be drawn: {err}") from None


def training_bytes(num_agents: int, horizon: int, rollouts: int) -> int:
    """A rough size of one update's rollouts: per step the feed noise (float32) and the follow relation, doubled."""
    return 2 * rollouts * (horizon + 1) * num_agents * num_agents * 5


def _available_bytes() -> int:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**62


def platform_config(params: Mapping[str, Any]) -> InfluenceConfig:
    """The platform's `InfluenceConfig` from the options."""
    return InfluenceConfig(
        num_influencers=int(params["influencer_count"]),
        reach=int(params["influencer_reach"]),
        feed_size=int(params["influencer_feed_size"]),
        p_follow=float(params["influencer_p_follow"]),
        p_unfollow=float(params["influencer_p_unfollow"]),
        approval_sharpness=float(params["influencer_sharpness"]),
    )


def platform_graph(num_agents: int, seed: int) -> OpinionGraph:
    """A random geometric graph of ``num_agents`` accounts, mean degree about `MEAN_DEGREE`, drawn until connected."""
    radius = min(math.sqrt(MEAN_DEGREE / (math.pi * num_agents)), math.sqrt(2.0))
    return geometric_graph(num_agents, radius, seed=seed)


def _seed(seed: int, *path: int | str) -> int:
    """A seed below ``2**31`` derived from the run's ``seed`` at ``path`` (independent streams)."""
    return int(derive_seed(seed, *path) % 2**31)


# -- training ------------------------------------------------------------------------------------------------
@dataclass
class TrainedPolicy:
    """A trained policy and its learning curve (mean return per update: followers gained per influencer)."""

    policy: dict[str, np.ndarray]
    curve: np.ndarray


def train_influencers(
    graph: OpinionGraph,
    cfg: InfluenceConfig,
    variant: str,
    trainer: str,
    *,
    horizon: int,
    updates: int,
    seed: int,
    runtime: str,
    group_size: int = 8,
    groups: int = 2,
    learning_rate: float = 0.05,
    epochs: int = 4,
    checkpoint: Path | None = None,
    callback: Callable[[int, Any], Any] | None = None,
) -> TrainedPolicy:
    """Train the influencers' ``variant`` policy from `initial_policy` with ``trainer`` (``grpo`` or ``reinforce``).

    A rollout is ``horizon`` steps of the platform after its initial step. With
    ``checkpoint`` (a directory) training writes a checkpoint after every update
    and resumes from the last one.
    """
    if trainer not in TRAINERS:
        raise ValueError(f"trainer must be one of {', '.join(TRAINERS)}, got {trainer!r}")
    from recosim.inference import train_grpo, train_reinforce

    def make_model(params: Any) -> list[Any]:
        return InfluencePlatform(graph, cfg, variant, params).variables()

    resume = checkpoint is not None and (checkpoint / "meta.json").exists()
    common: dict[str, Any] = dict(
        policy=POLICY, reward=REWARD, horizon=horizon + 1, runtime=runtime, num_steps=updates,
        group_size=group_size, num_rollouts=group_size * groups, learning_rate=learning_rate, seed=seed,
        checkpoint=None if checkpoint is None else str(checkpoint), checkpoint_every=1, resume=resume, quiet=True,
        callback=callback,
    )  # fmt: skip
    start = initial_policy(variant, graph.num_agents)
    if trainer == "grpo":
        result = train_grpo(make_model, start, epochs=epochs, **common)
    else:
        result = train_reinforce(make_model, start, baseline="group", **common)
    policy = {k: np.asarray(v, np.float32) for k, v in result.params.items()}
    return TrainedPolicy(policy, np.asarray(result.history["mean_return"], np.float64).reshape(-1))


# -- evaluation ----------------------------------------------------------------------------------------------
def evaluate_policies(
    setup: RunSetup,
    graph: OpinionGraph,
    cfg: InfluenceConfig,
    variant: str,
    policies: Mapping[str, Mapping[str, Any] | None],
    *,
    runs: int,
    horizon: int,
    seed: int,
) -> dict[str, dict[str, np.ndarray]]:
    """Per policy label: ``followers`` (per influencer) and ``approval_rate`` of each of ``runs`` paired runs.

    All the runs are replicas of one runtime run with seed ``seed`` (the same for
    every policy: the same populations and graph); the policy is a setting, so
    the variant's program is compiled once.
    """
    model = InfluencePlatform(graph, cfg, variant, None, replicas=runs)
    rt = setup.make_runtime(model.variables(), seed=seed, settings=model.settings)
    out = {}
    for label, policy in policies.items():
        settings = None if policy is None else model.policy_settings(policy)
        final = rt.execute(horizon, seed=seed, settings=settings)
        met = {k: np.asarray(v, np.float64) for k, v in final["metrics"].items()}
        views = met["views"].sum(axis=-1)
        out[label] = {
            "followers": met["followers"].mean(axis=-1),
            "approval_rate": met["approvals"].sum(axis=-1) / np.maximum(views, 1.0),
        }
    return out


# -- statistics ----------------------------------------------------------------------------------------------
def _spread(xs: Sequence[float]) -> dict[str, float]:
    x = np.asarray(xs, np.float64)
    s = summarize(x)
    return {"mean": float(s.mean), "sd": float(x.std(ddof=1)) if x.size > 1 else math.nan, "min": float(x.min()),
            "max": float(x.max()), "stderr": float(s.stderr), "seeds": int(x.size)}  # fmt: skip


def _paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """``a - b`` run by run: mean, standard error, z and the number of runs."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    s = summarize(d)
    mean, se = float(s.mean), float(s.stderr)
    if math.isnan(se):
        z = math.nan
    else:
        z = mean / se if se > 0 else (math.inf if mean > 0 else -math.inf if mean < 0 else 0.0)
    return {"difference": mean, "stderr": se, "z": z, "runs": int(d.size)}


def _window(curve: np.ndarray) -> int:
    return max(1, len(curve) // 5)


# -- the part ------------------------------------------------------------------------------------------------
class _Tracker:
    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, int(total), 0

    def advance(self, units: int) -> None:
        if units > 0:
            self.done = min(self.total, self.done + int(units))
            if self.progress is not None:
                self.progress(self.done, self.total)


def _check_runtime(runtime: str) -> None:
    plugins = get_plugins()
    if DIFFERENTIABLE not in plugins.runtime_capabilities(runtime):
        able = plugins.runtimes_with(DIFFERENTIABLE)
        raise UsageError(
            f"--runtime {runtime}: training influencers needs gradients, which {runtime!r} cannot compute; "
            + (f"use --runtime {' or --runtime '.join(able)}" if able else "install recosim-runtime-jax or -tf")
        )
    try:
        import recosim.inference  # noqa: F401
    except ImportError as err:
        raise UsageError(
            f"training influencers needs recosim-inference (pip install 'recosim-usecases[jax]'): {err}"
        ) from None


def _trained(
    label: str,
    folder: Path | None,
    tag: Mapping[str, Any],
    updates: int,
    tracker: _Tracker,
    train: Callable[[Path | None, Callable[[int, Any], Any]], TrainedPolicy],
) -> TrainedPolicy:
    """Read back a finished training run (``result.json`` with the same ``tag``) or train (resuming checkpoints)."""
    done_file = None if folder is None else folder / "result.json"
    if done_file is not None and done_file.exists():
        try:
            data = json.loads(done_file.read_text())
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and data.get("tag") == json.loads(json.dumps(dict(tag))):
            tracker.advance(updates)
            policy = {k: np.asarray(v, np.float32) for k, v in data["policy"].items()}
            return TrainedPolicy(policy, np.asarray(data["curve"], np.float64))
    before = [0]

    def callback(done: int, _: Any) -> None:
        tracker.advance(done - before[0])
        before[0] = done

    result = train(folder, callback)
    tracker.advance(updates - before[0])
    if done_file is not None:
        write_json_atomic(done_file, {"label": label, "tag": dict(tag),
                                      "policy": {k: v.tolist() for k, v in result.policy.items()},
                                      "curve": result.curve.tolist()})  # fmt: skip
    return result


def _train_job(
    graph: OpinionGraph,
    cfg: InfluenceConfig,
    variant: str,
    trainer: str,
    seed: int,
    runtime: str,
    training: Mapping[str, Any],
    folder: Path | None,
    callback: Callable[[int, Any], Any],
) -> TrainedPolicy:
    return train_influencers(
        graph, cfg, variant, trainer, seed=seed, runtime=runtime, checkpoint=folder, callback=callback,
        horizon=int(training["horizon"]), updates=int(training["updates"]), group_size=int(training["group_size"]),
        groups=int(training["groups"]), learning_rate=float(training["learning_rate"]), epochs=int(training["epochs"]),
    )  # fmt: skip


def simulate(setup: RunSetup, progress: Progress | None) -> dict[str, Any]:
    """Train, evaluate and compare the influencer policies; write this part's files under ``setup.out/influencers``."""
    p = setup.params
    variants, trainers = parse_variants(p["influencer_variants"]), trainers_of(p)
    check(p)
    _check_runtime(setup.runtime)
    n, horizon, seeds = int(p["influencer_accounts"]), int(p["horizon"]), int(p["training_seeds"])
    updates, eval_runs = int(p["updates"]), int(p["eval_runs"])
    cfg = platform_config(p)
    graph = platform_graph(n, _seed(setup.seed, PART, "graph"))
    out = None if setup.out is None else Path(setup.out) / PART
    training = dict(horizon=horizon, updates=updates, group_size=int(p["influencer_group_size"]),
                    groups=int(p["influencer_groups"]), learning_rate=float(p["influencer_learning_rate"]),
                    epochs=int(p["influencer_epochs"]))  # fmt: skip
    config = {"part": PART, "model_version": MODEL_VERSION, "num_agents": n, "seed": setup.seed,
              "runtime": setup.runtime, "validate": setup.validate, "platform": asdict(cfg), **training,
              "training_seeds": seeds, "eval_runs": eval_runs}  # fmt: skip
    # checkpoints of another configuration are kept apart (more updates of the same one resume)
    kept = {k: v for k, v in config.items() if k not in ("updates", "eval_runs", "training_seeds")}
    config_tag = hashlib.sha1(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:10]
    jobs = [(v, t, s) for v in variants for t in trainers for s in range(seeds)]
    tracker = _Tracker(progress, len(jobs) * updates + len(jobs) + len(variants) + 1)
    started = time.perf_counter()
    with RunStore(None if out is None else out / FILES["runs"], config=config, key=("policy", "run"),
                  fields=("followers", "approval_rate")) as store:  # fmt: skip
        # 1. training: every variant x trainer x seed (run s of each shares its seed)
        trained: dict[tuple[str, str, int], TrainedPolicy] = {}
        for v, t, s in jobs:
            label = f"{v}-{t}-{s}"
            tag = {"config": store.config_hash, "variant": v, "trainer": t, "seed": s}
            folder = None if out is None else out / "training" / f"{label}-{config_tag}"

            train = functools.partial(_train_job, graph, cfg, v, t, _seed(setup.seed, PART, "train", s),
                                      setup.runtime, training)  # fmt: skip
            trained[(v, t, s)] = _trained(label, folder, tag, updates, tracker, train)
        train_seconds = time.perf_counter() - started
        # 2. evaluation: each final policy, each variant's initial policy and the fixed rule, on the same runs
        eval_seed = _seed(setup.seed, PART, "evaluation")
        groups: dict[str, dict[str, Mapping[str, Any] | None]] = {FIXED: {FIXED: None}}
        for v in variants:
            groups[v] = {f"{v}-initial": initial_policy(v, n)}
            groups[v].update({f"{v}-{t}-{s}": trained[(v, t, s)].policy for t in trainers for s in range(seeds)})
        results: dict[str, dict[str, np.ndarray]] = {}
        for variant, policies in groups.items():
            keys = [(label, i) for label in policies for i in range(eval_runs)]
            if all(k in store for k in keys):
                tracker.advance(len(policies))
            else:
                todo = {label: pol for label, pol in policies.items()
                        if not all((label, i) in store for i in range(eval_runs))}  # fmt: skip
                got = evaluate_policies(setup, graph, cfg, variant, todo, runs=eval_runs, horizon=horizon,
                                        seed=eval_seed)  # fmt: skip
                for label, figures in got.items():
                    for i in range(eval_runs):
                        if (label, i) not in store:
                            store.add({"policy": label, "run": i, "followers": float(figures["followers"][i]),
                                       "approval_rate": float(figures["approval_rate"][i])})  # fmt: skip
                    tracker.advance(1)
            for label in policies:
                recs = store.select([(label, i) for i in range(eval_runs)])
                results[label] = {m: np.array([r[m] for r in recs], np.float64) for m in ("followers", "approval_rate")}
        eval_seconds = time.perf_counter() - started - train_seconds

    # 3. statistics
    fixed = results[FIXED]["followers"]
    curve_rows: list[dict[str, Any]] = []
    final_rows: list[dict[str, Any]] = []
    comparison: list[dict[str, Any]] = []
    section: dict[str, Any] = {}
    for v in variants:
        initial = results[f"{v}-initial"]["followers"]
        for t in trainers:
            curves = np.stack([trained[(v, t, s)].curve for s in range(seeds)])  # [seeds, updates]
            w = _window(curves[0])
            for s in range(seeds):
                curve_rows += [{"variant": v, "trainer": t, "seed": s, "update": u + 1,
                                "mean_return": float(curves[s, u])} for u in range(curves.shape[1])]  # fmt: skip
                per = results[f"{v}-{t}-{s}"]
                final_rows.append({"variant": v, "trainer": t, "seed": s,
                                   "eval_followers": float(per["followers"].mean()),
                                   "eval_followers_se": float(summarize(per["followers"]).stderr),
                                   "eval_approval_rate": float(per["approval_rate"].mean()),
                                   "last_training_return": float(curves[s, -w:].mean()),
                                   "first_training_return": float(curves[s, :w].mean())})  # fmt: skip
            finals = [float(r["eval_followers"]) for r in final_rows if r["variant"] == v and r["trainer"] == t]
            learned = np.mean([results[f"{v}-{t}-{s}"]["followers"] for s in range(seeds)], axis=0)
            vs_fixed, vs_initial = _paired(learned, fixed), _paired(learned, initial)
            spread = _spread(finals)
            rise = _paired(curves[:, -w:].mean(axis=1), curves[:, :w].mean(axis=1))
            comparison.append({
                "variant": v, "trainer": t, "seeds": seeds, "eval_runs": eval_runs,
                "final_mean": spread["mean"], "final_sd": spread["sd"], "final_min": spread["min"],
                "final_max": spread["max"], "final_se": spread["stderr"],
                "learned_followers": float(learned.mean()), "learned_se": float(summarize(learned).stderr),
                "fixed_followers": float(fixed.mean()), "fixed_se": float(summarize(fixed).stderr),
                "initial_followers": float(initial.mean()), "initial_se": float(summarize(initial).stderr),
                "vs_fixed": vs_fixed["difference"], "vs_fixed_se": vs_fixed["stderr"], "vs_fixed_z": vs_fixed["z"],
                "vs_initial": vs_initial["difference"], "vs_initial_se": vs_initial["stderr"],
                "vs_initial_z": vs_initial["z"],
                "curve_first": float(curves[:, :w].mean()), "curve_last": float(curves[:, -w:].mean()),
                "curve_rise": rise["difference"], "curve_rise_se": rise["stderr"], "updates_per_window": w,
            })  # fmt: skip
            section[f"{v}/{t}"] = {
                "final_reward": spread,
                "learning_curve": {"first": float(curves[:, :w].mean()), "last": float(curves[:, -w:].mean()),
                                   "rise": rise["difference"], "rise_stderr": rise["stderr"],
                                   "mean_by_update": [float(x) for x in curves.mean(axis=0)],
                                   "sd_by_update": [float(x) for x in curves.std(axis=0, ddof=1)] if seeds > 1
                                   else None},
                "learned_followers": [float(learned.mean()), float(summarize(learned).stderr)],
                "vs_fixed": vs_fixed,
                "vs_initial": vs_initial,
            }  # fmt: skip
    summary: dict[str, Any] = {
        "size": {"num_agents": n, "influencers": cfg.num_influencers, "horizon": horizon, "updates": updates,
                 "training_seeds": seeds, "eval_runs": eval_runs,
                 "rollouts_per_update": training["group_size"] * training["groups"], "graph_edges": graph.num_edges},
        "variants": list(variants),
        "trainers": list(trainers),
        "fixed_rule_followers": [float(fixed.mean()), float(summarize(fixed).stderr)],
        "results": section,
        "training_seconds": round(train_seconds, 2),
        "evaluation_seconds": round(eval_seconds, 2),
        "files": None if out is None else dict(FILES),
    }  # fmt: skip
    if out is not None:
        _write_csv(out / FILES["curves"], curve_rows)
        _write_csv(out / FILES["final"], final_rows)
        _write_csv(out / FILES["comparison"], comparison)
        from recosim.usecases.social_agents import influencer_plots as plots

        size = f"{n} accounts, {cfg.num_influencers} influencers, {horizon} steps, {seeds} training seeds"
        curves_by = {(v, t): np.stack([trained[(v, t, s)].curve for s in range(seeds)])
                     for v in variants for t in trainers}  # fmt: skip
        plots.plot_learning_curves(curves_by, out / FILES["curves_png"], title=f"Influencers learning: {size}")
        plots.plot_final_rewards(final_rows, (float(fixed.mean()), float(summarize(fixed).stderr)),
                                 out / FILES["final_png"],
                                 title=f"Final policies over {eval_runs} evaluation runs: {size}")  # fmt: skip
    return _jsonable(summary)


def _jsonable(x: Any) -> Any:
    """NaN and infinities as None (JSON has neither), numbers as floats, recursively."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (bool, str)) or x is None:
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(float(x)) else None
    return x


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """``rows`` as CSV (floats with full precision), written atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    write_bytes_atomic(path, text.getvalue().encode())
