"""``recosim run opinion-dynamics``: social reinforcement learning on graphs, and what a feed does to it.

Two studies, one job:

* **Random sequential interaction** on each graph of ``--graph``: ``--num-runs``
  runs of ``--horizon`` interactions (one speaker-listener pair each). Per graph:
  the time to consensus (mean and standard error of the runs that reached it, how
  many were censored at the horizon, quantiles), the probability of ending at
  ``+1``, the final interface density. Where the model is the voter model
  (``alpha = 1, eps = 0``) on the complete graph, the exact birth-death values are
  written beside the simulated ones with z-scores.
* **The feed sweep** (``--feed-size k > 0``): the same learners on a platform,
  synchronous steps in which every agent posts and sees ``k`` posts of its
  neighbours, ranked with homophily ``h`` for each ``h`` of ``--feed-homophily``.
  A feed run lasts ``ceil(horizon / num_agents)`` steps (about as many posts as the
  sequential runs have interactions). Every ``h`` runs the same run seeds, so the
  differences against the first ``h`` are paired. Per ``h``: the time-averaged and
  final interface density, the time to consensus, engagement (approvals per view).

Runs are independent replicas of the population inside one runtime run (the
model's leading replica axis), ``--runs-per-call`` replicas per run. The runs of
one study on one graph go to the runtime in one ``run_batch`` call over the grid
of ``h`` (one compiled program covers runs x ``h``, with the same run keys at
every ``h``), and only the per-run figures come back
(`recosim.library.opinion.OpinionModel.final_measures`, plus the magnetisation
traces and snapshots the figures need). Under ``--out``: ``runs.jsonl`` (one
record per run; a rerun with the same ``--out`` and options resumes),
``runs.csv`` (one row per run and figure), ``summary.json`` and the figures
``survival.png``, ``magnetisation.png``, ``snapshots.png`` (with a geometric
graph) and ``feed_sweep.png``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.errors import RecosimError, UsageError
from recosim.core.results import RunStore, write_bytes_atomic
from recosim.core.seeds import derive_seed
from recosim.core.usecase import HORIZON, NUM_RUNS, NumberList, Parameter, Progress, RunSetup, UseCase
from recosim.library.opinion import (
    GraphError,
    OpinionConfig,
    OpinionGraph,
    OpinionModel,
    check_alpha,
    check_epsilon,
    check_fraction,
    complete_graph,
    geometric_graph,
    read_edge_list,
    sbm_graph,
    voter_exact,
)

__all__ = ["OpinionDynamicsUseCase", "run_seed", "estimate_bytes"]

RECORD_FORMAT = 1
GRAPHS = ("complete", "geometric", "sbm")
TRACE_POINTS = 40
SAMPLE_RUNS = 6
SNAPSHOTS = 6
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
RUN_FIGURES = ("consensus_step", "censored", "ends_plus", "final_magnetisation", "final_interface_density",
               "mean_interface_density", "engagement")  # fmt: skip
FILES = {"runs": "runs.jsonl", "table": "runs.csv", "survival": "survival.png",
         "magnetisation": "magnetisation.png", "snapshots": "snapshots.png", "feed": "feed_sweep.png"}  # fmt: skip


def run_seed(seed: int, graph_index: int, chunk: int) -> int:
    """The seed of runtime run ``chunk`` (``--runs-per-call`` replicas) on graph ``graph_index``.

    The same for every ``h`` of the feed sweep, so that its runs are paired.
    """
    return derive_seed(seed, graph_index, chunk)


def estimate_bytes(num_agents: int, capacity: int, replicas: int, feed_size: int) -> int:
    """A rough peak of one runtime run: the graph and the per-replica state and temporaries (float32)."""
    per_replica = num_agents * 16 * 4
    if feed_size:
        per_replica += num_agents * capacity * 4 * (4 + feed_size)
    return 4 * num_agents * capacity * 3 + 3 * replicas * per_replica


def _available_bytes() -> int:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**62


def _log_steps(horizon: int, points: int) -> np.ndarray:
    """About ``points`` steps from 0 to ``horizon``, evenly spaced in log(1 + t)."""
    steps = np.unique(np.round(np.expm1(np.linspace(0.0, np.log1p(horizon), points))).astype(np.int64))
    return steps.astype(np.int32)


class OpinionDynamicsUseCase(UseCase):
    name = "opinion-dynamics"
    summary = "opinion dynamics by social reinforcement learning: voter check, consensus times, feed-ranking sweep"
    summary_metadata = ("graphs", "runs_per_call", "feed_steps", "files", "exact_note")
    parameters = (
        Parameter("model", str, "social-rl", "voter (alpha = 1, eps = 0) or social-rl"),
        Parameter("graph", str, "complete,geometric,sbm",
                  "comma-separated graphs: complete, geometric, sbm, or an edge-list file ('i j' per line)"),
        Parameter("num_agents", int, 20, "agents N (an edge-list file has its own: the largest id + 1)", minimum=2),
        Parameter("alpha", float, None, "learning rate in (0, 1] (social-rl default 0.5; voter: 1)"),
        Parameter("epsilon", float, None, "exploration in [0, 1) (social-rl default 0.1; voter: 0)"),
        Parameter("radius", float, 0.25, "radius r_g of the geometric graph (drawn until connected)"),
        Parameter("p_in", float, 0.5, "edge probability within a community of the block model"),
        Parameter("p_out", float, 0.02, "edge probability across the two communities"),
        Parameter("initial_fraction", float, 0.5, "fraction of agents starting at +1, in [0, 1]"),
        NUM_RUNS.with_default(200, "independent runs per graph and per feed setting"),
        HORIZON.with_default(4000, "interactions per sequential run (feed runs: ceil(horizon / N) steps)"),
        Parameter("feed_size", int, 3, "posts in each agent's feed (0: no feed sweep)", minimum=0),
        Parameter("feed_homophily", NumberList(minimum=0.0), (0.0, 1.0, 2.0, 4.0),
                  "comma-separated feed homophilies h >= 0 (0: uniform feed)"),
        Parameter("runs_per_call", int, 0, "replicas in one runtime run (0: all the runs of a setting)", minimum=0),
    )  # fmt: skip

    # -- checks before work ------------------------------------------------------------
    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        model = params["model"]
        if model not in ("voter", "social-rl"):
            raise UsageError(f"--model must be voter or social-rl, got {model!r}")
        if model == "voter":
            for name, want in (("alpha", 1.0), ("epsilon", 0.0)):
                if params[name] is not None and params[name] != want:
                    raise UsageError(f"--{name}: the voter model has {name} = {want:g}; use --model social-rl")
            params["alpha"], params["epsilon"] = 1.0, 0.0
        else:
            params["alpha"] = 0.5 if params["alpha"] is None else params["alpha"]
            params["epsilon"] = 0.1 if params["epsilon"] is None else params["epsilon"]
        for name, check in (("alpha", check_alpha), ("epsilon", check_epsilon), ("initial_fraction", check_fraction)):
            try:
                check(params[name])
            except ValueError as err:
                raise UsageError(f"--{name.replace('_', '-')}: {err}") from None
        for name in ("p_in", "p_out"):
            if not 0.0 <= params[name] <= 1.0:
                raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1], got {params[name]}")
        if not 0.0 < params["radius"] <= math.sqrt(2):
            raise UsageError(f"--radius must be in (0, sqrt 2], got {params['radius']}")
        names = [g.strip() for g in params["graph"].split(",")]
        if not names or any(not g for g in names) or len(set(names)) != len(names):
            raise UsageError(f"--graph: give distinct comma-separated graphs, got {params['graph']!r}")
        params["graph"] = ",".join(names)
        params["feed_homophily"] = tuple(sorted(params["feed_homophily"]))
        replicas = params["runs_per_call"] or params["num_runs"]
        have = _available_bytes()
        for name in names:  # the memory a run needs, from the expected degree, before a graph is built
            n = params["num_agents"]
            degree = {"complete": n - 1, "geometric": 2 * n * math.pi * params["radius"] ** 2 + 10,
                      "sbm": 1.5 * n * (params["p_in"] + params["p_out"]) / 2 + 10}.get(name, 0)  # fmt: skip
            need = estimate_bytes(n, int(min(degree, n - 1)), replicas, params["feed_size"])
            if need > have:
                raise UsageError(
                    f"--num-agents {n} on graph {name}: one run of {replicas} replicas needs about "
                    f"{need / 2**30:.1f} GiB and {have / 2**30:.1f} GiB is available; lower --num-agents or "
                    "--runs-per-call"
                )
        self._graphs(params)  # every graph drawn (and refused) now, before any work
        return params

    def _graphs(self, params: Mapping[str, Any]) -> dict[str, OpinionGraph]:
        """Each graph of ``--graph``, drawn from the seed-independent graph seed 0 plus its position."""
        out = {}
        n = params["num_agents"]
        key = (params["graph"], n, params["radius"], params["p_in"], params["p_out"])
        cached = getattr(self, "_graph_cache", None)
        if cached is not None and cached[0] == key:
            return dict(cached[1])
        for i, name in enumerate(params["graph"].split(",")):
            try:
                if name == "complete":
                    out[name] = complete_graph(n)
                elif name == "geometric":
                    out[name] = geometric_graph(n, params["radius"], seed=i)
                elif name == "sbm":
                    out[name] = sbm_graph(n, params["p_in"], params["p_out"], seed=i)
                else:
                    if not Path(name).is_file():
                        raise UsageError(f"--graph: {name!r} is not complete, geometric, sbm or an edge-list file")
                    out[name] = read_edge_list(name)
            except GraphError as err:
                raise UsageError(f"--graph {name}: {err}") from None
        self._graph_cache = (key, dict(out))
        return out

    # -- the job -------------------------------------------------------------------------
    def simulate(self, setup: RunSetup, progress: Progress | None = None) -> dict[str, Any]:
        p = setup.params
        graphs = self._graphs(p)
        feed_steps = math.ceil(p["horizon"] / max(g.num_agents for g in graphs.values())) if p["feed_size"] else 0
        config = {"format": RECORD_FORMAT, "usecase": self.name, "runtime": setup.runtime, "seed": setup.seed,
                  **p,  # runs_per_call too: the replicas of one runtime run share its key
                  "graph_hashes": {name: _graph_hash(g) for name, g in graphs.items()}}  # fmt: skip
        settings = [("sequential", name, 0.0) for name in graphs]
        if p["feed_size"]:
            settings += [("feed", name, h) for name in graphs for h in p["feed_homophily"]]
        n = p["num_runs"]
        keys = [(study, g, h, i) for study, g, h in settings for i in range(n)]
        runs_file = None if setup.out is None else setup.out / FILES["runs"]
        extras: dict[tuple[str, str, float], dict[str, Any]] = {}
        with RunStore(runs_file, config=config, key=("study", "graph", "h", "run")) as store:
            done = sum(k in store for k in keys)
            if progress is not None:
                progress(done, len(keys))
            for gi, (name, graph) in enumerate(graphs.items()):
                for study in ("sequential", "feed"):
                    want_extra = setup.out is not None and study == "sequential"
                    hs = [h for s_, g, h in settings if (s_, g) == (study, name)]
                    todo = [h for h in hs if want_extra or any((study, name, h, i) not in store for i in range(n))]
                    if not todo:
                        continue
                    steps = p["horizon"] if study == "sequential" else feed_steps
                    results = self._simulate(setup, study, gi, graph, todo, steps, want_extra)
                    for h, result in zip(todo, results):
                        if want_extra:
                            extras[(study, name, h)] = result["extra"]
                        pending = [i for i in range(n) if (study, name, h, i) not in store]
                        for i in pending:
                            store.add({"study": study, "graph": name, "h": h, "run": i, **result["runs"][i]})
                        done += len(pending)
                        if progress is not None:
                            progress(done, len(keys))
            records = store.select(keys)
        figures = self._summarise(setup, graphs, records, settings, feed_steps)
        self._run_records = records  # the rows of runs.csv (run_rows)
        if setup.out is not None:
            summary = {**setup.header(), **figures}
            plot_survival(summary, records, setup.out / FILES["survival"])
            plot_magnetisation(summary, extras, setup.out / FILES["magnetisation"])
            if "geometric" in graphs and ("sequential", "geometric", 0.0) in extras:
                plot_snapshots(graphs["geometric"], extras[("sequential", "geometric", 0.0)],
                               setup.out / FILES["snapshots"])  # fmt: skip
            if p["feed_size"]:
                plot_feed(summary, setup.out / FILES["feed"])
        return figures

    def run_rows(self, setup: RunSetup, summary: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """One row per run and figure: ``study``, ``graph``, ``h`` and the run's ``seed`` and ``replica`` beside it.

        A figure a run does not have (the consensus step of a censored run) has no row.
        """
        for r in getattr(self, "_run_records", ()):
            where = {"run": r["run"], "study": r["study"], "graph": r["graph"], "h": r["h"], "run_seed": r["seed"],
                     "replica": r["replica"]}  # fmt: skip
            for metric in RUN_FIGURES:
                v = r.get(metric)
                if v is not None:
                    yield {**where, "metric": metric, "value": int(v) if isinstance(v, bool) else v}

    def headline(self, summary: Mapping[str, Any]) -> list[tuple[str, float, float | None]]:
        """Per graph the mean time to consensus and P(ends at +1); per feed setting engagement and interface density."""
        rows: list[tuple[str, float, float | None]] = []
        for g, entry in summary["sequential"].items():
            t, e = entry["time_to_consensus"], entry["ends_plus"]
            if t["mean"] is not None:
                rows.append((f"{g}: time to consensus ({t['censored']} censored)", t["mean"], t["stderr"]))
            if e["probability"] is not None:
                rows.append((f"{g}: P(ends at +1)", e["probability"], e["stderr"]))
        for g, by_h in summary["feed"].items():
            for key, entry in by_h.items():
                for metric in ("engagement", "mean_interface_density"):
                    if entry[metric]["mean"] is not None:
                        rows.append((f"{g} feed {key}: {metric.replace('_', ' ')}", entry[metric]["mean"],
                                     entry[metric]["stderr"]))  # fmt: skip
        return rows

    def _simulate(
        self, setup: RunSetup, study: str, graph_index: int, graph: OpinionGraph, hs: Sequence[float], steps: int,
        extra: bool,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Every run of one study on one graph at each feed homophily of ``hs``: one ``run_batch`` call.

        One compiled program covers the runs x ``hs`` grid (the same run keys at every
        ``h``: paired), and only the per-run figures come back
        (`OpinionModel.final_measures`), with the magnetisation traces of the first
        sample runs and the snapshots of the first run when ``extra`` (figures asked for).
        Returns, per ``h``, the run records and the extras.
        """
        p = setup.params
        num_runs = p["num_runs"]
        replicas = min(p["runs_per_call"] or num_runs, num_runs)
        chunks = math.ceil(num_runs / replicas)
        feed = study == "feed"
        trace = _log_steps(steps, TRACE_POINTS) if extra else ()
        snaps = _log_steps(steps, SNAPSHOTS) if (extra and graph.kind == "geometric") else ()
        cfg = OpinionConfig(alpha=p["alpha"], epsilon=p["epsilon"], initial_fraction=p["initial_fraction"],
                            feed_size=p["feed_size"] if feed else 0, feed_homophily=hs[0],
                            trace_steps=tuple(trace), snapshot_steps=tuple(snaps))  # fmt: skip
        model = OpinionModel(graph, cfg, replicas=replicas)
        rt = setup.make_runtime(model.variables(), settings=model.settings)
        seeds = [run_seed(setup.seed, graph_index, c) for c in range(chunks)]

        def outputs(value: Any) -> dict[str, Any]:
            out = model.final_measures(value)
            if len(trace):
                out["trace"] = value["stats"].get("trace")[:SAMPLE_RUNS]
            if len(snaps):
                out["snapshots"] = value["stats"].get("snapshots")[0]
            return out

        grid = {"feed_homophily": np.asarray(hs, np.float32)}
        batch = rt.run_batch(steps, seeds=seeds, settings=grid, outputs=outputs).outputs
        return [self._records(batch, point, num_runs, seeds, replicas, study, graph, steps, trace, snaps)
                for point in range(len(hs))]  # fmt: skip

    def _records(
        self, batch: Mapping[str, np.ndarray], point: int, num_runs: int, seeds: Sequence[int], replicas: int,
        study: str, graph: OpinionGraph, steps: int, trace: Any, snaps: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """The run records (and extras) of settings point ``point`` of a batch ``[points, chunks, R, ...]``."""

        def flat(name: str) -> np.ndarray:
            a = np.asarray(batch[name][point])
            return a.reshape((-1, *a.shape[2:]))[:num_runs]

        feed = study == "feed"
        cstep, plus = flat("consensus_step"), flat("num_plus")
        # the density divided here, in float32 as the host always has (a compiled division may differ in the last bit)
        rho = (flat("mixed_pairs").astype(np.float32) / np.float32(max(int(graph.degree.sum()), 1))).astype(np.float64)
        runs = []
        for i in range(num_runs):
            reached = bool(cstep[i] >= 0)
            rec: dict[str, Any] = {
                "seed": seeds[i // replicas], "replica": i % replicas,
                "consensus_step": int(cstep[i]) if reached else None, "censored": not reached,
                "ends_plus": (bool(plus[i] == graph.num_agents) if reached else None),
                "final_magnetisation": float(2.0 * plus[i] / graph.num_agents - 1.0),
                "final_interface_density": float(rho[i]),
            }  # fmt: skip
            if feed:
                views, approvals = flat("views")[i], flat("approvals")[i]
                rec["engagement"] = float(approvals / views) if views > 0 else None
                rec["mean_interface_density"] = float(flat("interface_sum")[i] / steps)
            if not all(v is None or np.isfinite(v) for v in rec.values() if isinstance(v, float)):
                raise RecosimError(f"opinion-dynamics {study} run {i} on {graph.kind} gave a non-finite result")
            runs.append(rec)
        extra: dict[str, Any] = {}
        if len(trace):
            t = np.asarray(batch["trace"][point])
            extra = {"trace_steps": trace, "trace": t.reshape((-1, t.shape[-1]))[: min(SAMPLE_RUNS, num_runs)]}
        if len(snaps):
            extra.update(snapshot_steps=np.asarray(snaps), snapshots=np.asarray(batch["snapshots"][point][0]))
        return {"runs": runs, "extra": extra}

    # -- the summary -------------------------------------------------------------------------
    def _summarise(
        self, setup: RunSetup, graphs: Mapping[str, OpinionGraph], records: list[dict[str, Any]],
        settings: Sequence[tuple[str, str, float]], feed_steps: int,
    ) -> dict[str, Any]:  # fmt: skip
        p = setup.params
        sequential: dict[str, Any] = {}
        feed: dict[str, Any] = {}
        for study, g, h in settings:
            rows = sorted((r for r in records if (r["study"], r["graph"], r["h"]) == (study, g, h)),
                          key=lambda r: r["run"])  # fmt: skip
            horizon = p["horizon"] if study == "sequential" else feed_steps
            entry = _consensus_summary(rows, horizon)
            entry["final_interface_density"] = _mean_se([r["final_interface_density"] for r in rows])
            if study == "sequential":
                graph = graphs[g]
                entry["graph"] = {"kind": graph.kind, "agents": graph.num_agents, "edges": graph.num_edges,
                                  "mean_degree": float(graph.degree.mean()), "draws": graph.attempts}  # fmt: skip
                if p["model"] == "voter" and graph.kind == "complete":
                    entry["exact"] = _exact_comparison(entry, graph.num_agents, p["initial_fraction"])
                sequential[g] = entry
            else:
                entry["h"] = h
                entry["engagement"] = _mean_se([r["engagement"] for r in rows if r["engagement"] is not None])
                entry["mean_interface_density"] = _mean_se([r["mean_interface_density"] for r in rows])
                feed.setdefault(g, {})[f"h={h:g}"] = {"rows": rows, **entry}
        for by_h in feed.values():  # paired differences against the first h (same run seeds)
            base_key = next(iter(by_h))
            base = {r["run"]: r for r in by_h[base_key]["rows"]}
            for key, entry in by_h.items():
                rows = entry.pop("rows")
                if key == base_key:
                    continue
                paired = {}
                for metric in ("mean_interface_density", "final_interface_density", "engagement"):
                    diffs = [r[metric] - base[r["run"]][metric] for r in rows
                             if r[metric] is not None and base.get(r["run"], {}).get(metric) is not None]
                    paired[metric] = _mean_se(diffs)
                both = [(r, base[r["run"]]) for r in rows if r["run"] in base]
                paired["censored"] = _mean_se([float(a["censored"]) - float(b["censored"]) for a, b in both])
                entry[f"paired_vs_{base_key}"] = paired
        return {
            "graphs": list(graphs),
            "runs_per_call": setup.params["runs_per_call"] or setup.params["num_runs"],
            "feed_steps": feed_steps,
            "time_unit": "sequential: interactions (one speaker-listener pair); feed: synchronous steps",
            "sequential": sequential,
            "feed": feed,
            "exact_note": "exact values: the voter model on the complete graph as a birth-death chain on the "
            "number of +1 agents, solved as a linear system (recosim.library.opinion.voter_exact)",
            "files": None if setup.out is None else FILES,
        }


def _graph_hash(graph: OpinionGraph) -> str:
    import hashlib

    h = hashlib.sha256(graph.neighbours.tobytes())
    h.update(graph.degree.tobytes())
    return h.hexdigest()[:16]


def _mean_se(xs: Sequence[float]) -> dict[str, Any]:
    a = np.asarray([x for x in xs if x is not None], np.float64)
    if a.size == 0:
        return {"mean": None, "stderr": None, "runs": 0}
    se = float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else None
    return {"mean": float(a.mean()), "stderr": se, "runs": int(a.size)}


def _consensus_summary(rows: Sequence[Mapping[str, Any]], horizon: int) -> dict[str, Any]:
    """Time to consensus (censored at the horizon) and the probability of ending at +1."""
    n = len(rows)
    times = np.asarray([r["consensus_step"] for r in rows if not r["censored"]], np.float64)
    censored = n - times.size
    all_times = np.concatenate([times, np.full(censored, np.inf)])
    quantiles = {}
    for q in QUANTILES:
        v = float(np.quantile(all_times, q, method="inverted_cdf")) if n else math.inf
        quantiles[f"q{round(q * 100)}"] = None if math.isinf(v) else v
    plus = [bool(r["ends_plus"]) for r in rows if not r["censored"]]
    prob = float(np.mean(plus)) if plus else None
    return {
        "runs": n,
        "horizon": horizon,
        "time_to_consensus": {**_mean_se(times.tolist()), "censored": censored,
                              "censored_share": censored / n if n else None, "quantiles": quantiles,
                              "note": "mean and standard error over the runs that reached consensus; a quantile "
                                      "beyond the horizon is null"},
        "ends_plus": {"probability": prob, "stderr": (None if prob is None or len(plus) < 2
                      else float(np.sqrt(prob * (1 - prob) / len(plus)))), "runs": len(plus)},
    }


def _exact_comparison(entry: Mapping[str, Any], n: int, fraction: float) -> dict[str, Any]:
    k = round(fraction * n)
    times, exits = voter_exact(n)
    t = entry["time_to_consensus"]
    e = entry["ends_plus"]
    exact_se = math.sqrt(exits[k] * (1 - exits[k]) / e["runs"]) if e["runs"] else None
    z_time = None
    if t["mean"] is not None and t["stderr"]:
        z_time = (t["mean"] - times[k]) / t["stderr"]
    z_exit = None
    if e["probability"] is not None and exact_se:
        z_exit = (e["probability"] - exits[k]) / exact_se
    return {
        "k": k,
        "mean_time": float(times[k]),
        "exit_probability": float(exits[k]),
        "simulated_mean_time": t["mean"],
        "simulated_exit_probability": e["probability"],
        "z_time": z_time,
        "z_exit": z_exit,
        "note": "z of the time is biased low when runs are censored" if t["censored"] else "no run censored",
    }


# -- figures (matplotlib, Agg) ---------------------------------------------------------------------
def _figure(size: tuple[float, float], rows: int = 1, cols: int = 1) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return write_bytes_atomic(path, buf.getvalue())


def _model_label(summary: Mapping[str, Any]) -> str:
    return (f"{summary['model']} (alpha={summary['alpha']:g}, eps={summary['epsilon']:g}), "
            f"N={summary['num_agents']}, {summary['num_runs']} runs, runtime {summary['runtime']}")  # fmt: skip


def plot_survival(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """P(time to consensus > t) per graph on log-log axes; censored runs stay at risk to the horizon."""
    fig, ax = _figure((7.5, 5.0))
    ax = ax[0, 0]
    horizon = summary["horizon"]
    for g in summary["graphs"]:
        rows = [r for r in records if r["study"] == "sequential" and r["graph"] == g]
        times = np.sort([r["consensus_step"] for r in rows if not r["censored"]])
        n = len(rows)
        if not n:
            continue
        # S(t) after each consensus time; zero is not drawn on log axes, censored runs hold it up to the horizon
        t = np.concatenate([[max(float(times[0]), 1.0) if times.size else 1.0], np.maximum(times, 1)])
        surv = np.concatenate([[1.0], 1.0 - np.arange(1, times.size + 1) / n])
        censored = n - times.size
        if censored:
            t, surv = np.append(t, horizon), np.append(surv, censored / n)
        keep = surv > 0
        ax.step(t[keep], surv[keep], where="post",
                label=f"{g} ({censored} of {n} censored)" if censored else f"{g} (no run censored)")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axvline(horizon, color="0.6", linestyle=":", linewidth=1)
    ax.set_xlabel("interactions t")
    ax.set_ylabel("P(time to consensus > t)")
    ax.set_title("Survival of the time to consensus (dotted: horizon)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="graph")
    fig.suptitle(_model_label(summary), fontsize=9)
    return _save(fig, path)


def plot_magnetisation(summary: Mapping[str, Any], extras: Mapping[Any, Mapping[str, Any]], path: Path) -> Path:
    """Magnetisation over (log) time of sample runs, one panel per graph."""
    graphs = [g for g in summary["graphs"] if ("sequential", g, 0.0) in extras]
    fig, axes = _figure((4.2 * max(1, len(graphs)), 3.8), 1, max(1, len(graphs)))
    for ax, g in zip(axes[0], graphs):
        ex = extras[("sequential", g, 0.0)]
        steps = np.maximum(ex["trace_steps"], 1)
        for i, m in enumerate(ex["trace"]):
            ax.plot(steps, m, color=f"C{i}", linewidth=1.2)
        ax.set_xscale("log")
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.set_title(f"{g}: {len(ex['trace'])} sample runs")
        ax.set_xlabel("interactions (log)")
        ax.set_ylabel("magnetisation (mean opinion)")
        ax.grid(True, alpha=0.3)
    fig.suptitle(_model_label(summary), fontsize=9)
    return _save(fig, path)


def plot_snapshots(graph: OpinionGraph, extra: Mapping[str, Any], path: Path) -> Path:
    """One geometric-graph run's opinions at several times: the clusters and their interfaces."""
    steps, snaps = extra["snapshot_steps"], extra["snapshots"]
    fig, axes = _figure((3.0 * len(steps), 3.3), 1, len(steps))
    pos = graph.positions
    if pos is None:
        raise ValueError(f"plot_snapshots: the {graph.kind} graph has no positions; snapshots need a geometric graph")
    a, b = graph.edges()
    for ax, t, op in zip(axes[0], steps, snaps):
        differ = op[a] != op[b]
        thin = min(1.0, 40.0 / graph.num_agents)  # lighter lines and dots as the graph grows
        for mask, colour, width in ((~differ, "0.8", 0.4 * thin + 0.1), (differ, "k", 0.8 * thin + 0.1)):
            xs = np.stack([pos[a[mask], 0], pos[b[mask], 0]])
            ys = np.stack([pos[a[mask], 1], pos[b[mask], 1]])
            ax.plot(xs, ys, color=colour, linewidth=width, zorder=1)
        ax.scatter(pos[:, 0], pos[:, 1], c=np.where(op > 0, "tab:red", "tab:blue"), s=6 + 16 * thin, zorder=2)
        ax.set_title(f"t = {int(t)}: m = {op.mean():+.2f}, {int(differ.sum())} mixed edges", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
    fig.suptitle(f"Opinions on a random geometric graph (radius {graph.meta.get('radius', '?')}), one run: "
                 "red +1, blue -1, black edges join opposite opinions", fontsize=10)  # fmt: skip
    return _save(fig, path)


def plot_feed(summary: Mapping[str, Any], path: Path) -> Path:
    """The feed sweep: interface density, censored share and engagement against h, with paired errors."""
    fig, axes = _figure((13.0, 4.0), 1, 3)
    panels = (("mean_interface_density", "time-averaged interface density"),
              ("censored", "share of runs without consensus"), ("engagement", "approvals per view"))  # fmt: skip
    for ax, (metric, label) in zip(axes[0], panels):
        for gi, (g, by_h) in enumerate(summary["feed"].items()):
            hs = [e["h"] for e in by_h.values()]
            base_key = next(iter(by_h))
            ys, errs = [], []
            for e in by_h.values():
                if metric == "censored":
                    ys.append(e["time_to_consensus"]["censored_share"])
                else:
                    ys.append(e[metric]["mean"])
                paired = e.get(f"paired_vs_{base_key}", {}).get(metric)
                errs.append(0.0 if paired is None or paired["stderr"] is None else paired["stderr"])
            ys_arr = np.asarray([np.nan if y is None else y for y in ys], float)
            ax.errorbar(hs, ys_arr, yerr=errs, fmt="o-", capsize=4, color=f"C{gi}", label=g)
        ax.set_xlabel("feed homophily h (0: uniform)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(title="graph", fontsize=8)
    fig.suptitle(f"Feed sweep: {summary['feed_size']} posts per feed, {summary['feed_steps']} synchronous steps; "
                 f"{_model_label(summary)}; error bars: paired standard error against the first h", fontsize=9)
    return _save(fig, path)
