"""Follow dynamics on a social feed: who follows whom, and what each viewer's feed draws from.

The follow relation is a dense boolean matrix ``follows[..., viewer, author]``
(``[R, N, N]`` with a leading replica axis). Dense, not a capped neighbour array:
the feed scores every author for every viewer anyway (a Gumbel top-k over the
viewer's candidates), so the work is ``O(N^2)`` per step whatever the storage;
a dense matrix makes "does ``v`` follow ``a``" a gather and a follow or unfollow
an elementwise toggle, with no capacity to overflow. At the few hundred accounts
the platform is simulated with it is a few hundred kilobytes per replica.

One step, for a viewer ``v`` shown the post of author ``a``:

* ``v`` approves with probability ``approval_probability(stance_a, opinion_v)``
  (`approval_probability`: 1 for a post of ``v``'s own opinion, 0 for the
  opposite one, in between for a stance on the continuum);
* if ``v`` approves and does not follow ``a``, it follows ``a`` with probability
  ``p_follow``; if it disapproves and follows ``a``, it unfollows with
  probability ``p_unfollow``; otherwise nothing changes (`switch_probability`).
  The switch is a Bernoulli draw per feed slot, so a logged trajectory scores
  ``p_follow`` and ``p_unfollow``;
* follower counts are the column sums of the relation (`follower_counts`).

The feed (`feed_slots`): viewer ``v``'s candidates are the authors it follows
and its graph neighbours (never itself); each of its ``k`` slots is filled
without replacement by a Gumbel top-k with weight ``followed_weight`` for a
followed author and 1 for a neighbour it does not follow; posts pushed into the
viewer's feed (an influencer's engagement) take slots first. A viewer that may
not view (``viewers`` false) sees nothing.

>>> import numpy as np
>>> follows = np.zeros((1, 3, 3), bool)
>>> shown = np.array([[[1], [0], [-1]]], np.int32)  # viewer 0 saw author 1, viewer 1 saw author 0
>>> switch = np.array([[[1], [0], [0]]], np.int32)
>>> after = apply_switches(follows, shown, switch)
>>> after[0].astype(int).tolist(), follower_counts(after).tolist()
([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [[0, 1, 0]])
"""

from __future__ import annotations

from typing import Any

from recosim.core import get_backend

__all__ = [
    "NEG",
    "PUSH",
    "approval_probability",
    "apply_switches",
    "feed_slots",
    "follower_counts",
    "following_shown",
    "gather_rows",
    "sum_by_author",
    "switch_probability",
]

NEG = -1.0e9
"""The feed score of an author who is not a candidate (never shown)."""
PUSH = 1.0e4
"""Added to the score of a pushed post: it takes a slot before any organic candidate."""


def _i32(x: Any) -> Any:
    B = get_backend()
    return B.cast(B.asarray(x), "int32")


def _f32(x: Any) -> Any:
    B = get_backend()
    return B.cast(B.asarray(x), "float32")


def approval_probability(stance: Any, opinion: Any, sharpness: Any) -> Any:
    """``((1 + stance * opinion) / 2) ** sharpness``: how likely a viewer of ``opinion`` (+-1) approves ``stance``.

    ``stance`` is in ``[-1, 1]``. A post of the viewer's own opinion is approved
    for sure and one of the opposite opinion never, so posts of +-1 behave as in
    the opinion learners' feed; ``sharpness > 1`` makes approval fall faster than
    linearly with the distance ``|stance - opinion|`` (a moderate stance pleases
    both sides less than an extreme one pleases its own).

    >>> import numpy as np
    >>> approval_probability(np.float32([1.0, -1.0, 0.0]), np.float32([1.0, 1.0, 1.0]), 2.0).tolist()
    [1.0, 0.0, 0.25]
    """
    np_ = get_backend().np
    agree = np_.clip((1.0 + _f32(stance) * _f32(opinion)) * 0.5, 0.0, 1.0)
    return np_.power(agree, _f32(sharpness))


def gather_rows(x: Any, index: Any) -> Any:
    """``x[r, index[r, i, j]]`` for ``x`` ``[R, N]`` and ``index`` ``[R, M, K]`` (clipped to ``[0, N)``)."""
    np_ = get_backend().np
    r, m, k = index.shape
    n = x.shape[-1]
    flat = np_.reshape(np_.clip(_i32(index), 0, n - 1), (r, m * k))
    return np_.reshape(np_.take_along_axis(x, flat, axis=-1), (r, m, k))


def following_shown(follows: Any, shown: Any) -> Any:
    """Whether each viewer follows the author in each of its feed slots (``[R, N, K]``; false for empty slots)."""
    np_ = get_backend().np
    n = follows.shape[-1]
    shown = _i32(shown)
    return np_.take_along_axis(follows, np_.clip(shown, 0, n - 1), axis=-1) & (shown >= 0)


def switch_probability(seen: Any, approve: Any, following: Any, p_follow: Any, p_unfollow: Any) -> Any:
    """The probability that a feed slot toggles the follow relation (``[R, N, K]`` float32).

    ``p_follow`` where the viewer approved of an author it does not follow,
    ``p_unfollow`` where it disapproved of one it follows, 0 elsewhere.
    """
    np_ = get_backend().np
    approve = _i32(approve) > 0
    zero = np_.zeros_like(_f32(seen))
    follow = seen & approve & ~following
    unfollow = seen & ~approve & following
    return np_.where(follow, zero + _f32(p_follow), np_.where(unfollow, zero + _f32(p_unfollow), zero))


def apply_switches(follows: Any, shown: Any, switch: Any) -> Any:
    """``follows`` with each switched slot's (viewer, author) pair toggled; the feed never repeats an author."""
    B = get_backend()
    np_ = B.np
    r, m, n = follows.shape
    k = shown.shape[-1]
    shown = _i32(shown)
    on = _i32((shown >= 0) & (_i32(switch) > 0))
    rows = np_.reshape(np_.arange(r * m, dtype="int32"), (r, m, 1))  # the (replica, viewer) row of each slot
    cell = np_.reshape(rows * n + np_.clip(shown, 0, n - 1), (r * m * k,))
    toggle = B.scatter_add(np_.zeros((r * m * n,), dtype="int32"), cell, np_.reshape(on, (r * m * k,)))
    return follows != (np_.reshape(toggle, (r, m, n)) > 0)


def sum_by_author(x: Any, shown: Any, num_authors: int) -> Any:
    """``out[r, a] = sum of x[r, v, j] over the slots showing author a`` (``[R, M, K]`` -> ``[R, A]``, float32).

    Empty slots (``shown < 0``) add nothing.
    """
    B = get_backend()
    np_ = B.np
    r, m, k = shown.shape
    shown = _i32(shown)
    base = np_.reshape(np_.arange(r, dtype="int32") * num_authors, (r, 1, 1))
    cell = np_.reshape(base + np_.clip(shown, 0, num_authors - 1), (r * m * k,))
    values = np_.reshape(np_.where(shown >= 0, _f32(x), np_.zeros_like(_f32(x))), (r * m * k,))
    total = B.scatter_add(np_.zeros((r * num_authors,), dtype="float32"), cell, values)
    return np_.reshape(total, (r, num_authors))


def follower_counts(follows: Any) -> Any:
    """Followers of each account: the column sums of the relation (``[..., N, N]`` -> ``[..., N]``, int32)."""
    np_ = get_backend().np
    return _i32(np_.sum(_i32(follows), axis=-2))


def feed_slots(
    noise: Any,
    follows: Any,
    adjacency: Any,
    pushed: Any,
    viewers: Any,
    followed_weight: Any,
    feed_size: int,
) -> Any:
    """The authors in each viewer's ``feed_size`` slots (``[R, N, K]`` int32, ``-1`` for an empty slot).

    ``noise`` is a standard Gumbel draw ``[R, N, N]``; ``follows`` ``[R, N, N]``
    and ``pushed`` ``[R, N, N]`` are boolean (viewer, author); ``adjacency``
    ``[N, N]`` is the graph; ``viewers`` ``[N]`` says who views.
    """
    B = get_backend()
    np_ = B.np
    n = noise.shape[-1]
    eye = B.one_hot(np_.arange(n, dtype="int32"), n, dtype="bool")
    allowed = np_.expand_dims(np_.expand_dims(viewers, -1) & ~eye, 0)  # [1, N, N]
    candidate = (follows | np_.expand_dims(adjacency, 0)) & allowed
    boost = np_.where(follows, np_.log(_f32(followed_weight)) + np_.zeros_like(noise), 0.0)
    score = np_.where(candidate, noise + boost, NEG)
    score = np_.where(pushed & allowed, noise + PUSH, score)
    values, authors = B.top_k(score, int(feed_size))
    return np_.where(values > 0.5 * NEG, _i32(authors), -np_.ones_like(_i32(authors)))
