"""``recosim run ecosystem``: compare boost caps on the ecosystem model, paired by seed.

Each run draws a fresh population and trajectory; every boost cap is run with the
same run seeds on the same provider means (common random numbers), so differences
between caps are paired. Each finished run is appended to ``runs.jsonl`` under
``--out`` at once; an interrupted job resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.plugins import get_plugins
from recosim.core.seeds import derive_seed
from recosim.core.summary import summarize
from recosim.core.usecase import Parameter, Progress, UseCase, write_summary
from recosim.usecases.ecosystem import EcosystemConfig, ecosystem_variables, load_provider_means

__all__ = ["EcosystemUseCase", "run_seed"]


def run_seed(seed: int, run: int) -> int:
    """The seed of run ``run`` of a job seeded ``seed`` (the same for every boost cap and runtime)."""
    return derive_seed(seed, run)


def _mean_and_stderr(xs: list[float]) -> dict[str, float | None]:
    """Core's summary of per-run figures, as JSON (a single run's undefined standard error is null)."""
    s = summarize(np.asarray(xs, dtype=np.float64))
    stderr = float(s.stderr)
    return {"mean": float(s.mean), "stderr": None if np.isnan(stderr) else stderr}


def _parse_caps(text: str) -> list[float]:
    try:
        caps = [float(c) for c in str(text).split(",") if c.strip()]
    except ValueError:
        raise ValueError(f"--boost-caps must be comma-separated numbers, got {text!r}") from None
    if not caps or any(c < 0 for c in caps):
        raise ValueError(f"--boost-caps needs one or more caps >= 0, got {text!r}")
    return caps


class EcosystemUseCase(UseCase):
    name = "ecosystem"
    summary = "provider ecosystem (paper 4.3): cumulative user utility under myopic vs ecosystem-aware boosts"
    parameters = (
        Parameter("num_users", int, 2000, "users"),
        Parameter("num_docs", int, 400, "documents offered per step"),
        Parameter("horizon", int, 300, "steps per run"),
        Parameter("num_runs", int, 5, "independent runs per boost cap"),
        Parameter("boost_caps", str, "0,1.2", "comma-separated boost caps L (0 = myopic)"),
        Parameter("provider_means", str, "", "an .npy file of provider means (default: the shipped draw)"),
        Parameter("runs_per_call", int, 8, "runs batched into one run_many call (one compiled call on TF and JAX)"),
    )

    def run(
        self, *, runtime: str, seed: int, out: Path | None, progress: Progress | None = None, **params: Any
    ) -> Mapping[str, Any]:
        p = self.validate(params)
        caps = _parse_caps(p["boost_caps"])
        if p["horizon"] < 1 or p["num_runs"] < 1:
            raise ValueError("--horizon and --num-runs must be >= 1")
        means = load_provider_means(p["provider_means"] or None)
        config = {k: p[k] for k in ("num_users", "num_docs", "horizon")} | {
            "format": 2,  # runs recorded under another seed convention are not reused
            "seed": seed,
            "runtime": runtime,
            "provider_means": p["provider_means"],
        }
        done = _load_runs(out, config)
        runtime_cls = get_plugins().get_runtime(runtime)
        total, finished = len(caps) * p["num_runs"], sum(1 for r in done if r["cap"] in caps)
        for cap in caps:
            pending = [i for i in range(p["num_runs"]) if (cap, i) not in {(r["cap"], r["run"]) for r in done}]
            if not pending:
                continue
            cfg = EcosystemConfig(num_users=p["num_users"], num_docs=p["num_docs"], boost_cap=cap, provider_means=means)
            rt = runtime_cls(ecosystem_variables(cfg), seed=seed)
            for batch in _batches(pending, p["runs_per_call"]):
                for i, utility in zip(batch, _final_utilities(rt, batch, seed, p["horizon"])):
                    record = {"cap": cap, "run": i, "mean_cumulative_utility": utility, **config}
                    done.append(record)
                    _append_run(out, record)
                    finished += 1
                if progress is not None:
                    progress(finished, total)
        return self._summarise(done, caps, p, seed, runtime, out)

    def _summarise(
        self,
        done: list[dict[str, Any]],
        caps: list[float],
        p: Mapping[str, Any],
        seed: int,
        runtime: str,
        out: Path | None,
    ) -> dict[str, Any]:
        by_cap = {cap: {r["run"]: r["mean_cumulative_utility"] for r in done if r["cap"] == cap} for cap in caps}
        summary: dict[str, Any] = {"usecase": self.name, "runtime": runtime, "seed": seed, **p, "policies": {}}
        for cap, runs in by_cap.items():
            summary["policies"][f"L={cap:g}"] = {**_mean_and_stderr([runs[i] for i in sorted(runs)]), "runs": len(runs)}
        if len(caps) > 1:
            base = by_cap[caps[0]]
            for cap in caps[1:]:
                common = sorted(set(base) & set(by_cap[cap]))
                paired = _mean_and_stderr([by_cap[cap][i] - base[i] for i in common])
                summary["policies"][f"L={cap:g}"][f"paired_difference_vs_L={caps[0]:g}"] = paired
        write_summary(out, summary)
        return summary


def _batches(items: list[int], size: int) -> list[list[int]]:
    size = max(1, int(size))
    return [items[i : i + size] for i in range(0, len(items), size)]


def _final_utilities(rt: Any, runs: list[int], seed: int, horizon: int) -> list[float]:
    """Mean cumulative utility of each run; run ``i`` uses seed ``run_seed(seed, i)`` on every runtime."""
    final = rt.run_many([run_seed(seed, i) for i in runs], num_steps=horizon - 1)
    per_user = np.asarray(final["metrics"].get("cumulative_utility"))
    return [float(u) for u in per_user.mean(axis=-1)]


def _runs_file(out: Path | None) -> Path | None:
    return None if out is None else out / "runs.jsonl"


def _load_runs(out: Path | None, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    path = _runs_file(out)
    if path is None or not path.exists():
        return []
    keep = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a crash
            continue
        if all(rec.get(k) == v for k, v in config.items()):
            keep.append(rec)
    return keep


def _append_run(out: Path | None, record: Mapping[str, Any]) -> None:
    path = _runs_file(out)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
