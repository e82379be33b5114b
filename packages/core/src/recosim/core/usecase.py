"""`UseCase`: a runnable experiment that ``recosim run <name>`` can start.

A use case declares its size options as `Parameter` objects (they become
command-line options) and implements :meth:`UseCase.run`, which returns a flat
mapping of summary figures and writes its result files under ``out``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["Parameter", "UseCase", "Progress", "write_summary"]


@dataclass(frozen=True)
class Parameter:
    """A size or model option of a use case (``--num-users 100`` on the command line)."""

    name: str
    type: type
    default: Any
    help: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while a use case runs."""


class UseCase(ABC):
    """Base class of use cases; set ``name``, ``summary`` and ``parameters``."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    parameters: ClassVar[Sequence[Parameter]] = ()

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters}

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Fill defaults and reject unknown parameters, naming them."""
        known = {p.name for p in self.parameters}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"use case {self.name!r} has no parameter(s) {unknown}; it takes {sorted(known)}")
        return {**self.defaults(), **params}

    @abstractmethod
    def run(
        self,
        *,
        runtime: str,
        seed: int,
        out: Path | None,
        progress: Progress | None = None,
        **params: Any,
    ) -> Mapping[str, Any]:
        """Run, write results under ``out`` (if given) and return summary figures."""


def write_summary(out: Path | None, summary: Mapping[str, Any], name: str = "summary.json") -> None:
    """Write ``summary`` as JSON under ``out`` (atomically: a crash never leaves half a file)."""
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, default=float) + "\n")
    tmp.replace(out / name)
