"""The plugin manager: discovery, failure isolation, and a typed facade.

Callers never touch ``pluggy``'s hooks: `Plugins` has one typed method per
lookup (``get_runtime``, ``get_backend``, ``get_block``, ``get_inference_method``,
``get_usecase``, ``get_command``).

>>> plugins = get_plugins()
>>> "numpy" in plugins.runtime_names()
True
>>> "numpy" in plugins.inference_method("log_probability").runtimes
True

What a plugin cannot do
-----------------------
* Take over a name of recosim's own: the plugins of recosim's distributions
  (`FIRST_PARTY_DISTRIBUTIONS`) load before any other, so a third-party plugin
  registering a name they hold fails, listed under "failed" with both providers
  named; the runtime names ``numpy``, ``tf`` and ``jax`` are refused to other
  distributions even where recosim's own is not installed.
* End the host: anything a plugin raises at import or while registering,
  ``SystemExit`` and ``KeyboardInterrupt`` included, is recorded as that plugin's
  failure. A real Ctrl-C (SIGINT) that lands while plugins load is an interrupt:
  it stops the command.
* Write into the host's output: what a plugin prints while it is imported or
  registers is captured, kept in :attr:`Plugins.output` and shown on stderr under
  the plugin's name, so JSON on stdout stays clean.
* Hide: each plugin's import time is kept (:attr:`Plugins.import_seconds`); one
  that takes over `SLOW_IMPORT_S` seconds is named on stderr.
  ``RECOSIM_DISABLE_PLUGINS`` skips plugins: ``1`` (or ``all``) skips every
  entry point, a comma-separated list skips those distributions or plugin
  names, which finds a plugin that ends the process when it is imported.
* Advertise what it cannot deliver: a registration whose import string names a
  module that is not installed fails when it is registered (shown once, under
  "failed", with the reason) instead of being listed and failing on every use.

Every registration's `Provider` carries its distribution's version;
:meth:`Plugins.runtime_provenance` gives it for a runtime, for results to record.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata as importlib_metadata
import io
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from recosim.core.backend import BackendFactory, add_backend_directory
from recosim.core.errors import PluginError
from recosim.core.plugins import hookspecs
from recosim.core.plugins.registry import (
    FIRST_PARTY_DISTRIBUTIONS,
    BlockRegistrar,
    BlockRegistration,
    CommandRegistrar,
    InferenceMethod,
    InferenceMethodRegistrar,
    InferenceMethods,
    PluginFailure,
    Provider,
    Registrar,
    Registration,
    Registry,
    RuntimeRegistrar,
    RuntimeRegistration,
    UseCaseRegistrar,
)

if TYPE_CHECKING:
    from recosim.core.backend import Backend
    from recosim.core.runtime import Runtime

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_VARIABLE",
    "SLOW_IMPORT_S",
    "ENTRY_POINT_GROUP",
    "FAMILIES",
    "Family",
    "Plugins",
    "get_plugins",
    "captured_output",
    "check_entry_points",
    "disabled_plugins",
    "installed_backends",
    "make_plugins",
]

ENTRY_POINT_GROUP = "recosim"
CORE_DISTRIBUTION = "recosim-core"
DISABLE_VARIABLE = "RECOSIM_DISABLE_PLUGINS"
SLOW_IMPORT_S = 2.0
"""A plugin whose import takes longer than this many seconds is named on stderr."""
_ALL = {"1", "all", "*", "true", "yes"}


def disabled_plugins(value: str | None = None) -> set[str] | None:
    """What ``RECOSIM_DISABLE_PLUGINS`` (or ``value``) skips: None for nothing, ``{"*"}`` for every entry point,
    else the distribution or plugin names it lists (comma-separated)."""
    text = os.environ.get(DISABLE_VARIABLE, "") if value is None else value
    names = {n.strip() for n in text.split(",") if n.strip()}
    if not names:
        return None
    return {"*"} if names & _ALL else names


class _Interrupts:
    """Notes whether a real SIGINT arrived (as opposed to a plugin raising KeyboardInterrupt itself)."""

    def __init__(self) -> None:
        self.seen = False

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)
        if not callable(previous):  # ignored (a background job) or default: leave it so
            yield
            return

        def note(signum: int, frame: Any) -> None:
            self.seen = True
            previous(signum, frame)  # type: ignore[operator]

        signal.signal(signal.SIGINT, note)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def captured_output() -> Iterator[io.StringIO]:
    """Capture what Python code writes to ``sys.stdout`` and ``sys.stderr`` in the body."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        yield buf


@dataclass(frozen=True)
class Family:
    """One kind of contribution: its registry name, its hook, and the registrar the hook receives."""

    name: str
    hook: str
    registrar: type[Registrar]


FAMILIES: tuple[Family, ...] = (
    Family("runtimes", "recosim_add_runtimes", RuntimeRegistrar),
    Family("blocks", "recosim_add_blocks", BlockRegistrar),
    Family("inference_methods", "recosim_add_inference_methods", InferenceMethodRegistrar),
    Family("usecases", "recosim_add_usecases", UseCaseRegistrar),
    Family("commands", "recosim_add_commands", CommandRegistrar),
)
"""Every family of contribution, in the order plugins are asked for them."""

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
        self.providers: dict[str, Provider] = {}  # plugin name -> who provided it, with the version
        self.runtimes: Registry[RuntimeRegistration] = Registry("runtimes")
        self.blocks: Registry[BlockRegistration] = Registry("blocks")
        self.inference_methods = InferenceMethods()
        self.usecases: Registry[Registration] = Registry("usecases")
        self.commands: Registry[Registration] = Registry("commands")
        self.output: dict[str, str] = {}  # plugin name -> what it printed while loading
        self.import_seconds: dict[str, float] = {}  # plugin name -> seconds its import took
        self.disabled: list[tuple[str, str]] = []  # (plugin name, distribution) skipped by RECOSIM_DISABLE_PLUGINS
        self._backends: dict[str, Backend] = {}
        self._interrupts = _Interrupts()

    def _report_output(self, name: str, distribution: str, text: str) -> None:
        if not text:
            return
        self.output[name] = self.output.get(name, "") + text
        lines = text.strip().splitlines() or [""]
        more = f" (and {len(lines) - 1} more line(s))" if len(lines) > 1 else ""
        print(f"recosim: plugin {name!r} (distribution {distribution}) printed while loading: {lines[0]}{more}",
              file=sys.stderr)

    def _interrupted(self, err: BaseException) -> bool:
        """Whether ``err`` is a real Ctrl-C (re-raised) rather than something a plugin raised."""
        return isinstance(err, KeyboardInterrupt) and self._interrupts.seen

    # -- loading ------------------------------------------------------------------
    def register(self, plugin: Any, name: str, distribution: str, version: str | None = None) -> bool:
        """Register a plugin object and collect its contributions; failures are recorded, not raised.

        Any exception is isolated, ``SystemExit`` and ``KeyboardInterrupt`` raised by
        the plugin included: a plugin cannot end the host. ``version`` is the
        distribution's (looked up when not given).
        """
        with self._interrupts.watching(), captured_output() as out:
            try:
                self.manager.register(plugin, name=name)
                self.manager.check_pending()
            except BaseException as err:
                if self.manager.is_registered(plugin):
                    self.manager.unregister(plugin)
                if self._interrupted(err):
                    raise
                self.failures.append(PluginFailure(name, distribution, "registration", _describe(err)))
                return False
        self._report_output(name, distribution, out.getvalue())
        self.loaded.append((name, distribution))
        provider = Provider(name, distribution, version if version is not None else _version(distribution))
        self.providers[name] = provider
        for family in FAMILIES:
            for impl in getattr(self.manager.hook, family.hook).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                registrar = family.registrar(self.registry(family.name), provider)
                with self._interrupts.watching(), captured_output() as out:
                    try:
                        impl.function(registry=registrar)
                        registrar.commit()  # all or nothing per plugin and family
                    except BaseException as err:
                        if self._interrupted(err):
                            raise
                        self.failures.append(PluginFailure(name, distribution, family.hook, _describe(err)))
                self._report_output(name, distribution, out.getvalue())
        return True

    def load_entry_points(self, entry_points: Iterable[importlib_metadata.EntryPoint] | None = None) -> None:
        """Load every plugin of the ``recosim`` entry-point group, isolating failures."""
        eps = importlib_metadata.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
        skip = disabled_plugins() or set()
        for ep in sorted(eps, key=_load_order):
            dist = _distribution_of(ep) or "<unknown distribution>"
            if "*" in skip or ep.name in skip or dist in skip:
                self.disabled.append((ep.name, dist))
                continue
            if self.manager.has_plugin(ep.name):
                self.failures.append(
                    PluginFailure(ep.name, dist, "entry point", f"a plugin named {ep.name!r} is already loaded")
                )
                continue
            start = time.perf_counter()
            with self._interrupts.watching(), captured_output() as out:
                try:
                    plugin = ep.load()
                except BaseException as err:
                    if self._interrupted(err):
                        raise
                    self.failures.append(PluginFailure(ep.name, dist, "import", _describe(err)))
                    plugin = None
            seconds = self.import_seconds[ep.name] = time.perf_counter() - start
            self._report_output(ep.name, dist, out.getvalue())
            if seconds > SLOW_IMPORT_S:
                print(f"recosim: plugin {ep.name!r} (distribution {dist}) took {seconds:.1f} s to import",
                      file=sys.stderr)
            if plugin is None:
                continue
            self.register(plugin, ep.name, dist, getattr(getattr(ep, "dist", None), "version", None))

    # -- facade -------------------------------------------------------------------
    def registry(self, family: str) -> Any:
        """The registry of ``family`` (one of `FAMILIES`' names)."""
        registries = {
            "runtimes": self.runtimes,
            "blocks": self.blocks,
            "inference_methods": self.inference_methods,
            "usecases": self.usecases,
            "commands": self.commands,
        }
        try:
            return registries[family]
        except KeyError:
            raise PluginError(f"unknown plugin family {family!r}; families: {sorted(registries)}") from None

    def lookup(self, family: str, name: str) -> Any:
        """The registration of ``name`` in ``family``, or an error listing what exists and what failed."""
        return self.registry(family).get(name, self.failures)

    def runtime_names(self) -> list[str]:
        return self.runtimes.names()

    def runtime_spec(self, name: str) -> RuntimeRegistration:
        """The registration of runtime ``name`` (its ``framework``, ``backend`` and provider)."""
        return self.runtimes.get(name, self.failures)

    def runtime_capabilities(self, name: str) -> frozenset[str]:
        """What runtime ``name`` declared it can do (imports no framework).

        >>> sorted(get_plugins().runtime_capabilities("numpy"))
        []
        """
        return self.runtime_spec(name).capabilities

    def runtimes_with(self, *capabilities: str) -> list[str]:
        """The registered runtimes declaring every one of ``capabilities``, sorted (imports no framework).

        >>> "numpy" in get_plugins().runtimes_with()
        True
        """
        wanted = set(capabilities)
        return [reg.name for reg in self.runtimes if wanted <= reg.capabilities]

    def runtime_provenance(self, name: str) -> dict[str, str | None]:
        """Where runtime ``name`` comes from, for result files to record.

        >>> get_plugins().runtime_provenance("numpy")["distribution"]
        'recosim-core'

        ``{"runtime", "plugin", "distribution", "version"}``: the plugin that
        registered it and its distribution's installed version (None if unknown).
        """
        return {"runtime": name, **self.runtime_spec(name).provider.as_dict()}

    def get_runtime(self, name: str) -> type[Runtime]:
        """The runtime class registered as ``name`` (its framework is imported now)."""
        return self.runtime_spec(name).load()  # type: ignore[no-any-return]

    def get_backend(self, name: str) -> Backend:
        """The backend of runtime ``name`` (one shared instance per runtime)."""
        if name not in self._backends:
            self._backends[name] = self.runtime_spec(name).load_backend()
        return self._backends[name]

    def make_runtime(self, name: str, model: Any, **kwargs: Any) -> Runtime:
        """An instance of runtime ``name`` on ``model`` (a Network, Story or variables)."""
        return self.get_runtime(name)(model, **kwargs)

    def get_block(self, name: str) -> Any:
        return self.blocks.get(name, self.failures).load()

    def inference_method(self, name: str) -> InferenceMethod:
        """The inference method ``name`` with its implementations per runtime."""
        return self.inference_methods.get(name, self.failures)

    def get_inference_method(self, name: str, *, runtime: str | None = None) -> Any:
        """The implementation of inference method ``name`` for ``runtime`` (imported now).

        ``runtime`` may be omitted when the method has a single implementation.
        """
        return self.inference_method(name).implementation(runtime).load()

    def get_usecase(self, name: str) -> Any:
        return self.usecases.get(name, self.failures).load()

    def get_command(self, name: str) -> Any:
        return self.commands.get(name, self.failures).load()


def _distribution_of(ep: importlib_metadata.EntryPoint) -> str | None:
    return getattr(getattr(ep, "dist", None), "name", None)


def _load_order(ep: importlib_metadata.EntryPoint) -> tuple[bool, str]:
    """recosim's own distributions first (their names win), then the others, each by entry-point name."""
    return (_distribution_of(ep) not in FIRST_PARTY_DISTRIBUTIONS, ep.name)


def _version(distribution: str) -> str | None:
    try:
        return importlib_metadata.version(distribution)
    except Exception:
        return None


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
    """Build a fresh plugin manager: the built-in plugins, entry points, then ``extra`` plugins.

    ``extra`` holds ``(plugin, name, distribution)`` triples (handy in tests).
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    plugins = Plugins(manager)
    for name, module in BUILTIN_PLUGINS:
        plugins.register(importlib.import_module(module), name, CORE_DISTRIBUTION)
    if load_entry_points:  # RECOSIM_DISABLE_PLUGINS is read there: all, or the distributions it names
        plugins.load_entry_points(entry_points)
    for plugin, name, dist in extra:
        plugins.register(plugin, name, dist)
    return plugins


_CHILD = """
import importlib.metadata as md, sys
ep = md.EntryPoint(name=sys.argv[1], value=sys.argv[2], group=sys.argv[3])
ep.load()
"""


def check_entry_points(
    entry_points: Iterable[importlib_metadata.EntryPoint] | None = None, *, timeout: float = 120.0
) -> list[dict[str, Any]]:
    """Import each plugin of the ``recosim`` group in its own child interpreter; what became of each.

    Finds the plugin that ends the process at import (``os._exit``, a crash in
    native code, a hang), which the isolation inside one process cannot catch.
    Each entry: ``{"plugin", "distribution", "ok", "seconds", "result"}``, where
    ``result`` is ``"imported"``, ``"raised ..."``, ``"ended the process (exit status N)"``
    or ``"did not finish within T s"``.
    """
    import subprocess

    eps = importlib_metadata.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
    report = []
    for ep in sorted(eps, key=_load_order):
        dist = _distribution_of(ep) or "<unknown distribution>"
        start = time.perf_counter()
        argv = [sys.executable, "-c", _CHILD, ep.name, ep.value, ep.group]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            ok, result = False, f"did not finish within {timeout:g} s"
        else:
            lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
            if res.returncode == 0:
                ok, result = True, "imported"
            elif lines and "Traceback" in res.stderr:
                ok, result = False, f"raised {lines[-1].strip()}"
            else:
                ok, result = False, f"ended the process (exit status {res.returncode})"
        report.append({"plugin": ep.name, "distribution": dist, "ok": ok,
                       "seconds": round(time.perf_counter() - start, 3), "result": result})
    return report


_LOCK = threading.Lock()
_PLUGINS: Plugins | None = None


def get_plugins(*, reload: bool = False) -> Plugins:
    """The process-wide plugins, built on first use (never at import time)."""
    global _PLUGINS
    with _LOCK:
        if _PLUGINS is None or reload:
            _PLUGINS = make_plugins()
        return _PLUGINS


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
