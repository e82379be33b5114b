"""The hook specifications of recosim: what a plugin can contribute.

A plugin is a module registered under the entry-point group ``recosim``. It
implements any of the hooks below with :data:`hookimpl`. Each hook receives a
*registrar* for its family and calls its typed ``registry.add(...)`` once per
contribution (tox 4's style: a duplicate name is caught where it is added).
Targets may be objects or ``"module:attribute"`` strings, which are imported only
when the contribution is first used, so a plugin module stays cheap to load.
Every hook is called once per plugin and returns nothing; a name registered
twice in one family is an error naming both providers, and a hook that raises
registers nothing.

>>> from recosim.core.plugins import hookimpl
>>> class MyPlugin:
...     @hookimpl
...     def recosim_add_blocks(self, registry):
...         registry.add("my_choice", "my_pkg.choice:MyChoice", kind="choice", summary="a custom choice model")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from recosim.core.plugins.registry import (
        BlockRegistrar,
        CommandRegistrar,
        InferenceMethodRegistrar,
        RuntimeRegistrar,
        UseCaseRegistrar,
    )

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
def recosim_add_runtimes(registry: RuntimeRegistrar) -> None:
    """Register runtimes (and the backend each one lends to behaviours).

    Call ``registry.add(name, runtime, backend=..., framework=..., summary=...)``:
    ``runtime`` is a `recosim.core.runtime.Runtime` subclass (or its import string),
    ``backend`` a zero-argument callable returning a `recosim.core.backend.Backend`,
    and ``framework`` the top-level module the runtime imports (``"tensorflow"``),
    which is used to recognise that framework's arrays without importing it.
    Returns nothing.
    """


@hookspec
def recosim_add_blocks(registry: BlockRegistrar) -> None:
    """Register behaviour blocks that can be looked up by name.

    Call ``registry.add(name, block, kind=..., summary=...)``: ``block`` is a class
    or factory (or its import string) and ``kind`` one of ``"choice"``, ``"state"``,
    ``"bandit"``, ``"metric"``, ``"prototype"``, ``"story"`` or a kind of the
    plugin's own; or ``registry.add_named(*blocks)`` for blocks that declare
    ``block_name`` and ``block_kind`` class attributes. Returns nothing.
    """


@hookspec
def recosim_add_inference_methods(registry: InferenceMethodRegistrar) -> None:
    """Register inference methods (log-probability, MCMC, EM, policy gradients).

    Call ``registry.add(name, implementations={runtime: method, ...}, summary=...)``:
    one method name, one callable (or import string) per runtime; ``"*"`` serves
    every runtime without an implementation of its own. Another distribution may
    add an implementation for a further runtime to an existing name; the same
    name and runtime registered twice is an error naming both providers.
    Look methods up with ``get_plugins().get_inference_method(name, runtime=...)``.
    Returns nothing.
    """


@hookspec
def recosim_add_usecases(registry: UseCaseRegistrar) -> None:
    """Register use cases that ``recosim run <name>`` can run.

    Call ``registry.add(name, usecase, summary=...)``: ``usecase`` is a
    `recosim.core.usecase.UseCase` subclass or instance (or its import string).
    Returns nothing.
    """


@hookspec
def recosim_add_commands(registry: CommandRegistrar) -> None:
    """Register subcommands of the ``recosim`` command line.

    Call ``registry.add(name, command, summary=...)``: ``command`` is a
    `recosim.core.cli.Command` subclass (or its import string). Returns nothing.
    """
