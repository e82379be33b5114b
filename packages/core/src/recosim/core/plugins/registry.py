"""Registries and registrars: what plugins contribute, one typed family at a time.

A *registry* holds one family's registrations (runtimes, blocks, ...), keyed by
unique name. A plugin never touches a registry: each hook receives a *registrar*
for its family, whose ``add`` method has that family's typed signature. The
registrar checks every addition at once (a name taken by another provider is a
`DuplicateRegistrationError` naming both) and keeps them until the hook returns;
the plugin manager then commits them together, so a hook that fails halfway
leaves nothing behind.

Inference methods are keyed by name *and* runtime: one method name
(``"log_probability"``) has one implementation per runtime, and any distribution
may add an implementation for a runtime the name does not cover yet (a new
runtime's plugin adds its own ``log_probability``). Two implementations of the
same name for the same runtime are an error naming both providers.

>>> registry = Registry("runtimes")
>>> registrar = RuntimeRegistrar(registry, Provider("mine", "my-dist"))
>>> registrar.add("fast", "recosim.core.runtime:NumpyRuntime", backend="recosim.core.backend:numpy_backend")
>>> registrar.commit()
>>> registry.get("fast").framework, str(registry.get("fast").provider)
(None, "plugin 'mine' (distribution 'my-dist')")

Import strings are checked when they are added, without importing anything: a
module that is not installed is an error then, not on first use.

>>> registrar.add("slow", "my_dist.runtime:Slow", backend="my_dist.backend:backend")
Traceback (most recent call last):
...
recosim.core.errors.PluginError: runtime 'slow' from plugin 'mine' (distribution 'my-dist') points at \
'my_dist.runtime:Slow', but no module 'my_dist.runtime' is installed
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import sys
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from recosim.core.errors import DuplicateRegistrationError, PluginError, UnknownPluginError

if TYPE_CHECKING:
    from recosim.core.backend import Backend
    from recosim.core.runtime import Runtime

__all__ = [
    "ANY_RUNTIME",
    "CAPABILITIES",
    "COMPILES",
    "DIFFERENTIABLE",
    "SHARDS",
    "VECTORISES",
    "FIRST_PARTY_DISTRIBUTIONS",
    "RESERVED_RUNTIMES",
    "BlockRegistrar",
    "BlockRegistration",
    "CommandRegistrar",
    "Implementation",
    "InferenceMethod",
    "InferenceMethodRegistrar",
    "InferenceMethods",
    "PluginFailure",
    "Provider",
    "Registrar",
    "Registration",
    "Registry",
    "RuntimeRegistrar",
    "RuntimeRegistration",
    "UseCaseRegistrar",
    "declare_block",
    "module_exists",
    "module_of",
    "resolve",
]

FIRST_PARTY_DISTRIBUTIONS: frozenset[str] = frozenset(
    {
        "recosim-core", "recosim-library", "recosim-runtime-tf", "recosim-runtime-jax", "recosim-usecases",
        "recosim-inference", "recosim-sweep", "recosim-gym",
    }
)  # fmt: skip
"""recosim's own distributions. Their plugins load before any other, so their names win."""

RESERVED_RUNTIMES: dict[str, str] = {"numpy": "recosim-core", "tf": "recosim-runtime-tf", "jax": "recosim-runtime-jax"}
"""Runtime names only recosim's own distribution may register, installed or not."""

COMPILES = "compiles"
"""Capability: the runtime compiles a whole run into one program (fast repeated calls, no breakpoints)."""
VECTORISES = "vectorises"
"""Capability: the runtime runs many runs (keys x settings) in one program (`Runtime.run_batch`)."""
DIFFERENTIABLE = "differentiable"
"""Capability: simulations and log-probabilities of the runtime can be differentiated (training, VI, HMC)."""
SHARDS = "shards"
"""Capability: the runtime spreads independent runs over several devices or replicas."""
CAPABILITIES: frozenset[str] = frozenset({COMPILES, VECTORISES, DIFFERENTIABLE, SHARDS})
"""The capabilities recosim knows by name; a plugin may declare others of its own."""

ANY_RUNTIME = "*"
"""The runtime key of an inference-method implementation that serves every runtime."""

Target = Any
"""What a registration refers to: the object itself, or its ``"package.module:attribute"`` import string."""


@dataclass(frozen=True)
class Provider:
    """Who registered something: the plugin's name, its distribution and that distribution's version.

    ``version`` is ``None`` where it is not known (a plugin registered by hand
    from code that is not an installed distribution).
    """

    plugin: str
    distribution: str
    version: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} (distribution {self.distribution!r})"

    @property
    def first_party(self) -> bool:
        """Whether the provider is one of recosim's own distributions (`FIRST_PARTY_DISTRIBUTIONS`)."""
        return self.distribution in FIRST_PARTY_DISTRIBUTIONS

    def as_dict(self) -> dict[str, str | None]:
        """``{"plugin", "distribution", "version"}``: what a result file records about where code came from."""
        return {"plugin": self.plugin, "distribution": self.distribution, "version": self.version}


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or could not register."""

    plugin: str
    distribution: str
    stage: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} from distribution {self.distribution!r} failed at {self.stage}: {self.error}"


def resolve(target: Target) -> Any:
    """Import ``"package.module:attribute"`` strings; return other targets unchanged."""
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Registration:
    """One contribution: a name, what it refers to, and who provided it."""

    family: str
    name: str
    target: Target
    provider: Provider
    summary: str = ""

    @property
    def key(self) -> Hashable:
        """What must be unique within the family (the name)."""
        return self.name

    @property
    def plugin(self) -> str:
        return self.provider.plugin

    @property
    def distribution(self) -> str:
        return self.provider.distribution

    def describe(self) -> str:
        """How errors name this registration: ``"block 'x'"``."""
        return f"{_singular(self.family)} {self.name!r}"

    def load(self) -> Any:
        """The target itself, importing it first if it was registered as a string."""
        return _load(self.target, f"{self.describe()} from {self.provider}")


@dataclass(frozen=True)
class RuntimeRegistration(Registration):
    """A runtime: its class, the factory of the backend it lends to behaviours, its framework and capabilities."""

    backend: Target = None
    framework: str | None = None
    capabilities: frozenset[str] = frozenset()

    def load_backend(self) -> Backend:
        """A backend made by the registered factory (importing the framework now)."""
        factory = _load(self.backend, f"the backend of runtime {self.name!r} from {self.provider}")
        return factory()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class BlockRegistration(Registration):
    """A behaviour block and its kind (``"choice"``, ``"state"``, ...)."""

    kind: str = ""


@dataclass(frozen=True)
class Implementation(Registration):
    """One runtime's implementation of an inference method (``runtime`` may be `ANY_RUNTIME`)."""

    runtime: str = ANY_RUNTIME

    @property
    def key(self) -> Hashable:
        return (self.name, self.runtime)

    def describe(self) -> str:
        where = "every runtime" if self.runtime == ANY_RUNTIME else f"runtime {self.runtime!r}"
        return f"inference method {self.name!r} for {where}"


def _singular(family: str) -> str:
    return family[:-1].replace("_", " ") if family.endswith("s") else family


def _load(target: Target, what: str) -> Any:
    try:
        return resolve(target)
    except (Exception, SystemExit) as err:  # a plugin's sys.exit() must not end the host; Ctrl-C still does
        raise PluginError(f"{what} could not be loaded: {type(err).__name__}: {err}") from err


def module_of(target: Target) -> str | None:
    """The module an import-string target names (``"pkg.mod:attr"`` -> ``"pkg.mod"``), else None."""
    return target.partition(":")[0] or None if isinstance(target, str) else None


def _static_spec(name: str) -> Any:
    """The import spec of module ``name``, found without executing any module (None if there is none)."""
    if name in sys.modules:
        return getattr(sys.modules[name], "__spec__", None) or importlib.machinery.ModuleSpec(name, None)
    parent, _, _ = name.rpartition(".")
    path = None
    if parent:
        module = sys.modules.get(parent)
        if module is not None:
            path = getattr(module, "__path__", None)
        else:
            spec = _static_spec(parent)
            path = None if spec is None else spec.submodule_search_locations
        if path is None:
            return None
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find(name, path)
        except Exception:
            continue
        if spec is not None:
            return spec
    return None


def module_exists(name: str) -> bool:
    """Whether module ``name`` can be found, without importing it if it can be decided without.

    A package whose ``__init__`` extends its own ``__path__`` (old-style namespace
    packages) can hide submodules from a static search; only then are the
    parent packages imported to decide.
    """
    if _static_spec(name) is not None:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except BaseException:
        return False


R = TypeVar("R", bound=Registration)
B = TypeVar("B")


def declare_block(name: str, *, kind: str) -> Callable[[B], B]:
    """Give a block function (or class) the ``block_name`` and ``block_kind`` that ``add_named`` reads.

    Classes usually declare the two as class attributes; this decorator is for
    factories and story functions.

    >>> @declare_block("my_story", kind="story")
    ... def my_story():
    ...     return []
    >>> my_story.block_name, my_story.block_kind
    ('my_story', 'story')
    """

    def mark(block: B) -> B:
        setattr(block, "block_name", name)  # noqa: B010 - functions take attributes this way
        setattr(block, "block_kind", kind)  # noqa: B010
        return block

    return mark


class Registry(Generic[R]):
    """The registrations of one family, keyed by unique name (or, for inference methods, name and runtime)."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._entries: dict[Hashable, R] = {}

    @property
    def singular(self) -> str:
        """The family's name for one entry ('runtime', 'inference method', ...)."""
        return _singular(self.family)

    def find(self, key: Hashable) -> R | None:
        """The registration under ``key``, or None."""
        return self._entries.get(key)

    def commit(self, registrations: Sequence[R]) -> None:
        """Add checked registrations (what a `Registrar` holds when its hook returns)."""
        for reg in registrations:
            old = self._entries.get(reg.key)
            if old is not None:
                raise DuplicateRegistrationError(_clash(old, reg))
        for reg in registrations:
            self._entries[reg.key] = reg

    def __contains__(self, name: object) -> bool:
        return any(reg.name == name for reg in self._entries.values())

    def __iter__(self) -> Iterator[R]:
        return iter(sorted(self._entries.values(), key=lambda r: str(r.key)))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted({reg.name for reg in self._entries.values()})

    def get(self, name: str, failures: Sequence[PluginFailure] = ()) -> R:
        """The registration of ``name``, or an error listing what exists and what failed to load."""
        found = self._entries.get(name)
        if found is None:
            raise UnknownPluginError(_unknown(self.singular, name, self.names(), failures))
        return found


def _unknown(what: str, name: str, names: Sequence[str], failures: Sequence[PluginFailure]) -> str:
    msg = f"no {what} named {name!r}; available: {list(names) or 'none'}"
    if failures:
        msg += "; plugins that failed to load: " + "; ".join(str(f) for f in failures)
    return msg


def _clash(old: Registration, new: Registration) -> str:
    msg = f"{new.describe()} is registered twice: by {old.provider} and by {new.provider}"
    if old.provider.first_party and not new.provider.first_party:
        msg += f"; recosim's own names win, so {new.provider} may not replace it"
    return msg


def _targets(registration: Registration) -> list[Target]:
    """Every import target a registration holds (a runtime's backend too)."""
    extra = [registration.backend] if isinstance(registration, RuntimeRegistration) else []
    return [registration.target, *extra]


@dataclass(frozen=True)
class InferenceMethod:
    """An inference method: one name, one implementation per runtime."""

    name: str
    summary: str
    implementations: Mapping[str, Implementation] = field(default_factory=dict)

    @property
    def runtimes(self) -> tuple[str, ...]:
        """The runtimes with an implementation (`ANY_RUNTIME` for one that serves all)."""
        return tuple(sorted(self.implementations))

    @property
    def providers(self) -> tuple[Provider, ...]:
        return tuple(dict.fromkeys(impl.provider for impl in self.implementations.values()))

    def implementation(self, runtime: str | None = None) -> Implementation:
        """The implementation for ``runtime`` (or the one serving every runtime).

        ``runtime=None`` is allowed when the method has a single implementation.
        """
        if runtime is None:
            if len(self.implementations) == 1:
                return next(iter(self.implementations.values()))
            raise UnknownPluginError(
                f"inference method {self.name!r} has implementations for the runtimes {list(self.runtimes)}; "
                "name one with runtime="
            )
        found = self.implementations.get(runtime) or self.implementations.get(ANY_RUNTIME)
        if found is None:
            raise UnknownPluginError(
                f"inference method {self.name!r} has no implementation for runtime {runtime!r}; "
                f"it has implementations for {list(self.runtimes)}"
            )
        return found


class InferenceMethods:
    """The inference-method family: implementations keyed by (name, runtime), grouped by name."""

    family = "inference_methods"
    singular = "inference method"

    def __init__(self) -> None:
        self.implementations: Registry[Implementation] = Registry(self.family)

    def find(self, key: Hashable) -> Implementation | None:
        return self.implementations.find(key)

    def commit(self, registrations: Sequence[Implementation]) -> None:
        self.implementations.commit(registrations)

    def names(self) -> list[str]:
        return self.implementations.names()

    def __contains__(self, name: object) -> bool:
        return name in self.implementations

    def __len__(self) -> int:
        return len(self.names())

    def __iter__(self) -> Iterator[InferenceMethod]:
        return iter([self.get(name) for name in self.names()])

    def get(self, name: str, failures: Sequence[PluginFailure] = ()) -> InferenceMethod:
        """The method ``name`` with all its implementations."""
        impls = {i.runtime: i for i in self.implementations if i.name == name}
        if not impls:
            raise UnknownPluginError(_unknown(self.singular, name, self.names(), failures))
        ordered = sorted(impls.values(), key=lambda i: i.runtime)
        summary = next((i.summary for i in ordered if i.summary), "")
        return InferenceMethod(name, summary, dict(sorted(impls.items())))


# -- registrars: what each hook receives ---------------------------------------------------------


class Registrar:
    """Collects one plugin's contributions to one family; see the family's ``add``.

    The plugin manager creates one per plugin and hook, calls the hook with it,
    and then calls :meth:`commit`; nothing reaches the registry before that.
    """

    def __init__(self, registry: Registry[Any] | InferenceMethods, provider: Provider) -> None:
        self.registry = registry
        self.provider = provider
        self.pending: list[Registration] = []

    @property
    def family(self) -> str:
        return self.registry.family

    def _stage(self, registration: Registration) -> None:
        if not isinstance(registration.name, str) or not registration.name:
            raise PluginError(f"{self.family}: {self.provider} registered an empty or non-string name")
        old = self.registry.find(registration.key)
        if old is None:
            old = next((p for p in self.pending if p.key == registration.key), None)
        if old is not None:
            raise DuplicateRegistrationError(_clash(old, registration))
        for target in _targets(registration):
            module = module_of(target)
            if module is not None and not module_exists(module):
                raise PluginError(
                    f"{registration.describe()} from {self.provider} points at {target!r}, "
                    f"but no module {module!r} is installed"
                )
        self.pending.append(registration)

    def commit(self) -> None:
        """Hand the staged contributions to the registry (the plugin manager calls this)."""
        self.registry.commit(self.pending)  # type: ignore[arg-type]
        self.pending = []


class RuntimeRegistrar(Registrar):
    """What ``recosim_add_runtimes`` receives."""

    def add(
        self,
        name: str,
        runtime: type[Runtime] | str,
        *,
        backend: Callable[[], Backend] | str,
        framework: str | None = None,
        summary: str = "",
        capabilities: Sequence[str] = (),
    ) -> None:
        """Register ``runtime`` (a `Runtime` subclass or its import string) as ``name``.

        ``backend`` is a zero-argument callable returning the runtime's `Backend` (or
        its import string); ``framework`` the top-level module whose arrays the
        backend owns (``"tensorflow"``), or None for NumPy. ``capabilities`` are what
        callers may ask of it without importing it (`COMPILES`, `VECTORISES`,
        `DIFFERENTIABLE`, `SHARDS`, or names of the plugin's own).
        """
        caps = _capabilities(name, capabilities, self.provider)
        owner = RESERVED_RUNTIMES.get(name)
        if owner is not None and self.provider.distribution != owner and self.registry.find(name) is None:
            raise DuplicateRegistrationError(
                f"runtime {name!r} is recosim's own (distribution {owner!r}); {self.provider} may not register "
                "it. Register the runtime under a name of its own"
            )
        self._stage(RuntimeRegistration(self.family, name, runtime, self.provider, summary, backend, framework, caps))


def _capabilities(name: str, capabilities: Sequence[str], provider: Provider) -> frozenset[str]:
    """``capabilities`` as a frozenset, each a non-empty string (a lone string is refused, not split)."""
    if isinstance(capabilities, str):
        raise PluginError(
            f"runtime {name!r} from {provider}: capabilities must be a sequence of names, "
            f"got the string {capabilities!r} (write capabilities=({capabilities!r},))"
        )
    caps = tuple(capabilities)
    bad = [c for c in caps if not isinstance(c, str) or not c]
    if bad:
        raise PluginError(f"runtime {name!r} from {provider}: capabilities must be non-empty strings, got {bad!r}")
    return frozenset(caps)


class BlockRegistrar(Registrar):
    """What ``recosim_add_blocks`` receives."""

    def add(self, name: str, block: Any, *, kind: str, summary: str = "") -> None:
        """Register ``block`` (a class or factory, or its import string) as ``name`` of ``kind``."""
        self._stage(BlockRegistration(self.family, name, block, self.provider, summary, kind))

    def add_named(self, *blocks: Any) -> None:
        """Register blocks under the names they declare.

        Each block (a class or function) carries ``block_name`` and ``block_kind``
        attributes, declared on the class itself (not inherited); the summary is
        ``block_summary`` when set, else the first sentence of its docstring.
        """
        for block in blocks:
            own = vars(block) if isinstance(block, type) else getattr(block, "__dict__", {})
            if "block_name" not in own or "block_kind" not in own:
                where = getattr(block, "__qualname__", repr(block))
                raise PluginError(
                    f"{self.provider}: block {where} declares no block_name and block_kind of its own"
                )
            paragraph = " ".join(inspect.cleandoc(getattr(block, "__doc__", None) or "").split("\n\n")[0].split())
            summary = own.get("block_summary") or paragraph.split(". ")[0].rstrip(".")
            self.add(own["block_name"], block, kind=own["block_kind"], summary=summary)


class InferenceMethodRegistrar(Registrar):
    """What ``recosim_add_inference_methods`` receives."""

    def add(
        self,
        name: str,
        target: Target | None = None,
        *,
        implementations: Mapping[str, Target] | None = None,
        runtimes: Sequence[str] | None = None,
        summary: str = "",
    ) -> None:
        """Register the inference method ``name`` with one implementation per runtime.

        ``implementations`` maps runtime names to callables (or import strings):
        ``add("log_probability", implementations={"jax": "pkg.mod:fn"}, summary=...)``.
        The key `ANY_RUNTIME` (``"*"``) names an implementation that serves every
        runtime without one of its own. The older form ``add(name, target,
        runtimes=(...))`` registers ``target`` for each runtime listed (for every
        runtime when the list is empty).
        """
        if (target is None) == (implementations is None):
            raise PluginError(
                f"{self.provider}: inference method {name!r} needs implementations={{runtime: target}} "
                "(or one target with runtimes=...), not both"
            )
        if implementations is None:
            listed = tuple(runtimes or ())
            implementations = {rt: target for rt in listed} if listed else {ANY_RUNTIME: target}
        elif runtimes is not None:
            raise PluginError(f"{self.provider}: inference method {name!r}: runtimes= goes with a single target")
        if not implementations:
            raise PluginError(f"{self.provider}: inference method {name!r} registered no implementation")
        for runtime, impl in implementations.items():
            self._stage(Implementation(self.family, name, impl, self.provider, summary, runtime))


class UseCaseRegistrar(Registrar):
    """What ``recosim_add_usecases`` receives."""

    def add(self, name: str, usecase: Target, *, summary: str = "") -> None:
        """Register ``usecase`` (a `recosim.core.usecase.UseCase` subclass or instance, or its import string)."""
        self._stage(Registration(self.family, name, usecase, self.provider, summary))


class CommandRegistrar(Registrar):
    """What ``recosim_add_commands`` receives."""

    def add(self, name: str, command: Target, *, summary: str = "") -> None:
        """Register ``command`` (a `recosim.core.cli.Command` subclass or its import string) as a subcommand."""
        self._stage(Registration(self.family, name, command, self.provider, summary))
