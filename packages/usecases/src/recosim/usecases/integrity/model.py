"""Social-platform integrity: scammers hunting vulnerable users against a platform's defences.

Accounts live on a sparse social graph (`recosim.library.social.SparseSocialGraph`).
Genuine users have a latent vulnerability, an activity level and a feed; they send
contact requests to friends of friends (sometimes to strangers), message their
contacts and post. Scammers, a fraction of the accounts, each step pick whom to
send requests to among the candidates they can see (friends of their contacts and
strangers, with the signals a profile shows), whether to mix in genuine-looking
activity (camouflage, which uses up their allowance) and which contacts to send a
scam message. The platform's mechanism has two parameters: a rate limit on
requests and messages per account per step (`RateLimiter`) and the threshold of a
detector (`ThresholdDetector`) that scores accounts from rejected requests,
blocked attempts and the rate of reports and suspends those above it.

The model is a story of ten variables; every draw is a field, so a logged
trajectory has a log-probability on every runtime. The mechanism and the
scammers' policy are either the runtime's *settings* (``integrity_variables(cfg)``;
names in `PARAMETER_SETTINGS`, values from `parameter_settings`), so that one
compiled program serves a whole grid of mechanisms and policies, or arrays given
when the model is built (``integrity_variables(cfg, params)``, conventions:
``params["mechanism"]`` and ``params["scammer"]``), which is how the policy is
trained by policy gradients.

>>> from recosim.core.runtime import NumpyRuntime
>>> cfg = IntegrityConfig(num_accounts=200, scammer_fraction=0.05)
>>> final = NumpyRuntime(integrity_variables(cfg, default_params()), seed=0).execute(5)
>>> sorted(summarise_final(final, cfg))
['engagement', 'friction', 'overflow', 'scammer_reward', 'scammers_suspended', 'victims']
>>> rt = NumpyRuntime(integrity_variables(cfg), seed=0, settings=parameter_settings(default_params()))
>>> after = rt.execute(5, settings=parameter_settings(default_params(2.0, 3.0)))
>>> sorted(rt.settings)[:3]
['camouflage_bias', 'message_bias', 'message_weights']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, rv, value
from recosim.core.settings import setting
from recosim.library.social import ContactRequests, RateLimiter, SparseSocialGraph, ThresholdDetector, UniformIndex

__all__ = [
    "MODEL_VERSION",
    "IntegrityConfig",
    "FIXED_RULE_POLICY",
    "POLICY_SHAPES",
    "default_params",
    "PARAMETER_SETTINGS",
    "parameter_settings",
    "integrity_variables",
    "summarise_final",
    "check_params",
]

MODEL_VERSION = 1
"""Bumped whenever the model's behaviour changes, so results files of an older model are not resumed."""

NEVER = -1.0e4  # a logit whose probability is exactly 0 in float32
F32, I32 = "float32", "int32"

POLICY_SHAPES: dict[str, tuple[int, ...]] = {
    "request_bias": (),
    "request_weights": (3,),  # candidate's vulnerability signal, log(1 + mutual contacts), log(1 + degree)
    "camouflage_bias": (),
    "message_bias": (),
    "message_weights": (1,),  # contact's vulnerability signal
}
"""The scammers' policy parameters and their shapes."""

FIXED_RULE_POLICY: dict[str, np.ndarray | np.float32] = {
    "request_bias": np.float32(1.0),  # request about 73% of the visible candidates, whoever they are
    "request_weights": np.zeros(3, np.float32),
    "camouflage_bias": np.float32(-3.0),  # camouflage rarely (5% of the possible actions)
    "message_bias": np.float32(0.0),  # message each reachable contact with probability 1/2 per step
    "message_weights": np.zeros(1, np.float32),
}
"""The rule-following scammers: the same policy family with fixed, untargeted parameters."""


@dataclass(frozen=True)
class IntegrityConfig:
    """Sizes and behavioural constants of the integrity model (the mechanism and policy are parameters).

    Sizes: ``num_accounts`` accounts of which ``round(scammer_fraction * num_accounts)``
    are scammers (their ids spread evenly over the id range); each account holds at
    most ``capacity`` contacts; genuine accounts start with up to
    ``initial_contacts`` contacts drawn in communities of ``community_size``
    consecutive ids; each scammer sees ``fof_candidates`` friends of its contacts
    and ``random_candidates`` strangers per step and can camouflage with up to
    ``max_camouflage`` benign actions per step.
    """

    num_accounts: int = 10_000
    scammer_fraction: float = 0.02
    capacity: int = 20
    community_size: int = 50
    initial_contacts: int = 4
    fof_candidates: int = 4
    random_candidates: int = 4
    max_camouflage: int = 4
    # genuine users
    vulnerability_loc: float = -2.0  # vulnerability = sigmoid(z), z ~ N(loc, scale): median 0.12
    vulnerability_scale: float = 1.0
    signal_noise: float = 1.0  # the profile signal scammers see ~ N(z, signal_noise)
    activity_sigma: float = 0.8  # activity ~ LogNormal(-sigma^2 / 2, sigma): mean 1
    request_rate: float = 0.04  # P(send a request this step) = request_rate * activity (at most 0.9)
    stranger_share: float = 0.3  # share of requests to a random account instead of a friend of a friend
    message_rate: float = 0.6  # messages wanted per step ~ Geometric with mean message_rate * activity
    post_rate: float = 0.3  # P(post this step) (times activity, at most 0.9)
    # acceptance of contact requests: logit = base + mutual * log(1 + m) + credulity * v + credibility * c
    accept_base: float = -3.0
    accept_mutual: float = 1.2
    accept_credulity: float = 3.0
    accept_credibility: float = 1.5
    # scam messages
    report_by_victim: float = 0.3  # a victim reports the scammer with this probability
    report_by_aware: float = 0.25  # someone who resists reports with this probability times (1 - vulnerability)
    false_report: float = 0.002  # a genuine message is reported by mistake with this probability
    # detector: discounted counts (decay per step) and the weights of its score terms
    detector_decay: float = 0.8
    weight_rejected: float = 0.5  # per rejected request (discounted)
    weight_blocked: float = 0.5  # per attempt blocked by the rate limit (discounted)
    weight_report_rate: float = 10.0  # times reports / (messages + report_prior)
    report_prior: float = 2.0
    max_new_edges: int | None = None  # bound on new edges per step (default: a tenth of the accounts + scam requests)

    def __post_init__(self) -> None:
        for name in ("num_accounts", "capacity", "community_size", "initial_contacts", "fof_candidates"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"IntegrityConfig.{name} must be >= 1, got {getattr(self, name)}")
        if int(self.max_camouflage) < 1:
            raise ValueError(
                f"IntegrityConfig.max_camouflage must be >= 1, got {self.max_camouflage} "
                "(a policy that never camouflages has a very negative camouflage_bias)"
            )
        for name in ("random_candidates",):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"IntegrityConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 < self.scammer_fraction < 0.5:
            raise ValueError(f"IntegrityConfig.scammer_fraction must be in (0, 0.5), got {self.scammer_fraction}")
        if self.num_scammers < 1:
            raise ValueError(
                f"IntegrityConfig: scammer_fraction {self.scammer_fraction} of {self.num_accounts} accounts "
                "leaves no scammer; raise either"
            )
        for name in ("stranger_share", "report_by_victim", "report_by_aware", "false_report"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"IntegrityConfig.{name} must be a probability, got {getattr(self, name)}")
        if not 0.0 <= self.detector_decay <= 1.0:
            raise ValueError(f"IntegrityConfig.detector_decay must be in [0, 1], got {self.detector_decay}")

    @property
    def num_scammers(self) -> int:
        return round(self.scammer_fraction * self.num_accounts)

    @property
    def num_genuine(self) -> int:
        return self.num_accounts - self.num_scammers

    @property
    def num_candidates(self) -> int:
        return self.fof_candidates + self.random_candidates

    def scammer_ids(self) -> np.ndarray:
        """The scammers' account ids, spread evenly over ``[0, num_accounts)``."""
        return np.floor(np.arange(self.num_scammers) * self.num_accounts / self.num_scammers).astype(np.int32)

    def is_scammer(self) -> np.ndarray:
        mask = np.zeros(self.num_accounts, bool)
        mask[self.scammer_ids()] = True
        return mask

    def genuine_ids(self) -> np.ndarray:
        return np.flatnonzero(~self.is_scammer()).astype(np.int32)

    def edge_buffer(self) -> int:
        if self.max_new_edges is not None:
            return int(self.max_new_edges)
        return self.num_accounts // 10 + self.num_scammers * self.num_candidates

    def signal_moments(self) -> tuple[float, float]:
        """Mean and standard deviation of the profile signal (exact: a sum of two normals)."""
        return float(self.vulnerability_loc), float(np.hypot(self.vulnerability_scale, self.signal_noise))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IntegrityConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"IntegrityConfig has no field(s) {unknown}")
        return cls(**dict(data))


def default_params(rate_limit: float = 4.0, threshold: float = 4.0, policy: Mapping[str, Any] | None = None) -> dict:
    """Parameters of the model: the mechanism ``(rate_limit, threshold)`` and the scammers' policy."""
    scammer = {k: np.asarray(v, np.float32) for k, v in (policy or FIXED_RULE_POLICY).items()}
    return {
        "mechanism": {"rate_limit": np.float32(rate_limit), "threshold": np.float32(threshold)},
        "scammer": scammer,
    }


MECHANISM_KEYS = ("rate_limit", "threshold")

PARAMETER_SETTINGS: dict[str, tuple[str, str]] = {
    **{key: ("mechanism", key) for key in MECHANISM_KEYS},
    **{key: ("scammer", key) for key in POLICY_SHAPES},
}
"""Setting name -> ``(params group, key)``: the settings a model built without ``params`` reads."""


def parameter_settings(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``params`` (as `default_params` gives them) as the flat settings of a model built without them.

    >>> sorted(parameter_settings(default_params(2.0, 3.0)).items())[-2:]
    [('request_weights', array([0., 0., 0.], dtype=float32)), ('threshold', array(3., dtype=float32))]
    """
    check_params(params)
    return {name: np.asarray(params[group][key], np.float32) for name, (group, key) in PARAMETER_SETTINGS.items()}


def check_params(params: Mapping[str, Any]) -> None:
    """Raise a ValueError naming the entry unless ``params`` has the mechanism and policy entries with their shapes."""
    if not isinstance(params, Mapping) or "mechanism" not in params or "scammer" not in params:
        raise ValueError("integrity params must be {'mechanism': {...}, 'scammer': {...}} (see default_params)")
    for key in ("rate_limit", "threshold"):
        if key not in params["mechanism"]:
            raise ValueError(f"integrity params['mechanism'] lacks {key!r}")
        if tuple(np.shape(params["mechanism"][key])) != ():
            raise ValueError(f"integrity params['mechanism'][{key!r}] must be a scalar")
    for key, shape in POLICY_SHAPES.items():
        if key not in params["scammer"]:
            raise ValueError(f"integrity params['scammer'] lacks {key!r}; the policy has {sorted(POLICY_SHAPES)}")
        got = tuple(np.shape(params["scammer"][key]))
        if got != shape:
            raise ValueError(f"integrity params['scammer'][{key!r}] has shape {got}, expected {shape}")
    extra = sorted(set(params["scammer"]) - set(POLICY_SHAPES))
    if extra:
        raise ValueError(f"integrity params['scammer'] has unknown entries {extra}")


def _logit(p: Any, where: Any = True) -> Any:
    """``log(p / (1 - p))`` where ``where`` (callers keep ``0 < p < 1`` there); 0 elsewhere."""
    np_ = get_backend().np
    p = np_.where(where, p, 0.5)
    return np_.log(p) - np_.log1p(-p)


def _bernoulli(logits: Any, mask: Any, *, event: bool = False) -> Any:
    """Bernoulli (int32) with ``logits`` where ``mask``, never elsewhere; ``event``: the last axis is one event."""
    B = get_backend()
    d = B.tfd.Bernoulli(logits=B.np.where(mask, logits, NEVER), dtype=I32)
    return B.tfd.Independent(d, reinterpreted_batch_ndims=1) if event else d


def integrity_variables(cfg: IntegrityConfig, params: Mapping[str, Any] | None = None) -> list[Variable]:
    """The story: population, graph, genuine activity, scammer view, scammers (the policy),
    platform limits, interactions, platform (the detector) and metrics.

    Without ``params`` the mechanism and the policy are read from the settings of
    the run (`PARAMETER_SETTINGS`; the defaults of `default_params` where a runtime
    declares none).
    """
    N, S, K, M = cfg.num_accounts, cfg.num_scammers, cfg.capacity, cfg.max_camouflage
    C, CF, CR = cfg.num_candidates, cfg.fof_candidates, cfg.random_candidates
    D0, G = cfg.initial_contacts, cfg.num_genuine
    sids_np, gids_np, is_scam_np = cfg.scammer_ids(), cfg.genuine_ids(), cfg.is_scammer()
    community_np = (np.arange(N) // cfg.community_size * cfg.community_size).astype(np.int32)
    community_len_np = np.minimum(cfg.community_size, N - community_np).astype(np.int32)
    sig_mean, sig_sd = cfg.signal_moments()
    if params is not None:
        check_params(params)
    defaults = default_params()

    def param(group: str, key: str) -> Any:
        """The parameter's value in the step being evaluated: given at build time, else the run's setting."""
        if params is not None:
            return params[group][key]
        return setting(key, default=defaults[group][key])

    graph_block = SparseSocialGraph(N, K, max_new_edges=min(cfg.edge_buffer(), N + S * C), name="graph")
    genuine_requests = ContactRequests(
        graph_block, base_logit=cfg.accept_base, mutual_weight=cfg.accept_mutual, field="accepted_genuine"
    )
    scam_requests = ContactRequests(
        graph_block, base_logit=cfg.accept_base, mutual_weight=cfg.accept_mutual, field="accepted_scam"
    )

    def detector_at(threshold: Any) -> ThresholdDetector:
        return ThresholdDetector(
            N,
            counts=("requests", "rejected", "blocked", "messages", "reports", "benign"),
            ratios={"report_rate": ("reports", "messages", cfg.report_prior)},
            weights={
                "rejected": cfg.weight_rejected,
                "blocked": cfg.weight_blocked,
                "report_rate": cfg.weight_report_rate,
            },
            threshold=threshold,
            decay=cfg.detector_decay,
            name="detector",
        )

    detector = detector_at(defaults["mechanism"]["threshold"])  # its specs and initial state

    def consts() -> dict[str, Any]:
        B = get_backend()
        return {
            "sids": B.asarray(sids_np),
            "gids": B.asarray(gids_np),
            "is_scam": B.asarray(is_scam_np),
            "ids": B.np.arange(N, dtype=I32),
        }

    def f32(x: Any) -> Any:
        return get_backend().cast(x, F32)

    def i32(x: Any) -> Any:
        return get_backend().cast(x, I32)

    def take(x: Any, idx: Any) -> Any:
        """``x[idx]`` along axis 0 with negative indices clipped (callers mask them)."""
        np_ = get_backend().np
        return np_.take(x, np_.clip(i32(idx), 0, N - 1), axis=0)

    # -- specs ---------------------------------------------------------------------------------------
    population = Variable(
        "population",
        ValueSpec(
            vulnerability_logit=FieldSpec((N,), F32),
            activity=FieldSpec((N,), F32),
            signal=FieldSpec((N,), F32),
            partner_offset=FieldSpec((N, D0), I32),
        ),
    )
    graph = Variable(
        "graph",
        ValueSpec(
            neighbours=FieldSpec((N, K), I32),
            degree=FieldSpec((N,), I32),
            added_genuine=FieldSpec((N,), "bool"),
            added_scam=FieldSpec((S, C), "bool"),
            overflow=FieldSpec((), I32),
        ),
    )
    activity = Variable(
        "genuine activity",
        ValueSpec(
            wants_request=FieldSpec((N,), I32),
            to_stranger=FieldSpec((N,), I32),
            contact_slot=FieldSpec((N,), I32),
            fof_slot=FieldSpec((N,), I32),
            stranger=FieldSpec((N,), I32),
            messages=FieldSpec((N,), F32),
            posts=FieldSpec((N,), I32),
            target=FieldSpec((N,), I32),
            can_message=FieldSpec((N,), "bool"),
        ),
    )
    view = Variable(
        "scammer view",
        ValueSpec(
            contact_slot=FieldSpec((S, CF), I32),
            fof_slot=FieldSpec((S, CF), I32),
            stranger=FieldSpec((S, CR), I32),
            candidates=FieldSpec((S, C), I32),
            candidate_ok=FieldSpec((S, C), "bool"),
            candidate_features=FieldSpec((S, C, 3), F32),
            contacts=FieldSpec((S, K), I32),
            contact_ok=FieldSpec((S, K), "bool"),
            contact_signal=FieldSpec((S, K), F32),
        ),
    )
    scammers = Variable(
        "scammers",
        ValueSpec(request=FieldSpec((S, C), I32), camouflage=FieldSpec((S, M), I32), message=FieldSpec((S, K), I32)),
    )
    limits = Variable(
        "platform limits",
        ValueSpec(
            genuine_request=FieldSpec((N,), "bool"),
            genuine_messages=FieldSpec((N,), I32),
            scam_request=FieldSpec((S, C), "bool"),
            camouflage=FieldSpec((S,), I32),
            scam_message=FieldSpec((S, K), "bool"),
            blocked=FieldSpec((N,), I32),
        ),
    )
    interactions = Variable(
        "interactions",
        ValueSpec(
            accepted_genuine=FieldSpec((N,), I32),
            accepted_scam=FieldSpec((S, C), I32),
            scam_success=FieldSpec((S, K), I32),
            scam_report=FieldSpec((S, K), I32),
            false_report=FieldSpec((N,), I32),
            feed=FieldSpec((N,), F32),
        ),
    )
    platform = Variable("platform", detector.specs())
    metrics = Variable(
        "metrics",
        ValueSpec(
            victim=FieldSpec((N,), "bool"),
            exposed=FieldSpec((N,), "bool"),
            reward=FieldSpec((S,), F32),
            cumulative_reward=FieldSpec((S,), F32),
            engagement=FieldSpec((), F32),
            overflow=FieldSpec((), I32),
        ),
    )

    # -- population and the initial graph --------------------------------------------------------------
    def population_init() -> Value:
        B = get_backend()
        np_ = B.np
        ones = np_.ones((N,), dtype=F32)
        z = rv("vulnerability_logit", B.tfd.Normal(cfg.vulnerability_loc * ones, cfg.vulnerability_scale * ones))
        sigma = cfg.activity_sigma
        return Value(
            vulnerability_logit=z,
            activity=B.tfd.LogNormal(-0.5 * sigma * sigma * ones, sigma * ones),
            signal=B.tfd.Normal(z, cfg.signal_noise * ones),
            partner_offset=UniformIndex(np_.broadcast_to(B.asarray(community_len_np)[:, None], (N, D0))),
        )

    def graph_init(pop: Value) -> Value:
        B = get_backend()
        np_ = B.np
        c = consts()
        a = np_.broadcast_to(c["ids"][:, None], (N, D0))
        b = B.asarray(community_np)[:, None] + pop.get("partner_offset")
        ok = ~np_.take(c["is_scam"], a) & ~take(c["is_scam"], b)
        state = graph_block.initial_state(a, b, ok)
        return state.union(_no_new_edges())

    def _no_new_edges() -> Value:
        np_ = get_backend().np
        return Value(
            added_genuine=np_.zeros((N,), dtype="bool"),
            added_scam=np_.zeros((S, C), dtype="bool"),
            overflow=np_.zeros((), dtype=I32),
        )

    def graph_state(g: Value) -> Value:
        return Value(neighbours=g.get("neighbours"), degree=g.get("degree"))

    # -- genuine users ------------------------------------------------------------------------------------
    def activity_zero() -> Value:
        np_ = get_backend().np
        z = np_.zeros((N,), dtype=I32)
        return Value(
            wants_request=z,
            to_stranger=z,
            contact_slot=z,
            fof_slot=z,
            stranger=z,
            messages=np_.zeros((N,), dtype=F32),
            posts=z,
            target=z - 1,
            can_message=np_.zeros((N,), dtype="bool"),
        )

    def genuine_activity(pop: Value, g: Value, plat: Value) -> Value:
        B = get_backend()
        np_ = B.np
        c = consts()
        state = graph_state(g)
        active = ~c["is_scam"] & ~plat.get("suspended")
        act = pop.get("activity")
        wants = rv("wants_request", _bernoulli(_logit(np_.minimum(cfg.request_rate * act, 0.9), active), active))
        to_stranger = rv("to_stranger", B.tfd.Bernoulli(probs=cfg.stranger_share * np_.ones((N,), F32), dtype=I32))
        slot = rv("contact_slot", graph_block.slot_distribution(state, c["ids"]))
        friend = graph_block.contact_at(state, c["ids"], slot)
        fof_slot = rv("fof_slot", graph_block.slot_distribution(state, friend))
        fof = graph_block.contact_at(state, friend, fof_slot)
        stranger = rv("stranger", UniformIndex(N * np_.ones((N,), dtype=I32)))
        target = np_.where(to_stranger == 1, stranger, fof)
        target_ok = (
            (wants == 1)
            & (target >= 0)
            & (target != c["ids"])
            & ~take(plat.get("suspended"), target)
            & ~graph_block.are_contacts(state, c["ids"], target)
        )
        # every account wants some messages (a Geometric count); the platform delivers those of
        # active genuine accounts with contacts (see `rate_limit`)
        mean = np_.maximum(cfg.message_rate * act * f32(~c["is_scam"]), 1e-3)
        messages = rv("messages", B.tfd.Geometric(probs=1.0 / (1.0 + mean)))
        return Value(
            wants_request=wants,
            to_stranger=to_stranger,
            contact_slot=slot,
            fof_slot=fof_slot,
            stranger=stranger,
            messages=messages,
            posts=_bernoulli(_logit(np_.minimum(cfg.post_rate * act, 0.9), active), active),
            target=np_.where(target_ok, target, -1),
            can_message=active & (g.get("degree") > 0),
        )

    # -- what scammers see --------------------------------------------------------------------------------
    def view_zero() -> Value:
        np_ = get_backend().np
        return Value(
            contact_slot=np_.zeros((S, CF), dtype=I32),
            fof_slot=np_.zeros((S, CF), dtype=I32),
            stranger=np_.zeros((S, CR), dtype=I32),
            candidates=-np_.ones((S, C), dtype=I32),
            candidate_ok=np_.zeros((S, C), dtype="bool"),
            candidate_features=np_.zeros((S, C, 3), dtype=F32),
            contacts=-np_.ones((S, K), dtype=I32),
            contact_ok=np_.zeros((S, K), dtype="bool"),
            contact_signal=np_.zeros((S, K), dtype=F32),
        )

    def scammer_view(pop: Value, g: Value, plat: Value, met: Value) -> Value:
        B = get_backend()
        np_ = B.np
        c = consts()
        state = graph_state(g)
        sids = c["sids"]
        own = np_.broadcast_to(sids[:, None], (S, CF))
        slot = rv("contact_slot", graph_block.slot_distribution(state, own))
        friend = graph_block.contact_at(state, own, slot)
        fof_slot = rv("fof_slot", graph_block.slot_distribution(state, friend))
        fof = graph_block.contact_at(state, friend, fof_slot)
        stranger = rv("stranger", UniformIndex(G * np_.ones((S, CR), dtype=I32)))
        cand = np_.concatenate([fof, np_.take(c["gids"], stranger, axis=0)], axis=1)  # [S, C]
        row = np_.broadcast_to(sids[:, None], (S, C))
        earlier = np_.arange(C, dtype=I32)[None, :] < np_.arange(C, dtype=I32)[:, None]  # [C, C]: j' < j
        repeated = np_.any((cand[:, :, None] == cand[:, None, :]) & earlier[None, :, :], axis=-1)
        suspended = plat.get("suspended")
        ok = (
            (cand >= 0)
            & ~take(c["is_scam"], cand)
            & ~take(suspended, cand)
            & ~take(met.get("exposed"), cand)
            & ~repeated
            & ~graph_block.are_contacts(state, row, cand)
        )
        signal = (pop.get("signal") - sig_mean) / sig_sd
        mutual = graph_block.mutual_contacts(state, row, cand)
        feats = np_.stack(
            [take(signal, cand), np_.log1p(f32(mutual)), np_.log1p(f32(graph_block.degree_of(state, cand)))], axis=-1
        )
        contacts = graph_block.contacts_of(state, sids)  # [S, K]
        contact_ok = (
            (contacts >= 0)
            & ~take(c["is_scam"], contacts)
            & ~take(suspended, contacts)
            & ~take(met.get("exposed"), contacts)
        )
        return Value(
            contact_slot=slot,
            fof_slot=fof_slot,
            stranger=stranger,
            candidates=cand,
            candidate_ok=ok,
            candidate_features=np_.where(ok[..., None], feats, 0.0),
            contacts=contacts,
            contact_ok=contact_ok,
            contact_signal=np_.where(contact_ok, take(signal, contacts), 0.0),
        )

    # -- the scammers' policy ------------------------------------------------------------------------------
    def scammers_zero() -> Value:
        np_ = get_backend().np
        return Value(
            request=np_.zeros((S, C), dtype=I32),
            camouflage=np_.zeros((S, M), dtype=I32),
            message=np_.zeros((S, K), dtype=I32),
        )

    def scammer_policy(v: Value, plat: Value) -> Value:
        B = get_backend()
        np_ = B.np
        active = ~np_.take(plat.get("suspended"), consts()["sids"], axis=0)  # [S]
        pol = {key: B.asarray(param("scammer", key)) for key in POLICY_SHAPES}
        w = pol["request_weights"]
        req_logits = pol["request_bias"] + np_.sum(v.get("candidate_features") * w, axis=-1)
        msg_logits = pol["message_bias"] + pol["message_weights"][0] * v.get("contact_signal")
        camo_logits = pol["camouflage_bias"] + np_.zeros((S, M), dtype=F32)
        return Value(
            request=_bernoulli(req_logits, v.get("candidate_ok") & active[:, None], event=True),
            camouflage=_bernoulli(camo_logits, np_.broadcast_to(active[:, None], (S, M)), event=True),
            message=_bernoulli(msg_logits, v.get("contact_ok") & active[:, None], event=True),
        )

    # -- the rate limit ---------------------------------------------------------------------------------------
    def limits_zero() -> Value:
        np_ = get_backend().np
        return Value(
            genuine_request=np_.zeros((N,), dtype="bool"),
            genuine_messages=np_.zeros((N,), dtype=I32),
            scam_request=np_.zeros((S, C), dtype="bool"),
            camouflage=np_.zeros((S,), dtype=I32),
            scam_message=np_.zeros((S, K), dtype="bool"),
            blocked=np_.zeros((N,), dtype=I32),
        )

    def rate_limit(act: Value, scam: Value) -> Value:
        B = get_backend()
        np_ = B.np
        sids = consts()["sids"]
        limiter = RateLimiter(param("mechanism", "rate_limit"), name="rate limit")
        g_req = limiter.allow(i32(act.get("target") >= 0)[:, None])
        g_msg = limiter.allow_count(np_.where(act.get("can_message"), act.get("messages"), 0.0))
        s_req = limiter.allow(scam.get("request"))
        camo = limiter.allow_count(np_.sum(scam.get("camouflage"), axis=-1))
        s_msg = limiter.allow(scam.get("message"), used=camo.get("sent"))
        scam_blocked = s_req.get("blocked") + camo.get("blocked") + s_msg.get("blocked")
        blocked = g_req.get("blocked") + g_msg.get("blocked")
        blocked = B.scatter_add(blocked, sids, scam_blocked)
        return Value(
            genuine_request=g_req.get("allowed")[:, 0],
            genuine_messages=g_msg.get("sent"),
            scam_request=s_req.get("allowed"),
            camouflage=camo.get("sent"),
            scam_message=s_msg.get("allowed"),
            blocked=i32(blocked),
        )

    # -- what happens: answers, scams, reports, the feed ------------------------------------------------------
    def interactions_zero() -> Value:
        np_ = get_backend().np
        z = np_.zeros((N,), dtype=I32)
        return Value(
            accepted_genuine=z,
            accepted_scam=np_.zeros((S, C), dtype=I32),
            scam_success=np_.zeros((S, K), dtype=I32),
            scam_report=np_.zeros((S, K), dtype=I32),
            false_report=z,
            feed=np_.zeros((N,), dtype=F32),
        )

    def credibility(plat: Value) -> Any:
        benign = plat.get("totals.benign")
        return benign / (benign + 1.0)

    def interact(pop: Value, g: Value, act: Value, v: Value, lim: Value, met: Value, plat: Value) -> Value:
        B = get_backend()
        np_ = B.np
        c = consts()
        state = graph_state(g)
        sids = c["sids"]
        z = pop.get("vulnerability_logit")
        vul = B.sigmoid(z)
        cred = credibility(plat)
        target = act.get("target")
        to_scammer = take(c["is_scam"], target)  # scammers accept every request
        extra_g = cfg.accept_credulity * take(vul, target) + cfg.accept_credibility * cred + 2.0e4 * f32(to_scammer)
        answers_g = genuine_requests.respond(state, c["ids"], target, lim.get("genuine_request"), extra_logit=extra_g)
        cand = v.get("candidates")
        extra_s = cfg.accept_credulity * take(vul, cand) + cfg.accept_credibility * np_.take(cred, sids)[:, None]
        answers_s = scam_requests.respond(
            state, np_.broadcast_to(sids[:, None], (S, C)), cand, lim.get("scam_request"), extra_logit=extra_s
        )
        contacts = v.get("contacts")
        sent = lim.get("scam_message")
        success = rv("scam_success", _bernoulli(take(z, contacts), sent))  # P(success) = vulnerability
        p_report = np_.where(success == 1, cfg.report_by_victim, cfg.report_by_aware * B.sigmoid(-take(z, contacts)))
        report = rv("scam_report", _bernoulli(_logit(p_report, sent), sent))
        n_sent = f32(lim.get("genuine_messages"))
        any_sent = n_sent > 0  # P(at least one of them is reported by mistake)
        p_false = 1.0 - np_.power(1.0 - cfg.false_report, n_sent)
        genuine_posts = f32(act.get("posts")) * f32(~c["is_scam"])
        feed = graph_block.neighbour_sum(state, genuine_posts)
        active = ~c["is_scam"] & ~plat.get("suspended")
        return Value(
            accepted_genuine=answers_g.get("accepted_genuine"),
            accepted_scam=answers_s.get("accepted_scam"),
            scam_success=success,
            scam_report=report,
            false_report=_bernoulli(_logit(p_false, any_sent), any_sent),
            feed=np_.where(active, feed, 0.0),
        )

    # -- the graph grows --------------------------------------------------------------------------------------
    def grow(g: Value, act: Value, v: Value, lim: Value, inter: Value) -> Value:
        B = get_backend()
        np_ = B.np
        c = consts()
        # a scam message ends the contact: the victim, or the one who resisted, blocks the scammer
        state, _ = graph_block.remove_edges(
            graph_state(g), c["sids"][:, None], v.get("contacts"), lim.get("scam_message")
        )
        a = np_.concatenate([c["ids"], np_.reshape(np_.broadcast_to(c["sids"][:, None], (S, C)), (-1,))])
        b = np_.concatenate([act.get("target"), np_.reshape(v.get("candidates"), (-1,))])
        accepted = np_.concatenate(
            [inter.get("accepted_genuine") == 1, np_.reshape(inter.get("accepted_scam") == 1, (-1,))]
        )
        new, added, overflow = graph_block.add_edges(state, a, b, accepted)
        return new.union(
            Value(
                added_genuine=added[:N],
                added_scam=np_.reshape(added[N:], (S, C)),
                overflow=overflow,
            )
        )

    # -- the detector ---------------------------------------------------------------------------------------------
    def detect(plat: Value, act: Value, lim: Value, inter: Value, g: Value) -> Value:
        B = get_backend()
        np_ = B.np
        sids = consts()["sids"]

        def per_account(genuine: Any, scam: Any) -> Any:
            return B.scatter_add(f32(genuine), sids, f32(scam))

        requests = per_account(lim.get("genuine_request"), np_.sum(f32(lim.get("scam_request")), axis=-1))
        accepted = per_account(g.get("added_genuine"), np_.sum(f32(g.get("added_scam")), axis=-1))
        scam_msgs = np_.sum(f32(lim.get("scam_message")), axis=-1) + f32(lim.get("camouflage"))
        messages = per_account(lim.get("genuine_messages"), scam_msgs)
        reports = B.scatter_add(f32(inter.get("false_report")), sids, np_.sum(f32(inter.get("scam_report")), axis=-1))
        benign = per_account(f32(lim.get("genuine_messages")) + f32(act.get("posts")), lim.get("camouflage"))
        obs = Value(
            requests=requests,
            rejected=requests - accepted,
            blocked=f32(lim.get("blocked")),
            messages=messages,
            reports=reports,
            benign=benign,
        )
        return detector_at(param("mechanism", "threshold")).next_state(plat, obs)

    # -- metrics ----------------------------------------------------------------------------------------------------
    def metrics_zero(g: Value) -> Value:
        np_ = get_backend().np
        return Value(
            victim=np_.zeros((N,), dtype="bool"),
            exposed=np_.zeros((N,), dtype="bool"),
            reward=np_.zeros((S,), dtype=F32),
            cumulative_reward=np_.zeros((S,), dtype=F32),
            engagement=np_.zeros((), dtype=F32),
            overflow=g.get("overflow"),
        )

    def measure(met: Value, v: Value, lim: Value, inter: Value, g: Value) -> Value:
        B = get_backend()
        np_ = B.np
        c = consts()
        success = inter.get("scam_success")
        contacts = np_.reshape(np_.clip(v.get("contacts"), 0, N - 1), (-1,))
        hits = B.scatter_add(np_.zeros((N,), dtype=I32), contacts, np_.reshape(success, (-1,)))
        messaged = B.scatter_add(np_.zeros((N,), dtype=I32), contacts, np_.reshape(i32(lim.get("scam_message")), (-1,)))
        victim = met.get("victim") | (hits > 0)
        genuine = ~c["is_scam"]
        engaged = (
            np_.sum(inter.get("feed"))
            + np_.sum(f32(lim.get("genuine_messages")) * f32(genuine))
            + 2.0 * np_.sum(f32(g.get("added_genuine") & genuine))
        )
        reward = np_.sum(f32(success), axis=-1)
        return Value(
            victim=victim,
            exposed=met.get("exposed") | (messaged > 0),
            reward=reward,
            cumulative_reward=met.get("cumulative_reward") + reward,
            engagement=met.get("engagement") + engaged,
            overflow=met.get("overflow") + g.get("overflow"),
        )

    population.initial_value = value(population_init)
    graph.initial_value = value(graph_init, (population,))
    graph.value = value(grow, (graph.previous, activity, view, limits, interactions))
    activity.initial_value = value(activity_zero)
    activity.value = value(genuine_activity, (population, graph.previous, platform.previous))
    view.initial_value = value(view_zero)
    view.value = value(scammer_view, (population, graph.previous, platform.previous, metrics.previous))
    scammers.initial_value = value(scammers_zero)
    scammers.value = value(scammer_policy, (view, platform.previous))
    limits.initial_value = value(limits_zero)
    limits.value = value(rate_limit, (activity, scammers))
    interactions.initial_value = value(interactions_zero)
    interactions.value = value(
        interact,
        (population, graph.previous, activity, view, limits, metrics.previous, platform.previous),
    )
    platform.initial_value = value(detector.initial_state)
    platform.value = value(detect, (platform.previous, activity, limits, interactions, graph))
    metrics.initial_value = value(metrics_zero, (graph,))
    metrics.value = value(measure, (metrics.previous, view, limits, interactions, graph))
    return [population, graph, activity, view, scammers, limits, interactions, platform, metrics]


def summarise_final(final: Mapping[str, Any], cfg: IntegrityConfig) -> dict[str, float]:
    """The per-run figures of a final network value (one run; NumPy floats).

    ``victims``: genuine accounts scammed at least once; ``friction``: genuine
    accounts suspended; ``engagement``: genuine interactions (likes, messages,
    twice each new genuine contact) per genuine account per step is left to the
    caller, here the total; ``scammer_reward``: successful scams per scammer;
    ``scammers_suspended``: the share of scammers suspended; ``overflow``: new
    edges dropped because the per-step edge buffer was full (should be 0).
    """
    is_scam = cfg.is_scammer()
    suspended = np.asarray(Value(final["platform"]).get("suspended"))
    met = Value(final["metrics"])
    return {
        "victims": float(np.sum(np.asarray(met.get("victim")))),
        "friction": float(np.sum(suspended & ~is_scam)),
        "engagement": float(np.asarray(met.get("engagement"))),
        "scammer_reward": float(np.mean(np.asarray(met.get("cumulative_reward")))),
        "scammers_suspended": float(np.mean(suspended[is_scam])),
        "overflow": float(np.asarray(met.get("overflow"))),
    }
