"""Figures of the integrity use case: the Pareto plot, heat maps over the grid, learning curves, robust design.

Each takes the rows of `recosim.usecases.integrity.statistics.summarise` and writes
one PNG atomically, drawn on matplotlib's Agg canvas (no display, no pyplot state).
Victims and friction span several orders of magnitude, so their axes are
symmetric-log with labelled ticks at plain 1-2-5 numbers; counts of updates get
integer ticks.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.results import write_bytes_atomic
from recosim.usecases.integrity.statistics import pareto_front

__all__ = ["plot_pareto", "plot_heatmaps", "plot_learning", "plot_robust", "readable_ticks"]

LINEAR_BELOW = 10.0
"""Below this the count axes are linear (so 0 has a place), above it logarithmic."""


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


def readable_ticks(top: float, *, most: int = 9) -> list[float]:
    """Tick values for a symmetric-log count axis from 0 to ``top``: plain whole numbers, at most ``most`` + 1.

    Up to 12 every whole number or every second one (the linear part of the axis);
    beyond, 0 and the 1-2-5 numbers up to the first at or above ``top``.

    >>> readable_ticks(3.0)
    [0.0, 1.0, 2.0, 3.0]
    >>> readable_ticks(9.5)
    [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    >>> readable_ticks(450.0)
    [0.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0]
    """
    top = max(float(top), 1.0)
    if top <= 12.0:
        step = 1 if top <= 6.0 else 2
        return [float(v) for v in range(0, int(np.ceil(top / step)) * step + 1, step)]
    ladder = [m * 10.0**e for e in range(0, 12) for m in (1.0, 2.0, 5.0)]
    end = next(x for x in ladder if x >= top)
    ticks = [0.0] + [v for v in ladder if 2.0 <= v <= end]
    while len(ticks) > most + 1:  # thin: keep 0, the last, and every other one between
        ticks = [ticks[0], *ticks[1:-1:2], ticks[-1]]
    return ticks


def _count_axes(ax: Any, xs: Sequence[float], ys: Sequence[float]) -> None:
    """Symmetric-log x and y axes for counts, labelled with plain numbers (no 10^k notation)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for axis, values, scale in ((ax.xaxis, xs, ax.set_xscale), (ax.yaxis, ys, ax.set_yscale)):
        scale("symlog", linthresh=LINEAR_BELOW, linscale=0.6)
        finite = [float(v) for v in values if np.isfinite(v)]
        axis.set_major_locator(FixedLocator(readable_ticks(max(finite, default=1.0))))
        axis.set_major_formatter(plain)
        axis.set_minor_locator(NullLocator())
    ax.set_xlim(left=-0.3)
    ax.set_ylim(bottom=-0.3)


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
    _count_axes(ax, [r["friction"] + r["friction_se"] for r in rows], [r["victims"] + r["victims_se"] for r in rows])
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
        # counts (victims, friction) go on a log scale up to ``vmax``; other metrics on a linear one
        vmax = max(float(np.nanmax(grid)), 1.0) if metric in ("victims", "friction") else None
        norm = None if vmax is None else SymLogNorm(linthresh=1.0, vmin=0.0, vmax=vmax)
        im = ax.imshow(grid, origin="lower", cmap=cmap, aspect="auto", norm=norm)
        if vmax is None:
            fig.colorbar(im, ax=ax, shrink=0.8)
        else:  # counts on a log scale: plain whole numbers, not powers of ten
            from matplotlib.ticker import FuncFormatter, NullLocator

            ticks = [t for t in readable_ticks(vmax) if t <= vmax]
            bar = fig.colorbar(im, ax=ax, shrink=0.8, ticks=ticks, format=FuncFormatter(lambda v, _: f"{v:g}"))
            bar.ax.yaxis.set_minor_locator(NullLocator())
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
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
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
        there = next((x for x in learner_rows if (x["rate_limit"], x["threshold"]) == setting), None)
        if there is not None:
            ax.plot([there["friction"]], [there["victims"]], marker="*", ms=18, color=colour, ls="none",
                    label=f"{name}: {_label(setting)}")
    both = [*fixed_rows, *learner_rows]
    _count_axes(ax, [r["friction"] + r["friction_se"] for r in both], [r["victims"] + r["victims_se"] for r in both])
    ax.set_xlabel("friction: genuine accounts wrongly suspended (mean ± s.e.)")
    ax.set_ylabel("victims (mean ± s.e.)")
    ax.set_title("Robust design: settings against best-responding scammers" + (f"\n{title}" if title else ""),
                 fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save(fig, path)
