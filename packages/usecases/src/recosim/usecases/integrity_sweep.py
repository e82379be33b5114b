"""Mechanism design by sweep: many runs of the integrity model over a grid of (rate limit, threshold).

`SweepRunner` runs *jobs* (a mechanism setting, a policy and a run index) and
returns one record of figures per job. Run ``i`` of every setting uses the seed
``chunk_seed(seed, i)``, so settings are compared on common random numbers (the
same population and the same draws wherever behaviour agrees), and differences
between settings have paired standard errors. On JAX the model is built inside
one compiled, vectorised function whose inputs are the run keys and the
parameters, so a batch of jobs from any settings and policies is one call and
the model compiles once; on the other runtimes each setting gets its own runtime.

The statistics (`summarise`, `paired_difference`, `trends`, `choose`) and the
figures (`plot_pareto`, `plot_heatmaps`, `plot_learning`, `plot_robust`) work on
the records.

>>> from recosim.usecases.integrity import IntegrityConfig
>>> runner = SweepRunner(IntegrityConfig(num_accounts=200, scammer_fraction=0.05), horizon=3, runtime="numpy")
>>> recs = runner.run([Job("fixed", 4.0, 4.0, 0)], {"fixed": None}, seed=0)
>>> sorted(recs[0])[:4]
['engagement', 'friction', 'overflow', 'policy']
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core import get_backend, using_backend
from recosim.core.checkpoint import chunk_seed
from recosim.core.network import Network
from recosim.core.plugins import get_plugins
from recosim.core.results import write_bytes_atomic
from recosim.usecases.integrity import IntegrityConfig, default_params, integrity_variables

__all__ = [
    "METRICS",
    "Job",
    "SweepRunner",
    "final_figures",
    "summarise",
    "paired_difference",
    "trends",
    "choose",
    "pareto_front",
    "plot_pareto",
    "plot_heatmaps",
    "plot_learning",
    "plot_robust",
]

METRICS = ("victims", "friction", "engagement", "scammer_reward", "scammers_suspended", "overflow")
"""Per-run figures: genuine accounts scammed; genuine accounts suspended (friction); genuine
interactions per genuine account per step; scams per scammer; share of scammers suspended;
new edges dropped for lack of buffer (a check: should be 0)."""


_COMPILED: dict[tuple[Any, ...], Callable[..., Any]] = {}
"""Compiled batch functions per (config, horizon, runtime), shared by runners in one process."""


@dataclass(frozen=True)
class Job:
    """One run: the policy's label, the mechanism setting and the run index."""

    policy: str
    rate_limit: float
    threshold: float
    run: int

    @property
    def setting(self) -> tuple[float, float]:
        return (self.rate_limit, self.threshold)


def final_figures(final: Mapping[str, Any], cfg: IntegrityConfig, horizon: int) -> dict[str, Any]:
    """The per-run figures of a final network value, with the active backend's operations (traceable)."""
    B = get_backend()
    np_ = B.np
    is_scam = B.asarray(cfg.is_scammer())
    suspended = final["platform"].get("suspended")
    met = final["metrics"]
    s_susp = np_.take(suspended, B.asarray(cfg.scammer_ids()), axis=0)
    f32 = "float32"
    return {
        "victims": np_.sum(B.cast(met.get("victim"), f32)),
        "friction": np_.sum(B.cast(suspended & ~is_scam, f32)),
        "engagement": B.cast(met.get("engagement"), f32) / float(cfg.num_genuine * max(horizon, 1)),
        "scammer_reward": np_.mean(met.get("cumulative_reward")),
        "scammers_suspended": np_.mean(B.cast(s_susp, f32)),
        "overflow": B.cast(met.get("overflow"), f32),
    }


class SweepRunner:
    """Runs jobs of the integrity model on one runtime and returns their figures.

    Args:
      cfg: the model's sizes and constants.
      horizon: steps of activity per run (transitions after the initial state).
      runtime: a runtime name (``"jax"`` batches jobs into compiled calls).
      batch_size: jobs per compiled call on JAX (the last batch is padded), or
        runs per ``run_many`` call on runtimes that have it.
      validate: checked mode: every runtime is built with ``validate=True``
        (on JAX the jobs then run setting by setting through ``run_many``, not
        in the vectorised compiled call).
    """

    def __init__(
        self, cfg: IntegrityConfig, horizon: int, runtime: str, *, batch_size: int = 36, validate: bool = False
    ) -> None:
        if int(horizon) < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.cfg = cfg
        self.horizon = int(horizon)
        self.runtime = runtime
        self.batch_size = max(1, int(batch_size))
        self.validate = bool(validate)
        self.runtime_cls = get_plugins().get_runtime(runtime)
        self._jax_fn: Callable[..., Any] | None = None

    def run(
        self, jobs: Sequence[Job], policies: Mapping[str, Mapping[str, Any] | None], *, seed: int
    ) -> list[dict[str, Any]]:
        """The records of ``jobs`` (in order); ``policies`` maps each job's label to its parameters."""
        missing = sorted({j.policy for j in jobs} - set(policies))
        if missing:
            raise ValueError(f"jobs name the policies {missing}, which are not given; given: {sorted(policies)}")
        if not jobs:
            return []
        vectorised = self.runtime == "jax" and not self.validate
        figures = self._run_jax(jobs, policies, seed) if vectorised else self._run_each(jobs, policies, seed)
        return [
            {"policy": j.policy, "rate_limit": j.rate_limit, "threshold": j.threshold, "run": j.run, **f}
            for j, f in zip(jobs, figures)
        ]

    # -- JAX: batches of jobs in one compiled call --------------------------------------------------------
    def _compiled(self) -> Callable[..., Any]:
        key = (self.cfg, self.horizon, self.runtime)
        if self._jax_fn is None and key in _COMPILED:
            self._jax_fn = _COMPILED[key]
        if self._jax_fn is None:
            import jax
            import jax.numpy as jnp

            cfg, horizon = self.cfg, self.horizon
            runtime_cls = self.runtime_cls

            def one(key: Any, params: Any) -> Any:
                rt = runtime_cls(Network(integrity_variables(cfg, params)), seed=0)
                first = rt.initial_step(key)
                last, _ = jax.lax.scan(
                    lambda carry, t: (rt.transition(key, t, carry), None),
                    first,
                    jnp.arange(1, horizon + 1, dtype=jnp.int32),
                )
                with using_backend(rt.backend):
                    return final_figures(last, cfg, horizon)

            self._jax_fn = _COMPILED[key] = jax.jit(jax.vmap(one))
        return self._jax_fn

    def _run_jax(
        self, jobs: Sequence[Job], policies: Mapping[str, Mapping[str, Any] | None], seed: int
    ) -> list[dict[str, float]]:
        import jax
        import jax.numpy as jnp

        fn = self._compiled()
        backend = get_plugins().get_backend("jax")
        out: list[dict[str, float]] = []
        for start in range(0, len(jobs), self.batch_size):
            batch = list(jobs[start : start + self.batch_size])
            real = len(batch)
            batch += [batch[-1]] * (self.batch_size - real)  # a fixed batch shape: one compilation
            keys = jnp.stack([jnp.asarray(backend.make_seed(chunk_seed(seed, j.run))) for j in batch])
            params = [default_params(j.rate_limit, j.threshold, policies[j.policy]) for j in batch]
            stacked = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *params)
            result = {k: np.asarray(v) for k, v in fn(keys, stacked).items()}
            out.extend({k: float(result[k][i]) for k in METRICS} for i in range(real))
        return out

    # -- other runtimes: one runtime per setting and policy --------------------------------------------------
    def _run_each(
        self, jobs: Sequence[Job], policies: Mapping[str, Mapping[str, Any] | None], seed: int
    ) -> list[dict[str, float]]:
        out: dict[int, dict[str, float]] = {}
        groups: dict[tuple[str, float, float], list[int]] = {}
        for i, j in enumerate(jobs):
            groups.setdefault((j.policy, j.rate_limit, j.threshold), []).append(i)
        for (label, limit, threshold), idx in groups.items():
            params = default_params(limit, threshold, policies[label])
            checked = {"validate": True} if self.validate else {}
            rt = self.runtime_cls(integrity_variables(self.cfg, params), seed=seed, **checked)
            seeds = [chunk_seed(seed, jobs[i].run) for i in idx]
            many = hasattr(rt, "run_many") and self.batch_size > 1
            for start in range(0, len(idx), self.batch_size if many else 1):
                part = seeds[start : start + (self.batch_size if many else 1)]
                if many and len(part) > 1:
                    finals = rt.run_many(part, num_steps=self.horizon)
                    values = [{n: v.map(lambda x, r=r: x[r]) for n, v in finals.items()} for r in range(len(part))]
                else:
                    values = [rt.execute(self.horizon, seed=s) for s in part]
                for offset, final in enumerate(values):
                    with using_backend(rt.backend):
                        figs = final_figures(final, self.cfg, self.horizon)
                    out[idx[start + offset]] = {k: float(np.asarray(v)) for k, v in figs.items()}
        return [out[i] for i in range(len(jobs))]


# -- statistics --------------------------------------------------------------------------------------------------
def _mean_se(xs: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(xs, np.float64)
    if a.size == 0:
        return float("nan"), float("nan")
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else 0.0


def summarise(records: Iterable[Mapping[str, Any]], policy: str) -> list[dict[str, Any]]:
    """One row per setting of ``policy``'s records: runs, and the mean and standard error of every figure."""
    by: dict[tuple[float, float], list[Mapping[str, Any]]] = {}
    for r in records:
        if r["policy"] == policy:
            by.setdefault((float(r["rate_limit"]), float(r["threshold"])), []).append(r)
    rows = []
    for (limit, threshold), recs in sorted(by.items()):
        row: dict[str, Any] = {"policy": policy, "rate_limit": limit, "threshold": threshold, "runs": len(recs)}
        for m in METRICS:
            row[m], row[f"{m}_se"] = _mean_se([r[m] for r in recs])
        rows.append(row)
    return rows


def _by_run(records: Iterable[Mapping[str, Any]], policy: str, setting: tuple[float, float]) -> dict[int, Mapping]:
    return {
        int(r["run"]): r
        for r in records
        if r["policy"] == policy and (float(r["rate_limit"]), float(r["threshold"])) == tuple(map(float, setting))
    }


def paired_difference(
    records: Sequence[Mapping[str, Any]],
    metric: str,
    first: tuple[str, tuple[float, float]],
    second: tuple[str, tuple[float, float]],
) -> dict[str, float]:
    """``second - first`` of ``metric`` over the runs both have (same seeds): mean, standard error, z, runs.

    ``first`` and ``second`` are ``(policy, (rate_limit, threshold))``.
    """
    a, b = _by_run(records, *first), _by_run(records, *second)
    common = sorted(set(a) & set(b))
    if not common:
        raise ValueError(f"no runs in common between {first} and {second}")
    d = [float(b[i][metric]) - float(a[i][metric]) for i in common]
    mean, se = _mean_se(d)
    z = mean / se if se > 0 else (math.inf if mean > 0 else -math.inf if mean < 0 else 0.0)
    return {"difference": mean, "stderr": se, "z": z, "runs": len(common)}


def trends(
    records: Sequence[Mapping[str, Any]], policy: str, rate_limits: Sequence[float], thresholds: Sequence[float]
) -> dict[str, Any]:
    """How victims and friction change as the mechanism gets stricter, with paired standard errors.

    For each axis and each level of the other, every step to the next stricter value
    (a lower threshold, a lower rate limit) is a paired difference; a step is
    *significant* when its z exceeds 2 in the expected direction (victims down,
    friction up). Also the difference between the most lenient and the strictest
    value along each axis, and from the most lenient corner to the strictest.
    """
    limits, taus = sorted(map(float, rate_limits)), sorted(map(float, thresholds))
    out: dict[str, Any] = {}
    for axis, values, others in (("threshold", taus, limits), ("rate_limit", limits, taus)):
        steps, ends = [], []
        for other in others:

            def setting(x: float, other: float = other, axis: str = axis) -> tuple[float, float]:
                return (other, x) if axis == "threshold" else (x, other)

            for lenient, strict in zip(values[1:], values[:-1]):
                row = {axis: [lenient, strict], "other": other}
                for m in ("victims", "friction"):
                    row[m] = paired_difference(records, m, (policy, setting(lenient)), (policy, setting(strict)))
                steps.append(row)
            if len(values) > 1:
                row = {axis: [values[-1], values[0]], "other": other}
                for m in ("victims", "friction"):
                    row[m] = paired_difference(records, m, (policy, setting(values[-1])), (policy, setting(values[0])))
                ends.append(row)
        out[axis] = {
            "steps": steps,
            "ends": ends,
            "victims_down_significant": sum(s["victims"]["z"] < -2 for s in steps),
            "friction_up_significant": sum(s["friction"]["z"] > 2 for s in steps),
            "victims_up_significant": sum(s["victims"]["z"] > 2 for s in steps),
            "friction_down_significant": sum(s["friction"]["z"] < -2 for s in steps),
            "steps_compared": len(steps),
        }
    if len(limits) > 1 or len(taus) > 1:
        lenient, strict = (limits[-1], taus[-1]), (limits[0], taus[0])
        out["corner"] = {
            "from": list(lenient),
            "to": list(strict),
            **{m: paired_difference(records, m, (policy, lenient), (policy, strict)) for m in ("victims", "friction")},
        }
    return out


def cost(row: Mapping[str, Any], friction_weight: float) -> float:
    """The designer's cost of a setting: mean victims plus ``friction_weight`` times mean friction."""
    return float(row["victims"]) + float(friction_weight) * float(row["friction"])


def choose(rows: Sequence[Mapping[str, Any]], friction_weight: float) -> Mapping[str, Any]:
    """The row of least cost (victims + friction_weight * friction); ties go to the first."""
    if not rows:
        raise ValueError("no settings to choose from")
    return min(rows, key=lambda r: cost(r, friction_weight))


def pareto_front(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows no other row beats on both mean victims and mean friction, by friction."""
    front = [
        r
        for r in rows
        if not any(
            (o["victims"] <= r["victims"] and o["friction"] <= r["friction"])
            and (o["victims"] < r["victims"] or o["friction"] < r["friction"])
            for o in rows
        )
    ]
    return sorted(front, key=lambda r: (r["friction"], r["victims"]))


# -- figures ----------------------------------------------------------------------------------------------------
def _figure(rows: int = 1, cols: int = 1, *, figsize: tuple[float, float]) -> tuple[Any, Any]:
    """A figure on matplotlib's Agg canvas (no display, no pyplot state) and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols)


def _save(fig: Any, path: Path) -> Path:
    """Write ``fig`` as a PNG atomically (a reader sees the old file or the new one)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return write_bytes_atomic(path, buf.getvalue())


def _label(setting: tuple[float, float]) -> str:
    return f"L={setting[0]:g}, τ={setting[1]:g}"


def plot_pareto(rows: Sequence[Mapping[str, Any]], chosen: Mapping[str, Any], path: Path, *, title: str) -> None:
    """Victims against friction, one point per setting with standard-error bars; the front and the choice marked."""
    import matplotlib

    fig, ax = _figure(figsize=(7.5, 5.5))
    limits = sorted({r["rate_limit"] for r in rows})
    cmap = matplotlib.colormaps["viridis"].resampled(max(len(limits), 2))
    for i, limit in enumerate(limits):
        sub = sorted((r for r in rows if r["rate_limit"] == limit), key=lambda r: r["threshold"])
        ax.errorbar(
            [r["friction"] for r in sub],
            [r["victims"] for r in sub],
            xerr=[r["friction_se"] for r in sub],
            yerr=[r["victims_se"] for r in sub],
            fmt="o-",
            color=cmap(i),
            ms=4,
            lw=0.8,
            capsize=2,
            label=f"rate limit {limit:g}",
        )
    loosest = [r for r in rows if r["rate_limit"] == limits[-1]]
    for r in loosest:
        ax.annotate(f"τ={r['threshold']:g}", (r["friction"], r["victims"]), fontsize=6, xytext=(3, -9),
                    textcoords="offset points", color="0.25")
    front = pareto_front(rows)
    ax.plot([r["friction"] for r in front], [r["victims"] for r in front], "k--", lw=1, label="Pareto front")
    ax.plot(
        [chosen["friction"]], [chosen["victims"]], marker="*", ms=16, color="crimson", ls="none",
        label=f"chosen: {_label((chosen['rate_limit'], chosen['threshold']))}",
    )
    ax.set_xscale("symlog", linthresh=10)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel("friction: genuine accounts wrongly suspended (mean ± s.e.)")
    ax.set_ylabel("victims: genuine accounts scammed (mean ± s.e.)")
    ax.set_title(title + "\n(one line per rate limit; along it the threshold falls from left to right)", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    _save(fig, path)


def plot_heatmaps(
    rows: Sequence[Mapping[str, Any]],
    rate_limits: Sequence[float],
    thresholds: Sequence[float],
    path: Path,
    *,
    title: str,
) -> None:
    """Heat maps over the grid of victims, friction, engagement and scammer reward (cell text: mean)."""
    limits, taus = sorted(map(float, rate_limits)), sorted(map(float, thresholds))
    from matplotlib.colors import SymLogNorm

    panels = [
        ("victims", "victims (genuine accounts scammed; log colour scale)", "Reds"),
        ("friction", "friction (genuine accounts suspended; log colour scale)", "Blues"),
        ("engagement", "engagement (interactions per genuine account per step)", "Greens"),
        ("scammer_reward", "scams per scammer", "Purples"),
    ]
    index = {(r["rate_limit"], r["threshold"]): r for r in rows}
    fig, axes = _figure(2, 2, figsize=(11, 8.5))
    for ax, (metric, name, cmap) in zip(axes.ravel(), panels):
        grid = np.full((len(limits), len(taus)), np.nan)
        for i, limit in enumerate(limits):
            for j, tau in enumerate(taus):
                if (limit, tau) in index:
                    grid[i, j] = index[(limit, tau)][metric]
        norm = SymLogNorm(linthresh=1.0, vmin=0.0, vmax=max(float(np.nanmax(grid)), 1.0)) if metric in (
            "victims", "friction") else None
        im = ax.imshow(grid, origin="lower", cmap=cmap, aspect="auto", norm=norm)
        fig.colorbar(im, ax=ax, shrink=0.8)
        for i in range(len(limits)):
            for j in range(len(taus)):
                if np.isfinite(grid[i, j]):
                    v = grid[i, j]
                    text = f"{v:.0f}" if abs(v) >= 10 else f"{v:.2f}"
                    level = im.norm(v)
                    dark = float(level) > 0.6
                    ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
        ax.set_xticks(range(len(taus)), [f"{t:g}" for t in taus])
        ax.set_yticks(range(len(limits)), [f"{x:g}" for x in limits])
        ax.set_xlabel("detector threshold τ")
        ax.set_ylabel("rate limit L (actions per step)")
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_learning(curves: Mapping[str, np.ndarray], path: Path) -> None:
    """Mean scams per scammer over the horizon, per update of the policy-gradient training."""
    fig, ax = _figure(figsize=(7, 4.5))
    for label, curve in curves.items():
        ax.plot(np.arange(1, len(curve) + 1), curve, lw=1.2, label=label)
    ax.set_xlabel("policy-gradient update")
    ax.set_ylabel("scams per scammer per run (training rollouts)")
    ax.set_title("Learning scammers: reward over training (best responses)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save(fig, path)


def plot_robust(
    fixed_rows: Sequence[Mapping[str, Any]],
    learner_rows: Sequence[Mapping[str, Any]],
    chosen_fixed: tuple[float, float],
    chosen_learner: tuple[float, float],
    path: Path,
    *,
    title: str = "",
) -> None:
    """Victims against friction at the candidate settings: fixed-rule scammers and best-responding learners."""
    fig, ax = _figure(figsize=(7.5, 5.5))
    ax.errorbar(
        [r["friction"] for r in fixed_rows], [r["victims"] for r in fixed_rows],
        xerr=[r["friction_se"] for r in fixed_rows], yerr=[r["victims_se"] for r in fixed_rows],
        fmt="o", color="grey", ms=3, lw=0.6, capsize=1.5, alpha=0.6, label="fixed-rule scammers (grid)",
    )
    ax.errorbar(
        [r["friction"] for r in learner_rows], [r["victims"] for r in learner_rows],
        xerr=[r["friction_se"] for r in learner_rows], yerr=[r["victims_se"] for r in learner_rows],
        fmt="s", color="darkorange", ms=6, lw=1, capsize=2, label="learning scammers (best response per setting)",
    )
    for r in learner_rows:
        ax.annotate(_label((r["rate_limit"], r["threshold"])), (r["friction"], r["victims"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    fixed_there = next((x for x in fixed_rows if (x["rate_limit"], x["threshold"]) == chosen_fixed), None)
    if fixed_there is not None:
        ax.plot([fixed_there["friction"]], [fixed_there["victims"]], marker="*", ms=14, mfc="none", mec="crimson",
                ls="none", label="fixed-rule scammers at the setting chosen against them")
    for setting, colour, name in ((chosen_fixed, "crimson", "learners at the setting chosen vs fixed rule"),
                                  (chosen_learner, "navy", "learners at the setting chosen vs learners")):
        r = next((x for x in learner_rows if (x["rate_limit"], x["threshold"]) == setting), None)
        if r is not None:
            ax.plot([r["friction"]], [r["victims"]], marker="*", ms=18, color=colour, ls="none",
                    label=f"{name}: {_label(setting)}")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel("friction: genuine accounts wrongly suspended (mean ± s.e.)")
    ax.set_ylabel("victims (mean ± s.e.)")
    ax.set_title("Robust design: settings against best-responding scammers" + (f"\n{title}" if title else ""),
                 fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save(fig, path)
