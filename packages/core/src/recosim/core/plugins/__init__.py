"""The plugin system: hook specifications, typed registrars and the plugin manager.

A plugin module implements hooks with :data:`hookimpl`; each hook receives the
registrar of its family (`RuntimeRegistrar`, `BlockRegistrar`,
`InferenceMethodRegistrar`, `UseCaseRegistrar`, `CommandRegistrar`). The host
looks contributions up through :func:`get_plugins`.
"""

from recosim.core.plugins.hookspecs import hookimpl, hookspec
from recosim.core.plugins.manager import (
    BUILTIN_PLUGINS,
    ENTRY_POINT_GROUP,
    FAMILIES,
    Family,
    Plugins,
    get_plugins,
    make_plugins,
)
from recosim.core.plugins.registry import (
    ANY_RUNTIME,
    CAPABILITIES,
    COMPILES,
    DIFFERENTIABLE,
    SHARDS,
    VECTORISES,
    BlockRegistrar,
    BlockRegistration,
    CommandRegistrar,
    Implementation,
    InferenceMethod,
    InferenceMethodRegistrar,
    PluginFailure,
    Provider,
    Registrar,
    Registration,
    Registry,
    RuntimeRegistrar,
    RuntimeRegistration,
    UseCaseRegistrar,
    declare_block,
)

__all__ = [
    "ANY_RUNTIME",
    "BUILTIN_PLUGINS",
    "CAPABILITIES",
    "COMPILES",
    "DIFFERENTIABLE",
    "SHARDS",
    "VECTORISES",
    "ENTRY_POINT_GROUP",
    "FAMILIES",
    "BlockRegistrar",
    "BlockRegistration",
    "CommandRegistrar",
    "Family",
    "Implementation",
    "InferenceMethod",
    "InferenceMethodRegistrar",
    "PluginFailure",
    "Plugins",
    "Provider",
    "Registrar",
    "Registration",
    "Registry",
    "RuntimeRegistrar",
    "RuntimeRegistration",
    "UseCaseRegistrar",
    "declare_block",
    "get_plugins",
    "hookimpl",
    "hookspec",
    "make_plugins",
]
