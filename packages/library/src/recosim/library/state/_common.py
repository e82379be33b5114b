"""Helpers shared by the state models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recosim.core import Value, get_backend, rv
from recosim.core.random import is_distribution
from recosim.core.support import log_prob_in_support, support_mask
from recosim.library.params import batch_shape_tuple, ndim, static_shape

__all__ = ["FieldDraws", "mvn", "broadcast_batch", "SelectDistribution", "batch_shape_tuple"]


class FieldDraws:
    """Mixin for blocks that draw a value they also need inside the behaviour.

    Such a draw goes through ``rv`` named after the output field it becomes. When
    the caller files the block's output under a prefix (``.prefixed_with("interest")``),
    it passes the same ``field_prefix`` so that the draw is named
    ``"interest.<field>"`` and logged trajectories can score it.
    """

    field_prefix: str = ""

    def _set_prefix(self, field_prefix: str | None) -> None:
        if field_prefix is not None and (not isinstance(field_prefix, str) or "/" in field_prefix):
            raise ValueError(f"field_prefix must be a dotted field path without '/', got {field_prefix!r}")
        self.field_prefix = field_prefix or ""

    def _draw(self, field: str, distribution: Any) -> Any:
        name = f"{self.field_prefix}.{field}" if self.field_prefix else field
        return rv(name, distribution)


def broadcast_batch(x: Any, batch_shape: tuple[int, ...], event_rank: int) -> Any:
    """Broadcast ``x`` (``[..., *event]``) to ``batch_shape + event`` when ``batch_shape`` is given."""
    B = get_backend()
    x = B.asarray(x)
    if not batch_shape:
        return x
    shape = static_shape(x)
    event = shape[len(shape) - event_rank :] if event_rank else ()
    return B.np.broadcast_to(x, tuple(batch_shape) + tuple(event))


def mvn(loc: Any, scale: Any, scale_is_tril: bool) -> Any:
    """A multivariate normal over the last axis of ``loc``: lower-triangular or diagonal scale."""
    B = get_backend()
    if scale_is_tril:
        return B.tfd.MultivariateNormalTriL(loc=loc, scale_tril=B.asarray(scale))
    scale = B.asarray(scale)
    return B.tfd.MultivariateNormalDiag(loc=loc, scale_diag=B.np.zeros_like(loc) + scale)


def _as_distribution(x: Any, event_rank: int) -> Any:
    """A distribution for ``x``: distributions pass through, arrays become point masses."""
    if is_distribution(x):
        return x
    B = get_backend()
    x = B.asarray(x)
    point = B.tfd.Deterministic(loc=x)
    return B.tfd.Independent(point, reinterpreted_batch_ndims=event_rank) if event_rank else point


class SelectDistribution:
    """Per batch element, the distribution ``options[index]``.

    ``index`` (int, ``[*batch]``) picks, for each batch element, which of the
    ``options`` (distributions or arrays, all with batch shape ``[*batch]`` and the
    same event shape) produces it. Sampling draws every option (with seeds derived
    from the given one) and keeps the selected draw; ``log_prob`` is the selected
    option's. Arrays are point masses.
    """

    def __init__(self, index: Any, options: Sequence[Any], event_rank: int) -> None:
        if not options:
            raise ValueError("SelectDistribution needs at least one option")
        B = get_backend()
        self.index = B.cast(B.asarray(index), "int32")
        self.event_rank = int(event_rank)
        self.options = [_as_distribution(o, self.event_rank) for o in options]

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.options[0].event_shape)

    def _expand(self, x: Any, rank: int) -> Any:
        np_ = get_backend().np
        for _ in range(rank - ndim(x)):
            x = np_.expand_dims(x, -1)
        return x

    def sample(self, sample_shape: Sequence[int] | int = (), seed: Any = None) -> Any:
        B = get_backend()
        np_ = B.np
        shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
        draws = []
        for i, option in enumerate(self.options):
            s = None if seed is None else B.fold_in(seed, i + 1)
            draws.append(option.sample(shape, seed=s))
        out = draws[-1]
        for i in range(len(draws) - 2, -1, -1):
            pick = self._expand(np_.equal(self.index, i), ndim(self.index) + self.event_rank)
            out = np_.where(pick, draws[i], B.cast(out, _dtype(draws[i])))
        return out

    def log_prob(self, x: Any) -> Any:
        """The selected option's log-probability (``-inf`` outside that option's support)."""
        B = get_backend()
        return self._select([log_prob_in_support(option, x, B) for option in self.options])

    def in_support(self, x: Any) -> Any:
        """Whether ``x`` lies in the support of the option selected for each batch element."""
        B = get_backend()
        return self._select([support_mask(option, x, B) for option in self.options])

    def _select(self, per_option: Sequence[Any]) -> Any:
        np_ = get_backend().np
        out = per_option[-1]
        for i in range(len(per_option) - 2, -1, -1):
            out = np_.where(np_.equal(self.index, i), per_option[i], out)
        return out


def _dtype(x: Any) -> str:
    from recosim.core.value import dtype_name

    return dtype_name(x)


def event_rank_of(field: Any, index: Any) -> int:
    """The event rank of a field: a distribution's own, or an array's rank beyond ``index``'s."""
    if is_distribution(field):
        return len(tuple(field.event_shape))
    return ndim(field) - ndim(index)


def select_values(index: Any, options: Sequence[Value]) -> Value:
    """Combine per-option Values field by field with `SelectDistribution`."""
    keys = list(options[0].keys())
    for i, v in enumerate(options[1:], start=1):
        if sorted(v.keys()) != sorted(keys):
            raise ValueError(
                f"the models being switched return different fields: option 0 gives {sorted(keys)}, "
                f"option {i} gives {sorted(v.keys())}"
            )
    B = get_backend()
    np_ = B.np
    index = B.cast(B.asarray(index), "int32")
    out = {}
    for key in keys:
        fields = [v[key] for v in options]
        rank = event_rank_of(fields[0], index)
        if any(is_distribution(f) for f in fields):
            out[key] = SelectDistribution(index, fields, rank)
            continue
        picked = B.asarray(fields[-1])
        for i in range(len(fields) - 2, -1, -1):
            cond = np_.equal(index, i)
            for _ in range(rank):
                cond = np_.expand_dims(cond, -1)
            picked = np_.where(cond, B.asarray(fields[i]), picked)
        out[key] = picked
    return Value(out)
