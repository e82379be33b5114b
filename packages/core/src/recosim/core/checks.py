"""Checked mode: where a run's numbers first go wrong, named.

A runtime built with ``validate=True`` evaluates every step under :class:`checked`,
which

* refuses a distribution whose arguments are invalid before it is sampled or
  scored: any NaN argument, logits of a categorical family that leave no possible
  category (all ``-inf``) or hold ``+inf``, and whatever TensorFlow Probability's
  own ``validate_args=True`` refuses (``Normal(0, -1)``, probabilities outside
  ``[0, 1]``); arguments that are distributions (``Independent``, mixtures) are
  checked too;
* refuses a sampled value that is not finite, and (when scoring logged data) a
  logged value outside its distribution's support;
* and lets `recosim.core.evaluation` refuse a behaviour output that is not finite.

Each error is a `recosim.core.errors.ValidationError` naming the variable, the
field and the step. The checks read concrete values, so checked runs evaluate
their steps eagerly (slower, and the reason it is a mode).

>>> import numpy as np
>>> from recosim.core.backend import numpy_backend
>>> from recosim.core.random import rv, seed
>>> B = numpy_backend()
>>> with seed(0, B), checked(step=3):
...     rv("user/mood", B.tfd.Normal(np.float32(0.0), np.float32(-1.0)))
Traceback (most recent call last):
...
recosim.core.errors.ValidationError: variable 'user', field 'mood', step 3: invalid arguments for Normal: ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from recosim.core.backend import get_backend
from recosim.core.errors import ValidationError
from recosim.core.random import Handler, Site, active_handlers
from recosim.core.support import in_support, value_is_finite

__all__ = ["checked", "active_check", "invalid_arguments", "split_site", "step_number", "where_text"]


def split_site(name: str) -> tuple[str, str]:
    """``"variable/field"`` -> ``("variable", "field")`` (the field is ``""`` for a bare name)."""
    variable, _, field = name.partition("/")
    return variable, field


def step_number(step: Any) -> int | None:
    """``step`` as an int when its value is known now (an int, a concrete array), else None."""
    if step is None:
        return None
    if isinstance(step, (int, np.integer)):
        return int(step)
    try:
        known = get_backend().static_value(step)
    except Exception:
        return None
    return None if known is None or np.ndim(known) else int(known)


def where_text(variable: str, field: str | None = None, step: Any = None) -> str:
    """``"variable 'v', field 'f', step 3"`` with the parts that are known."""
    parts = [f"variable {variable!r}"]
    if field:
        parts.append(f"field {field!r}")
    number = step_number(step)
    if number is not None:
        parts.append(f"step {number}")
    return ", ".join(parts)


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: " + (" ".join(lines[:2]) if lines else "")


def _first_bad(ok: Any, value: Any) -> str:
    """`` (first at index (i, j): x)`` for the first impossible entry."""
    bad = np.argwhere(np.logical_not(np.asarray(ok)))
    if not len(bad):
        return ""
    index = tuple(int(i) for i in bad[0])
    try:
        shown = f": {np.asarray(value)[index].tolist()}"
    except (IndexError, TypeError):
        shown = ""
    return f" (first at index {index}{shown})" if index else f" ({np.asarray(value).tolist()})"


def _family(distribution: Any) -> str:
    return type(distribution).__name__


_LOGITS_OVER_CATEGORIES = frozenset(
    {"Categorical", "OneHotCategorical", "Multinomial", "RelaxedOneHotCategorical", "ExpRelaxedOneHotCategorical"}
)


def _known_floats(x: Any) -> np.ndarray | None:
    """``x`` as a float NumPy array if it is a numeric array whose value is known now, else None."""
    if x is None or isinstance(x, (str, bytes, bool)) or callable(getattr(x, "sample", None)):
        return None
    try:
        known = get_backend().static_value(x)
    except Exception:
        return None
    if known is None:
        return None
    known = np.asarray(known)
    return known if known.dtype.kind in "fc" else None


def invalid_arguments(distribution: Any, prefix: str = "") -> str | None:
    """Why ``distribution``'s arguments are invalid (None if they look valid or are not known now).

    Checks what TensorFlow Probability's ``validate_args`` lets through or reports
    without naming the argument: a NaN in any float argument, probabilities
    (``probs``) outside ``[0, 1]``, and logits of a categorical family that are all ``-inf`` along
    the category axis (no category is possible) or hold ``+inf``. Arguments that
    are distributions are checked in turn, their names prefixed
    (``distribution.scale``).
    """
    family = _family(distribution)
    parameters = getattr(distribution, "parameters", None)
    if not isinstance(parameters, Mapping):
        return None
    for name, argument in parameters.items():
        if callable(getattr(argument, "sample", None)) and hasattr(argument, "parameters"):
            inner = invalid_arguments(argument, f"{prefix}{name}.")
            if inner is not None:
                return inner
            continue
        known = _known_floats(argument)
        if known is None or not known.size:
            continue
        label = f"{prefix}{name}"
        nan = np.isnan(known)
        if nan.any():
            return f"{label} is NaN{_first_bad(~nan, known)}"
        if name == "probs" and ((known < 0) | (known > 1)).any():
            return f"{label} outside [0, 1]{_first_bad((known >= 0) & (known <= 1), known)}"
        if name == "logits" and family in _LOGITS_OVER_CATEGORIES and known.ndim:
            if np.isposinf(known).any():
                return f"{label} hold +inf{_first_bad(~np.isposinf(known), known)}"
            dead = np.all(np.isneginf(known), axis=-1)
            if dead.any():
                where = tuple(int(i) for i in np.argwhere(dead)[0])
                return f"{label} are all -inf, so no category is possible" + (f" (first at batch index {where})"
                                                                               if where else "")
    return None


class checked(Handler):  # noqa: N801 - handlers read as verbs
    """Validate draws made inside: distribution arguments, finite samples, possible data.

    ``step`` (an int) names the step in errors. Put it inside the seed or
    substitute handlers (entered after them), so it sees a draw first.
    """

    def __init__(self, step: Any = None) -> None:
        self.step = step

    def _error(self, site: Site, what: str) -> ValidationError:
        variable, field = split_site(site.name)
        return ValidationError(
            f"{where_text(variable, field, self.step)}: {what}",
            variable=variable,
            field=field or None,
            step=step_number(self.step),
        )

    def process(self, site: Site) -> None:
        d = site.distribution
        problem = invalid_arguments(d)
        if problem is not None:
            raise self._error(site, f"invalid arguments for {_family(d)}: {problem}")
        if getattr(d, "validate_args", None) is False and callable(getattr(d, "copy", None)):
            try:
                site.distribution = d.copy(validate_args=True)
            except Exception as err:
                raise self._error(site, f"invalid arguments for {_family(d)}: {_first_line(err)}") from err

    def postprocess(self, site: Site) -> None:
        if site.observed:
            ok = in_support(site.distribution, site.value, get_backend())
            known = None if ok is None else get_backend().static_value(ok)
            if known is not None and not np.all(known):
                raise self._error(
                    site,
                    f"the logged value is outside the support of its {_family(site.distribution)} distribution"
                    f"{_first_bad(known, site.value)}",
                )
            if value_is_finite(site.value) is False and ok is None:
                raise self._error(site, "the logged value is not finite")
        elif value_is_finite(site.value) is False:
            raise self._error(site, f"the draw from {_family(site.distribution)} is not finite (NaN or inf)")

    def check_outputs(self, variable: str, value: Mapping[str, Any]) -> None:
        """Refuse the first field of a behaviour's output that is not finite."""
        for key, field in value.items():
            if value_is_finite(field) is False:
                raise ValidationError(
                    f"{where_text(variable, key, self.step)}: the value is not finite (NaN or inf)",
                    variable=variable,
                    field=key,
                    step=step_number(self.step),
                )


def active_check() -> checked | None:
    """The innermost :class:`checked` handler on the stack, if any."""
    for handler in reversed(active_handlers()):
        if isinstance(handler, checked):
            return handler
    return None
