"""``recosim run integrity``: mechanism design by sweep against scammers, and scammers that learn.

1. Sweep: every (rate limit, threshold) of the grid, ``--num-runs`` runs each with
   rule-following scammers; the table (``sweep.csv``, ``sweep.json``), the Pareto
   plot of victims against friction (``pareto.png``) and heat maps
   (``heatmaps.png``); the trends of victims and friction as the mechanism gets
   stricter, with paired standard errors; the setting a designer would choose,
   the one of least ``victims + friction_weight * friction``.
2. With ``--learning-adversary`` (on a differentiable runtime): the scammers'
   policy is trained by policy gradients (group-relative baseline) against the chosen setting, a best
   response; learners are compared with rule followers there; the grid is
   screened with the learners' policy, the most promising settings get best
   responses of their own, and the setting of least cost against best-responding
   scammers is reported with its friction cost (``learning.json``, ``robust.csv``,
   ``learning_curves.png``, ``robust.png``).

Every finished run is a line of ``runs.jsonl`` under ``--out`` (core's `RunStore`:
appended and fsynced as each chunk of ``--runs-per-call`` runs finishes, tagged with
a hash of the model, horizon, seed and runtime), and every finished best response
is kept in ``training/<setting>/result.json`` (training itself checkpoints there),
so a job stopped at any point and started again with the same ``--out`` computes
only what was missing. ``summary.json`` starts with the run header (use case,
runtime and its provider, seed, checked mode, options).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.errors import RecosimError, UsageError
from recosim.core.plugins import DIFFERENTIABLE, VECTORISES, get_plugins
from recosim.core.results import RunStore, prepare_out, write_bytes_atomic, write_json_atomic
from recosim.core.usecase import (
    HORIZON,
    NUM_RUNS,
    NUM_USERS,
    RUN_STORE,
    RUNS_TABLE,
    NumberList,
    Parameter,
    Progress,
    RunSetup,
    UseCase,
)
from recosim.usecases.integrity import plots
from recosim.usecases.integrity import statistics as stats
from recosim.usecases.integrity.grid import METRICS, GridRunner, Job
from recosim.usecases.integrity.model import FIXED_RULE_POLICY, MODEL_VERSION, IntegrityConfig

__all__ = ["DEFAULT_RATE_LIMITS", "DEFAULT_THRESHOLDS", "IntegrityUseCase"]

FIXED = "fixed"
DEFAULT_RATE_LIMITS = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)
"""Requests and messages allowed per account per step: the grid's default rows."""
DEFAULT_THRESHOLDS = (2.0, 3.0, 4.0, 6.0, 8.0, 12.0)
"""Detector thresholds (suspend above): the grid's default columns."""
RUN_KEY = ("policy", "rate_limit", "threshold", "run")
DEFAULT_VECTORISED_BATCH = 36
"""Runs per batch on a vectorising runtime that names no ``runs_per_call`` (one grid column of 6 x 6)."""


def _setting_label(setting: tuple[float, float]) -> str:
    return f"L={setting[0]:g},tau={setting[1]:g}"


class IntegrityUseCase(UseCase):
    name = "integrity"
    summary = "social-platform integrity: scammers against a rate limit and a detector; sweep and learning scammers"
    summary_metadata = ("num_scammers", "runs_per_call", "sweep_seconds", "total_seconds", "files", "model_version")
    parameters = (
        NUM_USERS.with_default(10_000, "accounts on the platform, genuine users and scammers"),
        Parameter("scammer_fraction", float, 0.02, "share of the accounts that are scammers, in (0, 0.5)"),
        HORIZON.with_default(100, "steps of activity per run"),
        NUM_RUNS.with_default(8, "independent runs per setting, paired across settings (run i: the same seed)"),
        Parameter("rate_limits", NumberList(minimum=0.0), DEFAULT_RATE_LIMITS,
                  "grid: comma-separated rate limits (requests and messages per account per step, > 0)"),
        Parameter("thresholds", NumberList(minimum=0.0), DEFAULT_THRESHOLDS,
                  "grid: comma-separated detector thresholds (suspend above, > 0)"),
        Parameter("friction_weight", float, 1.0, "cost of one wrongly suspended account relative to one victim",
                  minimum=0.0),
        Parameter("learning_adversary", bool, False,
                  "train learning scammers (best responses) and compare designs (needs a differentiable --runtime)"),
        Parameter("train_users", int, 2000, "accounts of the platform learning scammers train in", minimum=20),
        Parameter("train_updates", int, 50, "policy-gradient updates of the best response to the chosen setting",
                  minimum=1),
        Parameter("robust_candidates", int, 3, "further settings that get a best response of their own", minimum=0),
        Parameter("runs_per_call", int, None,
                  f"runs per batch of the runtime's run_batch (default: the runtime's runs_per_call, else "
                  f"{DEFAULT_VECTORISED_BATCH} on a vectorising runtime and 8 elsewhere)", minimum=1),
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        for flag, name in (("--rate-limits", "rate_limits"), ("--thresholds", "thresholds")):
            values = tuple(sorted(float(v) for v in params[name]))
            if any(v <= 0 for v in values):
                raise UsageError(f"{flag} must all be > 0, got {','.join(f'{v:g}' for v in values)}")
            params[name] = values
        for flag, size in (("--num-users", params["num_users"]), ("--train-users", params["train_users"])):
            try:
                IntegrityConfig(num_accounts=size, scammer_fraction=params["scammer_fraction"])
            except ValueError as err:
                text = str(err).replace("IntegrityConfig.num_accounts", flag).replace("IntegrityConfig: ", "")
                text = text.replace("IntegrityConfig.scammer_fraction", "--scammer-fraction")
                fraction = params["scammer_fraction"]
                raise UsageError(f"{flag} {size} with --scammer-fraction {fraction:g}: {text}") from None
        if params["learning_adversary"]:
            from recosim.usecases.integrity.learning import trainer_available

            reason = trainer_available()
            if reason is not None:
                raise UsageError(f"--learning-adversary: {reason}")
        return params

    def setup(
        self, *, runtime: str, seed: Any, out: Path | str | None, validate: bool = False, **params: Any
    ) -> RunSetup:
        """As `UseCase.setup`; learning scammers also need a runtime that differentiates (refused before ``out``)."""
        setup = super().setup(runtime=runtime, seed=seed, out=None, validate=validate, **params)
        if setup.params["learning_adversary"] and DIFFERENTIABLE not in get_plugins().runtime_capabilities(runtime):
            able = get_plugins().runtimes_with(DIFFERENTIABLE)
            raise UsageError(
                f"--learning-adversary trains by gradients, which the {runtime!r} runtime cannot compute; "
                f"use --runtime {' or --runtime '.join(able)}"
            )
        return setup if out is None else dataclasses.replace(setup, out=prepare_out(out, owner=self.name))

    def make_store(self, setup: RunSetup) -> RunStore:
        """``runs.jsonl``: every finished run, tagged with what it depends on (model, horizon, seed, runtime)."""
        config = {
            "usecase": self.name,
            "model": _config(setup.params).as_dict(),
            "model_version": MODEL_VERSION,
            "horizon": setup.params["horizon"],
            "seed": setup.seed,
            "runtime": setup.runtime,
            "validate": setup.validate,
        }
        return RunStore(setup.file(RUN_STORE), config=config, key=RUN_KEY, fields=METRICS)

    def simulate(self, setup: RunSetup, progress: Progress | None = None) -> dict[str, Any]:
        store = setup.store
        assert store is not None
        p = setup.params
        cfg = _config(p)
        per_call = p["runs_per_call"] or _default_per_call(setup)
        runner = GridRunner(cfg, p["horizon"], setup.runtime, runs_per_call=per_call, validate=setup.validate)
        limits, taus = list(p["rate_limits"]), list(p["thresholds"])
        grid = [(limit, tau) for limit in limits for tau in taus]
        started = time.perf_counter()
        tracker = _Progress(progress, self._total_units(p, len(grid)))
        sweep_jobs = _sweep_jobs(p)
        _run_jobs(runner, store, sweep_jobs, {FIXED: None}, setup.seed, tracker, per_call)
        sweep_seconds = time.perf_counter() - started
        fixed_records = _records(store, sweep_jobs)
        rows = stats.summarise(fixed_records, FIXED)
        trends = stats.trends(fixed_records, FIXED, limits, taus)
        chosen = stats.choose(rows, p["friction_weight"])
        chosen_setting = (chosen["rate_limit"], chosen["threshold"])
        files = None if setup.out is None else {
            "runs": RUN_STORE, "table": "sweep.csv", "table_json": "sweep.json", "pareto": "pareto.png",
            "heatmaps": "heatmaps.png",
        }
        summary: dict[str, Any] = {
            "model_version": MODEL_VERSION,
            "num_scammers": cfg.num_scammers,
            "runs_per_call": per_call,
            "sweep_seconds": round(sweep_seconds, 2),
            "chosen_against_fixed_rule": {k: chosen[k] for k in chosen if k != "policy"},
            "trends": _trend_summary(trends),
            "files": files,
        }
        if setup.out is not None and files is not None:
            self._write_sweep(setup, cfg, rows, trends, chosen, limits, taus)
            files["runs_table"] = RUNS_TABLE
        if p["learning_adversary"]:
            summary["learning"] = self._learning(setup, cfg, store, runner, rows, grid, chosen_setting, tracker)
            if files is not None:
                files.update({"learning": "learning.json", "robust_table": "robust.csv",
                              "learning_curves": "learning_curves.png", "robust": "robust.png"})
        summary["total_seconds"] = round(time.perf_counter() - started, 2)
        return summary

    def run_rows(self, setup: RunSetup, summary: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every metric of every run of the sweep (rule-following scammers), with its setting."""
        assert setup.store is not None
        for r in _records(setup.store, _sweep_jobs(setup.params)):
            for m in METRICS:
                yield {"run": r["run"], "policy": r["policy"], "rate_limit": r["rate_limit"],
                       "threshold": r["threshold"], "metric": m, "value": r[m]}

    def headline(self, summary: Mapping[str, Any]) -> list[tuple[str, float, float | None]]:
        """The setting chosen against rule followers and its victims and friction; the same against learners."""
        rows: list[tuple[str, float, float | None]] = []
        against = [("rule followers", summary["chosen_against_fixed_rule"])]
        if "learning" in summary:
            against.append(("learners", summary["learning"]["chosen_against_learners"]))
        for who, c in against:
            where = f"L={c['rate_limit']:g},tau={c['threshold']:g}"
            rows.append((f"victims at {where}, chosen against {who}", c["victims"], _se(c["victims_se"])))
            rows.append((f"friction at {where}, chosen against {who}", c["friction"], _se(c["friction_se"])))
        return rows

    @staticmethod
    def _total_units(p: Mapping[str, Any], cells: int) -> int:
        """Runs of the sweep, plus (with learning scammers) training updates and the learners' runs."""
        total = cells * p["num_runs"]
        if p["learning_adversary"]:
            k = p["robust_candidates"]
            total += p["train_updates"] + k * _follow_updates(p) + 2 * cells * _screen_runs(p) + (1 + k) * p["num_runs"]
        return total

    @staticmethod
    def _write_sweep(
        setup: RunSetup,
        cfg: IntegrityConfig,
        rows: Sequence[Mapping[str, Any]],
        trends: Mapping[str, Any],
        chosen: Mapping[str, Any],
        limits: Sequence[float],
        taus: Sequence[float],
    ) -> None:
        out, p = setup.out, setup.params
        assert out is not None
        _write_table(out / "sweep.csv", rows)
        write_json_atomic(out / "sweep.json", {"rows": rows, "trends": trends})
        runs = p["num_runs"]
        plots.plot_pareto(
            rows, chosen, out / "pareto.png",
            title=f"Fixed-rule scammers: {cfg.num_accounts} accounts, {cfg.num_scammers} scammers, "
            f"{p['horizon']} steps, {runs} run{'s' * (runs != 1)} per setting on {setup.runtime}",
        )
        plots.plot_heatmaps(
            rows, limits, taus, out / "heatmaps.png",
            title=f"Fixed-rule scammers: {cfg.num_accounts} accounts, {cfg.num_scammers} scammers, "
            f"{p['horizon']} steps; means over {runs} run{'s' * (runs != 1)} per setting",
        )

    # -- learning scammers ------------------------------------------------------------------------------------------
    def _learning(
        self,
        setup: RunSetup,
        cfg: IntegrityConfig,
        store: RunStore,
        runner: GridRunner,
        rows: Sequence[Mapping[str, Any]],
        grid: Sequence[tuple[float, float]],
        chosen: tuple[float, float],
        tracker: _Progress,
    ) -> dict[str, Any]:
        from recosim.usecases.integrity.learning import TrainingSetup

        p, out, seed = setup.params, setup.out, setup.seed
        started = time.perf_counter()
        train = TrainingSetup(dataclasses.replace(cfg, num_accounts=p["train_users"]), horizon=p["horizon"] + 1,
                              updates=p["train_updates"])
        follow_updates, screen_runs = _follow_updates(p), _screen_runs(p)
        runs = range(p["num_runs"])
        weight = float(p["friction_weight"])
        per_call = runner.runs_per_call

        # 1. the best response to the setting chosen against rule followers, and how it fares there
        tag = {"config": store.config_hash, "train_users": p["train_users"]}
        first = _best_response(train, chosen, None, p["train_updates"], setup.runtime, seed, out, tracker, tag)
        policies: dict[str, Any] = {FIXED: None, _learner(chosen): first.policy}
        _run_jobs(runner, store, [Job(_learner(chosen), *chosen, i) for i in runs], policies, seed, tracker, per_call)
        # 2. screen the grid with probe adversaries: the rule followers (the sweep), the learned policy, and
        #    the learned policy without camouflage (what a learner falls back to where camouflage costs too
        #    much); the settings of least worst-case cost get best responses of their own
        probes = {
            "screen": first.policy,
            "screen-no-camouflage": {**first.policy, "camouflage_bias": FIXED_RULE_POLICY["camouflage_bias"]},
        }
        policies.update(probes)
        screen_jobs = [Job(label, *s, i) for label in probes for s in grid for i in range(screen_runs)]
        _run_jobs(runner, store, screen_jobs, policies, seed, tracker, per_call)
        screen_rows = {label: stats.summarise(_records(store, screen_jobs), label) for label in probes}
        worst = {(r["rate_limit"], r["threshold"]): stats.cost(r, weight) for r in rows}
        for label in probes:
            for r in screen_rows[label]:
                s = (r["rate_limit"], r["threshold"])
                worst[s] = max(worst[s], stats.cost(r, weight))
        candidates = sorted((s for s in worst if s != chosen), key=lambda s: worst[s])[: p["robust_candidates"]]
        curves = {f"best response to {_setting_label(chosen)}": first.curve}
        learned = {_setting_label(chosen): first}
        learner_jobs = [Job(_learner(chosen), *chosen, i) for i in runs]
        for setting in candidates:
            res = _best_response(train, setting, first.policy, follow_updates, setup.runtime, seed, out, tracker, tag)
            learned[_setting_label(setting)] = res
            curves[f"best response to {_setting_label(setting)} (from the first)"] = res.curve
            policies[_learner(setting)] = res.policy
            jobs = [Job(_learner(setting), *setting, i) for i in runs]
            learner_jobs += jobs
            _run_jobs(runner, store, jobs, policies, seed, tracker, per_call)
        # 3. compare
        items = _records(store, learner_jobs) + _records(store, [Job(FIXED, *s, i) for s in grid for i in runs])
        learner_rows = []
        for setting in [chosen, *candidates]:
            row = next(r for r in stats.summarise(items, _learner(setting)) if
                       (r["rate_limit"], r["threshold"]) == setting)
            learner_rows.append({**row, "cost": stats.cost(row, weight)})
        robust = stats.choose(learner_rows, weight)
        robust_setting = (robust["rate_limit"], robust["threshold"])
        fixed_at_chosen = next(r for r in rows if (r["rate_limit"], r["threshold"]) == chosen)
        result: dict[str, Any] = {
            "train_users": p["train_users"],
            "train_updates": p["train_updates"],
            "follow_updates": follow_updates,
            "rollouts_per_update": train.rollouts,
            "group_size": train.group_size,
            "learning_rate": train.learning_rate,
            "screen_runs": screen_runs,
            "screen_worst_case_cost": {_setting_label(s): worst[s] for s in [chosen, *candidates]},
            "reward_over_training": _rise(first.curve),
            "learned_policy": {k: np.asarray(v).tolist() for k, v in first.policy.items()},
            "at_chosen_against_fixed_rule": {
                "setting": list(chosen),
                "fixed_rule_victims": [fixed_at_chosen["victims"], fixed_at_chosen["victims_se"]],
                "learner_victims": [learner_rows[0]["victims"], learner_rows[0]["victims_se"]],
                "learner_minus_fixed": stats.paired_difference(
                    items, "victims", (FIXED, chosen), (_learner(chosen), chosen)
                ),
            },
            "candidates": [list(s) for s in candidates],
            "chosen_against_learners": {k: robust[k] for k in robust if k != "policy"},
            "robust_minus_chosen": {
                m: stats.paired_difference(
                    items, m, (_learner(chosen), chosen), (_learner(robust_setting), robust_setting)
                )
                for m in ("victims", "friction", "engagement")
            },
            "friction_cost_fixed_rule_sweep": stats.paired_difference(
                items, "friction", (FIXED, chosen), (FIXED, robust_setting)
            ),
            "seconds": round(time.perf_counter() - started, 2),
        }
        if out is not None:
            _write_table(out / "robust.csv", learner_rows)
            write_json_atomic(
                out / "learning.json",
                {
                    **result,
                    "policies": {
                        s: {k: np.asarray(v).tolist() for k, v in r.policy.items()} for s, r in learned.items()
                    },
                    "curves": {name: np.asarray(c).tolist() for name, c in curves.items()},
                    "learner_rows": learner_rows,
                    "screen_rows": screen_rows,
                },
            )
            plots.plot_learning(curves, out / "learning_curves.png")
            runs_text = f"{p['num_runs']} run{'s' * (p['num_runs'] != 1)}"
            plots.plot_robust(
                rows, learner_rows, chosen, robust_setting, out / "robust.png",
                title=f"{cfg.num_accounts} accounts, {cfg.num_scammers} scammers, {p['horizon']} steps, "
                f"{runs_text} per setting; cost = victims + {weight:g} x friction",
            )
        return result


def _config(p: Mapping[str, Any]) -> IntegrityConfig:
    """The model's configuration from the checked options."""
    return IntegrityConfig(num_accounts=p["num_users"], scammer_fraction=p["scammer_fraction"])


def _sweep_jobs(p: Mapping[str, Any]) -> list[Job]:
    """The sweep's runs: every setting of the grid (rate limits x thresholds) times ``--num-runs``, rule followers."""
    runs = range(p["num_runs"])
    return [Job(FIXED, limit, tau, i) for limit in p["rate_limits"] for tau in p["thresholds"] for i in runs]


def _default_per_call(setup: RunSetup) -> int:
    """The runtime's ``runs_per_call`` where it declares one; else 36 on a vectorising runtime and 8 elsewhere."""
    declared = getattr(setup.runtime_class, "runs_per_call", None)
    if isinstance(declared, int) and declared >= 1:
        return declared
    return DEFAULT_VECTORISED_BATCH if VECTORISES in get_plugins().runtime_capabilities(setup.runtime) else 8


def _follow_updates(p: Mapping[str, Any]) -> int:
    """Updates of the best responses at the candidate settings (they start from the first one)."""
    return max(1, int(p["train_updates"]) // 2)


def _screen_runs(p: Mapping[str, Any]) -> int:
    return max(2, int(p["num_runs"]) // 4)


def _records(store: RunStore, jobs: Sequence[Job]) -> list[dict[str, Any]]:
    """The finished records of ``jobs`` (records of other options in the same file are never among them)."""
    return store.select([(j.policy, float(j.rate_limit), float(j.threshold), j.run) for j in jobs])


def _run_jobs(
    runner: GridRunner,
    store: RunStore,
    jobs: Sequence[Job],
    policies: Mapping[str, Any],
    seed: int,
    tracker: _Progress,
    per_call: int,
) -> None:
    """Run the jobs ``store`` lacks, in chunks of about ``per_call`` runs, storing each chunk's runs as it finishes."""
    todo = [j for j in jobs if (j.policy, float(j.rate_limit), float(j.threshold), j.run) not in store]
    tracker.advance(len(jobs) - len(todo))
    for part in _chunks(todo, per_call):
        for record in runner.run(part, policies, seed=seed):
            record = {**record, "rate_limit": float(record["rate_limit"]), "threshold": float(record["threshold"])}
            bad = [m for m in METRICS if not np.isfinite(record[m])]
            if bad:
                raise RecosimError(
                    f"integrity run {record['run']} of {record['policy']} at {_setting_label(_setting(record))} "
                    f"gave non-finite {', '.join(bad)}; run it with --validate to find the variable and step"
                )
            store.add(record)
        tracker.advance(len(part))


def _chunks(jobs: Sequence[Job], per_call: int) -> list[list[Job]]:
    """``jobs`` in chunks of whole cells (policy and setting) of at most ``per_call`` runs, in order;
    a cell with more runs than that is split. Chunks of cells with the same runs have one shape, so
    the runtime's batch program is reused."""
    cells: dict[tuple[str, float, float], list[Job]] = {}
    for j in jobs:
        cells.setdefault(j.point, []).append(j)
    chunks: list[list[Job]] = []
    current: list[Job] = []
    for cell in cells.values():
        if len(cell) >= per_call:
            chunks += [cell[i : i + per_call] for i in range(0, len(cell), per_call)]
            continue
        if len(current) + len(cell) > per_call:
            chunks.append(current)
            current = []
        current += cell
    if current:
        chunks.append(current)
    return chunks


def _setting(record: Mapping[str, Any]) -> tuple[float, float]:
    return (float(record["rate_limit"]), float(record["threshold"]))


def _best_response(
    train: Any,
    setting: tuple[float, float],
    init: Mapping[str, Any] | None,
    updates: int,
    runtime: str,
    seed: int,
    out: Path | None,
    tracker: _Progress,
    tag: Mapping[str, Any],
) -> Any:
    """The scammers' best response to ``setting``: read back if an earlier job finished it, else trained.

    Training writes checkpoints under ``out/training/<setting>/`` and resumes from
    them; the finished policy and learning curve are kept in ``result.json`` there,
    with ``tag`` (what the result depends on besides the setting, updates and seed).
    """
    from recosim.usecases.integrity.learning import LearnedPolicy, train_best_response

    folder = None if out is None else out / "training" / _setting_label(setting)
    done_file = None if folder is None else folder / "result.json"
    if done_file is not None and done_file.exists():
        try:
            data = json.loads(done_file.read_text())
        except json.JSONDecodeError:
            data = None
        if data is not None and data.get("tag") == {**tag, "updates": updates, "seed": seed}:
            tracker.advance(updates)
            policy = {k: np.asarray(v, np.float32) for k, v in data["policy"].items()}
            return LearnedPolicy(policy, np.asarray(data["curve"], np.float64), setting)
    before = [0]

    def callback(done: int, _: Any) -> None:
        tracker.advance(done - before[0])
        before[0] = done

    result = train_best_response(
        train, *setting, init_policy=init, updates=updates, seed=seed, checkpoint=folder, runtime=runtime,
        callback=callback,
    )
    tracker.advance(updates - before[0])
    if done_file is not None:
        write_json_atomic(done_file, {
            "setting": list(setting), "tag": {**tag, "updates": updates, "seed": seed},
            "policy": {k: np.asarray(v).tolist() for k, v in result.policy.items()},
            "curve": np.asarray(result.curve).tolist(),
        })
    return result


def _learner(setting: tuple[float, float]) -> str:
    return f"learner@{_setting_label(setting)}"


def _se(value: Any) -> float | None:
    """A standard error for the closing table: None where it is undefined (one run: NaN, null in JSON)."""
    return None if value is None or not np.isfinite(value) else float(value)


def _rise(curve: np.ndarray) -> dict[str, float]:
    """Mean reward over the first and the last fifth of the updates, and the difference with its standard error."""
    curve = np.asarray(curve, np.float64)
    w = max(2, len(curve) // 5)
    a, b = curve[:w], curve[-w:]
    se = float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)) if min(a.size, b.size) > 1 else float("nan")
    return {"first": float(a.mean()), "last": float(b.mean()), "rise": float(b.mean() - a.mean()), "stderr": se,
            "updates_per_window": int(w)}


def _trend_summary(trends: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for axis in ("threshold", "rate_limit"):
        t = trends[axis]
        out[axis] = {
            k: t[k]
            for k in (
                "steps_compared", "victims_down_significant", "friction_up_significant",
                "victims_up_significant", "friction_down_significant",
            )
        }
        out[axis]["ends"] = [
            {
                axis: e[axis],
                "other": e["other"],
                "victims": [round(e["victims"]["difference"], 2), round(e["victims"]["stderr"], 2)],
                "friction": [round(e["friction"]["difference"], 2), round(e["friction"]["stderr"], 2)],
            }
            for e in t["ends"]
        ]
    if "corner" in trends:
        c = trends["corner"]
        out["corner"] = {
            "from": c["from"],
            "to": c["to"],
            **{m: [round(c[m]["difference"], 2), round(c[m]["stderr"], 2), round(c[m]["z"], 1)]
               for m in ("victims", "friction")},
        }
    return out


def _write_table(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """``rows`` as CSV, written atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else [])
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(path, text.getvalue().encode())


class _Progress:
    """Counts units of work (runs and training updates) for ``progress(done, total)``; earlier jobs' work counts."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress = progress
        self.done = 0
        self.total = int(total)

    def advance(self, units: int) -> None:
        if units <= 0:
            return
        self.done = min(self.total, self.done + int(units))
        if self.progress is not None:
            self.progress(self.done, self.total)
