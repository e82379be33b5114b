"""Registries: the named contributions of plugins, one registry per hook family."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from recosim.core.errors import DuplicateRegistrationError, PluginError, UnknownPluginError

__all__ = ["Registration", "Registry", "PluginFailure", "resolve"]


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or could not register."""

    plugin: str
    distribution: str
    stage: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} from distribution {self.distribution!r} failed at {self.stage}: {self.error}"


@dataclass(frozen=True)
class Registration:
    """One contribution: a name, what it refers to, and who provided it."""

    family: str
    name: str
    target: Any
    plugin: str
    distribution: str
    summary: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def provider(self) -> str:
        return f"plugin {self.plugin!r} (distribution {self.distribution!r})"

    def load(self) -> Any:
        """The target itself, importing it first if it was registered as a string."""
        try:
            return resolve(self.target)
        except Exception as err:
            raise PluginError(
                f"{self.family.rstrip('s').replace('_', ' ')} {self.name!r} "
                f"from {self.provider} could not be loaded: {type(err).__name__}: {err}"
            ) from err


def resolve(target: Any) -> Any:
    """Import ``"package.module:attribute"`` strings; return other targets unchanged."""
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


class Registry:
    """The registrations of one family (runtimes, blocks, ...), keyed by unique name."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._entries: dict[str, Registration] = {}
        self._plugin = "<unknown>"
        self._distribution = "<unknown>"

    @property
    def singular(self) -> str:
        """The family's name for one entry ('runtime', 'inference method', ...)."""
        return self.family[:-1].replace("_", " ") if self.family.endswith("s") else self.family

    def _as(self, plugin: str, distribution: str) -> Registry:
        self._plugin, self._distribution = plugin, distribution
        return self

    def add(self, name: str, target: Any, *, summary: str = "", **metadata: Any) -> None:
        """Register ``target`` under ``name``; a name taken by another provider is an error."""
        if not isinstance(name, str) or not name:
            raise PluginError(f"{self.family}: plugin {self._plugin!r} registered an empty or non-string name")
        new = Registration(self.family, name, target, self._plugin, self._distribution, summary, metadata)
        old = self._entries.get(name)
        if old is not None:
            raise DuplicateRegistrationError(
                f"{self.singular} name {name!r} is registered twice: by {old.provider} and by {new.provider}"
            )
        self._entries[name] = new

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Registration]:
        return iter(sorted(self._entries.values(), key=lambda r: r.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str, failures: list[PluginFailure] | tuple[PluginFailure, ...] = ()) -> Registration:
        """The registration of ``name``, or an error listing what exists and what failed to load."""
        try:
            return self._entries[name]
        except KeyError:
            msg = f"no {self.singular} named {name!r}; available: {self.names() or 'none'}"
            if failures:
                msg += "; plugins that failed to load: " + "; ".join(str(f) for f in failures)
            raise UnknownPluginError(msg) from None
