"""``recosim run cav-synthetic``: synthetic ratings and soft-attribute tags, and the CAVs they support.

One step of the CAV synthetic model (`recosim.usecases.cav.model`) is simulated on
the chosen runtime: the items, the users (with their senses of the subjective
tags) and their ratings and tags. A linear concept activation vector is then
fitted for every tag (`recosim.usecases.cav.analysis`), pooled over all users
and, for the subjective tags, per sense. Under ``--out`` the job writes

* ``summary.json``: the options, the mean cosine between each kind of CAV and
  the attribute its tag means, the tag rates, the ratings' histogram and the
  log-probability of the simulated data under the model;
* ``cav.png``: the cosines tag by tag (pooled and personalised), and how often
  each objective tag is applied against the attribute it means.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.errors import UsageError
from recosim.core.results import write_bytes_atomic
from recosim.core.usecase import NUM_USERS, Parameter, Progress, RunSetup, UseCase
from recosim.usecases.cav.analysis import CavFit, fit_cavs
from recosim.usecases.cav.model import CavConfig, cav_variables

__all__ = ["CavSyntheticUseCase", "plot_cavs"]

FIGURE_FILE = "cav.png"


class CavSyntheticUseCase(UseCase):
    name = "cav-synthetic"
    summary = "soft-attribute tags with personal semantics: pooled vs personalised concept activation vectors"
    summary_metadata = ("files",)
    parameters = (
        NUM_USERS.with_default(2000),
        Parameter("num_docs", int, 200, "items in the corpus", minimum=1),
        Parameter("max_ratings", int, 20, "the most items a user rates (at most --num-docs)", minimum=1),
        Parameter("num_objective_tags", int, 3, "tags that mean the same attribute for every user", minimum=0),
        Parameter("num_subjective_groups", int, 1, "groups of subjective tags whose meaning depends on the user",
                  minimum=0),
        Parameter("group_size", int, 3, "tags (and senses) per subjective group", minimum=2),
        Parameter("no_tagging_prob", float, 0.2, "probability that a user never tags", minimum=0.0),
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["max_ratings"] > params["num_docs"]:
            raise UsageError(f"--max-ratings ({params['max_ratings']}) cannot exceed --num-docs ({params['num_docs']})")
        if params["num_objective_tags"] + params["num_subjective_groups"] == 0:
            raise UsageError("--num-objective-tags and --num-subjective-groups are both 0: there would be no tags")
        if params["no_tagging_prob"] > 1.0:
            raise UsageError(f"--no-tagging-prob must be at most 1, got {params['no_tagging_prob']}")
        return params

    def config(self, params: Mapping[str, Any]) -> CavConfig:
        """The model's configuration from the checked options."""
        return CavConfig(
            num_users=params["num_users"],
            num_docs=params["num_docs"],
            max_ratings=params["max_ratings"],
            num_objective_tags=params["num_objective_tags"],
            num_subjective_groups=params["num_subjective_groups"],
            group_size=params["group_size"],
            no_tagging_prob=params["no_tagging_prob"],
        )

    def simulate(self, setup: RunSetup, progress: Progress | None = None) -> dict[str, Any]:
        config = self.config(setup.params)
        rt = setup.make_runtime(cav_variables(config))
        traj = rt.trajectory(1)
        log_prob = float(np.asarray(rt.log_probability(traj)))
        data = {name: {k: np.asarray(v)[0] for k, v in fields.items()} for name, fields in traj.items()}
        fit = fit_cavs(config, data["corpus"], data["user state"], data["user response"])
        ratings = data["user response"]["ratings"]
        if setup.out is not None:
            plot_cavs(config, fit, data, setup.out / FIGURE_FILE)
        return {
            **fit.summary(),
            "ratings_histogram": [int(n) for n in np.bincount(ratings[ratings > 0], minlength=6)[1:]],
            "log_probability": log_prob,
            "files": [] if setup.out is None else ["summary.json", FIGURE_FILE],
        }


def plot_cavs(config: CavConfig, fit: CavFit, data: Mapping[str, Mapping[str, Any]], path: Path | str) -> Path:
    """The figure: CAV cosines per tag (pooled, and per sense for subjective tags), and tag rate by attribute."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    tags = np.arange(config.num_tags)
    width = 0.8 / (1 + config.group_size)
    left.bar(tags, fit.pooled_cosine, width, color="0.5", label="pooled over all users")
    for s in range(config.group_size):
        cos = np.where(fit.subjective, fit.sense_cosine[:, s], np.nan)
        left.bar(tags + (s + 1) * width, cos, width, color=f"C{s}", label=f"personalised, sense {s}")
    left.set_xticks(tags + 0.4 - width / 2, [f"{'S' if sub else 'O'}{g}" for g, sub in enumerate(fit.subjective)])
    left.set_ylim(0, 1.4)
    left.set_xlabel("tag (O: objective, S: subjective)")
    left.set_ylabel("cosine(CAV, attribute the tag means)")
    left.set_title("Concept activation vectors")
    left.legend(loc="upper center", fontsize="small", ncol=2)

    corpus, state, response = data["corpus"], data["user state"], data["user response"]
    tagged = (response["tagged"] == 1) & (response["ratings"] > 0)
    items = corpus["attributes"][response["rated"]][tagged]  # [rows, d]
    bins = np.linspace(0, 1, 11)
    centres = 0.5 * (bins[1:] + bins[:-1])
    for g in np.flatnonzero(~fit.subjective):
        x, y = items[:, g], response["tags"][..., g][tagged]
        which = np.clip(np.digitize(x, bins) - 1, 0, len(centres) - 1)
        rate = [y[which == b].mean() if np.any(which == b) else np.nan for b in range(len(centres))]
        right.plot(centres, rate, marker="o", label=f"O{g}")
    right.axvline(config.tag_threshold, color="k", linestyle="--", linewidth=1, label="mean threshold")
    right.set_xlabel("item attribute the tag means")
    right.set_ylabel("fraction of tagged ratings with the tag")
    right.set_title("Objective tags")
    right.legend(loc="upper left", fontsize="small")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    users = int(np.asarray(state["sense"]).shape[0])
    fig.suptitle(
        f"CAV synthetic model: {users} users, {config.num_docs} items, "
        f"{config.num_tags} tags ({config.num_subjective_groups} subjective group(s) of {config.group_size})"
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return write_bytes_atomic(path, buf.getvalue())
