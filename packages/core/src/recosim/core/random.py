"""The random-variable primitive and its effect handlers.

Every random draw in a recosim model goes through :func:`rv`. What a draw *does*
is decided by the handlers on the stack, not by the model:

* :class:`seed` samples it with a stateless seed derived from the handler's key and
  the draw's name (so adding a draw never reshuffles the others);
* :class:`substitute` replaces it by an observed value;
* :class:`block_unobserved` refuses to sample (used when scoring data);
* :class:`trace` records every draw with its distribution, value and log-probability.

Handlers are context managers; the innermost one sees a draw first.

>>> from recosim.core.backend import numpy_backend
>>> B = numpy_backend()
>>> with trace() as tr, substitute({"x": 0.0}):
...     x = rv("x", B.tfd.Normal(0.0, 1.0))
>>> float(x), round(float(tr.log_prob()), 4)
(0.0, -0.9189)

A distribution is anything with ``sample(sample_shape, seed=...)`` and
``log_prob(value)``: every TensorFlow Probability distribution (on any substrate),
and the library's own (e.g. the iterated multinomial logit).
"""

from __future__ import annotations

import linecache
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from recosim.core.backend import add_unseeded_draw_check, get_backend
from recosim.core.errors import RandomVariableError, SpecError
from recosim.core.seeds import fold, name_hash
from recosim.core.support import log_prob_in_support
from recosim.core.value import Value

__all__ = [
    "Site",
    "Handler",
    "rv",
    "realize",
    "is_distribution",
    "seed",
    "substitute",
    "block_unobserved",
    "trace",
    "name_scope",
    "field_scope",
    "current_scope",
    "name_hash",
    "active_handlers",
]


@dataclass
class Site:
    """One call of :func:`rv`: what handlers see and fill in."""

    name: str
    distribution: Any
    sample_shape: tuple[int, ...] = ()
    value: Any = None
    observed: bool = False
    _log_prob: Any = None

    @property
    def log_prob(self) -> Any:
        """``distribution.log_prob(value)``, computed once on first use; ``-inf`` outside the support.

        Values outside the distribution's support (a categorical index past the
        last class, a negative value under a Gamma, a non-integer count, NaN)
        score ``-inf`` on every backend (`recosim.core.support`).
        """
        if self._log_prob is None:
            if self.value is None:
                raise RandomVariableError(f"random variable {self.name!r} has no value to score")
            self._log_prob = log_prob_in_support(self.distribution, self.value, get_backend())
        return self._log_prob


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[Handler] = []
        self.scopes: list[str] = []
        self.fields: list[str] = []


_STATE = _State()


class Handler:
    """Base class of effect handlers. Override :meth:`process` and/or :meth:`postprocess`."""

    def process(self, site: Site) -> None:
        """Called before the value is known, innermost handler first."""

    def postprocess(self, site: Site) -> None:
        """Called once the value is known, innermost handler first."""

    def __enter__(self) -> Any:
        _STATE.stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if not _STATE.stack or _STATE.stack[-1] is not self:
            raise RuntimeError("recosim handlers must be exited in the reverse order of entry")
        _STATE.stack.pop()


def active_handlers() -> tuple[Handler, ...]:
    """The handlers on the stack, outermost first (compiled runtimes refuse to run under any)."""
    return tuple(_STATE.stack)


def is_distribution(x: object) -> bool:
    """Whether ``x`` behaves as a distribution (has ``sample`` and ``log_prob``)."""
    return callable(getattr(x, "sample", None)) and callable(getattr(x, "log_prob", None))


def current_scope() -> str:
    """The name prefix that :func:`rv` puts before names (``""`` outside any scope)."""
    return "/".join(_STATE.scopes)


@contextmanager
def name_scope(name: str, *, absolute: bool = False) -> Iterator[None]:
    """Prefix the names of draws made inside with ``name/``.

    Runtimes open a scope named after the variable being evaluated, so a draw named
    ``"choice"`` in the behaviour of variable ``"user response"`` is recorded as
    ``"user response/choice"``. With ``absolute=True`` the enclosing scopes are
    ignored inside the block.
    """
    saved, saved_fields = _STATE.scopes, _STATE.fields
    _STATE.scopes = [name] if absolute else [*saved, name]
    _STATE.fields = []
    try:
        yield
    finally:
        _STATE.scopes, _STATE.fields = saved, saved_fields


@contextmanager
def field_scope(prefix: str) -> Iterator[None]:
    """Prefix the *field* part of draw names with ``prefix.``.

    Wrap a sub-block whose output the caller files under ``prefix`` (with
    ``Value.prefixed_with(prefix)``), so its draws keep matching their fields:

    >>> from recosim.core.backend import numpy_backend
    >>> B = numpy_backend()
    >>> with trace() as tr, seed(0), name_scope("user"), field_scope("interest"):
    ...     _ = rv("state", B.tfd.Normal(0.0, 1.0))
    >>> list(tr.sites)
    ['user/interest.state']
    """
    _STATE.fields.append(prefix)
    try:
        yield
    finally:
        _STATE.fields.pop()


def rv(name: str, distribution: Any, sample_shape: tuple[int, ...] = ()) -> Any:
    """Draw a named random variable and return its value.

    Inside a variable's behaviour, name the draw after the output field it becomes
    (``rv("choice", ...)`` for field ``choice``): that is how log-probabilities of
    logged trajectories find the observed value.
    """
    if not is_distribution(distribution):
        raise RandomVariableError(
            f"rv({name!r}, ...) needs a distribution (an object with sample and log_prob), "
            f"got {type(distribution).__name__}"
        )
    field = ".".join([*_STATE.fields, name])
    full = f"{current_scope()}/{field}" if _STATE.scopes else field
    site = Site(full, distribution, tuple(sample_shape))
    stack = list(reversed(_STATE.stack))
    for handler in stack:
        handler.process(site)
    if site.value is None:
        raise RandomVariableError(
            f"random variable {full!r} was drawn outside a runtime and no handler gave it a value; "
            "run the model through a runtime, or wrap the call in recosim.core.random.seed(...)"
        )
    for handler in stack:
        handler.postprocess(site)
    return site.value


def realize(value: Mapping[str, Any]) -> Value:
    """Draw every distribution-valued field of ``value`` with :func:`rv`, named by its key.

    A field holding a random variable that carries its own distribution (an Edward2
    ``ed.Normal(...)``, as RecSim NG's behaviours return) is refused with a
    `SpecError` saying what to write instead.
    """
    out = {}
    for k, f in value.items():
        if is_distribution(f):
            out[k] = rv(k, f)
        elif _is_random_variable(f):
            raise _random_variable_field_error(k, f)
        else:
            out[k] = f
    return Value(out)


def _is_random_variable(x: object) -> bool:
    """An Edward2-style random variable: a value object holding a ``distribution`` (but no distribution itself)."""
    return not isinstance(x, (int, float, bool, complex, str)) and is_distribution(getattr(x, "distribution", None))


def _random_variable_field_error(key: str, x: Any) -> SpecError:
    dist = x.distribution
    family = type(dist).__name__
    where = f"variable {_STATE.scopes[0]!r}, field {key!r}" if _STATE.scopes else f"field {key!r}"
    return SpecError(
        f"{where} holds a random variable ({type(x).__module__.split('.')[0]} {type(x).__name__} of a {family}), "
        f"the way RecSim NG's behaviours return ed.{family}(...); recosim draws through its own primitive, so "
        f"return the distribution itself: Value({key}=B.tfd.{family}(...)) with B = get_backend(), and the runtime "
        "samples it with the run's seed and scores it"
    )


class seed(Handler):  # noqa: N801 - handlers read as verbs, as in numpyro
    """Sample unvalued draws with a seed derived from ``key`` and the draw's name.

    ``key`` is a backend seed (``backend.make_seed(0)``) or a plain int; the draw
    named ``n`` uses ``fold(backend, key, n)`` (`recosim.core.seeds`).
    """

    def __init__(self, key: Any, backend: Any = None) -> None:
        self.backend = backend if backend is not None else get_backend()
        self.key = self.backend.make_seed(key) if isinstance(key, int) else key

    def process(self, site: Site) -> None:
        if site.value is None:
            site_seed = fold(self.backend, self.key, site.name)
            site.value = self.backend.sample(site.distribution, site.sample_shape, site_seed)


class substitute(Handler):  # noqa: N801
    """Give draws whose full name is a key of ``data`` that value, marking them observed."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def process(self, site: Site) -> None:
        if site.value is None and site.name in self.data:
            site.value = self.data[site.name]
            site.observed = True


class block_unobserved(Handler):  # noqa: N801
    """Refuse to sample: a draw that reaches this handler without a value is an error."""

    def __init__(self, hint: str = "") -> None:
        self.hint = hint

    def process(self, site: Site) -> None:
        if site.value is None:
            raise RandomVariableError(
                f"random variable {site.name!r} is not observed, so the log-probability of the data "
                f"would depend on an unscored sample{self.hint}"
            )


class trace(Handler):  # noqa: N801
    """Record every draw (name -> :class:`Site`) made inside the context."""

    def __init__(self) -> None:
        self.sites: dict[str, Site] = {}

    def postprocess(self, site: Site) -> None:
        if site.name in self.sites:
            raise RandomVariableError(
                f"random variable {site.name!r} was drawn twice in one step; give each draw its own name"
            )
        self.sites[site.name] = site

    def log_prob(self, *, observed_only: bool = False) -> Any:
        """Sum of the log-probabilities of the recorded draws (each summed over its elements)."""
        np_ = get_backend().np
        total: Any = 0.0
        for site in self.sites.values():
            if observed_only and not site.observed:
                continue
            total = total + np_.sum(site.log_prob)
        return total


# -- draws that bypass the primitive ------------------------------------------------------------

_FRAMEWORK_PREFIXES = ("tensorflow_probability", "tensorflow", "jax", "keras", "recosim.core", "recosim.jax",
                       "recosim.tf", "numpy", "functools", "contextlib")


def _call_site() -> str:
    """``file:line: source`` of the innermost frame outside recosim's runtimes and the frameworks."""
    frame = sys._getframe(2)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if not any(module == p or module.startswith(p + ".") for p in _FRAMEWORK_PREFIXES):
            code = frame.f_code
            source = linecache.getline(code.co_filename, frame.f_lineno).strip()
            return f" (at {code.co_filename}:{frame.f_lineno}: {source})" if source else \
                f" (at {code.co_filename}:{frame.f_lineno})"
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def _unseeded_draw_error() -> RandomVariableError:
    variable = _STATE.scopes[0]
    field = ".".join(_STATE.fields)
    where = f"variable {variable!r}" + (f", field {field!r}" if field else "")
    return RandomVariableError(
        f"{where}: a distribution's .sample() was called directly inside the behaviour{_call_site()}; "
        "that draw would be unseeded (different on every run) and missing from log-probabilities. "
        "Return the distribution as the field's value (Value(field=B.tfd.Normal(...))) or draw it with "
        "recosim.core.random.rv('field', distribution), and the runtime seeds and scores it"
    )


def _refuse_unseeded_draw() -> None:
    """Inside a behaviour (a runtime's variable scope), an unseeded draw is an error naming the variable."""
    if _STATE.scopes:
        raise _unseeded_draw_error()


add_unseeded_draw_check(_refuse_unseeded_draw)
