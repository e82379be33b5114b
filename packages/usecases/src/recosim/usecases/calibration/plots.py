"""The calibration's figures, drawn on matplotlib's Agg canvas (no display) and written atomically."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.results import write_bytes_atomic
from recosim.usecases.calibration.checks import CheckResult
from recosim.usecases.calibration.data import GENRES

__all__ = ["plot_objective", "plot_checks", "plot_interests", "plot_recommenders"]


def _figure(size: tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path | str) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return write_bytes_atomic(path, buf.getvalue())


def plot_objective(objective: Sequence[float], path: Path | str, *, title: str) -> Path:
    """The MAP objective (mean log-likelihood plus log-prior / N) against the optimiser step."""
    fig = _figure((7.5, 4.2))
    ax = fig.subplots()
    y = np.asarray(objective, np.float64)
    ax.plot(np.arange(1, len(y) + 1), y, color="C0", linewidth=1.3)
    lo = np.percentile(y, 5) if len(y) > 20 else y.min()
    ax.set_ylim(lo - 0.02 * abs(lo), y.max() + 0.02 * abs(y.max()))
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("log-posterior of the training log (up to a constant)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def plot_checks(
    checks: Mapping[str, CheckResult], log_likelihoods: Mapping[str, float], path: Path | str, *, title: str
) -> Path:
    """Six panels: the held-out log-likelihoods, then each predictive check with its distance."""
    fig = _figure((15, 8.5))
    axes = fig.subplots(2, 3).ravel()
    ax = axes[0]
    names = list(log_likelihoods)
    values = [log_likelihoods[n] for n in names]
    ax.bar(names, values, color=["C0", "C1", "C7"][: len(names)], width=0.6)
    span = max(values) - min(values) or 1.0
    ax.set_ylim(min(values) - 0.3 * span, max(values) + 0.3 * span)
    for i, v in enumerate(values):
        ax.annotate(
            f"{v:.3f}", (i, v), ha="center", va="bottom", fontsize=10, xytext=(0, 3), textcoords="offset points"
        )
    ax.set_ylabel("nats per held-out interaction")
    ax.set_title("Held-out next-movie log-likelihood (higher is better)")

    ax = axes[1]
    pop = checks["popularity"]
    rank = np.arange(1, len(pop.observed) + 1)
    for i, s in enumerate(pop.simulated):
        ax.loglog(
            rank, np.where(s > 0, s, np.nan), color="C0", alpha=0.35, linewidth=1, label="simulated" if i == 0 else None
        )
    ax.loglog(rank, np.where(pop.observed > 0, pop.observed, np.nan), color="k", linewidth=1.6, label="held out")
    g = checks["gini"]
    ax.set_title(
        f"Item popularity: TV {pop.distance:.3f}; Gini {g.observed[0]:.3f} held out, "
        f"{g.simulated.mean():.3f} simulated",
        fontsize=10,
    )
    ax.set_xlabel("movie rank")
    ax.set_ylabel("share of held-out interactions")
    ax.legend()

    ax = axes[2]
    gen = checks["genres"]
    x = np.arange(len(gen.observed))
    ax.bar(x - 0.2, gen.observed, 0.4, color="k", label="held out")
    ax.bar(x + 0.2, gen.simulated.mean(0), 0.4, color="C0", label="simulated")
    ax.set_xticks(x, GENRES[: len(x)], rotation=70, fontsize=8)
    ax.set_ylabel("share of interactions")
    ax.set_title(f"Genre shares: TV {gen.distance:.3f}")
    ax.legend()

    ax = axes[3]
    per = checks["per_user"]
    for i, s in enumerate(per.simulated):
        xs = np.sort(s)
        ax.step(xs, np.arange(1, len(xs) + 1) / len(xs), color="C0", alpha=0.35, where="post",
                label="simulated (fitted activity)" if i == 0 else None)  # fmt: skip
    xs = np.sort(per.observed)
    ax.step(xs, np.arange(1, len(xs) + 1) / len(xs), color="k", where="post", linewidth=1.6, label="held out")
    ax.set_xscale("log")
    ax.set_xlabel("held-out interactions per user")
    ax.set_ylabel("fraction of users")
    ax.set_title(f"Interactions per user: KS {per.distance:.3f}")
    ax.legend()

    ax = axes[4]
    rat = checks["ratings"]
    x = np.arange(1, 6)
    ax.bar(x - 0.2, rat.observed, 0.4, color="k", label="held out")
    ax.bar(x + 0.2, rat.simulated.mean(0), 0.4, color="C0", label="simulated")
    ax.set_xlabel("rating")
    ax.set_ylabel("share")
    ax.set_title(f"Ratings: TV {rat.distance:.3f}")
    ax.legend()

    ax = axes[5]
    ax.axis("off")
    lines = [f"{k}: {v.distance:.4f} (over {len(v.distances)} replicates)" for k, v in checks.items()]
    ax.text(0.0, 0.95, "Distances, simulated vs held out\n\n" + "\n".join(lines), va="top", family="monospace",
            fontsize=10, transform=ax.transAxes)  # fmt: skip
    for a in axes[:5]:
        a.grid(True, alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def plot_interests(draws: np.ndarray, point: np.ndarray, users: Sequence[Any], path: Path | str, *, title: str) -> Path:
    """Posterior draws of each user's interest (``draws [chains, samples, users, dim]``), MAP estimate marked."""
    n = draws.shape[2]
    fig = _figure((4.2 * n, 3.8))
    axes = np.atleast_1d(fig.subplots(1, n, sharey=True))
    flat = draws.reshape(-1, n, draws.shape[-1])
    for u, ax in enumerate(axes):
        ax.violinplot([flat[:, u, k] for k in range(flat.shape[-1])], showmedians=True)
        ax.scatter(np.arange(1, flat.shape[-1] + 1), point[u], color="C3", marker="x", zorder=3, label="MAP")
        ax.set_xlabel("interest dimension")
        ax.set_title(f"user {users[u]}")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("interest (posterior draws)")
    axes[0].legend()
    fig.suptitle(title)
    return _save(fig, path)


def plot_recommenders(results: Mapping[str, Mapping[str, Any]], path: Path | str, *, title: str) -> Path:
    """Per recommender: watches from the slate per user and step, with standard errors; and mean rating."""
    fig = _figure((10, 4.2))
    left, right = fig.subplots(1, 2)
    names = list(results)
    for ax, key, label in ((left, "watch_rate", "slate watches per user-step"), (right, "mean_rating", "mean rating")):
        vals = [results[n][key] for n in names]
        errs = [results[n].get(key + "_se", 0.0) for n in names]
        ax.bar(names, vals, yerr=errs, color=[f"C{i}" for i in range(len(names))], capsize=4)
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.3)
    right.set_ylim(1, 5)
    fig.suptitle(title)
    return _save(fig, path)
