"""Ecosystem simulation: rich-get-richer providers and an ecosystem-aware recommender.

The model of the paper's section 4.3 (figure 3). Providers cluster in a 2-D topic
space; users' static interests are a Gaussian mixture over providers; each step
the corpus offers documents drawn from providers in proportion to
``(1 + discounted clicks)^2``; the recommender scores documents by similarity,
boosted for providers with fewer total pulls than average (capped at ``L``), and
shows the top 3; users choose by multinomial logit and receive a noisy utility.
``L = 0`` is the myopic recommender. Similarity, the top-k slate and the choice
are the library's blocks.

The cap is the setting ``"boost_cap"`` (`recosim.core.setting`), whose default is
``EcosystemConfig.boost_cap``: a runtime built with ``settings={"boost_cap": L}``
runs every cap with one compiled program, ``settings={"boost_cap": L2}`` per call.

>>> from recosim.core.runtime import NumpyRuntime
>>> cfg = EcosystemConfig(num_users=20, num_docs=30, boost_cap=1.2)
>>> final = NumpyRuntime(ecosystem_variables(cfg), seed=0).execute(4)
>>> final["metrics"].get("cumulative_utility").shape
(20,)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, rv, setting, value
from recosim.library.choice import MultinomialLogitChoiceModel, TargetPointSimilarity, TopKChoiceModel, get_chosen

__all__ = ["EcosystemConfig", "ecosystem_variables", "default_provider_means", "sample_provider_means"]


def default_provider_means() -> np.ndarray:
    """The 80 x 2 provider means shipped with the package (one draw of :func:`sample_provider_means`)."""
    with resources.files("recosim.usecases").joinpath("data/provider_means_seed0.npy").open("rb") as f:
        return np.load(f).astype(np.float32)


def sample_provider_means(
    seed: int,
    num_clusters: int = 40,
    fan_out: int = 2,
    num_topics: int = 2,
    cluster_scale: float = 8.0,
    provider_scale: float = 0.5**0.5,
) -> np.ndarray:
    """Cluster centres ``N(0, cluster_scale)``; ``fan_out`` providers per cluster around each centre."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, cluster_scale, size=(num_clusters, num_topics))
    means = np.repeat(centres, fan_out, axis=0) + rng.normal(0.0, provider_scale, (num_clusters * fan_out, num_topics))
    return means.astype(np.float32)


def load_provider_means(path: str | Path | None) -> np.ndarray:
    """Provider means from an ``.npy`` file (``None``: the shipped draw), checked for shape."""
    if path is None:
        return default_provider_means()
    arr = np.load(Path(path))
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"provider means in {path} must be a (num_providers, num_topics) array, got shape {arr.shape}")
    return arr.astype(np.float32)


SCORE_CHUNK = 2**24
"""User-document pairs scored at once by default (64 MiB of float32 scores): the recommender
scores users in chunks of ``SCORE_CHUNK // num_docs``, so that a step's temporaries stay a few
times this size however many users there are (TensorFlow keeps each intermediate array)."""


@dataclass
class EcosystemConfig:
    """Sizes and parameters of the ecosystem model (defaults: the paper's figure 3)."""

    num_users: int = 2000
    num_docs: int = 400
    slate_size: int = 3
    boost_cap: float = 1.2
    """The boost cap ``L`` where the runtime declares no ``"boost_cap"`` setting."""
    discount: float = 0.96
    provider_means: np.ndarray = field(default_factory=default_provider_means)
    user_chunk: int = 0
    """Users whose document scores are computed at once (0: as many as keep one chunk's
    scores under `SCORE_CHUNK` user-document pairs). Only memory depends on it."""

    def __post_init__(self) -> None:
        self.provider_means = np.asarray(self.provider_means, np.float32)
        if int(self.user_chunk) < 0:
            raise ValueError(f"EcosystemConfig.user_chunk must be >= 0, got {self.user_chunk}")
        if not self.user_chunk:
            self.user_chunk = max(1, SCORE_CHUNK // max(1, int(self.num_docs)))
        for name in ("num_users", "num_docs", "slate_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"EcosystemConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.slate_size > self.num_docs:
            raise ValueError(f"EcosystemConfig.slate_size ({self.slate_size}) exceeds num_docs ({self.num_docs})")
        if self.boost_cap < 0:
            raise ValueError(f"EcosystemConfig.boost_cap must be >= 0, got {self.boost_cap}")

    @property
    def num_providers(self) -> int:
        return int(self.provider_means.shape[0])

    @property
    def num_topics(self) -> int:
        return int(self.provider_means.shape[1])


def ecosystem_variables(cfg: EcosystemConfig) -> list[Variable]:
    """The story: user state, corpus state, available documents, slate, response, recommender, metrics.

    Built from library blocks: one `TargetPointSimilarity` (negative Euclidean, offset
    by 2) scores documents for the recommender, slate items for the users' choice and
    the chosen item for their utility; `TopKChoiceModel` makes the slate from the
    boosted, noisy scores; `MultinomialLogitChoiceModel` is the users' choice and
    `get_chosen` gathers the chosen item's fields.
    """
    U, D, K, P, T = cfg.num_users, cfg.num_docs, cfg.slate_size, cfg.num_providers, cfg.num_topics
    means = cfg.provider_means
    norms = np.linalg.norm(means, axis=-1)
    mixture_logits = (-np.log1p(norms)).astype(np.float32)
    interest_scale = (20.5 / (1.0 + norms)).astype(np.float32)
    f32, i32 = "float32", "int32"
    similarity = TargetPointSimilarity("negative_euclidean")  # -||u - d||
    slate_of = TopKChoiceModel(K)  # the K best scores, best first
    user_choice = MultinomialLogitChoiceModel()  # softmax over the slate, no abstaining

    def affinity(users: Any, items: Any) -> Any:
        """``-||u - d|| + 2`` for users ``[U, T]`` against items ``[D, T]`` or ``[U, K, T]``."""
        return similarity.affinities(users, items).get("affinities") + 2.0

    user = Variable("user state", ValueSpec(interest=FieldSpec((U, T), f32), provider=FieldSpec((U,), i32)))
    corpus = Variable("corpus state", ValueSpec(clicks=FieldSpec((P,), f32)))
    docs = Variable("available docs", ValueSpec(features=FieldSpec((D, T), f32), provider=FieldSpec((D,), i32)))
    slate = Variable(
        "slate",
        ValueSpec(
            doc_index=FieldSpec((U, K), i32), features=FieldSpec((U, K, T), f32), provider=FieldSpec((U, K), i32)
        ),
    )
    response = Variable(
        "user response",
        ValueSpec(choice=FieldSpec((U,), i32), provider=FieldSpec((U,), i32), utility=FieldSpec((U,), f32)),
    )
    recommender = Variable("recommender state", ValueSpec(pulls=FieldSpec((U, P), f32)))
    metrics = Variable("metrics", ValueSpec(cumulative_utility=FieldSpec((U,), f32)))

    def user_init() -> Value:
        B = get_backend()
        comp = rv("provider", B.tfd.Categorical(logits=B.asarray(mixture_logits), dtype=i32), sample_shape=(U,))
        loc = B.np.take(B.asarray(means), comp, axis=0)
        scale = B.np.take(B.asarray(interest_scale), comp, axis=0)[:, None]
        return Value(provider=comp, interest=B.tfd.Normal(loc, B.np.broadcast_to(scale, (U, T))))

    def offer(clicks: Any) -> Value:
        B = get_backend()
        provider = rv("provider", B.tfd.Categorical(logits=2.0 * B.np.log1p(clicks), dtype=i32), sample_shape=(D,))
        loc = B.np.take(B.asarray(means), provider, axis=0)
        return Value(provider=provider, features=B.tfd.Normal(loc, B.np.ones((D, T), dtype=f32)))

    def recommend(user_v: Value, docs_v: Value, pulls: Any) -> Value:
        B = get_backend()
        total = B.np.sum(pulls, axis=0)  # pulls of each provider over all users
        cap = setting("boost_cap", default=cfg.boost_cap)  # an argument of compiled runs
        boost = B.np.clip(B.np.mean(total) - total, -cap, cap)
        doc_boost = B.np.take(boost, docs_v.get("provider"), axis=0)  # (D,)
        noise = rv("score_noise", B.tfd.Uniform(B.asarray(0.0, f32), B.asarray(1.0, f32)), sample_shape=(U, D))
        interest, features = user_v.get("interest"), docs_v.get("features")

        def slate_rows(a: int, b: int) -> Any:  # (b - a, K) int32: users a..b-1's slates
            sim = affinity(interest[a:b], features)  # (b - a, D)
            return slate_of.choice(sim + noise[a:b] * (doc_boost + 1e-4)).get("choice")

        rows = cfg.user_chunk
        chunks = [slate_rows(a, min(a + rows, U)) for a in range(0, U, rows)]
        idx = chunks[0] if len(chunks) == 1 else B.np.concatenate(chunks, axis=0)  # (U, K)
        return Value(
            doc_index=idx,
            features=B.np.take(docs_v.get("features"), idx, axis=0),
            provider=B.np.take(docs_v.get("provider"), idx, axis=0),
        )

    def respond(user_v: Value, slate_v: Value) -> Value:
        B = get_backend()
        interest = user_v.get("interest")
        logits = affinity(interest, slate_v.get("features"))  # (U, K)
        choice = rv("choice", user_choice.choice(logits).get("choice"))
        chosen = get_chosen(Value(features=slate_v.get("features"), provider=slate_v.get("provider")), choice)
        mean_utility = affinity(interest, chosen.get("features")[:, None, :])[:, 0]
        return Value(choice=choice, provider=chosen.get("provider"), utility=B.tfd.Normal(mean_utility, 1.0))

    def pulled(response_v: Value) -> Any:
        return get_backend().one_hot(response_v.get("provider"), P, dtype=f32)  # (U, P)

    def zeros(*shape: int) -> Any:
        return get_backend().np.zeros(shape, dtype=f32)

    user.initial_value = value(user_init)
    docs.initial_value = value(lambda: offer(zeros(P)))
    docs.value = value(lambda c: offer(c.get("clicks")), (corpus.previous,))
    slate.initial_value = value(lambda u, d: recommend(u, d, zeros(U, P)), (user, docs))
    slate.value = value(lambda u, d, r: recommend(u, d, r.get("pulls")), (user, docs, recommender.previous))
    response.initial_value = value(respond, (user, slate))
    response.value = value(respond, (user, slate))
    corpus.initial_value = value(lambda r: Value(clicks=get_backend().np.sum(pulled(r), axis=0)), (response,))
    corpus.value = value(
        lambda c, r: Value(clicks=cfg.discount * c.get("clicks") + get_backend().np.sum(pulled(r), axis=0)),
        (corpus.previous, response),
    )
    recommender.initial_value = value(lambda r: Value(pulls=pulled(r)), (response,))
    recommender.value = value(lambda s, r: Value(pulls=s.get("pulls") + pulled(r)), (recommender.previous, response))
    metrics.initial_value = value(lambda r: Value(cumulative_utility=r.get("utility")), (response,))
    metrics.value = value(
        lambda m, r: Value(cumulative_utility=m.get("cumulative_utility") + r.get("utility")),
        (metrics.previous, response),
    )
    return [user, corpus, docs, slate, response, recommender, metrics]
