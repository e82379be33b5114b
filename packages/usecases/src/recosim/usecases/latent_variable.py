"""A latent-variable user model whose parameters are learned by Monte-Carlo EM.

The model of the RecSim NG paper's section 4.2 (figure 2), as stated in the
project's reference-model sheet (section 3). Defaults are the reference demo's
sizes: 5 users, 3 topics, slates of 4, `DEFAULT_HORIZON` (6) steps; any number of
users works (the reference supports 2000).

* **Slates**: every step each user is shown an independent slate of
  ``slate_size`` documents with features ``N(0, 0.5)`` (``[num_users, slate_size,
  num_topics]``).
* **Intent** (static, latent): a uniform mixture of ``num_topics`` Gaussian
  components centred on the one-hot vectors, variance 0.1 (standard deviation
  ``sqrt(0.1)`` on each axis), drawn once per user at ``t = 0``.
* **Satisfaction** (observed): with ``m_t = max_i(-||intent - d_{t,i}||) + 2`` for
  the slate of step ``t``, ``s_t ~ N(alpha_u * s_{t-1} + (m_t - m_{t-1}), 0.01)``,
  starting from ``s_{-1} = 5`` and ``m_{-1} = 0``: the first slate (``t = 0``)
  already updates the satisfaction, and every step has one satisfaction draw.
* **Choice**: ``MNL(-||intent - d_{t,i}|| + 2 + s_t)`` over the slate plus a
  no-choice option with logit 0 (``choice == slate_size``); the choice of step
  ``t`` sees the satisfaction ``s_t`` that its slate produced.

The sensitivities ``alpha`` (one per user; the truth is `TRUE_ALPHA` = 0.8 for
everyone) are the parameters: ``make_model({"alpha": alpha})``. ``m_{t-1}`` is
recomputed from the previous slate rather than stored, so a trajectory stays
consistent when a sampler proposes a new intent.

Names for learning:

* the **held-out latent** is the field ``"user state/intent"`` (`LATENT`),
  ``[num_users, num_topics]`` per step. It is static: a proposal is one
  ``[num_users, num_topics]`` value repeated along the time axis of the
  trajectory (only step 0 scores it against the mixture; later steps copy it);
* the **observed** fields are ``"slate/features"``, ``"user state/satisfaction"``
  and ``"user response/choice"``.

>>> from recosim.core import NumpyRuntime
>>> cfg = LatentVariableConfig(num_users=2)
>>> story = make_model(true_params(cfg), cfg)
>>> traj = NumpyRuntime(story, seed=0).trajectory(DEFAULT_HORIZON)
>>> traj["user state"].get("intent").shape, traj["user state"].get("satisfaction").shape
((6, 2, 3), (6, 2))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.core import Entity, FieldSpec, Story, Value, ValueSpec, Variable, get_backend, rv, value
from recosim.library.choice import MultinomialLogitChoiceModel, TargetPointSimilarity
from recosim.library.params import static_shape
from recosim.library.state.static import GMMVector

__all__ = [
    "DEFAULT_HORIZON",
    "LATENT",
    "TRUE_ALPHA",
    "LatentVariableConfig",
    "LatentVariableStory",
    "SatisfactionUser",
    "init_params",
    "make_model",
    "true_params",
]

TRUE_ALPHA = 0.8
"""The ground-truth satisfaction sensitivity of every user."""
LATENT = "user state/intent"
"""The held-out latent field."""
DEFAULT_HORIZON = 6
"""The reference demo's number of steps per trajectory."""


@dataclass(frozen=True)
class LatentVariableConfig:
    """Sizes and constants of the model (defaults: the reference demo)."""

    num_users: int = 5
    num_topics: int = 3
    slate_size: int = 4
    doc_scale: float = 0.5
    intent_variance: float = 0.1
    initial_satisfaction: float = 5.0
    satisfaction_scale: float = 0.01
    affinity_offset: float = 2.0
    no_choice_logit: float = 0.0

    def __post_init__(self) -> None:
        for name in ("num_users", "num_topics", "slate_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"LatentVariableConfig.{name} must be a positive integer, got {v!r}")
        for name in ("doc_scale", "intent_variance", "satisfaction_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"LatentVariableConfig.{name} must be > 0, got {getattr(self, name)}")


def true_params(config: LatentVariableConfig | None = None) -> dict[str, np.ndarray]:
    """``{"alpha": TRUE_ALPHA for every user}`` (float32 ``[num_users]``)."""
    cfg = config or LatentVariableConfig()
    return {"alpha": np.full((cfg.num_users,), TRUE_ALPHA, np.float32)}


def init_params(config: LatentVariableConfig | None = None) -> dict[str, np.ndarray]:
    """The reference's starting point: ``alpha`` evenly spaced on ``[0, 1]`` across users.

    >>> init_params(LatentVariableConfig(num_users=5))["alpha"].tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    cfg = config or LatentVariableConfig()
    return {"alpha": np.linspace(0.0, 1.0, cfg.num_users, dtype=np.float32)}


class SatisfactionUser(Entity):
    """Users with a static latent intent and an observed, evolving satisfaction.

    Behaviours: ``initial_state(slate)``, ``next_state(previous_state, slate,
    previous_slate)`` and ``response(state, slate)`` (see the module docstring).
    ``alpha`` is ``[num_users]``, in whatever array type the runtime traces.
    """

    def __init__(self, config: LatentVariableConfig, alpha: Any, name: str | None = None) -> None:
        super().__init__(name=name or "user")
        self.config = config
        self.alpha = alpha
        cfg = config
        eye = np.eye(cfg.num_topics, dtype=np.float32)
        self._intent = GMMVector(
            cfg.num_users, np.zeros(cfg.num_topics, np.float32), eye, float(np.sqrt(cfg.intent_variance))
        )
        self._affinity = TargetPointSimilarity("negative_euclidean")
        self._choice = MultinomialLogitChoiceModel(no_choice_logit=cfg.no_choice_logit)

    def specs(self) -> ValueSpec:
        users = (self.config.num_users,)
        return ValueSpec(
            state=ValueSpec(
                intent=FieldSpec((*users, self.config.num_topics), "float32"),
                satisfaction=FieldSpec(users, "float32"),
            ),
            response=ValueSpec(choice=FieldSpec(users, "int32")),
        )

    def affinities(self, intent: Any, slate: Value) -> Any:
        """``-||intent - d|| + 2`` for every slate document: ``[num_users, slate_size]``."""
        aff = self._affinity.affinities(intent, slate.get("features")).get("affinities")
        return aff + self.config.affinity_offset

    def slate_utility(self, intent: Any, slate: Value) -> Any:
        """``m = max over the slate of -||intent - d|| + 2``: ``[num_users]``."""
        return get_backend().np.max(self.affinities(intent, slate), axis=-1)

    def _satisfaction(self, previous: Any, utility_change: Any) -> Any:
        B = get_backend()
        alpha = B.cast(self.alpha, "float32")
        return rv("satisfaction", B.tfd.Normal(alpha * previous + utility_change, self.config.satisfaction_scale))

    def initial_state(self, slate: Value) -> Value:
        B = get_backend()
        intent = rv("intent", self._intent.distribution())
        start = B.np.full((self.config.num_users,), self.config.initial_satisfaction, dtype="float32")
        satisfaction = self._satisfaction(start, self.slate_utility(intent, slate))  # m_{-1} = 0
        return Value(intent=intent, satisfaction=satisfaction)

    def next_state(self, previous_state: Value, slate: Value, previous_slate: Value) -> Value:
        intent = previous_state.get("intent")
        change = self.slate_utility(intent, slate) - self.slate_utility(intent, previous_slate)
        satisfaction = self._satisfaction(previous_state.get("satisfaction"), change)
        return Value(intent=intent, satisfaction=satisfaction)

    def response(self, state: Value, slate: Value) -> Value:
        B = get_backend()
        logits = self.affinities(state.get("intent"), slate) + state.get("satisfaction")[..., None]
        return Value(choice=B.tfd.Categorical(logits=self._choice.logits(logits), dtype="int32"))


class LatentVariableStory(Story):
    """Variables ``"slate"``, ``"user state"`` and ``"user response"`` for given ``alpha``.

    ``"user state"`` at step ``t`` reads this step's and the previous step's slate
    (``slate``, ``slate.previous``); ``"user response"`` reads this step's user
    state and slate. Attribute ``latent`` is `LATENT`.
    """

    latent = LATENT

    def __init__(self, params: Mapping[str, Any], config: LatentVariableConfig | None = None) -> None:
        self.config = config or LatentVariableConfig()
        if not isinstance(params, Mapping) or "alpha" not in params:
            raise ValueError(f"params must be a dict with the key 'alpha', got {params!r}")
        unknown = sorted(set(params) - {"alpha"})
        if unknown:
            raise ValueError(f"params has unknown keys {unknown}; the model's only parameter is 'alpha'")
        shape = static_shape(params["alpha"])
        if shape != (self.config.num_users,):
            raise ValueError(f"params['alpha'] has shape {shape}; expected ({self.config.num_users},), one per user")
        self.params = params
        self.user = SatisfactionUser(self.config, params["alpha"])

    def variables(self) -> list[Variable]:
        cfg = self.config
        user = self.user
        shape = (cfg.num_users, cfg.slate_size, cfg.num_topics)
        slate = Variable("slate", ValueSpec(features=FieldSpec(shape, "float32")))
        specs = user.specs()
        state = Variable("user state", specs.get("state"))
        response = Variable("user response", specs.get("response"))

        def documents() -> Value:
            B = get_backend()
            loc = B.np.zeros((cfg.num_users, cfg.slate_size, cfg.num_topics), dtype="float32")
            return Value(features=B.tfd.Normal(loc, cfg.doc_scale))

        slate.initial_value = value(documents)
        slate.value = value(documents)
        state.initial_value = value(user.initial_state, (slate,))
        state.value = value(user.next_state, (state.previous, slate, slate.previous))
        response.initial_value = value(user.response, (state, slate))
        response.value = value(user.response, (state, slate))
        return [slate, state, response]


def make_model(params: Mapping[str, Any], config: LatentVariableConfig | None = None) -> LatentVariableStory:
    """The latent-variable story with sensitivities ``params["alpha"]`` (``[num_users]``).

    ``alpha`` may be a NumPy array, a JAX array (traced inside ``jax.grad``) or a
    ``tf.Variable``; it is used as given (clip it to ``[0, 1]`` in the trainer).
    """
    return LatentVariableStory(params, config)
