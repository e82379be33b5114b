"""The ``recosim`` command line.

``recosim plugins`` lists what is installed (and what failed to load, and why);
``recosim run <usecase>`` runs a use case contributed by any plugin; plugins may add
subcommands of their own through the ``recosim_add_commands`` hook.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from recosim.core.errors import RecosimError
from recosim.core.plugins import (
    ANY_RUNTIME,
    FAMILIES,
    BlockRegistration,
    InferenceMethod,
    RuntimeRegistration,
    get_plugins,
)

__all__ = ["Command", "ProgressBar", "main"]


class Command(ABC):
    """A subcommand contributed by a plugin."""

    summary: str = ""

    @abstractmethod
    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add this command's arguments to ``parser``."""

    @abstractmethod
    def __call__(self, args: argparse.Namespace) -> int:
        """Run the command; return the exit status."""


class ProgressBar:
    """A dependency-free progress bar on stderr (silent when stderr is not a terminal,
    unless ``force`` is set; then it prints a line per tenth)."""

    def __init__(self, label: str, stream: TextIO | None = None, *, force: bool = False, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.interactive = self.stream.isatty()
        self.enabled = self.interactive or force
        self.start = time.perf_counter()
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        frac = min(max(done / total, 0.0), 1.0)
        elapsed = time.perf_counter() - self.start
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        if self.interactive:
            filled = round(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            end = "\n" if done >= total else ""
            self.stream.write(f"\r{self.label} [{bar}] {done}/{total} {elapsed:6.1f}s elapsed, {eta:6.1f}s left{end}")
        else:
            tenth = int(frac * 10)
            if tenth == self._last_tenth:
                return
            self._last_tenth = tenth
            self.stream.write(f"{self.label}: {done}/{total} ({elapsed:.1f}s)\n")
        self.stream.flush()


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


def _add_run_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="run a use case", description="Run a use case contributed by a plugin.")
    cases = run.add_subparsers(dest="usecase", metavar="USECASE")
    plugins = get_plugins()
    for reg in plugins.usecases:
        try:
            case = reg.load()
            case = case() if isinstance(case, type) else case
        except Exception as err:
            print(f"recosim: use case {reg.name!r} from {reg.provider} is unavailable: {err}", file=sys.stderr)
            continue
        p = cases.add_parser(reg.name, help=reg.summary, description=reg.summary)
        p.set_defaults(_usecase=case)
        p.add_argument("--runtime", default="numpy", help="runtime plugin: " + ", ".join(plugins.runtime_names()))
        p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same result)")
        p.add_argument("--out", type=Path, default=None, help="directory for result files")
        p.add_argument("--quiet", action="store_true", help="no progress output")
        for param in case.parameters:
            kind = param.type
            if kind is bool:
                p.add_argument(
                    param.flag,
                    dest=param.name,
                    default=param.default,
                    action=argparse.BooleanOptionalAction,
                    help=param.help,
                )
            else:
                p.add_argument(
                    param.flag,
                    dest=param.name,
                    type=kind,
                    default=param.default,
                    help=f"{param.help} (default: {param.default})",
                )


def _cmd_run(args: argparse.Namespace) -> int:
    case = getattr(args, "_usecase", None)
    if case is None:
        names = get_plugins().usecases.names()
        print(f"recosim run: name a use case: {', '.join(names) or 'none installed'}", file=sys.stderr)
        return 2
    if args.runtime not in get_plugins().runtime_names():
        get_plugins().runtime_spec(args.runtime)  # raises with the list and failures
    params = {p.name: getattr(args, p.name) for p in case.parameters}
    progress = None if args.quiet else ProgressBar(f"{case.name} [{args.runtime}]", force=True)
    summary = case.run(runtime=args.runtime, seed=args.seed, out=args.out, progress=progress, **params)
    print(json.dumps(dict(summary), indent=2, sort_keys=True, default=float))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recosim", description="Simulate recommender ecosystems.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    pl = sub.add_parser("plugins", help="list installed plugins and what failed to load")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.set_defaults(_func=_cmd_plugins)
    _add_run_parser(sub)
    sub.choices["run"].set_defaults(_func=_cmd_run)
    for reg in get_plugins().commands:
        try:
            cmd_cls = reg.load()
            cmd = cmd_cls() if isinstance(cmd_cls, type) else cmd_cls
        except Exception as err:
            print(f"recosim: command {reg.name!r} from {reg.provider} is unavailable: {err}", file=sys.stderr)
            continue
        p = sub.add_parser(reg.name, help=reg.summary or getattr(cmd, "summary", ""))
        cmd.configure(p)
        p.set_defaults(_func=cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recosim`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "_func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except RecosimError as err:
        print(f"recosim: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
