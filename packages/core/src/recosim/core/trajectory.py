"""Trajectories: network values with a leading time axis, and the checks every runtime shares.

A *value trajectory* maps each variable's name to a `Value` whose fields are
stacked along a leading time axis (what ``runtime.trajectory`` returns). The
functions here build and slice trajectories and check the sizes that runtimes and
log-probabilities are given, with one wording everywhere:

>>> import numpy as np
>>> from recosim.core.value import Value
>>> traj = {"walk": Value(position=np.zeros((4, 2)))}
>>> trajectory_length(["walk"], traj), check_num_steps(None, 4), check_count(3, "num_runs", 1)
(4, 3, 3)
>>> slice_step(traj, 1)["walk"].get("position").shape
(2,)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from recosim.core.backend import Backend
from recosim.core.errors import NetworkError
from recosim.core.network import NetworkValue
from recosim.core.value import Value, shape_of

__all__ = ["check_count", "check_num_steps", "trajectory_length", "stack_steps", "slice_step"]


def check_count(count: Any, what: str, minimum: int) -> int:
    """``count`` as an int, or a ValueError naming ``what`` unless it is a whole number >= ``minimum``.

    Used for trajectory lengths (``minimum=1``), numbers of transitions (``0``) and of runs (``1``).
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {count!r}")
    return int(count)


def trajectory_length(
    names: Iterable[str], value_trajectory: Mapping[str, Any], *, held_out: Iterable[str] = ()
) -> int:
    """The number of steps of ``value_trajectory``, checked for the variables ``names``.

    Every variable must be present (except those in ``held_out``) and every field
    must have the same static leading time axis; otherwise a `NetworkError` names
    the variables or fields at fault.
    """
    names = list(names)
    held = set(held_out)
    missing = [n for n in names if n not in value_trajectory and n not in held]
    if missing:
        raise NetworkError(f"the value trajectory lacks the variable(s) {missing}")
    length: int | None = None
    first = ""
    for name in names:
        if name not in value_trajectory:
            continue
        for key, field in Value(value_trajectory[name]).items():
            shape = shape_of(field)
            if not shape:
                raise NetworkError(
                    f"the value trajectory's field {key!r} of variable {name!r} has no leading time axis"
                )
            if shape[0] is None:
                raise NetworkError(
                    f"the value trajectory's field {key!r} of variable {name!r} has no static number of steps"
                )
            if length is None:
                length, first = int(shape[0]), f"field {key!r} of variable {name!r}"
            elif shape[0] != length:
                raise NetworkError(
                    f"the value trajectory's fields disagree on the number of steps: field {key!r} of variable "
                    f"{name!r} holds {shape[0]} steps but {first} holds {length}"
                )
    if length is None:
        raise NetworkError("the value trajectory has no fields, so it holds no steps")
    return length


def check_num_steps(num_steps: int | None, length: int) -> int:
    """The transitions to use: all that ``length`` logged steps hold, unless ``num_steps`` says fewer."""
    steps = length - 1 if num_steps is None else int(num_steps)
    if steps < 0 or steps >= length:
        raise NetworkError(f"num_steps={num_steps} but the trajectory holds {length} steps")
    return steps


def stack_steps(steps: Sequence[Mapping[str, Value]], backend: Backend) -> NetworkValue:
    """Stack per-step network values along a new leading axis."""
    np_ = backend.np
    first = steps[0]
    return {
        name: Value({key: np_.stack([backend.asarray(s[name][key]) for s in steps]) for key in first[name]})
        for name in first
    }


def slice_step(trajectory: Mapping[str, Value], t: Any) -> NetworkValue:
    """The network value at step ``t`` of a stacked trajectory."""
    return {name: Value(v).map(lambda x: x[t]) for name, v in trajectory.items()}
