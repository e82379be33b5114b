"""The socialbots part of ``recosim run social-agents``: learned bots against baselines, and the platform's answer.

1. **Learned bots.** The bots' activity policy (post, repost, reply, mention) and
   follow policy (whether to send a follow request, and to whom, by degree and
   by whether the user already follows) of `recosim.library.socialbots` are
   trained jointly, as one policy with two heads, against the detector setting
   ``--bot-threshold`` / ``--bot-detect-every``, from the random bots' policy,
   over ``--training-seeds`` independent runs of ``--updates`` updates each. The
   trainer is GRPO (`recosim.inference.train_grpo`; ``--trainer reinforce``
   takes `train_reinforce` with the group baseline instead): a rollout of the
   bots costs a cascade per post, so GRPO's several clipped steps per batch of
   rollouts get more out of each batch, and its group-relative advantages
   (rollouts in groups that share the ordinary accounts' draws) keep the
   variance down as REINFORCE's group baseline does.
2. **Comparison.** Learned bots (each training seed's policy), random bots and
   top-degree followers are evaluated over ``--eval-runs`` runs at that setting;
   run ``i`` of every policy uses the same seed, so differences are paired. The
   learned figure of run ``i`` is the mean over the training seeds' policies.
3. **The platform's answer.** Every (``detect_every``, threshold) of
   ``--bot-detect-every-values`` x ``--bot-thresholds`` is evaluated against both
   fixed-rule baselines and against a best response trained at that setting
   (``--bot-sweep-updates`` updates from the first learned policy; at the
   comparison setting, the first learned policy itself), as the
   integrity use case's robust design does. The platform's objective is
   ``cost = influence + --bot-fp-weight x false_positive_rate`` (the bots'
   influence plus the cost of suspending ordinary accounts); the setting of
   least cost against learners is chosen, and compared with the setting chosen
   against fixed-rule bots (at each setting the costlier of the two baselines).

The integrity statistics (`recosim.usecases.integrity.statistics`) are used as
they are: a record's ``victims`` is the bots' influence (the harm), its
``friction`` the false positive rate (the platform's cost), its ``rate_limit``
the second knob, ``detect_every``, and its ``threshold`` the detector threshold.

Files under ``<out>/socialbots/``: ``comparison.csv``, ``robust_design.csv``,
``learning_curves.csv``, ``runs.jsonl`` (every evaluation run, core's
`RunStore`), ``training/`` (checkpoints, one folder per learner and seed, and
``result.json`` once a training finished), and the PNGs ``learning_curves.png``,
``influence_vs_survival.png`` and ``threshold_sweep.png``. Rerunning the same
command with the same ``--out`` resumes: finished trainings are read back,
unfinished ones continue from their last update, finished runs are not run again.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core import using_backend
from recosim.core.checkpoint import chunk_seed
from recosim.core.errors import RecosimError, UsageError
from recosim.core.plugins import COMPILES, get_plugins
from recosim.core.results import RunStore, content_hash, write_bytes_atomic, write_json_atomic
from recosim.core.usecase import NumberList, Parameter, Progress, RunSetup
from recosim.library.socialbots import (
    POLICY_SHAPES,
    RANDOM_POLICY,
    TOP_DEGREE_POLICY,
    SocialbotsConfig,
    SocialbotsModel,
    check_policy,
    final_figures,
    policy_settings,
)
from recosim.usecases.integrity import statistics as stats

__all__ = [
    "METRICS",
    "PARAMETERS",
    "LearnedBots",
    "Evaluator",
    "check",
    "comparison_table",
    "robust_design",
    "config_from",
    "simulate",
    "train_bots",
]

PART = "socialbots"
METRICS = ("influence", "not_suspended", "false_positive_rate", "followers", "accuracy", "balanced_accuracy")
"""Per-run figures (see `recosim.library.socialbots.final_figures`)."""
RUN_KEY = ("policy", "rate_limit", "threshold", "run")
RANDOM, TOP = "random", "top-degree"
BASELINES = {RANDOM: RANDOM_POLICY, TOP: TOP_DEGREE_POLICY}
CHECKPOINT_EVERY = 1
"""Updates between training checkpoints: a stopped job loses no finished update."""
POINTS_PER_CALL = 4
"""Policy-and-setting points per evaluation call (a short last call is padded: one compiled program)."""


class _IntList(NumberList):
    """Comma-separated whole numbers >= 1."""

    def __call__(self, value: Any) -> tuple[float, ...]:
        values = super().__call__(value)
        for v in values:
            if v != int(v) or v < 1:
                raise ValueError(f"{v:g} is not a whole number >= 1")
        return values


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("bot_count", int, 8, "socialbots: bot accounts", minimum=1),
    Parameter("bot_users", int, 200, "socialbots: users of the follow graph (preferential attachment)", minimum=4),
    Parameter("bot_normals", int, 32, "socialbots: ordinary accounts the detector scores beside the bots "
              "(its false positives)", minimum=1),
    Parameter("bot_p_spread", float, 0.1, "socialbots: independent-cascade spread probability per edge, in (0, 1]"),
    Parameter("bot_max_hops", int, 6, "socialbots: depth at which cascades are cut", minimum=1),
    Parameter("bot_threshold", float, 2.4, "socialbots: the detector threshold bots are trained and compared at "
              "(suspend above, > 0)"),
    Parameter("bot_detect_every", int, 1, "socialbots: steps (actions) between the detector's decisions, for "
              "training and the comparison", minimum=1),
    Parameter("bot_thresholds", NumberList(minimum=0.0), (1.6, 2.4, 3.2),
              "socialbots: the platform's sweep, comma-separated detector thresholds (> 0)"),
    Parameter("bot_detect_every_values", _IntList(minimum=1.0), (1.0, 4.0),
              "socialbots: the platform's sweep, comma-separated detect-every values (whole numbers >= 1)"),
    Parameter("bot_fp_weight", float, 1.0, "socialbots: the platform's cost of suspending all ordinary accounts, "
              "in units of bot influence (cost = influence + weight x false positive rate)", minimum=0.0),
    Parameter("bot_sweep_updates", int, 8, "socialbots: updates of the best response trained at each sweep "
              "setting (from the first learned policy)", minimum=1),
    Parameter("bot_group_size", int, 4, "socialbots: rollouts per group (sharing the ordinary accounts' draws)",
              minimum=2),
    Parameter("bot_rollouts", int, 8, "socialbots: rollouts per update (a multiple of --bot-group-size)", minimum=2),
    Parameter("bot_learning_rate", float, 0.1, "socialbots: the optimiser's step size (> 0)"),
)
"""The socialbots part's options (the shared ones are the command's)."""


def check(params: dict[str, Any]) -> None:
    """Cross-option checks; a `UsageError` naming the flag."""
    if params["bot_rollouts"] % params["bot_group_size"]:
        raise UsageError(f"--bot-rollouts {params['bot_rollouts']} must be a multiple of --bot-group-size "
                         f"{params['bot_group_size']}")
    if not params["bot_threshold"] > 0 or not math.isfinite(params["bot_threshold"]):
        raise UsageError(f"--bot-threshold must be > 0, got {params['bot_threshold']:g}")
    if any(t <= 0 for t in params["bot_thresholds"]):
        given = ",".join(f"{t:g}" for t in params["bot_thresholds"])
        raise UsageError(f"--bot-thresholds must all be > 0, got {given}")
    if not 0.0 < params["bot_p_spread"] <= 1.0:
        raise UsageError(f"--bot-p-spread must be in (0, 1], got {params['bot_p_spread']:g}")
    if not params["bot_learning_rate"] > 0:
        raise UsageError(f"--bot-learning-rate must be > 0, got {params['bot_learning_rate']:g}")
    if params["horizon"] < 2:
        raise UsageError(f"--horizon must be >= 2 for socialbots (the detector needs steps to act on), "
                         f"got {params['horizon']}")
    if params["bot_count"] > params["bot_users"]:
        raise UsageError(f"--bot-count {params['bot_count']} (bots) must not exceed --bot-users "
                         f"{params['bot_users']}")
    try:
        config_from(params)
    except ValueError as err:
        raise UsageError(f"socialbots: {err}") from None


def config_from(params: Mapping[str, Any]) -> SocialbotsConfig:
    """The story's config from the command's options."""
    return SocialbotsConfig(
        num_users=int(params["bot_users"]),
        num_bots=int(params["bot_count"]),
        num_normals=int(params["bot_normals"]),
        p_spread=float(params["bot_p_spread"]),
        max_hops=int(params["bot_max_hops"]),
        threshold=float(params["bot_threshold"]),
        detect_every=int(params["bot_detect_every"]),
    )


# -- training -----------------------------------------------------------------------------------------------------
@dataclass
class LearnedBots:
    """A trained policy and its learning curve (mean reward per bot and step of the training rollouts, per update)."""

    policy: dict[str, np.ndarray]
    curve: np.ndarray


def train_bots(
    model: SocialbotsModel,
    *,
    horizon: int,
    threshold: float,
    detect_every: int,
    init: Mapping[str, Any] | None = None,
    updates: int,
    trainer: str = "grpo",
    seed: int = 0,
    runtime: str = "jax",
    group_size: int = 4,
    rollouts: int = 8,
    learning_rate: float = 0.1,
    checkpoint: Path | None = None,
    callback: Callable[[int, Any], Any] | None = None,
) -> LearnedBots:
    """Train both policies jointly against a fixed detector setting; resumes from ``checkpoint`` where one is.

    ``trainer``: ``"grpo"`` (`train_grpo`, 4 clipped epochs per batch, no KL penalty) or
    ``"reinforce"`` (`train_reinforce` with the group baseline).
    """
    from recosim.inference import train_grpo, train_reinforce

    # The detector's setting rides along as two parameters: the policy's log-probability does not depend on
    # them (the bots' draws depend on the logged state only), so their gradient is exactly 0 and Adam leaves
    # them unchanged (checked below); and the compiled programs, which take them as arguments, are the same
    # at every setting, so JAX's compilation cache serves every training after the first.
    mech = {"threshold": np.float32(threshold), "detect_every": np.float32(detect_every)}
    start = {**{k: np.asarray(v, np.float32) for k, v in check_policy(init or RANDOM_POLICY).items()}, **mech}

    def make_model(params: Any) -> Any:
        policy = {k: params[k] for k in POLICY_SHAPES}
        return model.variables(policy, threshold=params["threshold"], detect_every=params["detect_every"])

    resume = checkpoint is not None and (checkpoint / "meta.json").exists()
    common: dict[str, Any] = dict(
        policy="bots", reward="metrics/reward", horizon=int(horizon), runtime=runtime, num_steps=int(updates),
        group_size=int(group_size), num_rollouts=int(rollouts), learning_rate=float(learning_rate), seed=int(seed),
        checkpoint=checkpoint, checkpoint_every=CHECKPOINT_EVERY, resume=resume, quiet=True, callback=callback,
    )
    if trainer == "reinforce":
        result = train_reinforce(make_model, start, baseline="group", **common)
    else:
        result = train_grpo(make_model, start, epochs=4, clip=0.2, kl=0.0, **common)
    moved = [k for k, v in mech.items() if not np.array_equal(np.asarray(result.params[k], np.float32), v)]
    if moved:
        raise RecosimError(f"socialbots training changed the detector setting {moved}; it must stay fixed")
    policy = {k: np.asarray(result.params[k], np.float32) for k in POLICY_SHAPES}
    return LearnedBots(policy, np.asarray(result.learning_curve, np.float64) / float(horizon))


def _trained(
    folder: Path | None, tag: Mapping[str, Any], tracker: _Tracker, updates: int, **options: Any
) -> LearnedBots:
    """A finished training read back from ``folder/result.json``, else trained (checkpointing in ``folder``)."""
    done_file = None if folder is None else folder / "result.json"
    if done_file is not None and done_file.exists():
        try:
            data = json.loads(done_file.read_text())
        except (OSError, json.JSONDecodeError):
            data = None
        if isinstance(data, dict) and data.get("tag") == _jsonable(tag):
            tracker.advance(updates)
            return LearnedBots({k: np.asarray(v, np.float32) for k, v in data["policy"].items()},
                               np.asarray(data["curve"], np.float64))
    before = [0]

    def callback(done: int, _: Any) -> None:
        tracker.advance(done - before[0])
        before[0] = done

    result = train_bots(updates=updates, checkpoint=folder, callback=callback, **options)
    tracker.advance(updates - before[0])
    if done_file is not None:
        write_json_atomic(done_file, {
            "tag": _jsonable(tag),
            "policy": {k: np.asarray(v).tolist() for k, v in result.policy.items()},
            "curve": result.curve.tolist(),
        })
    return result


# -- evaluation ---------------------------------------------------------------------------------------------------
class Evaluator:
    """Runs policies at detector settings through the runtime's ``run_batch``; one compiled program for all.

    Run ``i`` uses the seed ``chunk_seed(seed, i)`` at every point (common random numbers).
    """

    def __init__(self, model: SocialbotsModel, horizon: int, runtime: str, *, validate: bool = False) -> None:
        self.model = model
        self.horizon = int(horizon)
        cls = get_plugins().get_runtime(runtime)
        extra = {"validate": True} if validate else {}
        self.rt = cls(model.variables(), seed=0, settings=model.settings(), **extra)
        cfg = model.cfg

        def outputs(final: Mapping[str, Any]) -> dict[str, Any]:
            with using_backend(self.rt.backend):
                return final_figures(final, cfg)

        self._outputs = outputs

    def run(
        self, points: Sequence[tuple[str, Mapping[str, Any], float, int]], runs: Sequence[int], seed: int
    ) -> list[dict[str, Any]]:
        """Records of every (label, policy, threshold, detect_every) point and run."""
        records: list[dict[str, Any]] = []
        seeds = [chunk_seed(seed, int(r)) for r in runs]
        for start in range(0, len(points), POINTS_PER_CALL):
            part = list(points[start : start + POINTS_PER_CALL])
            batch = list(part)
            if COMPILES in self.rt.capabilities and len(batch) < POINTS_PER_CALL:
                batch += [batch[-1]] * (POINTS_PER_CALL - len(batch))
            per_point = [policy_settings(policy, tau, every) for _, policy, tau, every in batch]
            settings = {name: np.stack([s[name] for s in per_point]) for name in per_point[0]}
            res = self.rt.run_batch(num_steps=self.horizon - 1, seeds=seeds, settings=settings,
                                    outputs=self._outputs, runs_per_call=len(seeds))
            out = {m: np.asarray(res.outputs[m], np.float64) for m in METRICS}
            for p, (label, _, tau, every) in enumerate(part):
                for r, run in enumerate(runs):
                    rec: dict[str, Any] = {"policy": label, "rate_limit": float(every), "threshold": float(tau),
                                           "run": int(run), **{m: float(out[m][p, r]) for m in METRICS}}
                    bad = [m for m in METRICS if not math.isfinite(rec[m])]
                    if bad:
                        raise RecosimError(f"socialbots run {run} of {label} at threshold {tau:g}, detect every "
                                           f"{every:g} gave non-finite {', '.join(bad)}; rerun with --validate")
                    records.append(rec)
        return records


def _evaluate(
    evaluator: Evaluator, store: RunStore, points: Sequence[tuple[str, Mapping[str, Any], float, int]],
    runs: Sequence[int], seed: int, tracker: _Tracker,
) -> list[dict[str, Any]]:
    """The records of ``points`` x ``runs``: those the store has, the rest run and stored."""
    keys = [(label, float(every), float(tau), int(r)) for label, _, tau, every in points for r in runs]
    todo_points = [p for p in points if any((p[0], float(p[3]), float(p[2]), int(r)) not in store for r in runs)]
    tracker.advance(len(keys) - len(todo_points) * len(runs))
    for start in range(0, len(todo_points), POINTS_PER_CALL):
        part = todo_points[start : start + POINTS_PER_CALL]
        for rec in evaluator.run(part, runs, seed):
            if tuple(rec[k] for k in RUN_KEY) not in store:
                store.add(rec)
        tracker.advance(len(part) * len(runs))
    return [_with_aliases(r) for r in store.select(keys)]


def _with_aliases(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record with the integrity statistics' names: ``victims`` = influence, ``friction`` = false positives."""
    return {**record, "victims": float(record["influence"]), "friction": float(record["false_positive_rate"])}


def _mean_over_seeds(records: Sequence[Mapping[str, Any]], labels: Sequence[str], label: str) -> list[dict[str, Any]]:
    """Per run (and setting), the mean over the ``labels`` policies' records, relabelled ``label``."""
    by: dict[tuple[float, float, int], list[Mapping[str, Any]]] = {}
    for r in records:
        if r["policy"] in labels:
            by.setdefault((r["rate_limit"], r["threshold"], r["run"]), []).append(r)
    out = []
    for (every, tau, run), recs in sorted(by.items()):
        row = {"policy": label, "rate_limit": every, "threshold": tau, "run": run}
        for m in (*METRICS, "victims", "friction"):
            row[m] = float(np.mean([x[m] for x in recs]))
        out.append(row)
    return out


# -- the part -----------------------------------------------------------------------------------------------------
def simulate(setup: RunSetup, progress: Progress | None) -> dict[str, Any]:
    """Train, compare, sweep; write ``<out>/socialbots/``; return the part's summary."""
    from recosim.usecases.social_agents import socialbot_plots as plots

    p, seed = setup.params, setup.seed
    started = time.perf_counter()
    cfg = config_from(p)
    model = SocialbotsModel(cfg)
    horizon, seeds_n, updates = int(p["horizon"]), int(p["training_seeds"]), int(p["updates"])
    trainer = "reinforce" if p["trainer"] == "reinforce" else "grpo"
    tau0, every0 = float(p["bot_threshold"]), int(p["bot_detect_every"])
    grid = [(int(e), float(t)) for e in p["bot_detect_every_values"] for t in sorted(p["bot_thresholds"])]
    runs = list(range(int(p["eval_runs"])))
    out = None if setup.out is None else setup.out / PART
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    sweep_trainings = len([s for s in grid if s != (every0, tau0)])
    total = seeds_n * updates + sweep_trainings * p["bot_sweep_updates"] + (2 + seeds_n + 3 * len(grid)) * len(runs)
    tracker = _Tracker(progress, total)
    train_opts = dict(horizon=horizon, trainer=trainer, runtime=setup.runtime, group_size=p["bot_group_size"],
                      rollouts=p["bot_rollouts"], learning_rate=p["bot_learning_rate"])
    world = {**cfg.as_dict(), "horizon": horizon, "trainer": trainer, "group_size": p["bot_group_size"],
             "rollouts": p["bot_rollouts"], "learning_rate": p["bot_learning_rate"], "runtime": setup.runtime}
    world_hash = content_hash(_jsonable(world))[:10]

    # 1. learned bots, one training per seed, at the comparison setting
    learned: list[LearnedBots] = []
    for s in range(seeds_n):
        folder = None if out is None else out / "training" / f"main-{world_hash}" / f"seed{s}"
        tag = {"world": world, "threshold": tau0, "detect_every": every0, "updates": updates, "seed": seed + s}
        learned.append(_trained(folder, tag, tracker, updates, model=model, threshold=tau0, detect_every=every0,
                                seed=seed + s, **train_opts))
    train_seconds = time.perf_counter() - started

    # 2. comparison at that setting
    config = {"usecase": "social-agents", "part": PART, "world": world, "seed": seed, "validate": setup.validate,
              "options": {k: v for k, v in p.items() if k.startswith("bot_") or k in ("updates", "training_seeds")}}
    runs_file = None if out is None else out / "runs.jsonl"
    evaluator = Evaluator(model, horizon, setup.runtime, validate=setup.validate)
    with RunStore(runs_file, config=config, key=RUN_KEY, fields=METRICS) as store:
        learner_labels = [f"learned-seed{s}" for s in range(seeds_n)]
        points = [(RANDOM, RANDOM_POLICY, tau0, every0), (TOP, TOP_DEGREE_POLICY, tau0, every0)]
        points += [(label, lb.policy, tau0, every0) for label, lb in zip(learner_labels, learned)]
        records = _evaluate(evaluator, store, points, runs, seed, tracker)
        records += _mean_over_seeds(records, learner_labels, "learned")
        comparison, comparison_summary = comparison_table(records, (float(every0), tau0))

        # 3. the platform's answer
        sweep_started = time.perf_counter()
        responses: dict[tuple[int, float], LearnedBots] = {}
        for every, tau in grid:
            if (every, tau) == (every0, tau0):
                responses[(every, tau)] = learned[0]  # already a best response to this setting
                continue
            folder = None if out is None else out / "training" / f"sweep-{world_hash}" / f"e{every}-t{tau:g}"
            tag = {"world": world, "threshold": tau, "detect_every": every, "updates": p["bot_sweep_updates"],
                   "seed": seed, "from": {k: np.asarray(v).tolist() for k, v in learned[0].policy.items()}}
            responses[(every, tau)] = _trained(folder, tag, tracker, p["bot_sweep_updates"], model=model,
                                               threshold=tau, detect_every=every, init=learned[0].policy, seed=seed,
                                               **train_opts)
        points = [(label, policy, tau, every) for every, tau in grid for label, policy in BASELINES.items()]
        points += [(_learner(every, tau), responses[(every, tau)].policy, tau, every) for every, tau in grid]
        sweep_records = _evaluate(evaluator, store, points, runs, seed, tracker)
    design, robust_summary = robust_design(sweep_records, grid, float(p["bot_fp_weight"]))
    sweep_seconds = time.perf_counter() - sweep_started

    summary: dict[str, Any] = {
        "size": {"users": cfg.num_users, "bots": cfg.num_bots, "normals": cfg.num_normals, "horizon": horizon,
                 "graph_edges": model.graph.num_edges, "max_degree": int(model.graph.degree.max()),
                 "training_seeds": seeds_n, "updates": updates, "eval_runs": len(runs), "sweep_settings": len(grid)},
        "trainer": trainer,
        "reach_norm": [model.reach_norm, model.reach_norm_se],
        "comparison": comparison_summary,
        "learning": {f"seed{s}": _rise(lb.curve) for s, lb in enumerate(learned)},
        "platform": robust_summary,
        "train_seconds": round(train_seconds, 2),
        "sweep_seconds": round(sweep_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if out is not None:
        _write_table(out / "comparison.csv", comparison)
        _write_table(out / "robust_design.csv", design)
        curve_rows = [{"learner": f"seed{s}", "update": i + 1, "influence": float(v)}
                      for s, lb in enumerate(learned) for i, v in enumerate(lb.curve)]
        curve_rows += [{"learner": f"sweep e{e} t{t:g}", "update": i + 1, "influence": float(v)}
                       for (e, t), lb in responses.items() if (e, t) != (every0, tau0)
                       for i, v in enumerate(lb.curve)]
        _write_table(out / "learning_curves.csv", curve_rows)
        size = f"{cfg.num_users} users, {cfg.num_bots} bots, {horizon} steps"
        plots.plot_learning_curves(
            np.stack([lb.curve for lb in learned]), {r["policy"]: r for r in comparison}, out / "learning_curves.png",
            title=f"Socialbots learning ({trainer.upper()}), {size}; threshold {tau0:g}, detect every {every0}",
        )
        plots.plot_influence_survival(
            comparison, out / "influence_vs_survival.png",
            title=f"Influence and survival, {size}; {len(runs)} runs each, threshold {tau0:g}",
        )
        plots.plot_threshold_sweep(
            design, robust_summary, out / "threshold_sweep.png",
            title=f"The platform's answer, {size}; cost = influence + {p['bot_fp_weight']:g} x false positives",
        )
        summary["files"] = {k: f"{PART}/{v}" for k, v in {
            "comparison": "comparison.csv", "robust_design": "robust_design.csv",
            "learning_curves": "learning_curves.csv", "runs": "runs.jsonl",
            "learning_curves_png": "learning_curves.png", "influence_vs_survival": "influence_vs_survival.png",
            "threshold_sweep": "threshold_sweep.png",
        }.items()}
    return summary


def _learner(every: int, tau: float) -> str:
    return f"learner@e{every},t{tau:g}"


def comparison_table(
    records: Sequence[Mapping[str, Any]], setting: tuple[float, float]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (policy, means and standard errors) and the summary: learned against both baselines, paired."""
    metrics = METRICS
    labels = [RANDOM, TOP, "learned", *sorted({r["policy"] for r in records if r["policy"].startswith("learned-")})]
    rows = []
    for label in labels:
        got = [row for row in stats.summarise(records, label, metrics=metrics)
               if (row["rate_limit"], row["threshold"]) == setting]
        if got:
            row = dict(got[0])
            row["detect_every"] = row.pop("rate_limit")
            rows.append(row)
    out: dict[str, Any] = {"setting": {"threshold": setting[1], "detect_every": setting[0]}}
    by = {r["policy"]: r for r in rows}
    for label in (RANDOM, TOP, "learned"):
        r = by[label]
        out[label] = {m: [r[m], r[f"{m}_se"]] for m in ("influence", "not_suspended", "false_positive_rate",
                                                        "followers")}
    for base in (RANDOM, TOP):
        diff = {}
        for m in ("influence", "not_suspended"):
            d = stats.paired_difference(records, m, (base, setting), ("learned", setting))
            base_mean = by[base][m]
            d["relative"] = d["difference"] / base_mean if base_mean else math.nan
            diff[m] = d
        out[f"learned_minus_{base}"] = diff
    rnd = by[RANDOM]
    out["detector_vs_random_bots"] = {
        "accuracy": [rnd["accuracy"], rnd["accuracy_se"]],
        "balanced_accuracy": [rnd["balanced_accuracy"], rnd["balanced_accuracy_se"]],
    }
    return rows, out


def robust_design(
    records: Sequence[Mapping[str, Any]], grid: Sequence[tuple[int, float]], weight: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The robust-design table and the choice: the setting of least cost against learners, against fixed rules."""
    metrics = (*METRICS, "victims", "friction")
    base_rows = {label: {(r["rate_limit"], r["threshold"]): r for r in stats.summarise(records, label, metrics=metrics)}
                 for label in BASELINES}
    learner_rows, fixed_rows, table = [], [], []
    worst_label: dict[tuple[float, float], str] = {}
    for every, tau in grid:
        s = (float(every), float(tau))
        lrow = next(r for r in stats.summarise(records, _learner(every, tau), metrics=metrics)
                    if (r["rate_limit"], r["threshold"]) == s)
        learner_rows.append(lrow)
        worst = max(BASELINES, key=lambda label: stats.cost(base_rows[label][s], weight))
        worst_label[s] = worst
        fixed_rows.append(base_rows[worst][s])
        row: dict[str, Any] = {"detect_every": every, "threshold": tau}
        for label in BASELINES:
            b = base_rows[label][s]
            row.update({f"{label}_influence": b["influence"], f"{label}_influence_se": b["influence_se"],
                        f"{label}_not_suspended": b["not_suspended"], f"{label}_cost": stats.cost(b, weight)})
        row.update({"fixed_rule": worst, "fixed_rule_cost": stats.cost(base_rows[worst][s], weight),
                    "learned_influence": lrow["influence"], "learned_influence_se": lrow["influence_se"],
                    "learned_not_suspended": lrow["not_suspended"], "false_positive_rate": lrow["false_positive_rate"],
                    "false_positive_rate_se": lrow["false_positive_rate_se"],
                    "learned_cost": stats.cost(lrow, weight)})
        table.append(row)
    chosen_learned = stats.choose(learner_rows, weight)
    chosen_fixed = stats.choose(fixed_rows, weight)
    s_l = (chosen_learned["rate_limit"], chosen_learned["threshold"])
    s_f = (chosen_fixed["rate_limit"], chosen_fixed["threshold"])
    for row in table:
        s = (float(row["detect_every"]), float(row["threshold"]))
        row["chosen_against_learners"] = s == s_l
        row["chosen_against_fixed_rules"] = s == s_f
    fixed_label = worst_label[s_l]
    summary = {
        "objective": f"minimise influence + {weight:g} x false_positive_rate",
        "chosen_against_learners": {"threshold": s_l[1], "detect_every": int(s_l[0]),
                                    "cost": stats.cost(chosen_learned, weight)},
        "chosen_against_fixed_rules": {"threshold": s_f[1], "detect_every": int(s_f[0]),
                                       "cost": stats.cost(chosen_fixed, weight)},
        "at_chosen": {
            "fixed_rule": fixed_label,
            "fixed_rule_influence": [base_rows[fixed_label][s_l]["influence"],
                                     base_rows[fixed_label][s_l]["influence_se"]],
            "learned_influence": [chosen_learned["influence"], chosen_learned["influence_se"]],
            "learned_minus_fixed_influence": stats.paired_difference(
                records, "influence", (fixed_label, s_l), (_learner(int(s_l[0]), s_l[1]), s_l)),
            "learned_minus_fixed_not_suspended": stats.paired_difference(
                records, "not_suspended", (fixed_label, s_l), (_learner(int(s_l[0]), s_l[1]), s_l)),
        },
        "learners_at_fixed_choice_minus_at_robust_choice": {
            m: stats.paired_difference(records, m, (_learner(int(s_l[0]), s_l[1]), s_l),
                                       (_learner(int(s_f[0]), s_f[1]), s_f))
            for m in ("influence", "false_positive_rate")
        },
    }
    return table, summary


def _rise(curve: np.ndarray) -> dict[str, float]:
    """Mean of the first and last fifth of a learning curve, and the rise."""
    curve = np.asarray(curve, np.float64)
    w = max(1, len(curve) // 5)
    return {"first": float(curve[:w].mean()), "last": float(curve[-w:].mean()),
            "rise": float(curve[-w:].mean() - curve[:w].mean())}


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=lambda v: np.asarray(v).tolist()))


def _write_table(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    text = io.StringIO()
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(path, text.getvalue().encode())


class _Tracker:
    """Counts units of work (training updates and evaluation runs) for ``progress(done, total)``."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.done, self.total = progress, 0, int(total)

    def advance(self, units: int) -> None:
        if units <= 0:
            return
        self.done = min(self.total, self.done + int(units))
        if self.progress is not None:
            self.progress(self.done, self.total)
