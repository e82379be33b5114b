"""``recosim run ecosystem``: compare boost caps on the ecosystem model, paired by seed (paper 4.3, figure 3).

Every boost cap runs the same run seeds on the same provider means (common
random numbers), so the differences between caps are paired: run ``i`` of every
cap sees the same users and the same first documents. Under ``--out`` the job
writes

* ``runs.jsonl``: one line per finished run, appended and fsynced at once (core's
  `RunStore`); a rerun with the same ``--out`` resumes, reusing only runs made
  with the same options and the same provider means (compared by content);
* ``summary.json``: per cap the mean cumulative utility per user, its standard
  error and the number of runs, and the paired difference against ``L=0``; the
  caps as numbers, the number of providers and the SHA-256 of the provider means;
* ``figure3.png``: both, with standard-error bars;
* ``runs.csv``: every run's mean cumulative utility, one row per cap and run.

Runs are computed ``runs_per_call`` at a time (one ``run_batch`` call; the
runtime's own ``runs_per_call`` unless ``--runs-per-call`` is given), each run
handing back only its users' cumulative utilities; the result does not depend
on it. One runtime serves every cap: the cap is the
model's ``"boost_cap"`` setting, given per call, so a compiled runtime compiles
the model once for all caps.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.errors import RecosimError, UsageError
from recosim.core.inputs import load_array
from recosim.core.results import RunStore, array_hash, write_bytes_atomic
from recosim.core.seeds import derive_seed
from recosim.core.summary import summarize
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
from recosim.usecases.ecosystem import EcosystemConfig, default_provider_means, ecosystem_variables

__all__ = ["DEFAULT_CAPS", "FIGURE_CAPS", "EcosystemUseCase", "plot_figure3", "run_seed"]

DEFAULT_CAPS = (0.0, 1.2)
"""The myopic recommender and the paper's ecosystem-aware one."""

FIGURE_CAPS = (0.0, 0.3, 0.6, 0.9, 1.2, 1.8, 2.4)
"""The caps of ``--figure``: enough to see utility rise to a peak and fall again."""

SLATE_SIZE = 3
RECORD_FORMAT = 3  # records written under another format or seed convention are not reused
FIGURE_FILE = "figure3.png"


def run_seed(seed: int, run: int) -> int:
    """The seed of run ``run`` of a job seeded ``seed`` (the same for every boost cap and runtime)."""
    return derive_seed(seed, run)


def _label(cap: float) -> str:
    return f"L={cap:g}"


def _mean_and_stderr(xs: Sequence[float]) -> dict[str, Any]:
    """Core's summary of per-run figures (a single run's undefined standard error is None)."""
    s = summarize(np.asarray(xs, dtype=np.float64))
    stderr = float(s.stderr)
    return {"mean": float(s.mean), "stderr": None if np.isnan(stderr) else stderr, "runs": s.num_runs}


def _provider_means(path: str) -> tuple[np.ndarray, str | None]:
    """The provider means and the file they came from (None: the shipped draw), checked."""
    if not path:
        return default_provider_means(), None
    means = load_array(path, option="--provider-means", ndim=2, what="(num_providers, num_topics)")
    return means, str(path)


class EcosystemUseCase(UseCase):
    name = "ecosystem"
    summary = "provider ecosystem (paper 4.3): cumulative user utility under myopic vs ecosystem-aware boosts"
    summary_metadata = ("boost_caps", "runs_per_call", "provider_means", "num_providers", "num_topics",
                        "baseline_cap", "metric", "files")
    parameters = (
        NUM_USERS.with_default(2000),
        Parameter("num_docs", int, 400, "documents offered per step (at least the slate size, 3)", minimum=1),
        HORIZON.with_default(300),
        NUM_RUNS.with_default(12, "independent runs per boost cap, paired across caps"),
        Parameter(
            "boost_caps",
            NumberList(minimum=0.0),
            None,
            "comma-separated boost caps L >= 0, 0 being the myopic recommender "
            "(default: 0,1.2; with --figure: 0,0.3,0.6,0.9,1.2,1.8,2.4)",
        ),
        Parameter("figure", bool, False, "figure 3: seven boost caps from 0 to 2.4 unless --boost-caps is given"),
        Parameter("provider_means", str, "", "an .npy file of provider means, (num_providers, num_topics) "
                  "(default: the shipped draw, provider_means_seed0.npy)"),
        Parameter("runs_per_call", int, None, "runs per run_batch call (default: the runtime's runs_per_call)",
                  minimum=1),
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["num_docs"] < SLATE_SIZE:
            raise UsageError(f"--num-docs must be at least the slate size {SLATE_SIZE}, got {params['num_docs']}")
        caps = params["boost_caps"]
        if caps is None:
            caps = FIGURE_CAPS if params["figure"] else DEFAULT_CAPS
        params["boost_caps"] = tuple(sorted(float(c) for c in caps))
        _provider_means(params["provider_means"])  # a bad file is refused now, before any work
        return params

    def make_store(self, setup: RunSetup) -> RunStore:
        """``runs.jsonl``: the finished runs, reused by a job with the same options and provider means."""
        p = setup.params
        means, _ = _provider_means(p["provider_means"])
        config = {
            "format": RECORD_FORMAT,
            "usecase": self.name,
            "runtime": setup.runtime,
            "seed": setup.seed,
            "num_users": p["num_users"],
            "num_docs": p["num_docs"],
            "horizon": p["horizon"],
            "provider_means_sha256": array_hash(means),
        }
        return RunStore(setup.file(RUN_STORE), config=config, key=("cap", "run"), fields=("mean_cumulative_utility",))

    def simulate(self, setup: RunSetup, progress: Progress | None = None) -> dict[str, Any]:
        assert setup.store is not None
        means, source = _provider_means(setup.params["provider_means"])
        means_hash = array_hash(means)
        if means_hash != setup.store.config["provider_means_sha256"]:
            raise RecosimError(f"--provider-means {source}: the file changed after the job started; run it again")
        keys = _keys(setup)
        per_call = self._compute_missing(setup, setup.store, means, keys, progress)
        summary = self._summarise(setup, setup.store.select(keys), means, source, means_hash, per_call)
        if setup.out is not None:
            summary["files"]["runs_table"] = RUNS_TABLE
            plot_figure3({**setup.header(), **summary}, setup.out / FIGURE_FILE)
        return summary

    def run_rows(self, setup: RunSetup, summary: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Per boost cap and run: the run's mean cumulative utility."""
        assert setup.store is not None
        for r in setup.store.select(_keys(setup)):
            yield {"run": r["run"], "boost_cap": r["cap"], "metric": "mean_cumulative_utility",
                   "value": r["mean_cumulative_utility"]}

    def headline(self, summary: Mapping[str, Any]) -> list[tuple[str, float, float | None]]:
        """Per boost cap the mean cumulative utility per user, then its paired gain over the baseline cap."""
        key = f"paired_difference_vs_{_label(summary['baseline_cap'])}"
        rows: list[tuple[str, float, float | None]] = []
        for label, entry in summary["policies"].items():
            rows.append((f"{label} cumulative utility per user", entry["mean"], entry["stderr"]))
        for label, entry in summary["policies"].items():
            if key in entry:
                gain = entry[key]
                rows.append((f"{label} minus {_label(summary['baseline_cap'])} (paired)", gain["mean"], gain["stderr"]))
        return rows

    def _compute_missing(
        self,
        setup: RunSetup,
        store: RunStore,
        means: np.ndarray,
        keys: list[tuple[float, int]],
        progress: Progress | None,
    ) -> int | None:
        """Compute the runs of ``keys`` that ``store`` lacks, recording each chunk as it finishes."""
        p = setup.params
        done = sum(k in store for k in keys)
        per_call = p["runs_per_call"]
        caps = p["boost_caps"]
        rt = None
        for cap in caps:
            pending = [i for c, i in keys if c == cap and (c, i) not in store]
            if not pending:
                continue
            if rt is None:  # one runtime, and one compiled program, for every cap
                cfg = EcosystemConfig(num_users=p["num_users"], num_docs=p["num_docs"], slate_size=SLATE_SIZE,
                                      boost_cap=caps[0], provider_means=means)
                rt = setup.make_runtime(ecosystem_variables(cfg), settings={"boost_cap": caps[0]})
            size = per_call or max(1, int(getattr(rt, "runs_per_call", 1) or 1))
            per_call = size
            for start in range(0, len(pending), size):
                chunk = pending[start : start + size]
                for i, utility in zip(chunk, _final_utilities(rt, chunk, setup.seed, p["horizon"], cap)):
                    if not np.isfinite(utility):
                        raise RecosimError(
                            f"ecosystem run {i} at boost cap {cap:g} gave a non-finite mean utility ({utility}); "
                            "run it with --validate to find the variable and step where it starts"
                        )
                    store.add({"cap": cap, "run": i, "seed": run_seed(setup.seed, i),
                               "mean_cumulative_utility": utility})
                done += len(chunk)
                if progress is not None:
                    progress(done, len(keys))
        return per_call

    def _summarise(
        self,
        setup: RunSetup,
        records: list[dict[str, Any]],
        means: np.ndarray,
        source: str | None,
        means_hash: str,
        per_call: int | None,
    ) -> dict[str, Any]:
        caps = setup.params["boost_caps"]
        by_cap = {cap: {r["run"]: r["mean_cumulative_utility"] for r in records if r["cap"] == cap} for cap in caps}
        base = 0.0 if 0.0 in by_cap else caps[0]
        policies: dict[str, Any] = {}
        for cap, runs in by_cap.items():
            entry = {"cap": cap, **_mean_and_stderr([runs[i] for i in sorted(runs)])}
            if cap != base:
                common = sorted(set(runs) & set(by_cap[base]))
                entry[f"paired_difference_vs_{_label(base)}"] = _mean_and_stderr(
                    [runs[i] - by_cap[base][i] for i in common]
                )
            policies[_label(cap)] = entry
        return {
            "boost_caps": list(caps),
            "runs_per_call": per_call,
            "provider_means": {"file": source, "shipped": source is None, "sha256": means_hash},
            "num_providers": int(means.shape[0]),
            "num_topics": int(means.shape[1]),
            "baseline_cap": base,
            "metric": "mean over users of the utility summed over the horizon; mean and standard error over runs",
            "policies": policies,
            "files": None if setup.out is None else {"runs": RUN_STORE, "figure": FIGURE_FILE},
        }


def _keys(setup: RunSetup) -> list[tuple[float, int]]:
    """The runs the job asks for, as keys of its store: every boost cap times every run."""
    return [(cap, i) for cap in setup.params["boost_caps"] for i in range(setup.params["num_runs"])]


def _cumulative_utility(value: Mapping[str, Any]) -> dict[str, Any]:
    """What each run hands back: its users' cumulative utility (one function object: one compiled program)."""
    return {"cumulative_utility": value["metrics"].get("cumulative_utility")}


def _final_utilities(rt: Any, runs: list[int], seed: int, horizon: int, cap: float) -> list[float]:
    """Mean cumulative utility of each run at boost cap ``cap``; run ``i`` uses seed ``run_seed(seed, i)``.

    One `run_batch` call: only the users' cumulative utilities come back from the
    runtime, and their mean is taken here in float64.
    """
    seeds = [run_seed(seed, i) for i in runs]
    res = rt.run_batch(horizon - 1, seeds=seeds, settings={"boost_cap": [cap]}, outputs=_cumulative_utility)
    per_user = np.asarray(res.outputs["cumulative_utility"][0], dtype=np.float64)
    return [float(u) for u in per_user.mean(axis=-1)]


def plot_figure3(summary: Mapping[str, Any], path: Path | str) -> Path:
    """Figure 3 from an ecosystem summary: utility per boost cap and the paired gains, ±1 standard error.

    Drawn with matplotlib's Agg canvas (no display needed) and written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    policies = sorted(summary["policies"].values(), key=lambda e: e["cap"])
    base = summary["baseline_cap"]
    caps = [e["cap"] for e in policies]

    def errors(entries: list[Mapping[str, Any]]) -> list[float]:
        return [np.nan if e["stderr"] is None else e["stderr"] for e in entries]

    fig = Figure(figsize=(11, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    left.errorbar(caps, [e["mean"] for e in policies], yerr=errors(policies), fmt="o-", capsize=4, color="C0")
    left.set_xlabel("boost cap L (0: myopic)")
    left.set_ylabel("cumulative utility per user")
    left.set_title("Mean cumulative user utility")
    key = f"paired_difference_vs_{_label(base)}"
    paired = [(e["cap"], e[key]) for e in policies if key in e]
    right.axhline(0.0, color="0.5", linestyle="--", linewidth=1)
    if paired:
        right.errorbar([c for c, _ in paired], [d["mean"] for _, d in paired], yerr=errors([d for _, d in paired]),
                       fmt="s-", capsize=4, color="C1")
    right.set_xlabel("boost cap L")
    right.set_ylabel(f"utility minus utility at {_label(base)}")
    right.set_title(f"Paired difference against {_label(base)} (same run seeds)")
    for ax in (left, right):
        ax.set_xticks(caps)
        ax.set_xticklabels([f"{c:g}" for c in caps])
        ax.grid(True, alpha=0.3)
    runs = min(e["runs"] for e in policies)
    fig.suptitle(
        f"Ecosystem (paper figure 3): {summary['num_users']} users, {summary['num_providers']} providers, "
        f"{summary['horizon']} steps, {runs} run{'s' * (runs != 1)} per cap on {summary['runtime']}; "
        "error bars: ±1 standard error"
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return write_bytes_atomic(path, buf.getvalue())
