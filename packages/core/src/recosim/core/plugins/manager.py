"""The plugin manager: discovery, failure isolation, and a typed facade.

>>> plugins = get_plugins()
>>> "numpy" in plugins.runtime_names()
True
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata as importlib_metadata
import os
import threading
import traceback
from collections.abc import Iterable
from typing import Any

import pluggy

from recosim.core.backend import BackendFactory, add_backend_directory
from recosim.core.errors import PluginError
from recosim.core.plugins import hookspecs
from recosim.core.plugins.registry import PluginFailure, Registration, Registry

__all__ = ["Plugins", "get_plugins", "make_plugins", "ENTRY_POINT_GROUP", "FAMILIES"]

ENTRY_POINT_GROUP = "recosim"
FAMILIES = {
    "runtimes": "recosim_add_runtimes",
    "blocks": "recosim_add_blocks",
    "inference_methods": "recosim_add_inference_methods",
    "usecases": "recosim_add_usecases",
    "commands": "recosim_add_commands",
}
CORE_DISTRIBUTION = "recosim-core"
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("core-numpy", "recosim.core.plugins.builtin_numpy"),
    ("core-usecases", "recosim.core.plugins.builtin_usecases"),
)
"""The plugins recosim-core ships: ``(plugin name, module)``, registered before any entry point."""


class Plugins:
    """The loaded plugins and their registries. Build it with :func:`make_plugins`."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager
        self.failures: list[PluginFailure] = []
        self.loaded: list[tuple[str, str]] = []  # (plugin name, distribution)
        self.registries = {family: Registry(family) for family in FAMILIES}
        self._backends: dict[str, Any] = {}

    # -- loading ------------------------------------------------------------------
    def register(self, plugin: Any, name: str, distribution: str) -> bool:
        """Register a plugin object and collect its contributions; failures are recorded, not raised."""
        try:
            self.manager.register(plugin, name=name)
            self.manager.check_pending()
        except Exception as err:
            if self.manager.is_registered(plugin):
                self.manager.unregister(plugin)
            self.failures.append(PluginFailure(name, distribution, "registration", _describe(err)))
            return False
        self.loaded.append((name, distribution))
        for family, hook_name in FAMILIES.items():
            hook = getattr(self.manager.hook, hook_name)
            for impl in hook.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                registry = self.registries[family]
                before = dict(registry._entries)
                try:
                    impl.function(registry=registry._as(name, distribution))
                except Exception as err:
                    registry._entries = before  # all or nothing per plugin and family
                    self.failures.append(PluginFailure(name, distribution, hook_name, _describe(err)))
        return True

    def load_entry_points(self, entry_points: Iterable[importlib_metadata.EntryPoint] | None = None) -> None:
        """Load every plugin of the ``recosim`` entry-point group, isolating failures."""
        eps = importlib_metadata.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
        for ep in sorted(eps, key=lambda e: e.name):
            dist = getattr(getattr(ep, "dist", None), "name", None) or "<unknown distribution>"
            if self.manager.has_plugin(ep.name):
                self.failures.append(
                    PluginFailure(ep.name, dist, "entry point", f"a plugin named {ep.name!r} is already loaded")
                )
                continue
            try:
                plugin = ep.load()
            except Exception as err:
                self.failures.append(PluginFailure(ep.name, dist, "import", _describe(err)))
                continue
            self.register(plugin, ep.name, dist)

    # -- facade -------------------------------------------------------------------
    def registry(self, family: str) -> Registry:
        try:
            return self.registries[family]
        except KeyError:
            raise PluginError(f"unknown plugin family {family!r}; families: {sorted(FAMILIES)}") from None

    def lookup(self, family: str, name: str) -> Registration:
        return self.registry(family).get(name, self.failures)

    def runtime_names(self) -> list[str]:
        return self.registries["runtimes"].names()

    def runtime_spec(self, name: str) -> Registration:
        reg = self.lookup("runtimes", name)
        return _RuntimeSpec(reg)

    def get_runtime(self, name: str) -> type:
        """The runtime class registered as ``name`` (its framework is imported now)."""
        return self.lookup("runtimes", name).load()

    def get_backend(self, name: str) -> Any:
        """The backend of runtime ``name`` (one shared instance per runtime)."""
        if name not in self._backends:
            reg = self.lookup("runtimes", name)
            factory = Registration(
                reg.family, reg.name, reg.metadata.get("backend"), reg.plugin, reg.distribution
            ).load()
            if factory is None:
                raise PluginError(f"runtime {name!r} from {reg.provider} registered no backend")
            self._backends[name] = factory()
        return self._backends[name]

    def get_block(self, name: str) -> Any:
        return self.lookup("blocks", name).load()

    def get_inference_method(self, name: str) -> Any:
        return self.lookup("inference_methods", name).load()

    def get_usecase(self, name: str) -> Any:
        return self.lookup("usecases", name).load()

    def get_command(self, name: str) -> Any:
        return self.lookup("commands", name).load()


class _RuntimeSpec(Registration):
    def __init__(self, reg: Registration) -> None:
        super().__init__(reg.family, reg.name, reg.target, reg.plugin, reg.distribution, reg.summary, reg.metadata)

    @property
    def framework(self) -> str | None:
        return self.metadata.get("framework")


def _describe(err: BaseException) -> str:
    last = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
    where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(err).__name__}: {err}{where}"


def make_plugins(
    *,
    entry_points: Iterable[importlib_metadata.EntryPoint] | None = None,
    load_entry_points: bool = True,
    extra: Iterable[tuple[Any, str, str]] = (),
) -> Plugins:
    """Build a fresh plugin manager: the built-in plugin, entry points, then ``extra`` plugins.

    ``extra`` holds ``(plugin, name, distribution)`` triples (handy in tests).
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    plugins = Plugins(manager)
    for name, module in BUILTIN_PLUGINS:
        plugins.register(importlib.import_module(module), name, CORE_DISTRIBUTION)
    if load_entry_points and not os.environ.get("RECOSIM_DISABLE_PLUGINS"):
        plugins.load_entry_points(entry_points)
    for plugin, name, dist in extra:
        plugins.register(plugin, name, dist)
    return plugins


def installed_backends() -> dict[str, BackendFactory]:
    """``framework -> backend factory`` for every installed runtime with a framework (for `backend_for`)."""
    plugins = get_plugins()
    out: dict[str, BackendFactory] = {}
    for name in plugins.runtime_names():
        framework = plugins.runtime_spec(name).framework
        if framework:
            out.setdefault(framework, functools.partial(plugins.get_backend, name))
    return out


add_backend_directory(installed_backends)

_LOCK = threading.Lock()
_PLUGINS: Plugins | None = None


def get_plugins(*, reload: bool = False) -> Plugins:
    """The process-wide plugins, built on first use (never at import time)."""
    global _PLUGINS
    with _LOCK:
        if _PLUGINS is None or reload:
            _PLUGINS = make_plugins()
        return _PLUGINS
