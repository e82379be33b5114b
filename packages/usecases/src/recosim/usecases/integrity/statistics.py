"""Statistics of the integrity grid's records: per-setting means, paired differences, trends, the choice.

Records are dicts with ``policy``, ``rate_limit``, ``threshold``, ``run`` and the
figures of `recosim.usecases.integrity.grid.METRICS`. Run ``i`` of every setting
shares its seed, so differences between settings are paired. Means and standard
errors follow `recosim.core.summary.summarize` (one run: a NaN standard error).

>>> recs = [{"policy": "p", "rate_limit": 1.0, "threshold": 2.0, "run": i, "victims": v, "friction": 0.0}
...         for i, v in enumerate([3.0, 5.0])]
>>> row = summarise(recs, "p", metrics=("victims", "friction"))[0]
>>> row["victims"], row["victims_se"], row["runs"]
(4.0, 1.0, 2)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from recosim.core.summary import summarize
from recosim.usecases.integrity.grid import METRICS

__all__ = ["summarise", "paired_difference", "trends", "cost", "choose", "pareto_front"]


def _mean_se(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error by core's convention (NaN standard error for one run)."""
    s = summarize(np.asarray(xs, np.float64))
    return float(s.mean), float(s.stderr)


def summarise(
    records: Iterable[Mapping[str, Any]], policy: str, *, metrics: Sequence[str] = METRICS
) -> list[dict[str, Any]]:
    """One row per setting of ``policy``'s records: runs, and the mean and standard error of every figure."""
    by: dict[tuple[float, float], list[Mapping[str, Any]]] = {}
    for r in records:
        if r["policy"] == policy:
            by.setdefault((float(r["rate_limit"]), float(r["threshold"])), []).append(r)
    rows = []
    for (limit, threshold), recs in sorted(by.items()):
        row: dict[str, Any] = {"policy": policy, "rate_limit": limit, "threshold": threshold, "runs": len(recs)}
        for m in metrics:
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
    if math.isnan(se):
        z = math.nan  # one run in common: no spread to compare with
    else:
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
        steps: list[dict[str, Any]] = []
        ends: list[dict[str, Any]] = []
        for other in others:

            def setting(x: float, other: float = other, axis: str = axis) -> tuple[float, float]:
                return (other, x) if axis == "threshold" else (x, other)

            for lenient, strict in zip(values[1:], values[:-1]):
                row: dict[str, Any] = {axis: [lenient, strict], "other": other}
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
        loosest, strictest = (limits[-1], taus[-1]), (limits[0], taus[0])
        out["corner"] = {
            "from": list(loosest),
            "to": list(strictest),
            **{
                m: paired_difference(records, m, (policy, loosest), (policy, strictest))
                for m in ("victims", "friction")
            },
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
