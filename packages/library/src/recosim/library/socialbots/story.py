"""The socialbots story: bot accounts with an activity policy and a follow policy, a detector, cascades.

``num_users`` accounts form a follow graph (preferential attachment, fixed by
``graph_seed``). ``num_bots`` bot accounts join it, each with
``initial_followers`` followers (drawn once from ``graph_seed``), and
``num_normals`` ordinary accounts act beside them so that the detector's
false positives can be counted. Every step:

1. each bot not yet suspended draws an *activity* (post, repost, reply or
   mention, by ``softmax(activity_logits)``) and, with probability
   ``sigmoid(request_logit)``, sends a follow request to a user drawn by
   ``softmax(w_degree * z + w_follower * already_follows)`` (``z`` the user's
   standardised log-degree): the *activity policy* and the *follow policy*;
2. ordinary accounts draw an activity from their own mix (``softmax(log
   normal_mix + normal_spread * N(0, 1))``, drawn once per run) and send a request to a uniformly drawn
   user with probability ``normal_request_rate``;
3. a user accepts a request with probability ``sigmoid(accept_base -
   accept_degree * z)`` (well-followed accounts are choosier); an accepted bot
   request makes the user a follower of the bot;
4. the detector (`PeriodicDetector` over `bot_detector`) adds the step's counts
   of every bot and ordinary account to its discounted totals and, every
   ``detect_every`` steps, suspends the accounts scoring above ``threshold``;
   suspended accounts stop acting;
5. every active bot that posted seeds one independent cascade at its followers
   (`IndependentCascade`, probability ``p_spread``); its reward is the reach
   divided by ``reach_norm``, the mean reach of a post by one of the
   ``num_bots`` highest-degree users (a cascade seeded at that user's
   neighbours), so 1 means "as influential as a top-degree account".

Variables: ``bots`` (the policy: ``activity``, ``request``, ``target``,
``active``), ``normals``, ``response`` (acceptances and the cascades' live
edges), ``platform`` (followers and the detector's state) and ``metrics``
(``reward`` per bot and step, its running total, reach and follower counts).
Every draw is a field. Built with ``params`` (a policy, as in `RANDOM_POLICY`)
the model reads its policy from them (to train it); built without, it reads the
policy and the mechanism from the run's settings (`SETTING_DEFAULTS`), so one
compiled program evaluates every policy and detector setting.

>>> from recosim.core import NumpyRuntime
>>> model = SocialbotsModel(SocialbotsConfig(num_users=60, num_bots=3, num_normals=6, reach_draws=50))
>>> rt = NumpyRuntime(model.variables(), seed=0, settings=model.settings())
>>> figures = final_figures(rt.execute(4), model.cfg)
>>> sorted(figures)[:3]
['accuracy', 'balanced_accuracy', 'false_positive_rate']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, rv, setting, value
from recosim.library.socialbots.cascade import IndependentCascade, expected_reach
from recosim.library.socialbots.detector import ACTIVITIES, PeriodicDetector, activity_counts, bot_detector
from recosim.library.socialbots.graph import preferential_attachment_graph, top_degree

__all__ = [
    "POLICY_SHAPES",
    "RANDOM_POLICY",
    "SETTING_DEFAULTS",
    "TOP_DEGREE_POLICY",
    "SocialbotsConfig",
    "SocialbotsModel",
    "check_policy",
    "final_figures",
    "policy_settings",
]

POLICY_SHAPES: dict[str, tuple[int, ...]] = {"activity_logits": (4,), "request_logit": (), "follow_weights": (2,)}
"""The bots' policy parameters: activity logits (post, repost, reply, mention), the logit of sending a
follow request, and the follow policy's weights on (standardised log-degree, already a follower)."""
RANDOM_POLICY: dict[str, Any] = {
    "activity_logits": np.zeros(4, np.float32),
    "request_logit": np.float32(0.0),
    "follow_weights": np.zeros(2, np.float32),
}
"""Random bots: uniform activity, a request half the steps, to a uniformly drawn user."""
TOP_DEGREE_POLICY: dict[str, Any] = {
    "activity_logits": np.log(np.array([0.4, 0.2, 0.3, 0.1], np.float32)),
    "request_logit": np.float32(0.0),
    "follow_weights": np.array([25.0, -50.0], np.float32),
}
"""Top-degree followers: a fixed mix (40% posts, 20% reposts, 30% replies, 10% mentions), a request
half the steps, to the highest-degree user not yet following the bot."""
OFF = -30.0  # the logit of something that does not happen (probability about 1e-13)


def check_policy(policy: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``policy`` as float32 arrays of `POLICY_SHAPES`; a ValueError naming the entry otherwise."""
    missing = sorted(set(POLICY_SHAPES) - set(policy))
    extra = sorted(set(policy) - set(POLICY_SHAPES))
    if missing or extra:
        raise ValueError(f"a socialbots policy has the entries {sorted(POLICY_SHAPES)}; missing {missing}, "
                         f"unknown {extra}")
    out = {}
    for key, shape in POLICY_SHAPES.items():
        arr = np.asarray(policy[key], np.float32)
        if arr.shape != shape:
            raise ValueError(f"policy[{key!r}] has shape {arr.shape}, expected {shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"policy[{key!r}] must be finite, got {arr.tolist()}")
        out[key] = arr
    return out


@dataclass(frozen=True)
class SocialbotsConfig:
    """Sizes and constants of the socialbots story (see the module docstring)."""

    num_users: int = 200
    num_bots: int = 8
    num_normals: int = 32
    attach: int = 2
    graph_seed: int = 0
    p_spread: float = 0.1
    max_hops: int = 6
    accept_base: float = 0.5
    accept_degree: float = 1.0
    normal_mix: tuple[float, float, float, float] = (0.25, 0.35, 0.3, 0.1)
    normal_request_rate: float = 0.1
    normal_spread: float = 0.3
    decay: float = 0.8
    threshold: float = 2.4
    detect_every: int = 1
    initial_followers: int = 3
    reach_draws: int = 400

    def __post_init__(self) -> None:
        for name in ("num_users", "num_bots", "num_normals", "attach", "reach_draws"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or int(v) < 1:
                raise ValueError(f"SocialbotsConfig.{name} must be an integer >= 1, got {v!r}")
        if self.num_users < self.attach + 2:
            raise ValueError(f"SocialbotsConfig.num_users must be >= attach + 2 = {self.attach + 2}, "
                             f"got {self.num_users}")
        if self.num_bots > self.num_users:
            raise ValueError(f"SocialbotsConfig.num_bots ({self.num_bots}) must not exceed num_users "
                             f"({self.num_users}): the reward's norm uses that many top-degree users")
        for name in ("p_spread", "normal_request_rate", "decay"):
            v = float(getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"SocialbotsConfig.{name} must be in [0, 1], got {v!r}")
        if int(self.initial_followers) != self.initial_followers or not 0 <= self.initial_followers <= self.num_users:
            raise ValueError(f"SocialbotsConfig.initial_followers must be an integer in [0, num_users], "
                             f"got {self.initial_followers!r}")
        if int(self.max_hops) != self.max_hops or self.max_hops < 1:
            raise ValueError(f"SocialbotsConfig.max_hops must be an integer >= 1, got {self.max_hops!r}")
        if not math.isfinite(self.threshold) or self.threshold <= 0:
            raise ValueError(f"SocialbotsConfig.threshold must be a positive number, got {self.threshold!r}")
        if int(self.detect_every) != self.detect_every or self.detect_every < 1:
            raise ValueError(f"SocialbotsConfig.detect_every must be an integer >= 1, got {self.detect_every!r}")
        mix = np.asarray(self.normal_mix, np.float64)
        if mix.shape != (4,) or np.any(mix <= 0) or abs(mix.sum() - 1.0) > 1e-6:
            raise ValueError(f"SocialbotsConfig.normal_mix must be 4 positive shares summing to 1, "
                             f"got {self.normal_mix}")
        if not self.normal_spread >= 0:
            raise ValueError(f"SocialbotsConfig.normal_spread must be >= 0, got {self.normal_spread}")

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


SETTING_DEFAULTS: dict[str, Any] = {
    **RANDOM_POLICY,
    "threshold": np.float32(2.4),
    "detect_every": np.int32(1),
}
"""The settings a model built without ``params`` reads (the policy's entries, ``threshold``, ``detect_every``)."""


def policy_settings(policy: Mapping[str, Any], threshold: float, detect_every: int) -> dict[str, Any]:
    """A policy and a detector setting as the run's settings.

    >>> sorted(policy_settings(RANDOM_POLICY, 2.0, 3))
    ['activity_logits', 'detect_every', 'follow_weights', 'request_logit', 'threshold']
    """
    return {**check_policy(policy), "threshold": np.float32(threshold), "detect_every": np.int32(detect_every)}


class SocialbotsModel:
    """The graph and constants of one `SocialbotsConfig`, and the story's variables.

    Attributes: ``graph`` (an `OpinionGraph`), ``log_degree_z`` (``float32[N]``),
    ``accept_logit`` (``float32[N]``), ``reach_norm`` and ``reach_norm_se`` (the
    mean reach of a post by a top-degree user, by Monte Carlo on the host).
    """

    def __init__(self, cfg: SocialbotsConfig) -> None:
        self.cfg = cfg
        self.graph = preferential_attachment_graph(cfg.num_users, cfg.attach, seed=cfg.graph_seed)
        logd = np.log1p(self.graph.degree.astype(np.float64))
        self.log_degree_z = ((logd - logd.mean()) / max(float(logd.std()), 1e-6)).astype(np.float32)
        self.accept_logit = (cfg.accept_base - cfg.accept_degree * self.log_degree_z).astype(np.float32)
        tops = top_degree(self.graph, cfg.num_bots)
        seeds = np.zeros((cfg.num_bots, cfg.num_users), bool)
        for row, u in enumerate(tops):
            nb = self.graph.neighbours[u]
            seeds[row, nb[nb >= 0]] = True
        mean, se = expected_reach(self.graph.neighbours, seeds, cfg.p_spread, draws=cfg.reach_draws,
                                  seed=cfg.graph_seed, max_hops=cfg.max_hops)
        self.reach_norm = float(mean.mean())
        rng = np.random.default_rng([cfg.graph_seed, 1])
        self.initial_followers = np.zeros((cfg.num_bots, cfg.num_users), bool)
        for mask in self.initial_followers:
            mask[rng.choice(cfg.num_users, cfg.initial_followers, replace=False)] = True
        self.reach_norm_se = float(np.sqrt(np.sum(se**2)) / len(se))

    def settings(self, policy: Mapping[str, Any] | None = None, threshold: float | None = None,
                 detect_every: int | None = None) -> dict[str, Any]:
        """The run's settings (the random policy and the config's detector where not given)."""
        return policy_settings(
            RANDOM_POLICY if policy is None else policy,
            self.cfg.threshold if threshold is None else threshold,
            self.cfg.detect_every if detect_every is None else detect_every,
        )

    def variables(
        self, params: Mapping[str, Any] | None = None, *, threshold: float | None = None,
        detect_every: int | None = None,
    ) -> list[Variable]:
        """The story's variables; with ``params`` the policy is read from them, else from the run's settings.

        ``threshold`` and ``detect_every`` fix the detector (else read from the settings).
        """
        cfg = self.cfg
        b, m, n, k = cfg.num_bots, cfg.num_normals, cfg.num_users, self.graph.capacity
        nbr_np, z_np, acc_np = self.graph.neighbours, self.log_degree_z, self.accept_logit
        norm = self.reach_norm
        start_np = self.initial_followers
        log_mix_np = np.log(np.asarray(cfg.normal_mix, np.float32))
        cascade = IndependentCascade(n, k, p_spread=cfg.p_spread, max_hops=cfg.max_hops, name="cascade")

        def policy(key: str) -> Any:
            if params is not None:
                return params[key]
            return setting(key, default=RANDOM_POLICY[key])

        def mechanism(key: str, fixed: Any) -> Any:
            return fixed if fixed is not None else setting(key, default=SETTING_DEFAULTS[key])

        def detector_now() -> PeriodicDetector:
            """The detector of the step being evaluated (its threshold and period: fixed, or the run's settings)."""
            return PeriodicDetector(
                bot_detector(b + m, mechanism("threshold", threshold), decay=cfg.decay, name="detector"),
                every=mechanism("detect_every", detect_every),
            )

        shape = PeriodicDetector(bot_detector(b + m, 1.0, decay=cfg.decay))  # its fields, whatever the setting

        def act(prev: Value | None) -> Value:
            B = get_backend()
            np_ = B.np
            if prev is None:
                followers = B.asarray(start_np)
                active = np_.ones((b,), dtype="bool")
            else:
                followers = prev.get("followers")
                active = ~prev.get("suspended")[:b]
            frozen = np.array([0.0, OFF, OFF, OFF], np.float32)
            logits = np_.zeros((b, len(ACTIVITIES)), dtype="float32") + B.asarray(policy("activity_logits"))
            logits = np_.where(active[:, None], logits, B.asarray(frozen))
            activity = rv("activity", B.tfd.Categorical(logits=logits, dtype="int32"))
            ask = np_.zeros((b,), dtype="float32") + B.asarray(policy("request_logit"))
            request = rv("request", B.tfd.Bernoulli(logits=np_.where(active, ask, OFF), dtype="int32"))
            w = B.asarray(policy("follow_weights"))
            pick = w[0] * B.asarray(z_np)[None, :] + w[1] * B.cast(followers, "float32")
            none = np.full((n,), OFF, np.float32)
            none[0] = 0.0
            pick = np_.where((request == 1)[:, None], pick, B.asarray(none))
            target = rv("target", B.tfd.Categorical(logits=pick, dtype="int32"))
            return Value(activity=activity, request=request, target=target, active=active)

        def normal_step(mix: Any, noise: Any) -> Value:
            B = get_backend()
            np_ = B.np
            activity = rv("activity", B.tfd.Categorical(probs=mix, dtype="int32"))
            rate = np_.zeros((m,), dtype="float32") + cfg.normal_request_rate
            request = rv("request", B.tfd.Bernoulli(probs=rate, dtype="int32"))
            target = rv("target", B.tfd.Categorical(logits=np_.zeros((m, n), dtype="float32"), dtype="int32"))
            return Value(mix=mix, mix_noise=noise, activity=activity, request=request, target=target)

        def normals_initial() -> Value:
            B = get_backend()
            loc = B.np.zeros((m, len(ACTIVITIES)), dtype="float32") + B.asarray(log_mix_np)
            noise = rv("mix_noise", B.tfd.Normal(loc, cfg.normal_spread))
            return normal_step(B.softmax(noise, axis=-1), noise)

        def respond(bots: Value, normals: Value) -> Value:
            B = get_backend()
            np_ = B.np
            acc = B.asarray(acc_np)
            sending = (bots.get("request") == 1) & bots.get("active")
            lb = np_.where(sending, np_.take(acc, bots.get("target"), axis=0), OFF)
            accepted_bot = rv("accepted_bot", B.tfd.Bernoulli(logits=lb, dtype="int32"))
            ln = np_.where(normals.get("request") == 1, np_.take(acc, normals.get("target"), axis=0), OFF)
            accepted_normal = rv("accepted_normal", B.tfd.Bernoulli(logits=ln, dtype="int32"))
            live = rv("live", cascade.live_edges((b,)))
            return Value(accepted_bot=accepted_bot, accepted_normal=accepted_normal, live=live)

        def update(prev: Value | None, bots: Value, normals: Value, response: Value) -> Value:
            B = get_backend()
            np_ = B.np
            detector = detector_now()
            if prev is None:
                followers = B.asarray(start_np)
                state = detector.initial_state()
            else:
                followers = prev.get("followers")
                state = Value({key: prev.get(key) for key in shape.specs()})
            normal_active = ~state.get("suspended")[b:]
            sending = (bots.get("request") == 1) & bots.get("active")
            gained = (B.one_hot(bots.get("target"), n, dtype="int32") == 1) & (
                (response.get("accepted_bot") == 1) & sending
            )[:, None]
            counts = activity_counts(
                np_.concatenate([bots.get("activity"), normals.get("activity")], axis=0),
                np_.concatenate([bots.get("active"), normal_active], axis=0),
                np_.concatenate([sending, normals.get("request") == 1], axis=0),
                np_.concatenate([response.get("accepted_bot") == 1, response.get("accepted_normal") == 1], axis=0),
            )
            new = detector.next_state(state, counts)
            return Value({key: new[key] for key in new}, followers=followers | gained)

        def score(prev: Value | None, bots: Value, response: Value, platform: Value) -> Value:
            B = get_backend()
            np_ = B.np
            followers = platform.get("followers")
            posted = (bots.get("activity") == 0) & bots.get("active")
            reached = cascade.reach_count(B.asarray(nbr_np), followers, response.get("live"))
            reach = np_.where(posted, reached, np_.zeros_like(reached))
            reward = reach / norm
            total = reward if prev is None else prev.get("total_reward") + reward
            steps = np_.ones((), dtype="int32") if prev is None else prev.get("steps") + 1
            return Value(reward=reward, reach=reach, total_reward=total, steps=steps,
                         followers=np_.sum(B.cast(followers, "float32"), axis=-1))

        i32, f32 = "int32", "float32"
        bots = Variable("bots", ValueSpec(activity=FieldSpec((b,), i32), request=FieldSpec((b,), i32),
                                          target=FieldSpec((b,), i32), active=FieldSpec((b,), "bool")))
        normals = Variable("normals", ValueSpec(mix=FieldSpec((m, 4), f32), mix_noise=FieldSpec((m, 4), f32),
                                                activity=FieldSpec((m,), i32),
                                                request=FieldSpec((m,), i32), target=FieldSpec((m,), i32)))
        response = Variable("response", ValueSpec(accepted_bot=FieldSpec((b,), i32),
                                                  accepted_normal=FieldSpec((m,), i32),
                                                  live=FieldSpec((b, n, k), i32)))
        platform = Variable("platform", shape.specs().union({"followers": FieldSpec((b, n), "bool")}))
        metrics = Variable("metrics", ValueSpec(reward=FieldSpec((b,), f32), reach=FieldSpec((b,), f32),
                                                total_reward=FieldSpec((b,), f32), steps=FieldSpec((), i32),
                                                followers=FieldSpec((b,), f32)))

        bots.initial_value = value(lambda: act(None))
        bots.value = value(act, (platform.previous,))
        normals.initial_value = value(normals_initial)
        normals.value = value(lambda prev: normal_step(prev.get("mix"), prev.get("mix_noise")), (normals.previous,))
        response.initial_value = value(respond, (bots, normals))
        response.value = value(respond, (bots, normals))
        platform.initial_value = value(lambda bt, nm, rs: update(None, bt, nm, rs), (bots, normals, response))
        platform.value = value(update, (platform.previous, bots, normals, response))
        metrics.initial_value = value(lambda bt, rs, pl: score(None, bt, rs, pl), (bots, response, platform))
        metrics.value = value(score, (metrics.previous, bots, response, platform))
        return [bots, normals, response, platform, metrics]


def final_figures(final: Mapping[str, Any], cfg: SocialbotsConfig) -> dict[str, Any]:
    """Per-run figures of a final network value, in the active backend's operations (traceable).

    ``influence``: the bots' reward per bot and step (the run's mean); ``not_suspended``:
    the share of bots never suspended; ``false_positive_rate``: the share of ordinary
    accounts suspended; ``followers``: followers per bot; ``accuracy`` and
    ``balanced_accuracy``: the detector's, bots against ordinary accounts, at the end.
    """
    B = get_backend()
    np_ = B.np
    b = cfg.num_bots
    f32 = "float32"
    suspended = B.cast(final["platform"].get("suspended"), f32)
    met = final["metrics"]
    caught, flagged = np_.mean(suspended[:b]), np_.mean(suspended[b:])
    steps = B.cast(met.get("steps"), f32)
    return {
        "influence": np_.mean(met.get("total_reward")) / steps,
        "not_suspended": 1.0 - caught,
        "false_positive_rate": flagged,
        "followers": np_.mean(met.get("followers")),
        "accuracy": (np_.sum(suspended[:b]) + np_.sum(1.0 - suspended[b:])) / float(b + cfg.num_normals),
        "balanced_accuracy": 0.5 * (caught + 1.0 - flagged),
    }
