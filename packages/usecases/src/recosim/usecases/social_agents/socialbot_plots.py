"""Figures of the socialbots part: learning curves, influence against survival, the threshold sweep.

Each writes one PNG atomically, drawn on matplotlib's Agg canvas (no display, no pyplot state).

>>> import tempfile, pathlib
>>> rows = {"random": {"influence": 0.1, "influence_se": 0.01}, "top-degree": {"influence": 0.2, "influence_se": 0.02}}
>>> path = pathlib.Path(tempfile.mkdtemp()) / "curves.png"
>>> plot_learning_curves(np.array([[0.1, 0.2, 0.3], [0.1, 0.25, 0.28]]), rows, path)
>>> path.stat().st_size > 1000
True
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.results import write_bytes_atomic

__all__ = ["plot_learning_curves", "plot_influence_survival", "plot_threshold_sweep"]

COLOURS = {"random": "tab:grey", "top-degree": "tab:orange", "learned": "tab:blue"}


def _figure(cols: int = 1, *, figsize: tuple[float, float]) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, cols)


def _save(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    write_bytes_atomic(path, buf.getvalue())


def plot_learning_curves(
    curves: np.ndarray, baselines: Mapping[str, Mapping[str, Any]], path: Path, *, title: str = ""
) -> None:
    """Influence per bot and step over training updates: the mean over seeds with a band of one standard error
    (and each seed thin), with the baselines' evaluated influence as horizontal lines."""
    from matplotlib.ticker import MaxNLocator

    curves = np.atleast_2d(np.asarray(curves, np.float64))
    x = np.arange(1, curves.shape[1] + 1)
    fig, ax = _figure(figsize=(7.5, 4.6))
    for c in curves:
        ax.plot(x, c, color=COLOURS["learned"], lw=0.6, alpha=0.35)
    mean = curves.mean(axis=0)
    label = f"learned bots, mean of {curves.shape[0]} training seed{'s' * (curves.shape[0] != 1)}"
    ax.plot(x, mean, color=COLOURS["learned"], lw=2, label=label)
    if curves.shape[0] > 1:
        se = curves.std(axis=0, ddof=1) / np.sqrt(curves.shape[0])
        ax.fill_between(x, mean - se, mean + se, color=COLOURS["learned"], alpha=0.25, label="± 1 standard error")
    for name in ("random", "top-degree"):
        if name in baselines:
            r = baselines[name]
            ax.axhline(r["influence"], color=COLOURS[name], ls="--", lw=1.2,
                       label=f"{name} bots (evaluated): {r['influence']:.3f} ± {r['influence_se']:.3f}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training update")
    ax.set_ylabel("influence per bot and step\n(reach / top-degree reach)")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Socialbots: influence over training", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    _save(fig, path)


def plot_influence_survival(rows: Sequence[Mapping[str, Any]], path: Path, *, title: str = "") -> None:
    """Influence against the share of bots not suspended, with standard-error bars: learned against baselines."""
    fig, ax = _figure(figsize=(7, 5))
    for i, r in enumerate(rows):
        label = str(r["policy"])
        seed_run = label.startswith("learned-")
        colour = COLOURS["learned"] if seed_run else COLOURS.get(label, "black")
        ax.errorbar(
            r["not_suspended"], r["influence"], xerr=r["not_suspended_se"], yerr=r["influence_se"],
            fmt="o" if not seed_run else ".", color=colour, ms=9 if not seed_run else 5, capsize=3,
            alpha=1.0 if not seed_run else 0.5,
            label=(f"{label} bots" if not seed_run else None),
        )
        if seed_run:
            ax.annotate(label.replace("learned-", ""), (r["not_suspended"], r["influence"]), fontsize=6,
                        xytext=(6, 6 - 9 * (i % 3)), textcoords="offset points", color=colour)
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("share of bots not suspended at the end (undetectability)")
    ax.set_ylabel("influence per bot and step (reach / top-degree reach)")
    ax.set_title(title or "Influence against survival", fontsize=9)
    ax.legend(fontsize=8, title="means ± 1 s.e.; small dots: each training seed", title_fontsize=7)
    ax.grid(alpha=0.3)
    _save(fig, path)


def plot_threshold_sweep(
    table: Sequence[Mapping[str, Any]], choice: Mapping[str, Any], path: Path, *, title: str = ""
) -> None:
    """Influence (left) and the platform's cost (right) against the threshold, one line per detect-every value,
    for fixed-rule and learned bots; the setting chosen against learners is ringed."""
    fig, (left, right) = _figure(2, figsize=(11, 4.6))
    everies = sorted({int(r["detect_every"]) for r in table})
    styles = ["-", ":", "-.", "--"]
    chosen = choice["chosen_against_learners"]
    for i, every in enumerate(everies):
        rs = sorted((r for r in table if int(r["detect_every"]) == every), key=lambda r: r["threshold"])
        tau = [r["threshold"] for r in rs]
        ls = styles[i % len(styles)]
        for name in ("random", "top-degree"):
            left.errorbar(tau, [r[f"{name}_influence"] for r in rs], yerr=[r[f"{name}_influence_se"] for r in rs],
                          color=COLOURS[name], ls=ls, marker="s", ms=4, capsize=2,
                          label=f"{name} bots, detect every {every}")
        left.errorbar(tau, [r["learned_influence"] for r in rs], yerr=[r["learned_influence_se"] for r in rs],
                      color=COLOURS["learned"], ls=ls, marker="o", ms=5, capsize=2,
                      label=f"learned bots (best response), detect every {every}")
        right.plot(tau, [r["fixed_rule_cost"] for r in rs], color="tab:red", ls=ls, marker="s", ms=4,
                   label=f"against fixed rules (the costlier), every {every}")
        right.plot(tau, [r["learned_cost"] for r in rs], color=COLOURS["learned"], ls=ls, marker="o", ms=5,
                   label=f"against learned bots, every {every}")
    best = next(r for r in table if r["chosen_against_learners"])
    right.plot([best["threshold"]], [best["learned_cost"]], "o", ms=16, mfc="none", mec="black", mew=1.5,
               label=f"chosen: threshold {chosen['threshold']:g}, every {chosen['detect_every']}")
    cost_label = "platform cost\n(influence + weight x false positives)"
    for ax, ylabel in ((left, "influence per bot and step"), (right, cost_label)):
        ax.set_xlabel("detector threshold (suspend above)")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5)
    left.set_title("Bot influence at each setting (means ± 1 s.e.)", fontsize=9)
    right.set_title("The platform's objective", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)
