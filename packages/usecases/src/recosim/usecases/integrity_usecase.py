"""``recosim run integrity``: mechanism design by sweep against scammers, and scammers that learn.

1. Sweep: every (rate limit, threshold) of the grid, ``--num-runs`` runs each with
   rule-following scammers; the table (``sweep.csv``, ``sweep.json``), the Pareto
   plot of victims against friction (``pareto.png``) and heat maps
   (``heatmaps.png``); the trends of victims and friction as the mechanism gets
   stricter, with paired standard errors; the setting a designer would choose,
   the one of least ``victims + friction_weight * friction``.
2. With ``--learning-adversary``: the scammers' policy is trained by policy
   gradients (group-relative baseline) against the chosen setting, a best
   response; learners are compared with rule followers there; the grid is
   screened with the learners' policy, the most promising settings get best
   responses of their own, and the setting of least cost against best-responding
   scammers is reported with its friction cost (``learning.json``, ``robust.csv``,
   ``learning_curves.png``, ``robust.png``).

Finished runs are appended to ``runs.jsonl`` under ``--out`` as they complete and
training writes checkpoints, so an interrupted job resumes where it stopped.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.usecase import Parameter, Progress, UseCase, write_summary
from recosim.usecases import integrity_sweep as sweep
from recosim.usecases.integrity import FIXED_RULE_POLICY, MODEL_VERSION, IntegrityConfig
from recosim.usecases.integrity_sweep import Job, SweepRunner

__all__ = ["IntegrityUseCase", "parse_grid"]

FIXED = "fixed"


def parse_grid(text: str, flag: str) -> list[float]:
    """Comma-separated positive numbers, sorted and distinct, or a ValueError naming ``flag``."""
    try:
        values = sorted({float(x) for x in str(text).split(",") if x.strip()})
    except ValueError:
        raise ValueError(f"{flag} must be comma-separated numbers, got {text!r}") from None
    if not values or any(not np.isfinite(v) or v <= 0 for v in values):
        raise ValueError(f"{flag} needs one or more positive numbers, got {text!r}")
    return values


def _setting_label(setting: tuple[float, float]) -> str:
    return f"L={setting[0]:g},tau={setting[1]:g}"


class _Records:
    """The finished runs of one configuration, kept in ``runs.jsonl`` (appended as they finish)."""

    def __init__(self, out: Path | None, fingerprint: str) -> None:
        self.path = None if out is None else out / "runs.jsonl"
        self.fingerprint = fingerprint
        self.items: list[dict[str, Any]] = []
        if self.path is not None and self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a crash
                    continue
                if rec.get("config") == fingerprint:
                    self.items.append(rec)
        self._done = {self._key(r) for r in self.items}

    @staticmethod
    def _key(r: Mapping[str, Any]) -> tuple[str, float, float, int]:
        return (str(r["policy"]), float(r["rate_limit"]), float(r["threshold"]), int(r["run"]))

    def pending(self, jobs: Sequence[Job]) -> list[Job]:
        return [j for j in jobs if (j.policy, float(j.rate_limit), float(j.threshold), j.run) not in self._done]

    def add(self, records: Sequence[Mapping[str, Any]]) -> None:
        new = [{**r, "config": self.fingerprint} for r in records]
        self.items.extend(new)
        self._done.update(self._key(r) for r in new)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                for r in new:
                    f.write(json.dumps(r, sort_keys=True) + "\n")
                f.flush()


class IntegrityUseCase(UseCase):
    name = "integrity"
    summary = "social-platform integrity: scammers against a rate limit and a detector; sweep and learning scammers"
    parameters = (
        Parameter("num_accounts", int, 10_000, "accounts on the platform"),
        Parameter("scammer_fraction", float, 0.02, "share of the accounts that are scammers"),
        Parameter("horizon", int, 100, "steps of activity per run"),
        Parameter("num_runs", int, 8, "independent runs per setting (run i has the same seed in every setting)"),
        Parameter("rate_limits", str, "1,2,3,4,6,8", "grid: requests and messages allowed per account per step"),
        Parameter("thresholds", str, "2,3,4,6,8,12", "grid: detector thresholds (suspend above)"),
        Parameter("friction_weight", float, 1.0, "cost of one wrongly suspended account relative to one victim"),
        Parameter("learning_adversary", bool, False, "train learning scammers (best responses) and compare designs"),
        Parameter("train_accounts", int, 2000, "accounts in the platform learning scammers train in"),
        Parameter("train_updates", int, 50, "policy-gradient updates of the best response to the chosen setting"),
        Parameter("robust_candidates", int, 3, "further settings that get a best response of their own"),
        Parameter("batch_size", int, 36, "runs per compiled call on JAX (per run_many call elsewhere)"),
    )

    def run(
        self, *, runtime: str, seed: int, out: Path | None, progress: Progress | None = None, **params: Any
    ) -> Mapping[str, Any]:
        p = self.validate(params)
        limits = parse_grid(p["rate_limits"], "--rate-limits")
        taus = parse_grid(p["thresholds"], "--thresholds")
        for name in ("horizon", "num_runs", "batch_size", "train_accounts", "train_updates"):
            if int(p[name]) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {p[name]}")
        if int(p["robust_candidates"]) < 0:
            raise ValueError(f"--robust-candidates must be >= 0, got {p['robust_candidates']}")
        if not float(p["friction_weight"]) >= 0:
            raise ValueError(f"--friction-weight must be >= 0, got {p['friction_weight']}")
        cfg = IntegrityConfig(num_accounts=p["num_accounts"], scammer_fraction=p["scammer_fraction"])
        if p["learning_adversary"]:
            from recosim.usecases.integrity_learning import trainer_available

            reason = trainer_available()
            if reason is not None:
                raise ValueError(f"--learning-adversary: {reason}")
            if runtime != "jax":
                raise ValueError("--learning-adversary trains with the trainer's JAX implementation: use --runtime jax")
        model = {"model": cfg.as_dict(), "version": MODEL_VERSION, "horizon": p["horizon"]}
        fingerprint = _fingerprint({**model, "seed": seed, "runtime": runtime})
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        records = _Records(out, fingerprint)
        runner = SweepRunner(cfg, p["horizon"], runtime, batch_size=p["batch_size"])
        tracker = _Progress(progress)
        runs = range(p["num_runs"])
        grid = [(limit, tau) for limit in limits for tau in taus]
        tracker.expect(len(grid) * p["num_runs"])
        started = time.perf_counter()

        sweep_jobs = [Job(FIXED, limit, tau, i) for limit, tau in grid for i in runs]
        self._run_jobs(runner, records, sweep_jobs, {FIXED: None}, seed, tracker, p["batch_size"])
        sweep_seconds = time.perf_counter() - started
        rows = sweep.summarise(records.items, FIXED)
        trends = sweep.trends(records.items, FIXED, limits, taus)
        chosen = sweep.choose(rows, p["friction_weight"])
        chosen_setting = (chosen["rate_limit"], chosen["threshold"])
        summary: dict[str, Any] = {
            "usecase": self.name,
            "runtime": runtime,
            "seed": seed,
            **p,
            "num_scammers": cfg.num_scammers,
            "sweep_seconds": round(sweep_seconds, 2),
            "chosen_against_fixed_rule": {k: chosen[k] for k in chosen if k != "policy"},
            "trends": _trend_summary(trends),
        }
        if out is not None:
            _write_table(out / "sweep.csv", rows)
            (out / "sweep.json").write_text(json.dumps({"rows": rows, "trends": trends}, indent=2) + "\n")
            sweep.plot_pareto(
                rows, chosen, out / "pareto.png",
                title=f"Fixed-rule scammers: {cfg.num_accounts} accounts, {cfg.num_scammers} scammers, "
                f"{p['horizon']} steps, {p['num_runs']} runs per setting",
            )
            sweep.plot_heatmaps(
                rows, limits, taus, out / "heatmaps.png",
                title=f"Fixed-rule scammers: means over {p['num_runs']} runs per setting",
            )
        if p["learning_adversary"]:
            summary["learning"] = self._learning(
                cfg, p, seed, out, runner, records, rows, grid, chosen_setting, tracker, runtime
            )
        summary["total_seconds"] = round(time.perf_counter() - started, 2)
        write_summary(out, summary)
        return summary

    # -- running jobs -------------------------------------------------------------------------------------------
    @staticmethod
    def _run_jobs(
        runner: SweepRunner,
        records: _Records,
        jobs: Sequence[Job],
        policies: Mapping[str, Any],
        seed: int,
        tracker: _Progress,
        batch: int,
    ) -> None:
        todo = records.pending(jobs)
        tracker.advance(len(jobs) - len(todo))
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            records.add(runner.run(part, policies, seed=seed))
            tracker.advance(len(part))

    # -- learning scammers ------------------------------------------------------------------------------------------
    def _learning(
        self,
        cfg: IntegrityConfig,
        p: Mapping[str, Any],
        seed: int,
        out: Path | None,
        runner: SweepRunner,
        records: _Records,
        rows: Sequence[Mapping[str, Any]],
        grid: Sequence[tuple[float, float]],
        chosen: tuple[float, float],
        tracker: _Progress,
        runtime: str,
    ) -> dict[str, Any]:
        from recosim.usecases.integrity_learning import TrainingSetup, train_best_response

        started = time.perf_counter()
        train_cfg = dataclasses.replace(cfg, num_accounts=p["train_accounts"])
        setup = TrainingSetup(train_cfg, horizon=p["horizon"] + 1, updates=p["train_updates"])
        follow_updates = max(1, p["train_updates"] // 2)
        screen_runs = max(2, p["num_runs"] // 4)
        k = int(p["robust_candidates"])
        tracker.expect(p["train_updates"] + k * follow_updates + 2 * len(grid) * screen_runs + (1 + k) * p["num_runs"])
        runs = range(p["num_runs"])
        weight = float(p["friction_weight"])

        def train(setting: tuple[float, float], init: Mapping[str, Any] | None, updates: int) -> Any:
            ckpt = None if out is None else out / "training" / _setting_label(setting)
            before = [0]

            def callback(done: int, _: Any) -> None:
                tracker.advance(done - before[0])
                before[0] = done

            result = train_best_response(
                setup, *setting, init_policy=init, updates=updates, seed=seed, checkpoint=ckpt, callback=callback
            )
            tracker.advance(updates - before[0])
            return result

        # 1. the best response to the setting chosen against rule followers, and how it fares there
        first = train(chosen, None, p["train_updates"])
        policies: dict[str, Any] = {FIXED: None, _learner(chosen): first.policy}
        self._run_jobs(
            runner, records, [Job(_learner(chosen), *chosen, i) for i in runs], policies, seed, tracker, p["batch_size"]
        )
        # 2. screen the grid with probe adversaries: the rule followers (the sweep), the learned policy, and
        #    the learned policy without camouflage (what a learner falls back to where camouflage costs too
        #    much); the settings of least worst-case cost get best responses of their own
        probes = {
            "screen": first.policy,
            "screen-no-camouflage": {**first.policy, "camouflage_bias": FIXED_RULE_POLICY["camouflage_bias"]},
        }
        policies.update(probes)
        screen_jobs = [Job(label, *s, i) for label in probes for s in grid for i in range(screen_runs)]
        self._run_jobs(runner, records, screen_jobs, policies, seed, tracker, p["batch_size"])
        screen_rows = {label: sweep.summarise(records.items, label) for label in probes}
        worst = {
            (r["rate_limit"], r["threshold"]): sweep.cost(r, weight) for r in rows
        }
        for label in probes:
            for r in screen_rows[label]:
                s = (r["rate_limit"], r["threshold"])
                worst[s] = max(worst[s], sweep.cost(r, weight))
        ranked = sorted((s for s in worst if s != chosen), key=lambda s: worst[s])
        candidates = ranked[:k]
        curves = {f"best response to {_setting_label(chosen)}": first.curve}
        learned = {_setting_label(chosen): first}
        for setting in candidates:
            res = train(setting, first.policy, follow_updates)
            learned[_setting_label(setting)] = res
            curves[f"best response to {_setting_label(setting)} (from the first)"] = res.curve
            policies[_learner(setting)] = res.policy
            self._run_jobs(
                runner, records, [Job(_learner(setting), *setting, i) for i in runs], policies, seed, tracker,
                p["batch_size"],
            )
        # 3. compare
        learner_rows = []
        for setting in [chosen, *candidates]:
            row = next(r for r in sweep.summarise(records.items, _learner(setting)) if
                       (r["rate_limit"], r["threshold"]) == setting)
            learner_rows.append({**row, "cost": sweep.cost(row, weight)})
        robust = sweep.choose(learner_rows, weight)
        robust_setting = (robust["rate_limit"], robust["threshold"])
        fixed_at_chosen = next(r for r in rows if (r["rate_limit"], r["threshold"]) == chosen)
        items = records.items
        result: dict[str, Any] = {
            "train_accounts": p["train_accounts"],
            "train_updates": p["train_updates"],
            "follow_updates": follow_updates,
            "rollouts_per_update": setup.rollouts,
            "group_size": setup.group_size,
            "learning_rate": setup.learning_rate,
            "screen_runs": screen_runs,
            "screen_worst_case_cost": {_setting_label(s): worst[s] for s in [chosen, *candidates]},
            "reward_over_training": _rise(first.curve),
            "learned_policy": {k: np.asarray(v).tolist() for k, v in first.policy.items()},
            "at_chosen_against_fixed_rule": {
                "setting": list(chosen),
                "fixed_rule_victims": [fixed_at_chosen["victims"], fixed_at_chosen["victims_se"]],
                "learner_victims": [learner_rows[0]["victims"], learner_rows[0]["victims_se"]],
                "learner_minus_fixed": sweep.paired_difference(
                    items, "victims", (FIXED, chosen), (_learner(chosen), chosen)
                ),
            },
            "candidates": [list(s) for s in candidates],
            "chosen_against_learners": {k: robust[k] for k in robust if k != "policy"},
            "robust_minus_chosen": {
                m: sweep.paired_difference(
                    items, m, (_learner(chosen), chosen), (_learner(robust_setting), robust_setting)
                )
                for m in ("victims", "friction", "engagement")
            },
            "friction_cost_fixed_rule_sweep": sweep.paired_difference(
                items, "friction", (FIXED, chosen), (FIXED, robust_setting)
            ),
            "seconds": round(time.perf_counter() - started, 2),
        }
        if out is not None:
            _write_table(out / "robust.csv", learner_rows)
            (out / "learning.json").write_text(
                json.dumps(
                    {
                        **result,
                        "policies": {
                            s: {k: np.asarray(v).tolist() for k, v in r.policy.items()} for s, r in learned.items()
                        },
                        "curves": {name: np.asarray(c).tolist() for name, c in curves.items()},
                        "learner_rows": learner_rows,
                        "screen_rows": screen_rows,
                    },
                    indent=2,
                )
                + "\n"
            )
            sweep.plot_learning(curves, out / "learning_curves.png")
            sweep.plot_robust(rows, learner_rows, chosen, robust_setting, out / "robust.png")
        return result


def _learner(setting: tuple[float, float]) -> str:
    return f"learner@{_setting_label(setting)}"


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
    tmp = path.with_name(path.name + ".tmp")
    keys = list(rows[0]) if rows else []
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _fingerprint(config: Mapping[str, Any]) -> str:
    return hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Progress:
    """Counts units of work (runs and training updates) for the ``progress(done, total)`` callback."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0
        self.total = 0

    def expect(self, units: int) -> None:
        self.total += int(units)

    def advance(self, units: int) -> None:
        if units <= 0:
            return
        self.done += int(units)
        if self.progress is not None:
            self.progress(self.done, self.total)
