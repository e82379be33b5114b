"""Synthetic users who rate items and tag them with soft attributes, some with personal semantics.

A data-generating model for research on concept activation vectors (CAVs) for
soft attributes, after Göpfert et al. (2022), "Discovering personalized semantics
for soft attributes in recommender systems using concept activation vectors".
Written for recosim from that description; every draw is a named random
variable, so logged ratings and tags can be scored on any runtime.

Items. Each of ``num_docs`` items has an attribute vector ``x`` in ``[0, 1]^d``:
a draw from a mixture of ``K`` Gaussians (means ``topic_means``, scale
``doc_scale``) clipped to ``[0, 1]``, and a popularity bias ``b ~ U(0, 1)``. The
first ``S = num_tags`` dimensions are *taggable* (soft attributes such as
"funny"); the remaining ``d - S`` are latent.

Tags and their senses. Tags are objective or subjective. The subjective ones
come in groups of ``group_size`` tags over as many attribute dimensions; each
user has a *sense* ``s`` (uniform on ``0..group_size-1``) and reads tag ``i`` of
a group as the group's attribute ``(i + s) mod group_size``: users of
different senses mean different things by the same word. Objective tags mean
their own attribute for everyone.

Users. Each user has

* a utility vector ``w``: a draw from the same kind of mixture (scale
  ``user_scale``), clipped to ``[0, 1]``, in which a subjective group keeps only
  the attribute of the user's sense (what the user cares about is what the
  user's words mean);
* peaks ``p ~ U(peak_low, 1)`` per dimension, and a single-peaked affinity for
  item ``x``: ``a(x) = sum_k w_k (p_k - |p_k - x_k|)``;
* a number of ratings ``n`` from a Zipf law with exponent ``zipf_power``
  truncated to ``1..max_ratings`` (drawn as ``extra_ratings = n - 1``);
* whether the user tags at all (``tagger``, false with probability
  ``no_tagging_prob``) and a tagging rate, uniform on ``[tagging_low, tagging_high]``;
* a threshold per tag, ``N(tag_threshold, threshold_scale)``.

Responses. A user rates ``max_ratings`` distinct items chosen by iterated
multinomial logit on ``temperature * a(x) + b`` (only the first ``n`` count); an
item's score is ``N(a(x), score_noise)`` and its rating ``1..5`` is the score's
place between the user's lowest and highest score (0 beyond ``n``). Each counted
rated item of a user who tags is tagged at all with probability equal to the
user's tagging rate (``tag_draws``, drawn for every place, count only there),
and then carries every tag whose perceived attribute exceeds the user's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recosim.core import Entity, FieldSpec, Value, ValueSpec, Variable, get_backend, rv, value
from recosim.library.choice import IteratedMultinomialLogitChoiceModel
from recosim.library.state.static import GMMVector

__all__ = ["CavConfig", "CavUsers", "SoftAttributeCorpus", "cav_variables", "tag_attribute_index"]


@dataclass(frozen=True)
class CavConfig:
    """The sizes and parameters of the synthetic model (defaults: a small, quick setting)."""

    num_users: int = 500
    num_docs: int = 100
    max_ratings: int = 10
    num_topics: int = 4
    num_objective_tags: int = 3
    num_subjective_groups: int = 1
    group_size: int = 3
    num_latent: int = 2
    topic_seed: int = 0
    doc_scale: float = 0.3
    user_scale: float = 0.3
    peak_low: float = 0.8
    zipf_power: float = 1.35
    temperature: float = 1.0
    score_noise: float = 0.05
    no_tagging_prob: float = 0.2
    tagging_low: float = 0.3
    tagging_high: float = 0.8
    tag_threshold: float = 0.5
    threshold_scale: float = 0.01
    topic_means: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("num_users", "num_docs", "max_ratings", "num_topics", "group_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"CavConfig.{name} must be at least 1, got {getattr(self, name)}")
        for name in ("num_objective_tags", "num_subjective_groups", "num_latent"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"CavConfig.{name} must be at least 0, got {getattr(self, name)}")
        if self.num_tags < 1:
            raise ValueError("CavConfig needs at least one tag (num_objective_tags or num_subjective_groups)")
        if self.max_ratings > self.num_docs:
            raise ValueError(f"CavConfig.max_ratings ({self.max_ratings}) exceeds num_docs ({self.num_docs})")
        for name in ("doc_scale", "user_scale", "score_noise", "threshold_scale", "zipf_power", "temperature"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"CavConfig.{name} must be positive, got {getattr(self, name)}")
        for name in ("peak_low", "no_tagging_prob", "tagging_low", "tagging_high"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"CavConfig.{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.tagging_low >= self.tagging_high:
            raise ValueError(
                f"CavConfig.tagging_low ({self.tagging_low}) must be below tagging_high ({self.tagging_high})"
            )
        if self.topic_means is not None and np.shape(self.topic_means) != (self.num_topics, self.dimension):
            raise ValueError(
                f"CavConfig.topic_means has shape {np.shape(self.topic_means)}, "
                f"expected (num_topics, dimension) = {(self.num_topics, self.dimension)}"
            )

    @property
    def num_tags(self) -> int:
        """``S``: the objective tags and every tag of the subjective groups."""
        return self.num_objective_tags + self.num_subjective_groups * self.group_size

    @property
    def dimension(self) -> int:
        """``d``: the taggable attributes and the latent ones."""
        return self.num_tags + self.num_latent

    def means(self) -> np.ndarray:
        """The topic means ``[K, d]``: given, or uniform on ``[0, 1]`` from ``topic_seed``."""
        if self.topic_means is not None:
            return np.asarray(self.topic_means, np.float32)
        rng = np.random.default_rng(self.topic_seed)
        return rng.uniform(0.0, 1.0, (self.num_topics, self.dimension)).astype(np.float32)

    def tag_layout(self) -> dict[str, np.ndarray]:
        """Per tag (``[S]``): its group's first attribute, its place in the group, the group's size, subjectivity.

        Tag ``g`` read with sense ``s`` means attribute ``start + (place + s) mod size``.
        """
        start, place, size = [], [], []
        for g in range(self.num_objective_tags):
            start.append(g)
            place.append(0)
            size.append(1)
        for j in range(self.num_subjective_groups):
            first = self.num_objective_tags + j * self.group_size
            for i in range(self.group_size):
                start.append(first)
                place.append(i)
                size.append(self.group_size)
        subjective = np.array([s > 1 for s in size])
        return {
            "start": np.array(start, np.int32),
            "place": np.array(place, np.int32),
            "size": np.array(size, np.int32),
            "subjective": subjective,
        }


def tag_attribute_index(config: CavConfig, sense: Any) -> Any:
    """The attribute each user means by each tag, ``[users, S]`` int32, for senses ``[users]`` (any backend)."""
    B = get_backend()
    layout = config.tag_layout()
    start, place, size = (B.asarray(layout[k]) for k in ("start", "place", "size"))
    return start + (place + B.np.expand_dims(sense, -1)) % size


class SoftAttributeCorpus(Entity):
    """Items with attribute vectors in ``[0, 1]^d`` (a clipped Gaussian mixture) and a popularity bias."""

    def __init__(self, config: CavConfig) -> None:
        super().__init__(name="SoftAttributeCorpus")
        self.config = config
        k = config.num_topics
        self._attributes = GMMVector(config.num_docs, np.zeros(k, np.float32), config.means(), config.doc_scale)

    def specs(self) -> ValueSpec:
        c = self.config
        items = (c.num_docs, c.dimension)
        return ValueSpec(
            untruncated=FieldSpec(items, "float32"),
            attributes=FieldSpec(items, "float32"),
            popularity=FieldSpec((c.num_docs,), "float32"),
        )

    def initial_state(self) -> Value:
        B = get_backend()
        untruncated = rv("untruncated", self._attributes.distribution())
        popularity = rv("popularity", B.tfd.Uniform(B.np.zeros(self.config.num_docs, dtype="float32"), 1.0))
        return Value(untruncated=untruncated, attributes=B.np.clip(untruncated, 0.0, 1.0), popularity=popularity)


class CavUsers(Entity):
    """A population of users who rate items and tag them, each with a sense for every subjective tag group."""

    def __init__(self, config: CavConfig) -> None:
        super().__init__(name="CavUsers")
        self.config = config
        self._utility = GMMVector(
            config.num_users, np.zeros(config.num_topics, np.float32), config.means(), config.user_scale
        )
        self._rater = IteratedMultinomialLogitChoiceModel(config.max_ratings)
        ranks = np.arange(1, config.max_ratings + 1, dtype=np.float64)
        self._count_logits = (-config.zipf_power * np.log(ranks)).astype(np.float32)
        layout = config.tag_layout()
        # per attribute: the place in its subjective group (-1 outside every group)
        self._dim_place = np.full(config.dimension, -1, np.int32)
        for g in np.flatnonzero(layout["subjective"]):
            self._dim_place[layout["start"][g] + layout["place"][g]] = layout["place"][g]

    def specs(self) -> ValueSpec:
        c = self.config
        u, r, s, d = c.num_users, c.max_ratings, c.num_tags, c.dimension
        state = ValueSpec(
            untruncated_utility=FieldSpec((u, d), "float32"),
            sense=FieldSpec((u,), "int32"),
            utility=FieldSpec((u, d), "float32"),
            peaks=FieldSpec((u, d), "float32"),
            extra_ratings=FieldSpec((u,), "int32"),
            num_ratings=FieldSpec((u,), "int32"),
            tagger=FieldSpec((u,), "int32"),
            tagging_rate=FieldSpec((u,), "float32"),
            thresholds=FieldSpec((u, s), "float32"),
        )
        response = ValueSpec(
            rated=FieldSpec((u, r), "int32"),
            scores=FieldSpec((u, r), "float32"),
            ratings=FieldSpec((u, r), "int32"),
            tag_draws=FieldSpec((u, r), "int32"),
            tagged=FieldSpec((u, r), "int32"),
            tags=FieldSpec((u, r, s), "int32"),
        )
        return ValueSpec(state=state, response=response)

    def initial_state(self) -> Value:
        B = get_backend()
        np_ = B.np
        c = self.config
        zeros = np_.zeros(c.num_users, dtype="float32")
        raw = rv("untruncated_utility", self._utility.distribution())
        sense = rv("sense", B.tfd.Categorical(logits=np_.zeros((c.num_users, c.group_size), dtype="float32")))
        place = B.asarray(self._dim_place)
        keep = np_.where(place < 0, 1.0, B.cast(np_.equal(place, np_.expand_dims(sense, -1)), "float32"))
        peaks = rv("peaks", B.tfd.Uniform(np_.full((c.num_users, c.dimension), c.peak_low, dtype="float32"), 1.0))
        count_logits = np_.broadcast_to(B.asarray(self._count_logits), (c.num_users, c.max_ratings))
        extra = B.cast(rv("extra_ratings", B.tfd.Categorical(logits=count_logits)), "int32")  # n - 1
        tagger = rv("tagger", B.tfd.Bernoulli(probs=zeros + (1.0 - c.no_tagging_prob), dtype="int32"))
        rate = rv("tagging_rate", B.tfd.Uniform(zeros + c.tagging_low, c.tagging_high))
        thresholds = rv(
            "thresholds",
            B.tfd.Normal(np_.full((c.num_users, c.num_tags), c.tag_threshold, dtype="float32"), c.threshold_scale),
        )
        return Value(
            untruncated_utility=raw,
            sense=B.cast(sense, "int32"),
            utility=np_.clip(raw * keep, 0.0, 1.0),
            peaks=peaks,
            extra_ratings=extra,
            num_ratings=extra + 1,
            tagger=B.cast(tagger, "int32"),
            tagging_rate=rate,
            thresholds=thresholds,
        )

    def affinities(self, state: Value, attributes: Any) -> Any:
        """``[users, items]``: ``sum_k w_k (p_k - |p_k - x_k|)`` for every user and item."""
        np_ = get_backend().np
        w = np_.expand_dims(state.get("utility"), -2)
        p = np_.expand_dims(state.get("peaks"), -2)
        return np_.sum(w * (p - np_.abs(p - attributes)), axis=-1)

    def response(self, state: Value, corpus: Value) -> Value:
        B = get_backend()
        np_ = B.np
        c = self.config
        attributes = corpus.get("attributes")
        affinity = self.affinities(state, attributes)  # [U, N]
        logits = c.temperature * affinity + corpus.get("popularity")
        rated = rv("rated", self._rater.choice(logits).get("choice"))  # [U, R]
        rated_affinity = np_.take_along_axis(affinity, rated, axis=-1)
        scores = rv("scores", B.tfd.Normal(rated_affinity, c.score_noise))
        counted = np_.arange(c.max_ratings, dtype="int32") < np_.expand_dims(state.get("num_ratings"), -1)
        high = np_.max(np_.where(counted, scores, -np.inf), axis=-1, keepdims=True)
        low = -np_.max(np_.where(counted, -scores, -np.inf), axis=-1, keepdims=True)
        place = np_.floor(5.0 * (scores - low) / (high - low + 1e-6))
        ratings = np_.where(counted, B.cast(np_.clip(place, 0.0, 4.0), "int32") + 1, 0)
        # a draw for every place at the user's rate (never 0 or 1, so every draw scores finitely);
        # it counts where the place is rated and the user tags at all
        rate = np_.broadcast_to(np_.expand_dims(state.get("tagging_rate"), -1), (c.num_users, c.max_ratings))
        draws = B.cast(rv("tag_draws", B.tfd.Bernoulli(probs=rate, dtype="int32")), "int32")
        tagged = draws * B.cast(counted, "int32") * np_.expand_dims(state.get("tagger"), -1)
        items = np_.take(attributes, rated, axis=0)  # [U, R, d]
        meant = tag_attribute_index(c, state.get("sense"))  # [U, S]
        index = np_.broadcast_to(np_.expand_dims(meant, -2), (c.num_users, c.max_ratings, c.num_tags))
        perceived = np_.take_along_axis(items, index, axis=-1)  # [U, R, S]
        over = perceived > np_.expand_dims(state.get("thresholds"), -2)
        tags = B.cast(over, "int32") * np_.expand_dims(tagged, -1)
        return Value(
            rated=B.cast(rated, "int32"), scores=scores, ratings=ratings, tag_draws=draws, tagged=tagged, tags=tags
        )


def cav_variables(config: CavConfig) -> list[Variable]:
    """The network: ``"corpus"``, ``"user state"`` (static) and ``"user response"`` (drawn anew each step)."""
    corpus = SoftAttributeCorpus(config)
    users = CavUsers(config)
    docs = Variable("corpus", corpus.specs())
    state = Variable("user state", users.specs().get("state"))
    response = Variable("user response", users.specs().get("response"))
    docs.initial_value = value(corpus.initial_state)
    state.initial_value = value(users.initial_state)
    response.initial_value = value(users.response, (state, docs))
    response.value = value(users.response, (state, docs))
    return [docs, state, response]
