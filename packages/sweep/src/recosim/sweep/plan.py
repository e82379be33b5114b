"""What a sweep runs: settings checked against a use case's parameters, and the tasks they make.

A sweep is a grid of settings (every combination of the values given for each
gridded parameter) times a list of seeds. Each (cell, seed) pair is one *task*: one
independent call of the use case's ``run``. Everything is checked here, before any
task starts, so a typo never costs a cluster's worth of failed runs.

>>> plan = plan_sweep("random-walk", grid={"horizon": [5, 10]}, fixed={"num-users": 3}, seeds=2)
>>> [(t.params["horizon"], t.seed) for t in plan.tasks]
[(5, 0), (10, 0), (5, 1), (10, 1)]
>>> plan.tasks[0].settings
{'num_users': 3, 'horizon': 5, 'scale': 1.0}
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recosim.core.errors import RecosimError, UsageError
from recosim.core.usecase import SEED_LIMIT, Parameter, UseCase

__all__ = [
    "SweepConfigError",
    "Task",
    "SweepPlan",
    "plan_sweep",
    "load_usecase",
    "parse_grid_option",
    "parse_set_option",
    "option_name",
]

# Arguments of ``UseCase.run`` that the sweep itself provides; they cannot be gridded or set.
RESERVED_NAMES = {
    "seed": "the seeds come from --seeds (and --seed, the first seed)",
    "runtime": "choose the runtime with --runtime",
    "out": "the sweep gives each run its own directory (see --task-files)",
    "progress": "the sweep reports progress over all its runs",
    "validate": "checked mode is an argument of a single run (recosim run --validate)",
}


class SweepConfigError(UsageError):
    """A sweep's use case, settings, seeds, backend or output directory is invalid.

    Raised before any task starts; the command line prints it as one
    ``recosim: error:`` line and exits with status 2 (it is a core `UsageError`).
    """


def option_name(name: str) -> str:
    """The command-line spelling of a parameter name (``num_users`` -> ``num-users``)."""
    return name.replace("_", "-")


def _key(name: str) -> str:
    return str(name).strip().lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Task:
    """One independent run: a grid cell and a seed.

    ``params`` holds the settings given to ``run`` (fixed plus gridded, JSON values);
    ``settings`` every parameter of the use case, defaults filled in, as recorded in
    the results table. ``id`` is a content hash of the use case, runtime, settings and
    seed, so a finished task is recognised whatever order or grid it was planned in.
    """

    id: str
    cell: int
    seed: int
    params: dict[str, Any]
    settings: dict[str, Any]


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep: the use case, its runtime, grid, fixed settings, seeds and tasks."""

    usecase: str
    runtime: str
    parameters: tuple[Parameter, ...]
    grid: dict[str, list[Any]]
    fixed: dict[str, Any]
    seeds: tuple[int, ...]
    cells: tuple[dict[str, Any], ...]
    tasks: tuple[Task, ...] = field(repr=False)

    @property
    def grid_names(self) -> list[str]:
        return list(self.grid)

    def setting_types(self) -> dict[str, type]:
        """Parameter name -> the Python type of its column (str for non-basic types)."""
        basic = (bool, int, float, str)
        return {p.name: (p.type if p.type in basic else str) for p in self.parameters}

    def describe(self) -> str:
        """One line: ``random-walk: 2 cells x 3 seeds = 6 runs on numpy``."""
        n = len(self.cells)
        return (
            f"{self.usecase}: {n} cell{'s' * (n != 1)} x {len(self.seeds)} seed{'s' * (len(self.seeds) != 1)}"
            f" = {len(self.tasks)} run{'s' * (len(self.tasks) != 1)} on {self.runtime}"
        )


def load_usecase(name: str) -> UseCase:
    """The use case registered as ``name``, or the one at ``"module:attribute"``."""
    from recosim.core.plugins import get_plugins
    from recosim.core.plugins.registry import resolve

    try:
        target = resolve(name) if ":" in name else get_plugins().get_usecase(name)
    except RecosimError as err:
        raise SweepConfigError(str(err)) from None
    except Exception as err:
        raise SweepConfigError(f"use case {name!r} could not be imported: {type(err).__name__}: {err}") from None
    case = target() if isinstance(target, type) else target
    if not isinstance(case, UseCase):
        raise SweepConfigError(f"{name!r} is a {type(case).__name__}, not a recosim UseCase")
    return case


def parse_grid_option(text: str) -> tuple[str, list[str]]:
    """``"boost-caps=0,0.6,1.2"`` -> ``("boost-caps", ["0", "0.6", "1.2"])``.

    Values that themselves hold commas are given as a JSON list:
    ``'caps=["0,1.2", "0.6"]'``.
    """
    name, sep, values = str(text).partition("=")
    if not sep or not name.strip():
        raise SweepConfigError(f"--grid expects NAME=V1,V2,..., got {text!r}")
    values = values.strip()
    if values.startswith("["):
        try:
            items = json.loads(values)
        except json.JSONDecodeError as err:
            raise SweepConfigError(f"--grid {name}: the values {values!r} are not a JSON list ({err.msg})") from None
        if not isinstance(items, list) or any(isinstance(v, list | dict) or v is None for v in items):
            raise SweepConfigError(f"--grid {name}: expected a JSON list of numbers or strings, got {values!r}")
    else:
        items = [v.strip() for v in values.split(",")]
    if not items or any(v == "" for v in items):
        raise SweepConfigError(f"--grid {name}: empty value in {values!r}")
    return name.strip(), items


def parse_set_option(text: str) -> tuple[str, str]:
    """``"num-users=500"`` -> ``("num-users", "500")`` (the value is taken whole, commas included)."""
    name, sep, value = str(text).partition("=")
    if not sep or not name.strip():
        raise SweepConfigError(f"--set expects NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _convert(param: Parameter, value: Any, where: str) -> Any:
    """``value`` as ``param``'s type, checked by core's `Parameter.convert`, as a JSON value."""
    basic = param.type in (bool, int, float, str)
    if (param.type is str or not basic) and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # a number for a text or parsed option (a list of caps) is read as the command line would
    if not basic and not isinstance(value, str | int | float):
        raise SweepConfigError(f"{where}: {value!r} is not a valid {getattr(param.type, '__name__', param.type)}")
    try:
        converted = param.convert(value)
    except UsageError as err:
        raise SweepConfigError(f"{where}: {value!r} is rejected: {err}") from None
    # A parameter with a parsing function as its type travels as its text (the task parses it again).
    return converted if basic else str(value)


def _jsonable(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def _task_id(usecase: str, runtime: str, settings: Mapping[str, Any], seed: int) -> str:
    blob = json.dumps(
        {"usecase": usecase, "runtime": runtime, "settings": settings, "seed": seed}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _seeds(seeds: int | Sequence[int], first_seed: int) -> tuple[int, ...]:
    if isinstance(seeds, bool):
        raise SweepConfigError(f"--seeds must be a number of seeds or a list of seeds, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise SweepConfigError(f"--seeds must be at least 1, got {seeds}")
        if isinstance(first_seed, bool) or not isinstance(first_seed, int) or first_seed < 0:
            raise SweepConfigError(f"--seed (the first seed) must be an integer >= 0, got {first_seed!r}")
        if first_seed + seeds > SEED_LIMIT:
            raise SweepConfigError(
                f"--seed {first_seed} with --seeds {seeds} reaches {first_seed + seeds - 1}; seeds must be below 2**32"
            )
        return tuple(range(first_seed, first_seed + seeds))
    out = tuple(seeds)
    if not out or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < SEED_LIMIT for s in out):
        raise SweepConfigError(f"seeds must be integers in [0, 2**32), got {list(out)!r}")
    if len(set(out)) != len(out):
        raise SweepConfigError(f"seeds must be distinct, got {list(out)!r}")
    return out


def plan_sweep(
    usecase: str | UseCase,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    fixed: Mapping[str, Any] | None = None,
    seeds: int | Sequence[int] = 1,
    first_seed: int = 0,
    runtime: str = "numpy",
) -> SweepPlan:
    """Check a sweep against ``usecase``'s parameters and list its tasks.

    ``grid`` maps parameter names (``num-users`` or ``num_users``) to the values to
    sweep; ``fixed`` maps names to one value for every task. Values may be given as
    strings (as on the command line) or as numbers. ``seeds`` is a count (seeds
    ``first_seed, first_seed + 1, ...``) or an explicit list. Every cell uses the
    same seeds, so cells are compared on common random numbers.
    """
    if isinstance(usecase, UseCase):
        case, name = usecase, usecase.name
    else:
        case, name = load_usecase(str(usecase)), str(usecase)
    _check_runtime(runtime)
    params = {p.name: p for p in case.parameters}
    known = ", ".join(option_name(p) for p in params) or "none"

    def lookup(raw: str, where: str) -> Parameter:
        key = _key(raw)
        if key in RESERVED_NAMES:
            raise SweepConfigError(f"{where} {raw}: {RESERVED_NAMES[key]}")
        if key not in params:
            raise SweepConfigError(f"{where}: use case {name!r} has no option {raw!r}; its options: {known}")
        return params[key]

    grid_values: dict[str, list[Any]] = {}
    for raw, values in (grid or {}).items():
        param = lookup(raw, "--grid")
        if param.name in grid_values:
            raise SweepConfigError(f"--grid {option_name(param.name)} is given twice")
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or len(values) == 0:
            raise SweepConfigError(f"--grid {option_name(param.name)}: give a non-empty list of values, got {values!r}")
        converted = [_convert(param, v, f"--grid {option_name(param.name)}") for v in values]
        if len({json.dumps(v) for v in converted}) != len(converted):
            raise SweepConfigError(f"--grid {option_name(param.name)}: values repeat in {list(values)!r}")
        grid_values[param.name] = converted
    fixed_values: dict[str, Any] = {}
    for raw, value in (fixed or {}).items():
        param = lookup(raw, "--set")
        if param.name in grid_values:
            raise SweepConfigError(f"{option_name(param.name)} is both gridded (--grid) and fixed (--set)")
        if param.name in fixed_values:
            raise SweepConfigError(f"--set {option_name(param.name)} is given twice")
        fixed_values[param.name] = _convert(param, value, f"--set {option_name(param.name)}")

    seed_list = _seeds(seeds, first_seed)
    cells = tuple(dict(zip(grid_values, combo)) for combo in itertools.product(*grid_values.values()))
    full: list[dict[str, Any]] = []
    for cell in cells:
        given = {**fixed_values, **cell}
        try:
            checked = case.validate(given)
        except Exception as err:
            where = ", ".join(f"{option_name(k)}={v}" for k, v in cell.items()) or "the fixed settings"
            raise SweepConfigError(f"use case {name!r} rejects {where}: {err}") from None
        # a given setting is recorded as given (a list option keeps its text, "0,1.2"); the rest as checked
        full.append({k: given[k] if k in given else _jsonable(checked.get(k, p.default)) for k, p in params.items()})
    tasks = tuple(
        Task(
            id=_task_id(name, runtime, full[i], seed),
            cell=i,
            seed=seed,
            params={**fixed_values, **cell},
            settings=full[i],
        )
        for seed in seed_list  # seed-major: early results cover every cell
        for i, cell in enumerate(cells)
    )
    return SweepPlan(name, runtime, tuple(case.parameters), grid_values, fixed_values, seed_list, cells, tasks)


def _check_runtime(runtime: str) -> None:
    from recosim.core.plugins import get_plugins

    plugins = get_plugins()
    if runtime not in plugins.runtime_names():
        try:
            plugins.lookup("runtimes", runtime)
        except RecosimError as err:
            raise SweepConfigError(str(err)) from None
