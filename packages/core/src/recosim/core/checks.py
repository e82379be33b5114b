"""Checked mode: where a run's numbers first go wrong, named.

A runtime built with ``validate=True`` evaluates every step under :class:`checked`,
which

* rebuilds each TensorFlow Probability distribution with ``validate_args=True``
  before it is sampled or scored, so invalid arguments (``Normal(0, -1)``) are an
  error instead of a sample;
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

__all__ = ["checked", "active_check", "split_site", "step_number", "where_text"]


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
