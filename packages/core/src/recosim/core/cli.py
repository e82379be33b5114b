"""The ``recosim`` command line.

``recosim plugins`` lists what is installed (and what failed to load, and why);
``recosim run <usecase>`` runs a use case contributed by any plugin and ends with a
short table of its figures and where its files are (``--json`` prints the whole
summary instead; when stdout is not a terminal it carries that JSON for scripts and
the table goes to stderr); plugins may add subcommands of their own through the
``recosim_add_commands`` hook. Only the use case and the command that run are
imported: ``recosim --help`` and ``recosim plugins`` import none.

Every command behaves the same way at its edges: a bad option is one
``recosim: error: ...`` line and exit status 2, checked before any work; Ctrl-C is
one line saying how to resume (exit status 130); TensorFlow's and XLA's C++ log
lines are silenced (unless ``TF_CPP_MIN_LOG_LEVEL`` is set). Options must be written
in full (``--runs`` is not taken for ``--runs-per-call``).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import shlex
import signal
import sys
import tempfile
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from recosim.core.errors import Interrupted, RecosimError, UsageError
from recosim.core.plugins import (
    ANY_RUNTIME,
    FAMILIES,
    SHARDS,
    BlockRegistration,
    InferenceMethod,
    RuntimeRegistration,
    get_plugins,
)
from recosim.core.progress import ProgressBar
from recosim.core.results import RecoveryWarning, default_out, hold_out, jsonable
from recosim.core.summary import estimate_rows, format_table
from recosim.core.usecase import (
    RUNS_TABLE,
    Parameter,
    RunSetup,
    UseCase,
    figures_of,
    runtime_with,
    write_runs_table,
)

__all__ = ["Command", "ProgressBar", "build_parser", "main", "quiet_native_stderr", "resume_command", "version_text"]


class Command(ABC):
    """A subcommand contributed by a plugin.

    Raise `recosim.core.errors.UsageError` for a bad option (before any work) and
    `recosim.core.errors.Interrupted` when Ctrl-C stops work that a rerun resumes;
    the command line turns them into one line each.
    """

    summary: str = ""

    @abstractmethod
    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add this command's arguments to ``parser``."""

    @abstractmethod
    def __call__(self, args: argparse.Namespace) -> int:
        """Run the command; return the exit status."""


class _CommandLineError(Exception):
    """What argparse found wrong with the command line."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``recosim: error: ...``, status 2, no usage dump) and no abbreviations."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def add_subparsers(self, **kwargs: Any) -> Any:
        kwargs.setdefault("parser_class", _Parser)
        return super().add_subparsers(**kwargs)

    def error(self, message: str) -> NoReturn:
        raise _CommandLineError(message)


def _entry(reg: Any) -> dict[str, Any]:
    """One registration as JSON: name, summary, provider and the family's own fields."""
    if isinstance(reg, InferenceMethod):
        return {
            "name": reg.name,
            "summary": reg.summary,
            "runtimes": list(reg.runtimes),
            "implementations": [
                {"runtime": rt, "plugin": impl.plugin, "distribution": impl.distribution}
                for rt, impl in reg.implementations.items()
            ],
        }
    out = {"name": reg.name, "plugin": reg.plugin, "distribution": reg.distribution, "summary": reg.summary}
    if isinstance(reg, RuntimeRegistration):
        out["framework"] = reg.framework
    if isinstance(reg, BlockRegistration):
        out["kind"] = reg.kind
    return out


def _line(reg: Any) -> str:
    if isinstance(reg, InferenceMethod):
        providers = ", ".join(sorted({p.plugin for p in reg.providers}))
        runtimes = ", ".join("any runtime" if rt == ANY_RUNTIME else rt for rt in reg.runtimes)
        return f"  {reg.name:<28} [{runtimes}] {reg.summary}  [{providers}]"
    return f"  {reg.name:<28} {reg.summary}  [{reg.plugin}]"


def _cmd_plugins(args: argparse.Namespace) -> int:
    plugins = get_plugins()
    if args.json:
        report = {
            "loaded": [{"plugin": p, "distribution": d} for p, d in plugins.loaded],
            "failed": [vars(f) for f in plugins.failures],
            **{family.name: [_entry(r) for r in plugins.registry(family.name)] for family in FAMILIES},
        }
        print(json.dumps(report, indent=2))
        return 0
    print("plugins loaded:")
    for name, dist in plugins.loaded:
        print(f"  {name:<14} from {dist}")
    for family in FAMILIES:
        reg = plugins.registry(family.name)
        print(f"{family.name.replace('_', ' ')} ({len(reg)}):")
        for r in reg:
            print(_line(r))
    if plugins.failures:
        print("plugins that failed to load:")
        for f in plugins.failures:
            print(f"  {f.plugin} (distribution {f.distribution}) at {f.stage}: {f.error}")
    return 0


def _run_options(p: argparse.ArgumentParser, runtimes: Sequence[str], default_runtime: str) -> None:
    """The options of ``run`` that every use case shares (declared here once)."""
    p.add_argument("--runtime", default=default_runtime, metavar="RUNTIME",
                   help=f"runtime plugin: {', '.join(runtimes)} (default: {default_runtime})")
    p.add_argument("--seed", default=0, help="random seed, an integer in [0, 2**32) (same seed, same result)")
    p.add_argument("--out", default=None,
                   help="directory for the results; running again with it resumes (default: a new one under runs/)")
    p.add_argument("--validate", action="store_true",
                   help="checked mode: validate distribution arguments and stop at the first non-finite value")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true",
                   help="print the whole summary as JSON instead of the table (it is always saved in OUT/summary.json)")
    p.add_argument("--compile-cache", default=None, metavar="PATH|off",
                   help="where compiling runtimes keep compiled programs between runs (off: nowhere; default: the "
                        "user's cache folder, or $RECOSIM_COMPILE_CACHE)")
    p.add_argument("--devices", default=None, metavar="N",
                   help="split the population's users (--num-users) over N devices of the runtime's default "
                        "backend, on a runtime with the 'shards' capability; the numbers equal a run on one device "
                        "(default: 1, no split). On CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N "
                        "makes N host devices")


def _shown_default(param: Parameter) -> str:
    shown = param.default
    if shown is None:
        return "chosen by the use case"
    if isinstance(shown, (tuple, list)):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in shown)
    return str(shown)


def option_help(param: Parameter) -> str:
    """A parameter's help: its text, its choices and its default, each said once.

    >>> option_help(Parameter("optimizer", str, "adam", "the optimiser", choices=("sgd", "adam")))
    'the optimiser; one of: sgd, adam (default: adam)'
    >>> option_help(Parameter("batch", int, None, "runs per call (default: the runtime's)"))
    "runs per call (default: the runtime's)"
    """
    text = param.help
    allowed = param.allowed
    if allowed and not all(c in text for c in allowed):
        text = f"{text}; one of: {', '.join(allowed)}" if text else f"one of: {', '.join(allowed)}"
    if "default:" not in text and "(default" not in text:
        text = f"{text} (default: {_shown_default(param)})"
    return text.replace("%", "%%")


def _add_usecase_options(p: argparse.ArgumentParser, case: UseCase) -> None:
    """One option per parameter; values stay text here and are checked by the use case (one message style)."""
    for param in case.parameters:
        if param.type is bool:
            p.add_argument(param.flag, dest=param.name, default=argparse.SUPPRESS,
                           action=argparse.BooleanOptionalAction, help=option_help(param))
        else:
            allowed = param.allowed
            metavar = "{" + ",".join(allowed) + "}" if allowed else param.name.upper()
            p.add_argument(param.flag, dest=param.name, default=argparse.SUPPRESS, metavar=metavar,
                           help=option_help(param))


def _load_usecase(reg: Any) -> UseCase:
    try:
        case = reg.load()
        return case() if isinstance(case, type) else case  # type: ignore[no-any-return]
    except Exception as err:
        raise UsageError(f"use case {reg.name!r} from {reg.provider} is unavailable: {err}") from None


def _add_run_parser(sub: Any, chosen: str | None) -> None:
    """``recosim run``: one subcommand per registered use case; only ``chosen`` is imported and configured."""
    run = sub.add_parser("run", help="run a use case", description="Run a use case contributed by a plugin.")
    cases = run.add_subparsers(dest="usecase", metavar="USECASE")
    plugins = get_plugins()
    for reg in plugins.usecases:
        p = cases.add_parser(reg.name, help=reg.summary, description=reg.summary)
        if chosen not in (reg.name, _EVERY):
            continue
        try:
            case = _load_usecase(reg)
        except UsageError as err:
            if chosen == reg.name:
                raise
            print(f"recosim: {err}", file=sys.stderr)
            continue
        p.set_defaults(_usecase=case)
        runtimes = plugins.runtime_names()
        _run_options(p, runtimes, default_runtime_of(case, runtimes))
        _add_usecase_options(p, case)


def default_runtime_of(case: UseCase, runtimes: Sequence[str]) -> str:
    """The runtime ``recosim run`` uses without ``--runtime``: one with every capability the use case needs."""
    chosen = getattr(case, "default_runtime", None)
    if callable(chosen):
        chosen = chosen()
    return str(chosen) if chosen else runtime_with()


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Discard what native code writes to file descriptor 2 while the body runs.

    TensorFlow's shared libraries log a few lines when they load, before its log
    level is read; importing a framework inside this keeps them off the terminal.
    Python exceptions still propagate as usual.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 to redirect
        yield
        return
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _cmd_run(args: argparse.Namespace) -> int:
    case: UseCase | None = getattr(args, "_usecase", None)
    if case is None:
        names = get_plugins().usecases.names()
        raise UsageError(f"recosim run needs a use case: {', '.join(names) or 'none installed'}")
    params = {p.name: getattr(args, p.name) for p in case.parameters if hasattr(args, p.name)}
    out = args.out if args.out is not None else default_out(case.name)
    if args.compile_cache is not None:  # read by compiling runtimes when they first compile
        os.environ["RECOSIM_COMPILE_CACHE"] = str(args.compile_cache)
    devices = _devices_option(args.devices)
    request = None
    try:
        with quiet_native_stderr():  # the runtime's framework is imported while checking --runtime
            if devices is not None and devices > 1:  # checked before the output folder is made
                probe = case.setup(runtime=args.runtime, seed=args.seed, out=None, validate=args.validate, **params)
                request = shard_request(case, probe, devices)
            setup = case.setup(runtime=args.runtime, seed=args.seed, out=out, validate=args.validate, **params)
    except ValueError as err:  # a use case's own validate may raise ValueError
        raise UsageError(str(err)) from None
    with _environment(SHARD_ENV, request):
        return _run_checked(case, setup, args, out)


def _run_checked(case: UseCase, setup: RunSetup, args: argparse.Namespace, out: Any) -> int:
    """``recosim run`` once every option is checked: run, then print the closing report or the JSON summary."""
    if args.out is None:
        print(f"recosim: results in {out}", file=sys.stderr)
    out = setup.out
    with hold_out(out):
        bar = None if args.quiet else ProgressBar(f"{case.name} [{args.runtime}]")
        try:
            if case.is_template():  # the setup made here is handed over, not made again
                summary: Any = case.execute(setup, bar)
            else:  # a use case that overrides run itself
                # checked mode only when asked: a use case written before it may not take validate=
                checked: dict[str, Any] = {"validate": True} if setup.validate else {}
                summary = case.run(runtime=args.runtime, seed=setup.seed, out=out, progress=bar, **checked,
                                   **setup.params)
                if setup.out is not None and not (setup.out / RUNS_TABLE).exists():
                    write_runs_table(setup.out, setup, case.run_rows(setup, summary))
        except KeyboardInterrupt as stop:
            if isinstance(stop, Interrupted):
                raise
            done, total = (bar.last if bar is not None and bar.last is not None else (None, None))
            raise Interrupted(out, done, total) from None
        finally:
            if bar is not None:
                bar.close()
    report = closing_report(case, summary, setup.out)
    if args.json:  # for scripts: the whole summary on stdout, nothing else there
        print(json.dumps(jsonable(dict(summary)), indent=2, sort_keys=True), flush=True)
    else:
        print(report, flush=True)
    return 0


SHARD_ENV = "RECOSIM_SHARD"
"""What ``--devices`` sets while a use case runs: ``devices=N,population=P``, read by sharding runtimes when built."""


def _devices_option(text: str | None) -> int | None:
    """``--devices`` as a positive int (None when not given)."""
    if text is None:
        return None
    try:
        devices = int(text)
    except (TypeError, ValueError):
        raise UsageError(f"--devices must be a positive integer, got {text!r}") from None
    if devices < 1:
        raise UsageError(f"--devices must be a positive integer, got {devices}")
    return devices


def shard_request(case: UseCase, setup: RunSetup, devices: int | None) -> str | None:
    """The value of `SHARD_ENV` for ``--devices`` (None: nothing to split), or a `UsageError` saying why not.

    The runtime must declare the ``shards`` capability and take a ``shard`` option;
    the population is the use case's ``--num-users``, which must split evenly. The
    runtime itself refuses more devices than it sees, when the use case builds it.
    """
    if devices is None or devices == 1:
        return None
    plugins = get_plugins()
    if SHARDS not in plugins.runtime_capabilities(setup.runtime):
        able = plugins.runtimes_with(SHARDS)
        raise UsageError(
            f"--devices {devices}: runtime {setup.runtime!r} cannot split a population over devices (it does not "
            "declare the 'shards' capability); "
            + (f"use --runtime {' or --runtime '.join(able)}" if able else "no installed runtime declares it")
        )
    if "shard" not in inspect.signature(setup.runtime_class).parameters:
        raise UsageError(
            f"--devices {devices}: runtime {setup.runtime!r} declares the 'shards' capability but takes no shard "
            "option, so it cannot be told how to split the population"
        )
    users = setup.params.get("num_users")
    if users is None:
        raise UsageError(
            f"--devices {devices}: use case {case.name!r} has no --num-users option, so it has no population to "
            "split; build its runtime with the runtime's shard= option instead"
        )
    if int(users) % devices:
        fits = (int(users) // devices) * devices
        raise UsageError(
            f"--devices {devices}: --num-users {users} does not split evenly over {devices} devices; give a user "
            f"count divisible by {devices} (such as {fits or devices} or {fits + devices})"
        )
    return f"devices={devices},population={int(users)}"


@contextlib.contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """``os.environ[name] = value`` while the body runs (nothing when ``value`` is None), then as it was."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def closing_report(case: UseCase, summary: Any, out: Path | None) -> str:
    """What ``recosim run`` prints at the end: a title line, the headline figures, where the files are."""
    rows = case.headline(summary)
    if rows is None:
        rows = estimate_rows(figures_of(summary, [*(p.name for p in case.parameters), *case.summary_metadata]))
    lines = [f"{case.name} on {summary.get('runtime', '?')}, seed {summary.get('seed', '?')}:"]
    lines.append(format_table(rows) if rows else "  (no figures)")
    if out is not None:
        files = sorted(p.name + ("/" if p.is_dir() else "") for p in Path(out).iterdir() if not p.name.startswith("."))
        lines.append(f"files in {out}: {', '.join(files)}")
        lines.append(f"all figures: {Path(out) / 'summary.json'} (or rerun with --json)")
    return "\n".join(lines)


class _Version(argparse.Action):
    """``--version``: the text of `version_text`, unwrapped, then exit."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(version_text())
        parser.exit()


def version_text() -> str:
    """``recosim --version``: the version of every installed recosim distribution."""
    from importlib import metadata

    found = []
    for name in ("recosim", "recosim-core", "recosim-library", "recosim-runtime-tf", "recosim-runtime-jax",
                 "recosim-usecases", "recosim-inference", "recosim-sweep", "recosim-gym"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return "recosim " + (found[0].split()[-1] if found else "unknown") + " (" + ", ".join(found) + ")"


_EVERY = "\0every"  # build_parser() without argv: every command and use case, as a library caller expects


def _chosen(argv: Sequence[str] | None, after: str | None = None) -> str | None:
    """The first word of ``argv`` that is not an option (after the word ``after``, if given)."""
    if argv is None:
        return _EVERY
    words = list(argv)
    if after is not None:
        if after not in words:
            return None
        words = words[words.index(after) + 1:]
    return next((w for w in words if not w.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``recosim`` parser for ``argv``: only the command (and use case) it names is imported and configured.

    Without ``argv`` every command and use case is (what a caller inspecting the parser expects).
    """
    parser = _Parser(prog="recosim", description="Simulate recommender ecosystems.")
    parser.add_argument("--version", action=_Version, nargs=0, help="show the versions installed and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    pl = sub.add_parser("plugins", help="list installed plugins and what failed to load")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.set_defaults(_func=_cmd_plugins)
    command = _chosen(argv)
    _add_run_parser(sub, _chosen(argv, "run") if command in ("run", _EVERY) else None)
    sub.choices["run"].set_defaults(_func=_cmd_run)
    for reg in get_plugins().commands:
        if command not in (reg.name, _EVERY):
            sub.add_parser(reg.name, help=reg.summary)
            continue
        try:
            cmd_cls = reg.load()
            cmd = cmd_cls() if isinstance(cmd_cls, type) else cmd_cls
        except Exception as err:
            if command == reg.name:
                raise UsageError(f"command {reg.name!r} from {reg.provider} is unavailable: {err}") from None
            print(f"recosim: command {reg.name!r} from {reg.provider} is unavailable: {err}", file=sys.stderr)
            continue
        p = sub.add_parser(reg.name, help=reg.summary or getattr(cmd, "summary", ""))
        cmd.configure(p)
        p.set_defaults(_func=cmd)
    return parser


def resume_command(argv: Sequence[str], out: object) -> str:
    """The command line that resumes ``argv``: the same, with ``--out OUT`` added if it was not given."""
    argv = list(argv)
    if not any(a == "--out" or a.startswith("--out=") for a in argv):
        argv += ["--out", str(out)]
    return "recosim " + shlex.join(argv)


def _interrupted(stop: KeyboardInterrupt, argv: Sequence[str]) -> str:
    if not isinstance(stop, Interrupted):
        return "recosim: interrupted"
    if stop.done is None:
        what = "before any work finished"
    else:
        unit = f" {stop.unit}" if stop.unit else ""
        what = f"with {stop.done} of {stop.total}{unit} finished and saved in {stop.out}"
    return f"recosim: interrupted {what}; resume with: {resume_command(argv, stop.out)}"


def _one_line_warnings(original: Any) -> Any:
    def show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        if issubclass(category, RecoveryWarning):
            print(f"recosim: warning: {message}", file=sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recosim`` command."""
    # Before any framework is imported: TensorFlow's and XLA's C++ logging stays quiet.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    argv = list(sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warnings(warnings.showwarning)
        try:
            parser = build_parser(argv)
            try:
                args = parser.parse_args(argv)
            except _CommandLineError as err:
                raise UsageError(str(err)) from None
            except SystemExit as done:  # --help
                return int(done.code or 0)
            func = getattr(args, "_func", None)
            if func is None:
                parser.print_help()
                return 2
            return int(func(args))
        except UsageError as err:
            print(f"recosim: error: {err}", file=sys.stderr)
            return 2
        except RecosimError as err:
            print(f"recosim: error: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt as stop:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main_thread() else None
            try:
                print(_interrupted(stop, argv), file=sys.stderr)
            finally:
                if previous is not None:
                    signal.signal(signal.SIGINT, previous)
            return 130


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
