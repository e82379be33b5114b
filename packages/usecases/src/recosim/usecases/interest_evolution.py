"""Interest evolution with a learnable recommender: the partially observable use case.

The model of the RecSim NG paper's section 4.1 (figure 1), as stated in the
project's reference-model sheet (section 2). Defaults are the reference sizes:
1000 users, 2 topics, 100 documents, slates of 2, a history of 15; runs last
`DEFAULT_HORIZON` (100) steps.

* **Corpus** (drawn once from ``corpus_seed``, then frozen; not part of the
  network's randomness): with ``T`` topics the first ``int(0.7 T)`` topics are
  "trashy", with quality means evenly spaced on ``[-1, 0]``, the others evenly on
  ``[0, 1]``. Each document has a uniform topic, quality ``N(mean_topic, 0.1)``,
  features ``N(onehot(topic), 0.7)``, length 2 and id ``1..num_docs``.
* **Users**: interest ``u ~ N(0, I)``; facing a slate, a user clicks document ``i``
  or nothing by multinomial logit on ``-||u - d_i|| + 2`` and a no-click logit of
  0 (``choice == slate_size`` means no click). A click consumes
  ``sigmoid(-quality) * length`` time units and moves the interest,
  ``u <- squash(u + 0.1 * quality * (d - u))`` with ``squash(x) = 4 M (sigmoid(x / M)
  - 1/2)``, ``M = 10``; without a click the interest stays. The reward is the
  consumed time clipped at 0, summed per user by the metrics.
* **Recommender**: sees only its own history of the last ``history_length``
  consumed document ids and consumed times (updated on clicks;
  `recosim.library.entities.HistoryPolicyRecommender`). A network
  (`recosim.library.networks.HistoryScorer`: embeddings of the history ids, with
  the times appended, -> dense 32 -> leaky ReLU -> dense 32) scores all documents
  by inner product with learned document embeddings; the slate is drawn from
  those scores without replacement (iterated multinomial logit), so its
  log-probability is defined.

The recommender's parameters are a nested dict of arrays (``init_params`` gives
NumPy initial values) and the model is ``make_model(params)``, so the same model
trains on TensorFlow and JAX.

Names for training (the story's variables are those of
`recosim.library.stories.static_corpus_story`):

* the **policy** is the variable ``"slate"`` (`POLICY`); its only draw is the field
  ``doc_index``, scored with the parameters;
* the **per-step reward** is the field ``"user response/reward"`` (`REWARD`),
  ``[num_users]`` per step; ``"metrics/cumulative_reward"`` (`CUMULATIVE_REWARD`)
  is its running sum per user (the value at step ``t`` includes steps ``0..t``).

>>> from recosim.core import NumpyRuntime
>>> cfg = InterestEvolutionConfig(num_users=3, num_docs=10)
>>> story = make_model(init_params(0, cfg), cfg)
>>> traj = NumpyRuntime(story, seed=0).trajectory(4)
>>> traj["slate"].get("doc_index").shape, traj["user response"].get("reward").shape
((4, 3, 2), (4, 3))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.core import FieldSpec, Story, Value, ValueSpec, Variable, get_backend, rv
from recosim.library.choice import MultinomialLogitChoiceModel, TargetPointSimilarity, get_chosen
from recosim.library.entities import Corpus, CumulativeRewardMetrics, HistoryPolicyRecommender, User
from recosim.library.networks import HistoryScorer
from recosim.library.stories import static_corpus_story

__all__ = [
    "CUMULATIVE_REWARD",
    "DEFAULT_HORIZON",
    "POLICY",
    "REWARD",
    "InterestEvolutionConfig",
    "InterestEvolutionCorpus",
    "InterestEvolutionStory",
    "InterestEvolutionUser",
    "history_scores",
    "init_params",
    "make_model",
    "sample_corpus",
    "topic_quality_means",
]

POLICY = "slate"
"""The policy variable: its draws (``slate/doc_index``) are the recommender's actions."""
REWARD = "user response/reward"
"""The per-step reward field, ``[num_users]`` at every step."""
CUMULATIVE_REWARD = "metrics/cumulative_reward"
"""The per-user running sum of `REWARD`."""
DEFAULT_HORIZON = 100
"""The reference's number of steps per run."""


@dataclass(frozen=True)
class InterestEvolutionConfig:
    """Sizes and constants of the model (defaults: the reference)."""

    num_users: int = 1000
    num_topics: int = 2
    num_docs: int = 100
    slate_size: int = 2
    history_length: int = 15
    corpus_seed: int = 0
    embedding_dim: int = 32
    hidden_units: int = 32
    negative_slope: float = 0.3
    trashy_fraction: float = 0.7
    quality_scale: float = 0.1
    feature_scale: float = 0.7
    doc_length: float = 2.0
    affinity_offset: float = 2.0
    no_click_logit: float = 0.0
    interest_step: float = 0.1
    squash_scale: float = 10.0

    def __post_init__(self) -> None:
        for name in ("num_users", "num_topics", "num_docs", "slate_size", "history_length", "embedding_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"InterestEvolutionConfig.{name} must be a positive integer, got {value!r}")
        if self.slate_size > self.num_docs:
            raise ValueError(
                f"InterestEvolutionConfig.slate_size ({self.slate_size}) exceeds num_docs ({self.num_docs})"
            )
        if not 0.0 <= self.trashy_fraction <= 1.0:
            raise ValueError(f"InterestEvolutionConfig.trashy_fraction must be in [0, 1], got {self.trashy_fraction}")
        for name in ("quality_scale", "feature_scale", "squash_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"InterestEvolutionConfig.{name} must be > 0, got {getattr(self, name)}")

    def scorer(self) -> HistoryScorer:
        """The recommender network for these sizes."""
        return HistoryScorer(
            self.num_docs,
            self.history_length,
            embedding_dim=self.embedding_dim,
            hidden_units=self.hidden_units,
            negative_slope=self.negative_slope,
        )


def topic_quality_means(num_topics: int, trashy_fraction: float = 0.7) -> np.ndarray:
    """``int(trashy_fraction * T)`` means evenly on ``[-1, 0]``, then the rest evenly on ``[0, 1]``.

    >>> topic_quality_means(2).tolist()
    [-1.0, 0.0]
    >>> [round(float(m), 3) for m in topic_quality_means(10)]
    [-1.0, -0.833, -0.667, -0.5, -0.333, -0.167, 0.0, 0.0, 0.5, 1.0]
    """
    trashy = int(trashy_fraction * num_topics)
    return np.concatenate([np.linspace(-1.0, 0.0, trashy), np.linspace(0.0, 1.0, num_topics - trashy)]).astype(
        np.float32
    )


def sample_corpus(config: InterestEvolutionConfig) -> dict[str, np.ndarray]:
    """The frozen corpus drawn from ``config.corpus_seed``: NumPy arrays with a leading document axis.

    Fields: ``features [D, T]``, ``quality [D]``, ``length [D]`` (float32), ``topic [D]``
    and ``doc_id [D]`` (int32, ``1..D``).

    >>> docs = sample_corpus(InterestEvolutionConfig(num_docs=4))
    >>> sorted(docs), docs["doc_id"].tolist()
    (['doc_id', 'features', 'length', 'quality', 'topic'], [1, 2, 3, 4])
    """
    rng = np.random.default_rng(config.corpus_seed)
    d, t = config.num_docs, config.num_topics
    means = topic_quality_means(t, config.trashy_fraction)
    topic = rng.integers(0, t, size=d)
    quality = rng.normal(means[topic], config.quality_scale)
    features = rng.normal(np.eye(t)[topic], config.feature_scale)
    return {
        "features": features.astype(np.float32),
        "quality": quality.astype(np.float32),
        "length": np.full((d,), config.doc_length, np.float32),
        "topic": topic.astype(np.int32),
        "doc_id": np.arange(1, d + 1, dtype=np.int32),
    }


class InterestEvolutionCorpus(Corpus):
    """The frozen documents of `sample_corpus`: every document is available at every step."""

    def __init__(self, config: InterestEvolutionConfig, name: str | None = None) -> None:
        super().__init__(name=name or "corpus")
        self.config = config
        self.documents = sample_corpus(config)

    def specs(self) -> ValueSpec:
        docs = ValueSpec({k: FieldSpec(v.shape, v.dtype.name) for k, v in self.documents.items()})
        return ValueSpec(state=docs, available_documents=docs)

    def initial_state(self) -> Value:
        B = get_backend()
        return Value({k: B.asarray(v) for k, v in self.documents.items()})

    def available_documents(self, state: Value) -> Value:
        return state


class InterestEvolutionUser(User):
    """Users whose interests move toward what they click (see the module docstring).

    The recommender observes nothing of the users directly (the observation is
    empty); it learns only through the responses it records in its own history.
    """

    def __init__(self, config: InterestEvolutionConfig, name: str | None = None) -> None:
        super().__init__(name=name or "user")
        self.config = config
        self._affinity = TargetPointSimilarity("negative_euclidean")
        self._choice = MultinomialLogitChoiceModel(no_choice_logit=config.no_click_logit)

    def specs(self) -> ValueSpec:
        users = (self.config.num_users,)
        return ValueSpec(
            state=ValueSpec(interest=FieldSpec((*users, self.config.num_topics), "float32")),
            response=ValueSpec(
                choice=FieldSpec(users, "int32"),
                consumed_time=FieldSpec(users, "float32"),
                reward=FieldSpec(users, "float32"),
            ),
        )

    def observation_spec(self) -> ValueSpec:
        return ValueSpec()

    def observation(self, state: Value) -> Value:
        return Value()

    def initial_state(self) -> Value:
        B = get_backend()
        loc = B.np.zeros((self.config.num_users, self.config.num_topics), dtype="float32")
        return Value(interest=B.tfd.Normal(loc, 1.0))

    def logits(self, state: Value, slate: Value) -> Any:
        """Click logits ``[num_users, slate_size + 1]`` (the last one: no click)."""
        aff = self._affinity.affinities(state.get("interest"), slate.get("features")).get("affinities")
        return self._choice.logits(aff + self.config.affinity_offset)

    def response(self, state: Value, slate: Value) -> Value:
        B = get_backend()
        np_ = B.np
        choice = rv("choice", B.tfd.Categorical(logits=self.logits(state, slate), dtype="int32"))
        chosen = get_chosen(Value(quality=slate.get("quality"), length=slate.get("length")), choice)
        clicked = choice < self.config.slate_size
        time = B.sigmoid(-chosen.get("quality")) * chosen.get("length")
        consumed_time = np_.where(clicked, time, np_.zeros_like(time))
        return Value(choice=choice, consumed_time=consumed_time, reward=np_.maximum(consumed_time, 0.0))

    def next_state(self, previous_state: Value, response: Value, slate: Value) -> Value:
        B = get_backend()
        np_ = B.np
        cfg = self.config
        interest = previous_state.get("interest")
        choice = response.get("choice")
        chosen = get_chosen(Value(features=slate.get("features"), quality=slate.get("quality")), choice)
        moved = interest + cfg.interest_step * chosen.get("quality")[..., None] * (chosen.get("features") - interest)
        m = cfg.squash_scale
        squashed = 4.0 * m * (B.sigmoid(moved / m) - 0.5)
        clicked = (choice < cfg.slate_size)[..., None]
        return Value(interest=np_.where(clicked, squashed, interest))


def init_params(seed: int, config: InterestEvolutionConfig | None = None) -> dict[str, Any]:
    """NumPy initial values of the recommender network (see `recosim.library.networks.HistoryScorer`)."""
    cfg = config or InterestEvolutionConfig()
    return cfg.scorer().init_params(seed)


def history_scores(scorer: HistoryScorer, params: Mapping[str, Any], ids: Any, times: Any) -> Any:
    """``scorer.scores(params, ids, times)`` computed with the first dense layer folded into the embeddings.

    The first layer maps the flattened ``[H, E + 1]`` history features through a
    kernel ``[H (E + 1), U]``; its share from the embedded id at position ``h`` is
    ``history_embeddings[id] @ kernel_h``, so the table ``history_embeddings @
    kernel_h`` (``[H, num_items + 1, U]``, computed once per parameter value) is
    gathered instead of multiplying every user's ``H x E`` embeddings at every step.
    The same function, about a tenth of the arithmetic at the reference sizes.
    """
    B = get_backend()
    np_ = B.np
    h, e, u = scorer.history_length, scorer.embedding_dim, scorer.hidden_units
    rows = scorer.num_items + 1
    enc1, enc2 = params["encoder_1"], params["encoder_2"]
    kernel = np_.reshape(B.asarray(enc1["kernel"]), (h, e + 1, u))
    table = np_.matmul(B.asarray(params["history_embeddings"])[None], kernel[:, :e, :])  # [H, rows, U]
    flat_ids = B.cast(ids, "int32") + np_.arange(h, dtype="int32") * rows  # row of (position, id)
    gathered = np_.take(np_.reshape(table, (h * rows, u)), flat_ids, axis=0)  # [..., H, U]
    first = np_.sum(gathered, axis=-2) + np_.matmul(B.cast(times, "float32"), kernel[:, e, :]) + B.asarray(enc1["bias"])
    hidden = np_.where(first > 0, first, scorer.negative_slope * first)
    users = np_.matmul(hidden, B.asarray(enc2["kernel"])) + B.asarray(enc2["bias"])
    return np_.matmul(users, np_.swapaxes(B.asarray(params["item_embeddings"]), 0, 1))


class InterestEvolutionStory(Story):
    """The model for given recommender parameters; ``variables()`` builds it.

    Attributes ``policy``, ``reward`` and ``cumulative_reward`` hold the names a
    trainer needs (`POLICY`, `REWARD`, `CUMULATIVE_REWARD`).
    """

    policy = POLICY
    reward = REWARD
    cumulative_reward = CUMULATIVE_REWARD

    def __init__(self, params: Mapping[str, Any], config: InterestEvolutionConfig | None = None) -> None:
        self.config = config or InterestEvolutionConfig()
        self.params = params
        scorer = self.config.scorer()
        scorer.check_params(params)
        cfg = self.config
        self.user = InterestEvolutionUser(cfg)
        self.corpus = InterestEvolutionCorpus(cfg)

        def score(state: Value, observation: Value, documents: Value) -> Any:
            return history_scores(scorer, self.params, state.get("doc_id"), state.get("consumed_time"))

        self.recommender = HistoryPolicyRecommender(
            cfg.num_users,
            cfg.slate_size,
            self.corpus.spec("available_documents"),
            cfg.history_length,
            score,
            id_field="doc_id",
            value_field="consumed_time",
            name="recommender",
        )
        self.metrics = CumulativeRewardMetrics(cfg.num_users, reward_field="reward", name="metrics")

    def variables(self) -> list[Variable]:
        return static_corpus_story(self.user, self.corpus, self.recommender, self.metrics)


def make_model(params: Mapping[str, Any], config: InterestEvolutionConfig | None = None) -> InterestEvolutionStory:
    """The interest-evolution story with recommender parameters ``params`` (a nested dict of arrays).

    ``params`` has the structure of `init_params`: NumPy arrays, JAX arrays (traced
    inside ``jax.grad``), or ``tf.Variable`` s (read inside a gradient tape).
    """
    return InterestEvolutionStory(params, config)
