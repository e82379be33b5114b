"""Figures of the influencers part: learning curves with bands over seeds, the final reward's spread.

Each function writes one PNG atomically, drawn on matplotlib's Agg canvas (no
display, no pyplot state), in the house style of the integrity figures:
integer ticks for updates and seeds, titles that say the size, legends.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.results import write_bytes_atomic

__all__ = ["plot_learning_curves", "plot_final_rewards"]

COLOURS = {"restricted": "tab:blue", "full": "tab:orange"}
"""One colour per variant, the same in every figure."""


def _figure(rows: int, cols: int, *, figsize: tuple[float, float]) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return write_bytes_atomic(path, buf.getvalue())


def _colour(variant: str) -> str:
    return COLOURS.get(variant, "tab:green")


def plot_learning_curves(curves: Mapping[tuple[str, str], np.ndarray], path: Path, *, title: str = "") -> Path:
    """One panel per trainer, a line per variant: the mean return over seeds with a band of +-1 sd (thin: each seed).

    ``curves[(variant, trainer)]`` is ``[seeds, updates]``.
    """
    from matplotlib.ticker import MaxNLocator

    trainers = list(dict.fromkeys(t for _, t in curves))
    fig, axes = _figure(1, len(trainers), figsize=(5.2 * len(trainers) + 0.6, 4.4))
    low = min(float(np.min(c)) for c in curves.values())
    high = max(float(np.max(c)) for c in curves.values())
    pad = 0.05 * max(high - low, 1e-6)
    for ax, trainer in zip(axes[0], trainers):
        for (variant, t), c in curves.items():
            if t != trainer:
                continue
            c = np.asarray(c, np.float64)
            x = np.arange(1, c.shape[1] + 1)
            mean = c.mean(axis=0)
            colour = _colour(variant)
            for row in c:
                ax.plot(x, row, color=colour, lw=0.5, alpha=0.35)
            if c.shape[0] > 1:
                sd = c.std(axis=0, ddof=1)
                ax.fill_between(x, mean - sd, mean + sd, color=colour, alpha=0.18, lw=0)
            ax.plot(x, mean, color=colour, lw=2.0,
                    label=f"{variant} (mean of {c.shape[0]} seed{'s' * (c.shape[0] != 1)}, band +-1 sd)")  # fmt: skip
        ax.set_title("GRPO" if trainer == "grpo" else "REINFORCE (group baseline)", fontsize=10)
        ax.set_xlabel("training update")
        ax.set_ylabel("followers gained per influencer per rollout")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(low - pad, high + pad)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_final_rewards(
    rows: Sequence[Mapping[str, Any]], fixed: tuple[float, float], path: Path, *, title: str = ""
) -> Path:
    """The evaluated followers of each training seed's final policy, per variant and trainer (box and points).

    ``rows`` are the per-seed rows of ``final_rewards.csv``; ``fixed`` the fixed
    rule's mean and standard error, drawn as a line with a band of +-2 standard errors.
    """
    groups = list(dict.fromkeys((r["variant"], r["trainer"]) for r in rows))
    fig, axes = _figure(1, 1, figsize=(max(5.0, 1.6 * len(groups) + 2.0), 4.4))
    ax = axes[0][0]
    data = [np.array([r["eval_followers"] for r in rows if (r["variant"], r["trainer"]) == g]) for g in groups]
    positions = np.arange(1, len(groups) + 1)
    ax.boxplot(data, positions=positions, widths=0.5, showfliers=False, medianprops={"color": "black"})
    rng = np.random.default_rng(0)  # horizontal jitter only, so points of equal value stay visible
    for pos, g, values in zip(positions, groups, data):
        ax.scatter(pos + rng.uniform(-0.12, 0.12, values.size), values, color=_colour(g[0]), s=22, zorder=3,
                   edgecolor="black", linewidth=0.4)  # fmt: skip
    mean, se = fixed
    ax.axhline(mean, color="grey", ls="--", lw=1.2, label=f"fixed rule: {mean:.2f} (band +-2 se)")
    if np.isfinite(se):
        ax.axhspan(mean - 2 * se, mean + 2 * se, color="grey", alpha=0.15, lw=0)
    ax.set_xticks(positions, [f"{v}\n{'GRPO' if t == 'grpo' else 'REINFORCE'}" for v, t in groups])
    ax.set_ylabel("followers per influencer at the horizon\n(final policy, mean over evaluation runs)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    ax.set_title(title or "Final reward across training seeds", fontsize=10)
    return _save(fig, path)
