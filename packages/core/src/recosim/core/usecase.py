"""`UseCase`: a runnable experiment that ``recosim run <name>`` can start.

A use case declares its options as `Parameter` objects (they become command-line
options) and implements :meth:`UseCase.simulate`: given the checked `RunSetup`, it
runs the experiment, writes its own result files under ``setup.out`` and returns
its summary figures. :meth:`UseCase.run` is the template around it: it checks every
option once (:meth:`UseCase.setup`, or takes the `RunSetup` the command line
already made), holds the output folder, calls ``simulate``, writes
``summary.json`` (the run's header and the figures) and, where the use case gives
rows (:meth:`UseCase.run_rows`), ``runs.csv``, a tidy long-form table of the
figures of every run. A use case that keeps its finished runs, so that a job
started again computes only what is missing, says how in :meth:`UseCase.make_store`;
the template opens that store (``runs.jsonl`` under ``out``) around ``simulate``
and hands it over as ``setup.store``. The
options every use case shares have one name and one meaning everywhere: the sizes
`NUM_USERS`, `HORIZON` and `NUM_RUNS` are parameters (give each its own default
with :meth:`Parameter.with_default`); ``seed``, ``runtime``, ``out`` and
``validate`` (checked mode) are arguments of ``run``.

Every option is checked before any work: :meth:`UseCase.setup` converts and
range-checks the parameters, runs the use case's own :meth:`UseCase.check`,
refuses seeds outside ``[0, 2**32)``, an unknown runtime, checked mode on a
runtime without one, and an ``out`` that is a file or cannot be written, each
with a `UsageError` naming the option.

>>> class Squares(UseCase):
...     name = "squares"
...     parameters = (NUM_USERS.with_default(3),)
...     def simulate(self, setup, progress=None):
...         return {"total": sum(i * i for i in range(setup.params["num_users"]))}
>>> Squares().run(runtime="numpy", seed=0, out=None)["total"]
5
>>> Squares().run(runtime="numpy", seed=0, out=None, num_users="0")
Traceback (most recent call last):
...
recosim.core.errors.UsageError: --num-users must be >= 1, got 0

A use case written before the template, overriding ``run`` itself (and calling
``self.setup`` there), keeps working unchanged.
"""

from __future__ import annotations

import csv
import inspect
import io
import math
from abc import ABC
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from recosim.core.errors import PluginError, UsageError
from recosim.core.plugins import get_plugins
from recosim.core.results import (
    RunStore,
    hold_out,
    prepare_out,
    runtime_provenance,
    write_bytes_atomic,
    write_json_atomic,
)

__all__ = [
    "HEADER_KEYS",
    "HORIZON",
    "NUM_RUNS",
    "NUM_USERS",
    "SEED_LIMIT",
    "NumberList",
    "RUNS_TABLE",
    "RUN_STORE",
    "Parameter",
    "Progress",
    "RunSetup",
    "UseCase",
    "check_runtime",
    "check_seed",
    "runtime_with",
    "figures_of",
    "write_runs_table",
    "write_summary",
]

SEED_LIMIT = 2**32
"""Seeds are integers in ``[0, SEED_LIMIT)``; larger ones are refused, never wrapped."""

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True)
class Parameter:
    """An option of a use case (``--num-users 100`` on the command line).

    ``type`` is ``int``, ``float``, ``str``, ``bool`` or a parsing function (such
    as a `NumberList`) that takes the command-line text (or a Python value) and
    returns the value or raises ``ValueError``. Numbers must be finite and at least
    ``minimum`` (when given). A default of ``None`` means "chosen by the use case".
    """

    name: str
    type: Any
    default: Any
    help: str = ""
    minimum: float | None = None
    choices: tuple[str, ...] | None = None
    """For a text option, the values it accepts (listed in the command line's help)."""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def allowed(self) -> tuple[str, ...] | None:
        """The values a choice option accepts: ``choices``, or the ``choices`` of its parsing function."""
        found = self.choices if self.choices is not None else getattr(self.type, "choices", None)
        return None if found is None else tuple(str(c) for c in found)

    def with_default(self, default: Any, help: str | None = None) -> Parameter:
        """The same option with another default (and help text)."""
        return replace(self, default=default, help=self.help if help is None else help)

    def convert(self, value: Any) -> Any:
        """``value`` (command-line text or a Python value) as this option's type, checked.

        >>> NUM_USERS.convert("12"), NUM_USERS.convert(12.0)
        (12, 12)
        >>> NUM_USERS.convert("1e3")
        Traceback (most recent call last):
        ...
        recosim.core.errors.UsageError: --num-users must be an integer, got '1e3'
        """
        if value is None:
            if self.default is None:
                return None
            raise UsageError(f"{self.flag} needs a value")
        kind = self.type
        if kind is bool:
            return self._bool(value)
        if kind is int:
            converted: Any = self._int(value)
        elif kind is float:
            converted = self._float(value)
        elif kind is str:
            if not isinstance(value, str):
                raise UsageError(f"{self.flag} must be text, got {value!r}")
            if self.choices is not None and value not in self.choices:
                raise UsageError(f"{self.flag} must be one of {', '.join(self.choices)}, got {value!r}")
            return value
        else:
            try:
                return kind(value)
            except (TypeError, ValueError) as err:
                raise UsageError(f"{self.flag}: {err}") from None
        if self.minimum is not None and converted < self.minimum:
            raise UsageError(f"{self.flag} must be >= {self.minimum:g}, got {value}")
        return converted

    def _bool(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise UsageError(f"{self.flag} must be true or false, got {value!r}")

    def _int(self, value: Any) -> int:
        if isinstance(value, bool):
            raise UsageError(f"{self.flag} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip())
        except ValueError:
            raise UsageError(f"{self.flag} must be an integer, got {value!r}") from None

    def _float(self, value: Any) -> float:
        if isinstance(value, bool):
            raise UsageError(f"{self.flag} must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise UsageError(f"{self.flag} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise UsageError(f"{self.flag} must be a finite number, got {value!r}")
        return number


@dataclass(frozen=True)
class NumberList:
    """Parses ``"0,0.6,1.2"`` (or a sequence of numbers) into a tuple of finite floats.

    >>> NumberList(minimum=0.0)("0, 1.2,0.6")
    (0.0, 1.2, 0.6)
    >>> NumberList(minimum=0.0)("0,nan")
    Traceback (most recent call last):
    ...
    ValueError: 'nan' is not a finite number
    """

    minimum: float | None = None
    distinct: bool = True

    def __call__(self, value: Any) -> tuple[float, ...]:
        items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
        if not items or any(v == "" for v in items):
            raise ValueError(f"give comma-separated numbers, got {value!r}")
        numbers = []
        for item in items:
            try:
                number = float(item)
            except (TypeError, ValueError):
                raise ValueError(f"{item!r} is not a number") from None
            if isinstance(item, bool) or not math.isfinite(number):
                raise ValueError(f"{item!r} is not a finite number")
            if self.minimum is not None and number < self.minimum:
                raise ValueError(f"{item!r} is below {self.minimum:g}")
            numbers.append(number)
        if self.distinct and len(set(numbers)) != len(numbers):
            raise ValueError(f"a value repeats in {value!r}")
        return tuple(numbers)


NUM_USERS = Parameter("num_users", int, 100, "users simulated at once", minimum=1)
HORIZON = Parameter("horizon", int, 100, "time steps of each run", minimum=1)
NUM_RUNS = Parameter("num_runs", int, 1, "independent runs", minimum=1)


Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each unit of work is saved.

``done`` counts work finished by earlier, interrupted jobs too, so a resumed job's
first report says where it starts; the host's bar derives its time estimate from
the work done by this job alone.
"""


def check_seed(seed: Any) -> int:
    """``seed`` as an int in ``[0, 2**32)``; anything else is refused, never wrapped."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        try:
            if isinstance(seed, bool) or float(seed) != int(seed):
                raise ValueError
            seed = int(seed)
        except (TypeError, ValueError, OverflowError):
            raise UsageError(f"--seed must be an integer in [0, 2**32), got {seed!r}") from None
    if not 0 <= seed < SEED_LIMIT:
        raise UsageError(f"--seed must be in [0, 2**32) = [0, {SEED_LIMIT}), got {seed}")
    return seed


def check_runtime(name: str, *, validate: bool = False, needs: Sequence[str] = ()) -> type:
    """The class of runtime ``name`` (its framework imported now), or a `UsageError` saying why not.

    With ``validate``, the runtime must offer checked mode (a ``validate`` argument).
    ``needs`` names capabilities (`recosim.core.plugins.DIFFERENTIABLE`, ...) the
    runtime must have declared; a runtime lacking one is refused, before its
    framework is imported, with the runtimes that have them all.

    >>> check_runtime("numpy", needs=("differentiable",))
    Traceback (most recent call last):
    ...
    recosim.core.errors.UsageError: --runtime numpy: this needs the runtime capability 'differentiable', ...
    """
    plugins = get_plugins()
    try:
        spec = plugins.runtime_spec(name)
    except PluginError as err:
        raise UsageError(f"--runtime: {err}") from None
    wanted = (needs,) if isinstance(needs, str) else tuple(needs)
    missing = [c for c in dict.fromkeys(wanted) if c not in spec.capabilities]
    if missing:
        able = plugins.runtimes_with(*wanted)
        what = ("capability " if len(missing) == 1 else "capabilities ") + ", ".join(map(repr, missing))
        raise UsageError(
            f"--runtime {name}: this needs the runtime {what}, which {name!r} does not declare; "
            + (f"use --runtime {' or --runtime '.join(able)}" if able else "no installed runtime declares it")
        )
    try:
        cls = spec.load()
    except Exception as err:
        raise UsageError(f"--runtime {name}: it could not be loaded: {err}") from None
    if validate and "validate" not in inspect.signature(cls).parameters:
        raise UsageError(f"--validate: runtime {name!r} (from {spec.distribution}) has no checked mode")
    return cls  # type: ignore[no-any-return]


DEFAULT_RUNTIME = "numpy"
"""The runtime of a use case that needs no capability: core's own, always installed."""


def runtime_with(needs: Sequence[str] = ()) -> str:
    """The installed runtime a use case needing ``needs`` runs on by default (no framework imported).

    `DEFAULT_RUNTIME` when it has them all; else the first runtime the registry lists
    with them; else `DEFAULT_RUNTIME` (the use case then says what to install).
    """
    if not needs:
        return DEFAULT_RUNTIME
    having = _runtimes_with(tuple(needs))
    return DEFAULT_RUNTIME if not having or DEFAULT_RUNTIME in having else having[0]


def _runtimes_with(needs: tuple[str, ...]) -> list[str]:
    """The runtimes declaring every capability in ``needs``, as the plugin registry says."""
    return list(get_plugins().runtimes_with(*needs))


@dataclass(frozen=True)
class RunSetup:
    """The checked arguments of one ``run``: what a use case works from."""

    usecase: str
    runtime: str
    seed: int
    out: Path | None
    validate: bool
    params: dict[str, Any]
    runtime_class: type = field(repr=False)
    store: RunStore | None = field(default=None, repr=False, compare=False)
    """The open store of finished runs while the template runs the use case (see `UseCase.make_store`)."""

    def file(self, name: str) -> Path | None:
        """``out / name``: where the run writes its file ``name``; None where it writes no files (no ``out``).

        >>> RunSetup("x", "numpy", 0, Path("results"), False, {}, object).file("runs.jsonl").as_posix()
        'results/runs.jsonl'
        """
        return None if self.out is None else self.out / name

    def make_runtime(self, model: Any, *, seed: int | None = None, **kwargs: Any) -> Any:
        """The chosen runtime on ``model``, seeded with ``seed`` (default: the run's), checked mode if asked."""
        if self.validate:
            kwargs["validate"] = True
        return self.runtime_class(model, seed=self.seed if seed is None else seed, **kwargs)

    def header(self) -> dict[str, Any]:
        """What every summary starts with: use case, runtime and who provided it, seed, checked mode, options."""
        return {
            "usecase": self.usecase,
            "runtime": self.runtime,
            "runtime_provider": runtime_provenance(self.runtime),
            "seed": self.seed,
            "validate": self.validate,
            **self.params,
        }


HEADER_KEYS = ("usecase", "runtime", "runtime_provider", "seed", "validate")
"""The keys `RunSetup.header` puts first in every summary (with the options)."""


class UseCase(ABC):  # noqa: B024 - abstract in spirit: implement simulate (or run)
    """Base class of use cases; set ``name``, ``summary`` and ``parameters``, implement ``simulate``.

    ``summary_metadata`` names the top-level keys of the returned summary that
    describe the run rather than measure it (input hashes, file names, the chosen
    batch size); tools that tabulate many runs, such as ``recosim sweep``, and the
    command line's closing table leave them and `HEADER_KEYS` out of the metrics.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    parameters: ClassVar[Sequence[Parameter]] = ()
    summary_metadata: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[tuple[str, ...]] = ()
    """Capabilities the use case needs of its runtime (``"differentiable"`` where it learns by gradient)."""

    def default_runtime(self) -> str:
        """The runtime used when ``--runtime`` is not given: one that has every capability in `needs`."""
        return runtime_with(self.needs)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters}

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Every option converted and checked, defaults filled in; `UsageError` naming the option otherwise."""
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(params) - set(known))
        if unknown:
            flags = ", ".join(p.flag for p in self.parameters) or "none"
            raise UsageError(
                f"use case {self.name!r} has no option(s) {', '.join('--' + u.replace('_', '-') for u in unknown)}; "
                f"its options: {flags}"
            )
        converted = {n: (p.convert(params[n]) if n in params else p.default) for n, p in known.items()}
        return self.check(converted)

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        """Checks across options and of input files (override; raise `UsageError`). Returns the options."""
        return params

    def setup(
        self, *, runtime: str, seed: Any, out: Path | str | None, validate: bool = False, **params: Any
    ) -> RunSetup:
        """Check every argument of ``run`` before any work (see the module docstring)."""
        checked = self.validate(params)
        seed = check_seed(seed)
        runtime_class = check_runtime(runtime, validate=validate)
        out_dir = None if out is None else prepare_out(out, owner=self.name)
        return RunSetup(self.name, runtime, seed, out_dir, bool(validate), checked, runtime_class)

    @classmethod
    def is_template(cls) -> bool:
        """Whether this use case implements `simulate` and leaves `run` to the template (not an older ``run``)."""
        return cls.run is UseCase.run

    def run(
        self,
        *,
        runtime: str,
        seed: int,
        out: Path | None,
        progress: Progress | None = None,
        validate: bool = False,
        setup: RunSetup | None = None,
        **params: Any,
    ) -> Mapping[str, Any]:
        """Check the options (unless ``setup`` is the `RunSetup` already made), run, write results, return the summary.

        The summary is the run's header (`RunSetup.header`) followed by what
        `simulate` returned; with ``out`` it is written to ``summary.json`` and the
        figures of every run to ``runs.csv``.
        """
        if setup is None:
            setup = self.setup(runtime=runtime, seed=seed, out=out, validate=validate, **params)
        return self.execute(setup, progress)

    def execute(self, setup: RunSetup, progress: Progress | None = None) -> dict[str, Any]:
        """The template's body, from a checked `RunSetup`: hold ``out``, open the run store, simulate, write
        the summary and the runs table."""
        if type(self).simulate is UseCase.simulate:
            raise NotImplementedError(f"use case {self.name!r}: implement simulate(setup, progress) or override run")
        with hold_out(setup.out):
            store = self.make_store(setup)
            with store if store is not None else nullcontext():
                setup = replace(setup, store=store)
                figures = self.simulate(setup, progress)
                summary = {**setup.header(), **figures}
                write_summary(setup.out, summary)
                write_runs_table(setup.out, setup, self.run_rows(setup, summary))
        return summary

    def make_store(self, setup: RunSetup) -> RunStore | None:
        """The store of finished runs the template opens around `simulate` (``setup.store`` there); None: none.

        Override where a job started again with the same ``out`` should compute only
        the runs it lacks: return a `RunStore` at ``setup.file(RUN_STORE)`` (in memory
        without ``out``) whose ``config`` holds everything a run's result depends on.
        `simulate` adds each run as it finishes, `run_rows` reads them back.
        """
        return None

    def simulate(self, setup: RunSetup, progress: Progress | None = None) -> Mapping[str, Any]:
        """Run the experiment from ``setup``, write its own files under ``setup.out``, return its figures.

        Report progress as ``progress(done, total)``. The figures follow the header in
        the summary; leave the header and the options out.
        """
        raise NotImplementedError(f"use case {self.name!r} does not implement simulate")

    def run_rows(self, setup: RunSetup, summary: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        """The rows of ``runs.csv``: one figure each, as ``{"run": i, "metric": name, "value": x, ...}``.

        Extra keys become columns (a setting such as ``history_length``, a ``step``).
        No rows (the default), no file; `summary_rows` gives the summary's numbers as
        the figures of run 0, for a use case of one run.
        """
        return ()

    def summary_rows(self, setup: RunSetup, summary: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every number of the summary (not the header, options or `summary_metadata`) as a row of run 0."""
        skip = [*setup.params, *self.summary_metadata]
        return [{"run": 0, "metric": metric, "value": value} for metric, value in figures_of(summary, skip)]

    def headline(self, summary: Mapping[str, Any]) -> list[tuple[str, float, float | None]] | None:
        """The rows ``(name, value, standard error or None)`` that ``recosim run`` prints at the end.

        ``None`` (the default) lets the command line choose from the summary's figures.
        """
        return None


def figures_of(summary: Mapping[str, Any], skip: Iterable[str] = ()) -> list[tuple[str, float]]:
    """Every number in ``summary`` but the header (`HEADER_KEYS`) and the keys in ``skip``: ``(path, value)``.

    Paths join nested keys with ``/``; lists of numbers give one entry per element;
    booleans and text are left out.

    >>> figures_of({"usecase": "x", "seed": 0, "num_users": 3, "curves": {"H=5": {"final": 2.5}}, "ok": True},
    ...            skip=["num_users"])
    [('curves/H=5/final', 2.5)]
    """
    skipped = {*HEADER_KEYS, *skip}
    out: list[tuple[str, float]] = []

    def walk(path: str, value: Any) -> None:
        if isinstance(value, (bool, str)) or value is None:
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{path}/{k}" if path else str(k), v)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(f"{path}/{i}", v)
        else:
            try:
                out.append((path, float(value)))
            except (TypeError, ValueError):
                return

    for key, value in summary.items():
        if key not in skipped:
            walk(str(key), value)
    return out


RUNS_TABLE = "runs.csv"
"""The tidy per-run table every template use case writes under ``out``."""

RUN_STORE = "runs.jsonl"
"""The file of finished runs (a `RunStore`) of a use case that keeps them, under ``out``."""


def write_runs_table(out: Path | None, setup: RunSetup, rows: Iterable[Mapping[str, Any]]) -> Path | None:
    """Write ``rows`` as ``runs.csv`` under ``out`` (atomically), long form, one figure per row; none, no file.

    Columns: ``usecase``, ``runtime``, ``seed``, then the rows' own keys (``run``,
    settings, ``metric``, ``value`` last), the same names ``recosim sweep`` uses.
    """
    rows = list(rows)
    if out is None or not rows:
        return None
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    middle = [k for k in keys if k not in ("run", "metric", "value")]
    columns = ["usecase", "runtime", "seed", "run", *middle, "metric", "value"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    fixed = {"usecase": setup.usecase, "runtime": setup.runtime, "seed": setup.seed}
    for row in rows:
        full = {**fixed, **row}
        writer.writerow(["" if full.get(c) is None else _cell(full.get(c)) for c in columns])
    return write_bytes_atomic(Path(out) / RUNS_TABLE, buf.getvalue().encode())


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_summary(out: Path | None, summary: Mapping[str, Any], name: str = "summary.json") -> None:
    """Write ``summary`` as JSON under ``out`` atomically (a crash leaves the old file or the new one)."""
    if out is not None:
        write_json_atomic(Path(out) / name, summary)
