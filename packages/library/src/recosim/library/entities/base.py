"""Prototypes: the abstract agents that the library's stories know how to wire.

A prototype declares the behaviours a story calls; a custom user, corpus,
recommender or metrics entity that subclasses one (and implements its abstract
behaviours) can be dropped into every story of `recosim.library.stories`.

Each prototype's ``specs()`` returns one `ValueSpec` whose top-level keys name the
variables the entity drives (``"state"``, ``"response"``, ...); `subspec` picks one.

>>> from recosim.core import FieldSpec, Value, ValueSpec
>>> class Forgetful(User):
...     def specs(self):
...         return ValueSpec(state=ValueSpec(x=FieldSpec()), response=ValueSpec(c=FieldSpec()))
...     def initial_state(self):
...         return Value(x=0.0)
>>> try:
...     Forgetful()
... except TypeError as err:
...     print(err)
Forgetful subclasses the User prototype but does not implement next_state, response; the library's stories call these \
behaviours
"""

from __future__ import annotations

import functools
import inspect
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from typing import Any

from recosim.core import Entity, FieldSpec, Value, ValueSpec

__all__ = ["Prototype", "User", "Corpus", "Recommender", "Metrics", "subspec"]


def subspec(spec: ValueSpec, key: str) -> ValueSpec:
    """The `ValueSpec` of the fields under ``key`` in ``spec``.

    >>> subspec(ValueSpec(state=ValueSpec(x=FieldSpec(), y=FieldSpec())), "state").keys() == {"x", "y"}
    True
    """
    if not isinstance(spec, ValueSpec):
        raise TypeError(f"subspec: spec must be a ValueSpec, got {type(spec).__name__}")
    try:
        part = spec.get(key)
    except KeyError:
        raise KeyError(f"specs() declares no {key!r} part; its keys are {sorted(spec.keys())}") from None
    if isinstance(part, FieldSpec):
        raise KeyError(f"specs() part {key!r} is a single FieldSpec; declare it as ValueSpec(field=FieldSpec(...))")
    return ValueSpec(part)


class _PrototypeMeta(ABCMeta):
    """Refuses to instantiate a prototype subclass that forgets a behaviour, saying which."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        if missing:
            protos = [b.__name__ for b in cls.__mro__ if b.__dict__.get("_prototype_root")]
            proto = protos[0] if protos else "Prototype"
            if cls.__dict__.get("_prototype_root"):
                raise TypeError(f"{cls.__name__} is a prototype; subclass it and implement {', '.join(missing)}")
            raise TypeError(
                f"{cls.__name__} subclasses the {proto} prototype but does not implement "
                f"{', '.join(missing)}; the library's stories call these behaviours"
            )
        return super().__call__(*args, **kwargs)


class Prototype(Entity, metaclass=_PrototypeMeta):
    """Base of the prototypes: an `Entity` with declared variable specs."""

    @abstractmethod
    def specs(self) -> ValueSpec:
        """The domains of the variables this entity drives, keyed by role (``"state"``, ...)."""

    def spec(self, key: str) -> ValueSpec:
        """The `ValueSpec` of one role, e.g. ``user.spec("response")``."""
        return subspec(self.specs(), key)


class User(Prototype):
    """A population of users: latent state, what the recommender observes, and responses.

    Stories call ``initial_state()``, ``next_state(previous_state, response, slate)``,
    ``response(state, slate)`` and ``observation(state)``; ``specs()`` declares the
    parts ``"state"``, ``"response"`` and (when ``observation`` is overridden)
    ``"observation"``. The default observation is the whole state (a fully
    observed user); override it to hide latent fields from the recommender.

    ``next_state`` sees the slate the users responded to, so a state can move
    toward the chosen document without the response copying its features. A
    subclass may still define the shorter ``next_state(previous_state, response)``:
    it is then called without the slate (the class gets a three-argument
    ``next_state`` that drops it), so both forms work in every story.
    """

    block_name = "user"
    block_kind = "prototype"

    _prototype_root = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("next_state")
        if inspect.isfunction(own) and not getattr(own, "__isabstractmethod__", False):
            if not _takes_positional(own, 4):  # self, previous_state, response, slate
                cls.next_state = _without_slate(own)  # type: ignore[method-assign]

    @abstractmethod
    def initial_state(self) -> Value:
        """The users' state at ``t = 0`` (fields with a leading user axis)."""

    @abstractmethod
    def next_state(self, previous_state: Value, response: Value, slate: Value) -> Value:
        """The users' state after responding with ``response`` to ``slate`` (this step's)."""

    @abstractmethod
    def response(self, state: Value, slate: Value) -> Value:
        """How users in ``state`` respond to the recommended ``slate`` (e.g. a choice)."""

    def observation(self, state: Value) -> Value:
        """What the recommender sees of the users before recommending (default: ``state``)."""
        return state

    def observation_spec(self) -> ValueSpec:
        """The spec of ``observation``: the ``"observation"`` part of specs, else the state's."""
        spec = self.specs()
        return subspec(spec, "observation") if "observation" in spec else subspec(spec, "state")


def _takes_positional(fn: Callable[..., Any], count: int) -> bool:
    """Whether ``fn`` accepts ``count`` positional arguments."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= count


def _without_slate(fn: Callable[..., Value]) -> Callable[..., Value]:
    """A three-argument ``next_state`` calling the two-argument ``fn`` without the slate."""

    @functools.wraps(fn)
    def next_state(self: Any, previous_state: Value, response: Value, slate: Value | None = None) -> Value:
        return fn(self, previous_state, response)

    del next_state.__wrapped__  # report the three-argument signature, not fn's
    return next_state


class Corpus(Prototype):
    """The documents on offer: a corpus state and the documents available each step.

    Stories call ``initial_state()``, ``next_state(previous_state, response)`` and
    ``available_documents(state)``; ``specs()`` declares ``"state"`` and
    ``"available_documents"`` (fields with a leading document axis).
    """

    block_name = "corpus"
    block_kind = "prototype"

    _prototype_root = True

    @abstractmethod
    def initial_state(self) -> Value:
        """The corpus state at ``t = 0``."""

    def next_state(self, previous_state: Value, response: Value) -> Value:
        """The corpus state after the users' ``response`` (default: unchanged)."""
        return previous_state

    @abstractmethod
    def available_documents(self, state: Value) -> Value:
        """The documents the recommender may choose from, given the corpus ``state``."""


class Recommender(Prototype):
    """A recommender: its state (beliefs, counts) and the slates it serves.

    Stories call ``initial_state()``, ``slate(state, user_observation,
    available_documents)`` and ``next_state(previous_state, response, slate)``;
    ``specs()`` declares ``"state"`` and ``"slate"``.
    """

    block_name = "recommender"
    block_kind = "prototype"

    _prototype_root = True

    @abstractmethod
    def initial_state(self) -> Value:
        """The recommender's state at ``t = 0``."""

    @abstractmethod
    def slate(self, state: Value, user_observation: Value, available_documents: Value) -> Value:
        """One slate per user: document indices and the documents' fields."""

    def next_state(self, previous_state: Value, response: Value, slate: Value) -> Value:
        """The state after seeing the users' ``response`` to ``slate`` (default: unchanged)."""
        return previous_state


class Metrics(Prototype):
    """Running metrics of a simulation.

    Stories bind the metrics variable at ``t = 0`` to
    ``next_state(initial_state(), response, slate)`` and later to
    ``next_state(previous_state, response, slate)``, so the value at step ``t``
    includes the responses of steps ``0..t``. ``specs()`` declares ``"state"``.
    """

    block_name = "metrics"
    block_kind = "prototype"

    _prototype_root = True

    @abstractmethod
    def initial_state(self) -> Value:
        """The metrics before any response."""

    @abstractmethod
    def next_state(self, previous_state: Value, response: Value, slate: Value) -> Value:
        """The metrics after one more step of ``response`` to ``slate``."""
