"""The social platform with follow dynamics and influencer accounts: the network of variables.

``N`` accounts on an undirected graph (`recosim.library.opinion.OpinionGraph`);
``k`` of them (ids spread evenly, `influencer_ids`) are influencers, the rest
opinion learners (two action values, exploration ``epsilon``, rate ``alpha``, as
in `recosim.library.opinion.dynamics`). Synchronous steps:

1. ``influencers``: each influencer draws a stance and the viewers it pushes its
   post to, from its policy (`recosim.library.influence.agents`);
2. ``platform``: every learner posts its opinion (the other one with probability
   ``epsilon``: draw ``flip``), every influencer its stance (field ``post``);
   each viewer's feed fills ``feed_size`` slots from the pushed posts, the authors
   it follows and its graph neighbours (`recosim.library.influence.follow.feed_slots`,
   draw ``noise``); each viewer approves or disapproves of each post it is shown
   (draw ``approve``; probability `approval_probability`);
3. ``agents``: each learner learns from the mean response to its post;
4. ``social``: the follow relation changes (draw ``switch``: follow with
   ``p_follow`` after approval, unfollow with ``p_unfollow`` after disapproval);
5. ``metrics``: per influencer, ``reward`` (net followers gained this step),
   ``followers``, and the views and approvals its posts got.

Influencers neither view nor learn (they are only authors); learners view, post,
learn and follow. The follow relation starts empty. Every field carries a
leading replica axis ``R``. ``alpha``, ``epsilon``, ``p_follow``, ``p_unfollow``,
``followed_weight`` and ``approval_sharpness`` are settings (`settings`), so one
compiled program serves every value; the policy's parameters are arrays given
when the model is built, which is how a trainer differentiates through them.

>>> from recosim.core.runtime import NumpyRuntime
>>> from recosim.library.opinion import complete_graph
>>> model = InfluencePlatform(complete_graph(12), InfluenceConfig(num_influencers=2, reach=2), "fixed")
>>> final = NumpyRuntime(model.variables(), seed=0, settings=model.settings).execute(5)
>>> final["metrics"].get("followers").shape, final["social"].get("follows").shape
((1, 2), (1, 12, 12))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, rv, setting, value
from recosim.library.influence.agents import InfluencerView, check_policy, draw_actions, initial_policy
from recosim.library.influence.follow import (
    apply_switches,
    approval_probability,
    feed_slots,
    follower_counts,
    following_shown,
    gather_rows,
    sum_by_author,
    switch_probability,
)
from recosim.library.opinion.dynamics import learn
from recosim.library.opinion.graphs import OpinionGraph
from recosim.library.params import positive_int

__all__ = ["InfluenceConfig", "InfluencePlatform", "influencer_ids", "REWARD", "POLICY", "POLICY_SETTING"]

POLICY = "influencers"
"""The variable whose draws are the influencers' actions."""
REWARD = "metrics/reward"
"""The influencers' reward field: net followers gained per step, per influencer."""
POLICY_SETTING = "policy_"
"""Prefix of the settings that hold the policy's parameters when the model is built without them."""
F32, I32 = "float32", "int32"


def influencer_ids(num_agents: int, num_influencers: int) -> np.ndarray:
    """The influencers' account ids, spread evenly over ``[0, num_agents)``."""
    return np.floor(np.arange(num_influencers) * num_agents / num_influencers).astype(np.int32)


def _probability(name: str, x: float) -> float:
    x = float(x)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {x!r}")
    return x


@dataclass(frozen=True)
class InfluenceConfig:
    """Sizes and behaviour of the platform (the policy's parameters are given to `InfluencePlatform`).

    ``num_influencers`` accounts are influencers; each pushes its post into
    ``reach`` viewers' feeds per step; every viewer's feed shows ``feed_size``
    posts. ``p_follow``, ``p_unfollow``, ``followed_weight`` (the feed weight of
    a followed author against 1 for a neighbour), ``approval_sharpness`` (see
    `approval_probability`), ``alpha`` and ``epsilon`` are the defaults of the
    settings of the same names.
    """

    num_influencers: int = 4
    reach: int = 5
    feed_size: int = 3
    p_follow: float = 0.3
    p_unfollow: float = 0.2
    followed_weight: float = 2.0
    approval_sharpness: float = 2.0
    alpha: float = 0.5
    epsilon: float = 0.1

    def __post_init__(self) -> None:
        positive_int(self.num_influencers, "num_influencers")
        positive_int(self.reach, "reach")
        positive_int(self.feed_size, "feed_size")
        _probability("p_follow", self.p_follow)
        _probability("p_unfollow", self.p_unfollow)
        if not 0.0 < float(self.alpha) <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha!r}")
        if not 0.0 <= float(self.epsilon) < 1.0:
            raise ValueError(f"epsilon must be in [0, 1), got {self.epsilon!r}")
        for name in ("followed_weight", "approval_sharpness"):
            x = float(getattr(self, name))
            if not (math.isfinite(x) and x > 0.0):
                raise ValueError(f"{name} must be a finite number > 0, got {x!r}")


class InfluencePlatform:
    """The platform's network on ``graph`` with influencers following policy ``variant``.

    ``variant`` is ``"restricted"``, ``"full"`` or ``"fixed"``
    (`recosim.library.influence.agents`); ``policy`` the parameters of the first
    two as arrays (built into the model: what a trainer differentiates), or ``None``:
    then they are read from the settings ``policy_<name>`` (`policy_settings`;
    default `initial_policy`), so one compiled program evaluates many policies.
    Variables: ``agents``, ``influencers`` (the policy: `POLICY`), ``platform``,
    ``social`` (``follows`` ``[R, N, N]``, ``followers`` ``[R, N]``, the ``switch``
    draws) and ``metrics`` (`REWARD`).
    """

    def __init__(
        self,
        graph: OpinionGraph,
        config: InfluenceConfig | None = None,
        variant: str = "fixed",
        policy: Mapping[str, Any] | None = None,
        *,
        replicas: int = 1,
    ) -> None:
        self.graph = graph
        self.config = InfluenceConfig() if config is None else config
        self.variant = variant
        self.replicas = positive_int(replicas, "replicas")
        n, k = graph.num_agents, self.config.num_influencers
        if k * 2 > n:
            raise ValueError(f"num_influencers={k} must be at most half of the {n} accounts")
        if self.config.reach > n - k:
            raise ValueError(f"reach={self.config.reach} exceeds the {n - k} viewers")
        self.default_policy = initial_policy(variant, n)
        if policy is not None:
            check_policy(variant, n, policy)
        self.policy = policy
        self.ids = influencer_ids(n, k)
        is_inf = np.zeros(n, bool)
        is_inf[self.ids] = True
        self.is_influencer = is_inf
        adjacency = np.zeros((n, n), bool)
        rows = np.repeat(np.arange(n), graph.degree)
        adjacency[rows, graph.neighbours[graph.neighbours >= 0]] = True
        self.adjacency = adjacency
        self.placement = np.eye(n, dtype=np.float32)[self.ids]  # [k, N]: influencer j's column
        self.eligible = (~is_inf)[None, :] & ~np.eye(n, dtype=bool)[self.ids]  # [k, N]

    @property
    def num_agents(self) -> int:
        return self.graph.num_agents

    @property
    def num_influencers(self) -> int:
        return self.config.num_influencers

    @property
    def num_viewers(self) -> int:
        return self.num_agents - self.num_influencers

    @property
    def settings(self) -> dict[str, Any]:
        """The settings the model reads, with their defaults: declare them on the runtime."""
        c = self.config
        out: dict[str, Any] = {name: np.float32(getattr(c, name)) for name in
                               ("alpha", "epsilon", "p_follow", "p_unfollow", "followed_weight",
                                "approval_sharpness")}  # fmt: skip
        if self.policy is None:
            out.update({POLICY_SETTING + k: v for k, v in self.default_policy.items()})
        return out

    def policy_settings(self, policy: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """``policy`` as the settings a model built without one reads (checked against the variant)."""
        check_policy(self.variant, self.num_agents, policy)
        return {POLICY_SETTING + k: np.asarray(v, np.float32) for k, v in policy.items()}

    def _setting(self, name: str) -> Any:
        B = get_backend()
        return B.cast(setting(name, default=np.float32(getattr(self.config, name))), F32)

    def variables(self) -> list[Variable]:
        """``agents``, ``influencers``, ``platform``, ``social``, ``metrics``."""
        r, n, k = self.replicas, self.num_agents, self.num_influencers
        reach, slots = self.config.reach, self.config.feed_size
        ids_np, is_inf_np, adj_np = self.ids, self.is_influencer, self.adjacency
        place_np, elig_np = self.placement, self.eligible
        variant, policy = self.variant, self.policy

        def const() -> dict[str, Any]:
            B = get_backend()
            return {"ids": B.asarray(ids_np), "is_inf": B.asarray(is_inf_np), "adj": B.asarray(adj_np),
                    "place": B.asarray(place_np), "eligible": B.asarray(elig_np)}  # fmt: skip

        agents = Variable("agents", ValueSpec(q=FieldSpec((r, n, 2), F32), opinion=FieldSpec((r, n), I32)))
        policy_fields = {"stance": FieldSpec((r, k), F32), "targets": FieldSpec((r, k, reach), I32)}
        if variant == "restricted":
            policy_fields.update(level=FieldSpec((r, k), I32), segment=FieldSpec((r, k), I32))
        elif variant == "full":
            policy_fields["stance_draw"] = FieldSpec((r, k), F32)
        influencers = Variable(POLICY, ValueSpec(policy_fields))
        platform = Variable("platform", ValueSpec(
            flip=FieldSpec((r, n), I32), post=FieldSpec((r, n), F32), noise=FieldSpec((r, n, n), F32),
            shown=FieldSpec((r, n, slots), I32), approve=FieldSpec((r, n, slots), I32)))  # fmt: skip
        social = Variable("social", ValueSpec(
            follows=FieldSpec((r, n, n), "bool"), followers=FieldSpec((r, n), I32),
            switch=FieldSpec((r, n, slots), I32)))  # fmt: skip
        metrics = Variable("metrics", ValueSpec(
            reward=FieldSpec((r, k), F32), followers=FieldSpec((r, k), F32), views=FieldSpec((r, k), F32),
            approvals=FieldSpec((r, k), F32), learner_views=FieldSpec((r,), F32),
            learner_approvals=FieldSpec((r,), F32)))  # fmt: skip

        # -- agents: opinion learners (the influencers' rows are never updated) -------------------
        def agents_init() -> Value:
            B = get_backend()
            np_ = B.np
            one = B.asarray(1.0, F32)
            q = rv("q", B.tfd.Uniform(-one, one), (r, n, 2))
            opinion = np_.where(q[..., 1] > q[..., 0], np_.ones((r, n), dtype=I32), -np_.ones((r, n), dtype=I32))
            return Value(q=q, opinion=opinion)

        def agents_next(prev: Value, plat: Value) -> Value:
            B = get_backend()
            np_ = B.np
            c = const()
            shown = plat.get("shown")
            seen = B.cast(shown >= 0, F32)
            response = (2.0 * B.cast(plat.get("approve") > 0, F32) - 1.0) * seen  # [R, N, K]: +1 / -1 / 0
            total = sum_by_author(response, shown, n)
            count = sum_by_author(seen, shown, n)
            heard = (count > 0.0) & ~np_.expand_dims(c["is_inf"], 0)
            mean = total / np_.maximum(count, 1.0)
            said = B.cast(plat.get("post") > 0.0, I32) * 2 - 1  # learners post +-1
            expressed = np_.where(np_.expand_dims(c["is_inf"], 0), np_.ones_like(said), said)
            q, opinion = learn(prev.get("q"), prev.get("opinion"), expressed, mean, heard, self._setting("alpha"))
            return Value(q=q, opinion=opinion)

        # -- influencers: the policy -----------------------------------------------------------------
        def influencers_init() -> Value:
            np_ = get_backend().np
            out: dict[str, Any] = {
                "stance": np_.zeros((r, k), dtype=F32),
                "targets": -np_.ones((r, k, reach), dtype=I32),
            }
            if variant == "restricted":
                out.update(level=np_.ones((r, k), dtype=I32), segment=np_.full((r, k), 2, dtype=I32))
            elif variant == "full":
                out["stance_draw"] = np_.zeros((r, k), dtype=F32)
            return Value(out)

        def influencers_next(ag: Value, plat: Value, soc: Value, met: Value) -> Value:
            B = get_backend()
            np_ = B.np
            c = const()
            follows_me = np_.transpose(np_.take(soc.get("follows"), c["ids"], axis=2), (0, 2, 1))  # [R, k, N]
            share = met.get("followers") / float(n - k)
            gain = met.get("reward") / float(reach)
            view = InfluencerView(
                own_opinion=np_.take(ag.get("opinion"), c["ids"], axis=1),
                last_post=plat.get("post"),
                follows_me=follows_me,
                eligible=c["eligible"],
                observation=np_.stack([share, gain], axis=-1),
            )
            params = policy
            if params is None:
                params = {key: setting(POLICY_SETTING + key, default=x) for key, x in self.default_policy.items()}
            return draw_actions(variant, params, view, reach)

        # -- the platform: posts, feeds, approvals ----------------------------------------------------
        def platform_init(ag: Value) -> Value:
            np_ = get_backend().np
            return Value(flip=np_.zeros((r, n), dtype=I32), post=get_backend().cast(ag.get("opinion"), F32),
                         noise=np_.zeros((r, n, n), dtype=F32), shown=-np_.ones((r, n, slots), dtype=I32),
                         approve=np_.zeros((r, n, slots), dtype=I32))  # fmt: skip

        def platform_next(ag: Value, soc: Value, inf: Value) -> Value:
            B = get_backend()
            np_ = B.np
            c = const()
            eps = self._setting("epsilon")
            flip = B.cast(rv("flip", B.tfd.Bernoulli(probs=np_.ones((r, n), dtype=F32) * eps, dtype=I32)), I32)
            opinion = ag.get("opinion")
            said = B.cast(np_.where(flip > 0, -opinion, opinion), F32)
            stance_cols = np_.matmul(inf.get("stance"), c["place"])  # [R, N]
            post = np_.where(np_.expand_dims(c["is_inf"], 0), stance_cols, said)
            targets = inf.get("targets")
            hit = B.one_hot(np_.clip(targets, 0, n - 1), n, dtype=F32) * np_.expand_dims(B.cast(targets >= 0, F32), -1)
            reached = np_.sum(hit, axis=2)  # [R, k, N]: viewer v reached by influencer j
            pushed = np_.matmul(np_.transpose(reached, (0, 2, 1)), c["place"]) > 0.0  # [R, N viewers, N authors]
            zero, one = B.asarray(0.0, F32), B.asarray(1.0, F32)
            noise = rv("noise", B.tfd.Gumbel(loc=zero, scale=one), (r, n, n))
            shown = feed_slots(noise, soc.get("follows"), c["adj"], pushed, ~c["is_inf"],
                               self._setting("followed_weight"), slots)  # fmt: skip
            seen = shown >= 0
            stance = gather_rows(post, shown)  # [R, N, K]
            p = approval_probability(stance, np_.expand_dims(B.cast(opinion, F32), -1),
                                     self._setting("approval_sharpness"))  # fmt: skip
            p = np_.where(seen, p, np_.zeros_like(p))
            approve = B.cast(rv("approve", B.tfd.Bernoulli(probs=p, dtype=I32)), I32)
            return Value(flip=flip, post=post, noise=noise, shown=shown, approve=approve)

        # -- the follow relation ------------------------------------------------------------------------
        def social_init() -> Value:
            np_ = get_backend().np
            return Value(follows=np_.zeros((r, n, n), dtype="bool"), followers=np_.zeros((r, n), dtype=I32),
                         switch=np_.zeros((r, n, slots), dtype=I32))  # fmt: skip

        def social_next(soc: Value, plat: Value) -> Value:
            B = get_backend()
            shown = plat.get("shown")
            seen = shown >= 0
            following = following_shown(soc.get("follows"), shown)
            prob = switch_probability(seen, plat.get("approve"), following, self._setting("p_follow"),
                                      self._setting("p_unfollow"))  # fmt: skip
            switch = B.cast(rv("switch", B.tfd.Bernoulli(probs=prob, dtype=I32)), I32)
            follows = apply_switches(soc.get("follows"), shown, switch)
            return Value(follows=follows, followers=follower_counts(follows), switch=switch)

        # -- what the influencers earn ------------------------------------------------------------------
        def metrics_init() -> Value:
            np_ = get_backend().np
            zk, zr = np_.zeros((r, k), dtype=F32), np_.zeros((r,), dtype=F32)
            return Value(reward=zk, followers=zk, views=zk, approvals=zk, learner_views=zr, learner_approvals=zr)

        def metrics_next(met: Value, soc: Value, plat: Value) -> Value:
            B = get_backend()
            np_ = B.np
            c = const()
            followers = B.cast(np_.take(soc.get("followers"), c["ids"], axis=1), F32)
            shown = plat.get("shown")
            seen = B.cast(shown >= 0, F32)
            liked = B.cast(plat.get("approve") > 0, F32) * seen
            by_author_views = sum_by_author(seen, shown, n)  # [R, N]
            by_author_liked = sum_by_author(liked, shown, n)
            views = np_.take(by_author_views, c["ids"], axis=1)
            approvals = np_.take(by_author_liked, c["ids"], axis=1)
            learner = B.cast(~c["is_inf"], F32)
            return Value(
                reward=followers - met.get("followers"),
                followers=followers,
                views=met.get("views") + views,
                approvals=met.get("approvals") + approvals,
                learner_views=met.get("learner_views") + np_.sum(by_author_views * learner, axis=-1),
                learner_approvals=met.get("learner_approvals") + np_.sum(by_author_liked * learner, axis=-1),
            )

        agents.initial_value = value(agents_init)
        agents.value = value(agents_next, (agents.previous, platform))
        influencers.initial_value = value(influencers_init)
        influencers.value = value(
            influencers_next, (agents.previous, platform.previous, social.previous, metrics.previous)
        )
        platform.initial_value = value(platform_init, (agents,))
        platform.value = value(platform_next, (agents.previous, social.previous, influencers))
        social.initial_value = value(social_init)
        social.value = value(social_next, (social.previous, platform))
        metrics.initial_value = value(metrics_init)
        metrics.value = value(metrics_next, (metrics.previous, social, platform))
        return [agents, influencers, platform, social, metrics]
