"""Choice models: from per-item scores to the item(s) an agent picks.

Every selector takes scores of shape ``[..., n]`` (any leading batch dimensions)
and returns a `Value` with one field, ``choice``:

* `MultinomialLogitChoiceModel`: one item, ``P(i) ∝ exp(logit_i + bias_i)``, with an
  optional "no choice" option appended as index ``n``;
* `IteratedMultinomialLogitChoiceModel`: an ordered slate of ``k`` distinct items
  (Plackett–Luce: repeated MNL choices without replacement);
* `GreedyChoiceModel` / `TopKChoiceModel`: the best item / the ``k`` best, deterministic;
* `CascadeChoiceModel`: items examined in order, the first click is the choice.

Stochastic choices are returned as distributions; the network draws them under the
field's name, so logged choices can be scored. `get_chosen` gathers the features of
the chosen items.

>>> import numpy as np
>>> GreedyChoiceModel().choice(np.array([[0.1, 0.7, 0.2]], np.float32)).get("choice").tolist()
[1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recosim.core import Entity, Value, get_backend
from recosim.core.plugins import declare_block
from recosim.core.support import whole_numbers
from recosim.library.choice.affinities import append_no_choice
from recosim.library.params import as_float_param, check_last_dim, ndim, static_shape, static_size

__all__ = [
    "MultinomialLogitChoiceModel",
    "IteratedMultinomialLogitChoiceModel",
    "IteratedMultinomialLogit",
    "GreedyChoiceModel",
    "TopKChoiceModel",
    "CascadeChoiceModel",
    "get_chosen",
]


def _check_scores(scores: Any, what: str = "logits") -> Any:
    B = get_backend()
    scores = B.cast(B.asarray(scores), "float32")
    if ndim(scores) < 1:
        raise ValueError(f"{what} must have an item axis (shape [..., n_items]), got a scalar")
    return scores


class MultinomialLogitChoiceModel(Entity):
    """Multinomial logit (softmax) choice of one item.

    Args:
      no_choice_logit: optional logit of abstaining (a scalar or one per batch
        element). It is appended after the items, so ``choice == n_items`` means
        "no choice".
      positional_bias: optional additive bias per slate position, shape ``[n_items]``
        (or broadcastable ``[..., n_items]``); position 0 is the top of the slate.
        It is added to the item logits only, not to the no-choice logit.

    >>> import numpy as np
    >>> d = MultinomialLogitChoiceModel(no_choice_logit=0.0).choice(np.zeros(2, np.float32)).get("choice")
    >>> [round(float(p), 4) for p in d.probs_parameter()]
    [0.3333, 0.3333, 0.3333]
    """

    block_name = "multinomial_logit"
    block_kind = "choice"

    def __init__(self, *, no_choice_logit: Any = None, positional_bias: Any = None, name: str | None = None) -> None:
        super().__init__(name=name)
        self.no_choice_logit = None if no_choice_logit is None else as_float_param(no_choice_logit, "no_choice_logit")
        self.positional_bias = None if positional_bias is None else as_float_param(positional_bias, "positional_bias")
        if self.positional_bias is not None and ndim(self.positional_bias) < 1:
            raise ValueError("positional_bias must have a slate-position axis (shape [n_items]), got a scalar")

    def logits(self, logits: Any) -> Any:
        """The logits of the categorical choice: items (+ bias) then, if set, the no-choice logit."""
        B = get_backend()
        logits = _check_scores(logits)
        if self.positional_bias is not None:
            bias = B.asarray(self.positional_bias)
            n = static_shape(logits)[-1]
            check_last_dim(bias, n, "positional_bias", f"one bias per slate position; the slate has {n} items")
            logits = logits + bias
        if self.no_choice_logit is not None:
            logits = append_no_choice(logits, self.no_choice_logit)
        return logits

    def choice(self, logits: Any) -> Value:
        """``Value(choice=Categorical)`` over ``[..., n_items (+1)]`` options."""
        return Value(choice=get_backend().tfd.Categorical(logits=self.logits(logits)))


class IteratedMultinomialLogit:
    """The Plackett–Luce distribution over ordered slates of ``k`` distinct items.

    The first item is drawn from ``softmax(logits)``, the second from the softmax of
    the remaining items, and so on. A draw has shape ``sample_shape + batch + [k]``
    and dtype int32. Sampling uses the Gumbel-top-k trick (the ``k`` largest of
    ``logits + Gumbel noise``), which has exactly this distribution. The Gumbel
    noise is ``-log(-log(u))`` of a backend ``Uniform`` draw on ``[tiny, 1)`` (the
    inverse of the Gumbel CDF, as TFP's own sampler computes it), so it takes the
    backend's fast uniform path.

    >>> import numpy as np
    >>> d = IteratedMultinomialLogit(np.log(np.array([1.0, 2.0, 1.0], np.float32)), k=2)
    >>> round(float(d.log_prob(np.array([1, 0]))), 4)  # 2/4 * 1/2
    -1.3863
    """

    def __init__(self, logits: Any, k: int) -> None:
        get_backend()
        self.logits = _check_scores(logits)
        n = static_shape(self.logits)[-1]
        if int(k) != k or k < 1:
            raise ValueError(f"k (the slate size) must be a positive integer, got {k!r}")
        if n is not None and k > n:
            raise ValueError(f"k={k} exceeds the number of items ({n}) in the logits' last axis")
        self.k = int(k)
        self.num_items = n

    @property
    def batch_shape(self) -> tuple[int | None, ...]:
        return static_shape(self.logits)[:-1]

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.k,)

    @property
    def dtype(self) -> str:
        return "int32"

    def sample(self, sample_shape: Sequence[int] | int = (), seed: Any = None) -> Any:
        B = get_backend()
        shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
        np_ = B.np
        logits = B.asarray(self.logits)
        tiny = np.float32(np.finfo(np.float32).tiny)
        batch = static_shape(logits)
        known = tuple(n for n in batch if n is not None)
        if len(known) == len(batch):  # scalar bounds: one draw of the whole shape
            u = B.sample(B.tfd.Uniform(low=tiny, high=np.float32(1.0)), (*shape, *known), seed)
        else:  # a dimension known only at run time: the bounds carry the shape
            low = np_.full_like(logits, tiny)
            u = B.sample(B.tfd.Uniform(low=low, high=np_.ones_like(low)), shape, seed)
        _, idx = B.top_k(logits - np_.log(-np_.log(u)), self.k)
        return B.cast(idx, "int32")

    def log_prob(self, slate: Any) -> Any:
        """Log-probability of ordered slate(s) ``[..., k]``; ``-inf`` for repeats or out-of-range items."""
        B = get_backend()
        np_ = B.np
        slate = B.cast(B.asarray(slate), "int32")
        check_last_dim(slate, self.k, "slate", "the slate size k")
        n = static_size(self.logits, -1, "logits")
        neg_inf = np_.asarray(-np.inf, dtype="float32")
        first = B.one_hot(slate[..., 0], n, dtype="float32")
        remaining = self.logits + np_.zeros_like(first)  # broadcast to the slate's batch shape
        total = np_.zeros_like(first[..., 0])
        valid = np_.ones_like(first[..., 0]) > 0.0
        for j in range(self.k):
            pick = B.one_hot(slate[..., j], n, dtype="float32") > 0.0
            available = np_.sum(B.cast(pick & np_.isfinite(remaining), "float32"), axis=-1) > 0.0
            valid = valid & available
            chosen = np_.sum(np_.where(pick, remaining, np_.zeros_like(remaining)), axis=-1)
            total = total + chosen - B.logsumexp(remaining, axis=-1)
            remaining = np_.where(pick, neg_inf, remaining)
        return np_.where(valid, total, neg_inf + np_.zeros_like(total))

    def prob(self, slate: Any) -> Any:
        return get_backend().np.exp(self.log_prob(slate))

    def in_support(self, slate: Any) -> Any:
        """Whether each slate holds whole-number item indices in range (repeats score ``-inf`` in ``log_prob``).

        recosim scores a slate outside this support ``-inf`` (so ``1.99`` is not
        read as item 1) and refuses it in checked mode.
        """
        B = get_backend()
        slate = B.asarray(slate)
        ok = whole_numbers(slate, B) & (slate >= 0)
        if self.num_items is not None:
            ok = ok & (slate < self.num_items)
        return B.np.sum(B.cast(~ok, "int32"), axis=-1) == 0

    def __repr__(self) -> str:
        return f"IteratedMultinomialLogit(batch_shape={self.batch_shape}, num_items={self.num_items}, k={self.k})"


class IteratedMultinomialLogitChoiceModel(Entity):
    """An ordered slate of ``k`` distinct items, chosen by repeated multinomial logit.

    ``choice(logits)`` returns ``Value(choice=IteratedMultinomialLogit)``: the network
    draws a ``[..., k]`` int32 slate and can score logged slates.

    >>> import numpy as np
    >>> m = IteratedMultinomialLogitChoiceModel(k=2)
    >>> m.choice(np.zeros((5, 4), np.float32)).get("choice").batch_shape
    (5,)
    """

    block_name = "iterated_multinomial_logit"
    block_kind = "choice"

    def __init__(self, k: int, *, positional_bias: Any = None, name: str | None = None) -> None:
        super().__init__(name=name)
        if int(k) != k or k < 1:
            raise ValueError(f"k (the slate size) must be a positive integer, got {k!r}")
        self.k = int(k)
        self.positional_bias = None if positional_bias is None else as_float_param(positional_bias, "positional_bias")

    def choice(self, logits: Any) -> Value:
        B = get_backend()
        logits = _check_scores(logits)
        if self.positional_bias is not None:
            n = static_shape(logits)[-1]
            check_last_dim(self.positional_bias, n, "positional_bias", f"one bias per item; there are {n} items")
            logits = logits + B.asarray(self.positional_bias)
        return Value(choice=IteratedMultinomialLogit(logits, self.k))


class GreedyChoiceModel(Entity):
    """Deterministically choose the highest-scoring item (ties: the lowest index).

    With ``no_choice_logit`` set, abstaining (index ``n_items``) wins when its score is
    strictly the highest.
    """

    block_name = "greedy_choice"
    block_kind = "choice"

    def __init__(self, *, no_choice_logit: Any = None, name: str | None = None) -> None:
        super().__init__(name=name)
        self.no_choice_logit = None if no_choice_logit is None else as_float_param(no_choice_logit, "no_choice_logit")

    def choice(self, scores: Any) -> Value:
        """``Value(choice=[...] int32)``."""
        B = get_backend()
        scores = _check_scores(scores, "scores")
        if self.no_choice_logit is not None:
            scores = append_no_choice(scores, self.no_choice_logit)
        return Value(choice=B.cast(B.np.argmax(scores, axis=-1), "int32"))


class TopKChoiceModel(Entity):
    """Deterministically choose the ``k`` highest-scoring items, best first: ``choice [..., k]`` int32."""

    block_name = "top_k_choice"
    block_kind = "choice"

    def __init__(self, k: int, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.k = int(k)

    def choice(self, scores: Any) -> Value:
        B = get_backend()
        scores = _check_scores(scores, "scores")
        n = static_shape(scores)[-1]
        if n is not None and self.k > n:
            raise ValueError(f"k={self.k} exceeds the number of items ({n}) in the scores' last axis")
        _, idx = B.top_k(scores, self.k)
        return Value(choice=B.cast(idx, "int32"))


class CascadeChoiceModel(Entity):
    """Cascade clicks: items are examined top to bottom and the first click ends the session.

    At position ``i`` the user clicks with probability ``q_i = attention_i *
    sigmoid(score_i)`` (``attention`` defaults to 1: every item is examined until a
    click). So ``P(choice = i) = q_i * prod_{j<i} (1 - q_j)`` and ``P(no choice) =
    prod_j (1 - q_j)``; no choice is index ``n_items``. The choice is one categorical
    draw over ``n_items + 1`` outcomes with exactly these probabilities, so a logged
    choice has a log-probability.

    Args:
      attention: optional examination probability per slate position, ``[n_items]``
        (or broadcastable ``[..., n_items]``), each in ``[0, 1]``.

    >>> import numpy as np
    >>> d = CascadeChoiceModel().choice(np.zeros(2, np.float32)).get("choice")
    >>> [round(float(p), 4) for p in d.probs_parameter()]
    [0.5, 0.25, 0.25]
    """

    block_name = "cascade_choice"
    block_kind = "choice"

    def __init__(self, *, attention: Any = None, name: str | None = None) -> None:
        super().__init__(name=name)
        if attention is not None:
            attention = as_float_param(attention, "attention")
            if isinstance(attention, np.ndarray) and (np.any(attention < 0) or np.any(attention > 1)):
                raise ValueError("attention must hold probabilities in [0, 1]")
            if ndim(attention) < 1:
                raise ValueError("attention must have a slate-position axis (shape [n_items]), got a scalar")
        self.attention = attention

    def log_probs(self, scores: Any) -> Any:
        """Log-probabilities ``[..., n_items + 1]`` of clicking each item first, and of no click."""
        B = get_backend()
        np_ = B.np
        scores = _check_scores(scores, "scores")
        if self.attention is None:
            log_click = B.log_sigmoid(scores)
            log_skip = B.log_sigmoid(-scores)
        else:
            n = static_shape(scores)[-1]
            check_last_dim(self.attention, n, "attention", f"one probability per slate position; {n} items")
            att = B.asarray(self.attention)
            log_click = np_.log(att) + B.log_sigmoid(scores)
            q = att * B.sigmoid(scores)
            log_skip = np_.log1p(-np_.minimum(q, 1.0 - 1e-7))
        skipped_before = np_.cumsum(log_skip, axis=-1) - log_skip  # exclusive cumulative sum
        none = np_.sum(log_skip, axis=-1, keepdims=True)
        return np_.concatenate([log_click + skipped_before, none], axis=-1)

    def choice(self, scores: Any) -> Value:
        """``Value(choice=Categorical)`` over ``[..., n_items + 1]`` outcomes (last: no click)."""
        return Value(choice=get_backend().tfd.Categorical(logits=self.log_probs(scores)))


@declare_block("get_chosen", kind="choice")
def get_chosen(slate_features: Value, choice: Any, *, no_choice: float = 0.0) -> Value:
    """The features of the chosen item, for every field of ``slate_features``.

    Each field has shape ``[*batch, n_items, *feature_shape]`` and ``choice`` shape
    ``[*batch]`` (integer). The result has the same field names with shape
    ``[*batch, *feature_shape]``. A choice outside ``[0, n_items)`` — the no-choice
    index ``n_items`` of the selectors — yields ``no_choice`` (default 0) in every
    feature.

    >>> import numpy as np
    >>> feats = Value(quality=np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    >>> get_chosen(feats, np.array([1, 2])).get("quality").tolist()
    [2.0, 0.0]
    """
    B = get_backend()
    np_ = B.np
    if not isinstance(slate_features, Value):
        raise TypeError(f"slate_features must be a Value, got {type(slate_features).__name__}")
    choice = B.asarray(choice)
    batch_rank = ndim(choice)
    out = {}
    for key, field in slate_features.items():
        field = B.asarray(field)
        shape = static_shape(field)
        if len(shape) <= batch_rank:
            raise ValueError(
                f"get_chosen: field {key!r} has shape {shape} but the choice has shape {static_shape(choice)}; "
                "fields need shape [*batch, n_items, *feature_shape]"
            )
        n = static_size(field, batch_rank, f"get_chosen: field {key!r}")
        mask = B.one_hot(choice, n, dtype="float32") > 0.0  # [*batch, n]; all False for no choice
        feature_rank = len(shape) - batch_rank - 1
        for _ in range(feature_rank):
            mask = np_.expand_dims(mask, -1)
        zero = np_.zeros_like(field)
        dtype = _dtype_name(field)
        picked = B.cast(np_.sum(np_.where(mask, field, zero), axis=batch_rank), dtype)  # sums may widen ints
        chose = np_.sum(B.cast(mask, "int32"), axis=batch_rank) > 0
        fill = B.cast(np_.zeros_like(picked), "float32") + no_choice
        out[key] = np_.where(chose, picked, B.cast(fill, dtype))
    return Value(out)


def _dtype_name(x: Any) -> str:
    from recosim.core.value import dtype_name

    return dtype_name(x)
