"""Influencer policies: what stance to post and whose feeds to push the post into.

An influencer is an account whose posts are chosen by a policy rather than by an
opinion learner. Each step every influencer draws

* a **stance** in ``[-1, 1]``: viewers approve of it with
  `recosim.library.influence.follow.approval_probability` (certain for their own
  opinion, falling with the distance to it);
* **targets**: ``reach`` viewers whose feeds its post is pushed into (drawn with
  replacement from the accounts that view, never itself; a viewer drawn twice
  sees the post once). Pushed posts take feed slots first.

Three policy families, each a small parametric distribution whose parameters are
plain arrays (a dict, `policy_shapes`), so a trainer can differentiate the
log-probability of the draws with respect to them:

``restricted`` (a small action set, with self-observation)
    stance ``level`` ~ Categorical over ``{-1, 0, +1}`` and audience ``segment`` ~
    Categorical over `SEGMENTS` (``like-minded``: viewers who do not follow it and
    whose last post has the sign of its stance, all non-followers for stance 0;
    ``followers``; ``anyone``); the targets are uniform within the segment (all
    viewers when it is empty). Both logits are ``bias + weights @ obs``, where the
    observation of itself is ``obs = (followers / viewers, last step's net
    followers gained / reach)``. Parameters: ``stance_bias`` (3,), ``stance_obs``
    (3, 2), ``segment_bias`` (3,), ``segment_obs`` (3, 2): 18 numbers.
``full`` (the whole action space, no self-observation)
    ``stance_draw`` ~ Normal(``stance_loc``, ``exp(stance_log_scale)``), stance =
    ``tanh(stance_draw)`` (any point of ``(-1, 1)``); each target ~ Categorical
    over every viewer with logits ``target_logits[v] + target_weights[0] *
    stance * last_post[v] + target_weights[1] * follows_me[v]``: a free logit per
    account plus what the restricted policy's segments see (a viewer's last post
    and whether it follows). Parameters: ``stance_loc`` (), ``stance_log_scale``
    (), ``target_weights`` (2,), ``target_logits`` (N,).
``fixed`` (the rule to beat; no parameters)
    posts its own opinion (+-1) and pushes it to uniformly drawn viewers.

The initial parameters (`initial_policy`) are zeros: every stance level and
segment equally likely; stances spread as ``tanh`` of a standard normal; uniform
targets. Influencers share one policy (the same parameters); each draws its own
actions from its own observation.

>>> sorted(policy_shapes("restricted", 10))
['segment_bias', 'segment_obs', 'stance_bias', 'stance_obs']
>>> policy_shapes("full", 10)["target_logits"]
(10,)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.core import Value, get_backend, rv

__all__ = [
    "OBSERVATIONS",
    "RESTRICTED_STANCES",
    "SEGMENTS",
    "VARIANTS",
    "LEARNED_VARIANTS",
    "InfluencerView",
    "check_policy",
    "draw_actions",
    "initial_policy",
    "policy_shapes",
]

VARIANTS = ("restricted", "full", "fixed")
"""The policy families."""
LEARNED_VARIANTS = ("restricted", "full")
"""The families with parameters to learn."""
RESTRICTED_STANCES = (-1.0, 0.0, 1.0)
"""The stances of the restricted policy's ``level`` 0, 1, 2."""
SEGMENTS = ("like-minded", "followers", "anyone")
"""The restricted policy's audiences, ``segment`` 0, 1, 2."""
OBSERVATIONS = ("follower_share", "last_gain_per_reach")
"""What the restricted policy observes of itself, in this order."""
_NEG = -1.0e9


def _check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    return variant


def policy_shapes(variant: str, num_agents: int) -> dict[str, tuple[int, ...]]:
    """The parameters of ``variant`` and their shapes (``fixed`` has none)."""
    _check_variant(variant)
    if variant == "restricted":
        s, o = len(RESTRICTED_STANCES), len(OBSERVATIONS)
        return {"stance_bias": (s,), "stance_obs": (s, o), "segment_bias": (len(SEGMENTS),),
                "segment_obs": (len(SEGMENTS), o)}  # fmt: skip
    if variant == "full":
        return {"stance_loc": (), "stance_log_scale": (), "target_weights": (2,), "target_logits": (int(num_agents),)}
    return {}


def initial_policy(variant: str, num_agents: int) -> dict[str, np.ndarray]:
    """Zeros of every parameter: the uniform (restricted) or untargeted, wide (full) starting policy."""
    return {k: np.zeros(s, np.float32) for k, s in policy_shapes(variant, num_agents).items()}


def check_policy(variant: str, num_agents: int, params: Mapping[str, Any] | None) -> None:
    """Raise a ValueError naming the entry unless ``params`` has exactly ``variant``'s parameters and shapes."""
    want = policy_shapes(variant, num_agents)
    have = {} if params is None else dict(params)
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    if missing or extra:
        raise ValueError(
            f"the {variant} influencer policy has parameters {sorted(want)}; "
            + (f"missing {missing}" if missing else f"unknown {extra}")
        )
    for key, shape in want.items():
        got = tuple(np.shape(have[key]))
        if got != shape:
            raise ValueError(f"influencer policy parameter {key!r} has shape {got}, expected {shape}")


@dataclass(frozen=True)
class InfluencerView:
    """What the influencers see when they act (arrays of the active backend).

    ``own_opinion`` ``[R, k]`` (+-1), ``last_post`` ``[R, N]`` (every account's
    last stance), ``follows_me`` ``[R, k, N]`` (viewer ``v`` follows influencer
    ``j``), ``eligible`` ``[k, N]`` (viewers that may be targeted: they view and are
    not the influencer), ``observation`` ``[R, k, 2]`` (`OBSERVATIONS`).
    """

    own_opinion: Any
    last_post: Any
    follows_me: Any
    eligible: Any
    observation: Any


def _targets(logits: Any, reach: int) -> Any:
    """``reach`` independent draws per influencer from ``Categorical(logits)`` ``[R, k, N]``, one event ``[R, k]``."""
    B = get_backend()
    np_ = B.np
    r, k, n = logits.shape
    wide = np_.broadcast_to(np_.expand_dims(logits, -2), (r, k, int(reach), n))
    return B.tfd.Independent(B.tfd.Categorical(logits=wide, dtype="int32"), reinterpreted_batch_ndims=1)


def _masked(mask: Any, logits: Any | None = None) -> Any:
    B = get_backend()
    np_ = B.np
    base = np_.zeros_like(B.cast(mask, "float32")) if logits is None else logits
    return np_.where(mask, base, _NEG)


def draw_actions(variant: str, params: Mapping[str, Any] | None, view: InfluencerView, reach: int) -> Value:
    """Draw every influencer's stance and targets (inside a variable's behaviour: the draws become its fields).

    Returns ``stance`` ``[R, k]`` and ``targets`` ``[R, k, reach]`` plus the draws
    of the family: ``level`` and ``segment`` (restricted), ``stance_draw`` (full).
    Every draw's log-probability has the batch shape ``[R, k]``: one per influencer.
    """
    B = get_backend()
    np_ = B.np
    _check_variant(variant)
    eligible = np_.expand_dims(view.eligible, 0)  # [1, k, N]
    follows_me = view.follows_me
    if variant == "fixed":
        stance = B.cast(view.own_opinion, "float32")
        logits = _masked(eligible & np_.ones_like(follows_me))
        targets = rv("targets", _targets(logits, reach))
        return Value(stance=stance, targets=targets)
    p = {k: B.cast(B.asarray(v), "float32") for k, v in (params or {}).items()}
    if variant == "restricted":
        obs = B.cast(view.observation, "float32")  # [R, k, 2]
        stance_logits = p["stance_bias"] + np_.sum(p["stance_obs"] * np_.expand_dims(obs, -2), axis=-1)
        level = rv("level", B.tfd.Categorical(logits=stance_logits, dtype="int32"))
        stance = B.cast(level, "float32") - 1.0
        segment_logits = p["segment_bias"] + np_.sum(p["segment_obs"] * np_.expand_dims(obs, -2), axis=-1)
        segment = rv("segment", B.tfd.Categorical(logits=segment_logits, dtype="int32"))
        last = B.cast(np_.expand_dims(view.last_post, 1), "float32")  # [R, 1, N]
        sign = B.cast(last > 0.0, "float32") - B.cast(last < 0.0, "float32")
        same = (sign == np_.expand_dims(stance, -1)) | np_.expand_dims(stance == 0.0, -1)
        anyone = eligible & np_.ones_like(follows_me)
        like = anyone & ~follows_me & same
        followers = anyone & follows_me
        seg = np_.expand_dims(segment, -1)
        mask = np_.where(seg == 0, like, np_.where(seg == 1, followers, anyone))
        mask = np_.where(np_.any(mask, axis=-1, keepdims=True), mask, anyone)
        targets = rv("targets", _targets(_masked(mask), reach))
        return Value(stance=stance, targets=targets, level=level, segment=segment)
    loc, log_scale = p["stance_loc"], p["stance_log_scale"]
    zero = np_.zeros_like(B.cast(view.own_opinion, "float32"))
    stance_draw = rv("stance_draw", B.tfd.Normal(loc + zero, np_.exp(log_scale) + zero))
    stance = np_.tanh(stance_draw)
    w = p["target_weights"]
    agree = np_.expand_dims(stance, -1) * np_.expand_dims(B.cast(view.last_post, "float32"), 1)  # [R, k, N]
    logits = p["target_logits"] + w[0] * agree + w[1] * B.cast(follows_me, "float32")
    targets = rv("targets", _targets(_masked(eligible & np_.ones_like(follows_me), logits), reach))
    return Value(stance=stance, targets=targets, stance_draw=stance_draw)
