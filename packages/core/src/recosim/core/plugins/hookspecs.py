"""The hook specifications of recosim: what a plugin can contribute.

A plugin is a module registered under the entry-point group ``recosim``. It
implements any of the hooks below with :data:`hookimpl`; each hook receives a
*registry* and calls ``registry.add(name, target, ...)`` once per contribution.
Targets may be objects or ``"module:attribute"`` strings, which are imported only
when the contribution is first used, so a plugin module stays cheap to load.
Every hook is called once per plugin and returns nothing; a name registered
twice in one family is an error naming both providers.

>>> from recosim.core.plugins import hookimpl
>>> class MyPlugin:
...     @hookimpl
...     def recosim_add_blocks(self, registry):
...         registry.add("my_choice", "my_pkg.choice:MyChoice", summary="a custom choice model")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from recosim.core.plugins.registry import Registry

PROJECT = "recosim"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = [
    "PROJECT",
    "hookspec",
    "hookimpl",
    "recosim_add_runtimes",
    "recosim_add_blocks",
    "recosim_add_inference_methods",
    "recosim_add_usecases",
    "recosim_add_commands",
]


@hookspec
def recosim_add_runtimes(registry: Registry) -> None:
    """Register runtimes (and the backend each one lends to behaviours).

    Call ``registry.add(name, runtime, backend=..., framework=..., summary=...)``:
    ``runtime`` is a `recosim.core.runtime.Runtime` subclass (or its import string),
    ``backend`` a zero-argument callable returning a `recosim.core.backend.Backend`,
    and ``framework`` the top-level module the runtime imports (``"tensorflow"``),
    which is used to recognise that framework's arrays without importing it.
    Returns nothing.
    """


@hookspec
def recosim_add_blocks(registry: Registry) -> None:
    """Register behaviour blocks that can be looked up by name.

    Call ``registry.add(name, block, kind=..., summary=...)``: ``block`` is a class
    or factory (or its import string) and ``kind`` one of ``"choice"``, ``"state"``,
    ``"bandit"``, ``"prototype"``, ``"story"`` or a kind of the plugin's own.
    Returns nothing.
    """


@hookspec
def recosim_add_inference_methods(registry: Registry) -> None:
    """Register inference methods (log-probability, MCMC, EM, policy gradients).

    Call ``registry.add(name, method, runtimes=(...), summary=...)``: ``method`` is a
    callable (or its import string) and ``runtimes`` the runtime names it supports
    (empty for all). Returns nothing.
    """


@hookspec
def recosim_add_usecases(registry: Registry) -> None:
    """Register use cases that ``recosim run <name>`` can run.

    Call ``registry.add(name, usecase, summary=...)``: ``usecase`` is a
    `recosim.core.usecase.UseCase` subclass or instance (or its import string).
    Returns nothing.
    """


@hookspec
def recosim_add_commands(registry: Registry) -> None:
    """Register subcommands of the ``recosim`` command line.

    Call ``registry.add(name, command, summary=...)``: ``command`` is a
    `recosim.core.cli.Command` subclass (or its import string). Returns nothing.
    """
