"""The plugin system: hook specifications, registries and the plugin manager."""

from recosim.core.plugins.hookspecs import hookimpl, hookspec
from recosim.core.plugins.manager import ENTRY_POINT_GROUP, FAMILIES, Plugins, get_plugins, make_plugins
from recosim.core.plugins.registry import PluginFailure, Registration, Registry

__all__ = [
    "hookimpl",
    "hookspec",
    "ENTRY_POINT_GROUP",
    "FAMILIES",
    "Plugins",
    "get_plugins",
    "make_plugins",
    "PluginFailure",
    "Registration",
    "Registry",
]
