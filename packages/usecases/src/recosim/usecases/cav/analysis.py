"""Concept activation vectors fitted to the synthetic tags: do they find the attribute a tag means?

For every tag, a linear CAV is fitted by least squares: over the rated items of
users who tagged them, the tag (0 or 1) against the item's attribute vector (and
a constant). Its direction, normalised, is compared with the attribute the tag
means by the cosine between the two. An objective tag's CAV, fitted over all
users, points along its attribute. A subjective tag's pooled CAV mixes the
senses of its users; fitted per sense (a *personalised* CAV, the users grouped
by their true sense), it points along the attribute that sense reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.usecases.cav.model import CavConfig

__all__ = ["CavFit", "fit_cavs", "linear_cav"]


def linear_cav(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """The unit direction of the least-squares fit of ``y`` on ``x`` and a constant (None: too few rows or flat)."""
    if len(y) <= x.shape[1] + 1 or np.all(y == y[0]):
        return None
    design = np.concatenate([x, np.ones((len(y), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(design, y.astype(np.float64), rcond=None)
    direction = coef[:-1]
    norm = np.linalg.norm(direction)
    return None if norm == 0 else direction / norm


@dataclass(frozen=True)
class CavFit:
    """Per tag: the cosine of the pooled CAV with the attribute the tag means (sense 0), the personalised
    CAVs' cosines per sense (subjective tags; NaN where a sense had too few tags), and the tag rate."""

    pooled_cosine: np.ndarray
    sense_cosine: np.ndarray
    subjective: np.ndarray
    tag_rate: np.ndarray

    def summary(self) -> dict[str, Any]:
        """Mean cosines of objective, pooled subjective and personalised subjective CAVs (JSON-ready)."""
        obj, subj = ~self.subjective, self.subjective

        def mean(x: np.ndarray) -> float | None:
            x = x[np.isfinite(x)]
            return float(x.mean()) if x.size else None

        return {
            "objective_cosine": mean(self.pooled_cosine[obj]),
            "subjective_pooled_cosine": mean(self.pooled_cosine[subj]),
            "subjective_personalized_cosine": mean(self.sense_cosine[subj].ravel()),
            "tag_rate": [float(r) for r in self.tag_rate],
        }


def fit_cavs(
    config: CavConfig, corpus: Mapping[str, Any], state: Mapping[str, Any], response: Mapping[str, Any]
) -> CavFit:
    """Fit the CAVs of every tag to one step of the model (NumPy arrays, no time axis)."""
    attributes = np.asarray(corpus["attributes"])
    sense = np.asarray(state["sense"])
    counted = np.asarray(response["ratings"]) > 0
    tagged = (np.asarray(response["tagged"]) == 1) & counted
    tags = np.asarray(response["tags"])
    rows_x = attributes[np.asarray(response["rated"])]  # [U, R, d]
    layout = config.tag_layout()
    s_count = config.num_tags
    pooled = np.full(s_count, np.nan)
    per_sense = np.full((s_count, config.group_size), np.nan)
    rate = np.zeros(s_count)
    for g in range(s_count):
        x, y = rows_x[tagged], tags[..., g][tagged]
        rate[g] = float(y.mean()) if y.size else np.nan
        meant = layout["start"][g] + layout["place"][g] % layout["size"][g]
        cav = linear_cav(x, y)
        if cav is not None:
            pooled[g] = cav[meant]
        if not layout["subjective"][g]:
            continue
        for s in range(config.group_size):
            mine = tagged & (sense[:, None] == s)
            cav = linear_cav(rows_x[mine], tags[..., g][mine])
            if cav is not None:
                per_sense[g, s] = cav[layout["start"][g] + (layout["place"][g] + s) % layout["size"][g]]
    return CavFit(pooled, per_sense, layout["subjective"].copy(), rate)
