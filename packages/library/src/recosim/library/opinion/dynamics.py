"""Opinion dynamics by social reinforcement learning: learners, interactions, a feed ranker, measures.

Each agent holds two action values ``Q(-1), Q(+1)`` (columns 0 and 1 of field
``q``) and the opinion ``+1`` or ``-1`` they favour. An agent expresses its
opinion with probability ``1 - eps`` and the other one otherwise; the listener
approves (``r = +1``) when it holds the expressed opinion and disapproves (``r =
-1``) otherwise; the speaker updates ``Q(O) <- (1 - alpha) Q(O) + alpha r``.

Tie rule: when the two values are equal after an update, the agent keeps an
opinion it has just expressed and been approved of (``r >= 0``) and leaves one it
has just been disapproved of. With ``alpha = 1`` the update sets ``Q(O) = r``
exactly, so with ``eps = 0`` an agent disapproved of always adopts the
listener's opinion and one approved of keeps its own: exactly the voter model.

Two ways of meeting:

* `sequential_variables` (random sequential updating): each step one agent
  ``i`` is drawn uniformly, then one neighbour ``j`` uniformly; only ``i`` learns.
  Draws (fields of variable ``interaction``): ``speaker``, ``slot`` (the
  neighbour's slot), ``flip`` (exploration).
* `feed_variables` (a platform, synchronous): each step every agent posts its
  expressed opinion (draw ``flip``); each agent's feed shows ``feed_size`` posts
  of its neighbours, chosen without replacement with weights ``exp(h * p)`` (a
  Gumbel top-k; draw ``noise``), ``p`` being the ranker's predicted approval of
  that neighbour's posts by that viewer, learnt from past approvals; viewers
  approve or disapprove, and each author learns from the mean response to its post.

``alpha``, ``epsilon`` and the feed homophily ``h`` are settings (read with
`recosim.core.setting`; `OpinionModel.settings` declares them with the graph's
arrays), so one compiled program serves every value. The state carries the
number of ``+1`` agents and the step consensus was first reached (``-1`` before),
so a batch of runs reports its times to consensus without its trajectories.

>>> from recosim.core.runtime import NumpyRuntime
>>> from recosim.library.opinion.graphs import complete_graph
>>> model = OpinionModel(complete_graph(6), OpinionConfig(alpha=1.0, epsilon=0.0))
>>> rt = NumpyRuntime(model.variables(), seed=0, settings=model.settings)
>>> final = rt.execute(400)
>>> final["stats"].get("consensus_step").shape, int(final["stats"].get("consensus_step")[0]) > 0
((1,), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, rv, setting, value
from recosim.library.opinion.graphs import OpinionGraph
from recosim.library.params import positive_int
from recosim.library.social.graph import UniformIndex

__all__ = [
    "OpinionConfig",
    "OpinionModel",
    "check_alpha",
    "check_epsilon",
    "check_fraction",
    "learn",
    "magnetisation",
    "interface_density",
    "mixed_pairs",
    "NO_CONSENSUS",
]

NO_CONSENSUS = -1
"""``consensus_step`` of a run that has not reached consensus (yet)."""

_NEG = -1.0e9  # the ranking score of an empty neighbour slot


def int32(x: Any) -> Any:
    """``x`` as an int32 array of the active backend."""
    B = get_backend()
    return B.cast(B.asarray(x), "int32")


def _ranks(x: Any) -> Any:
    """The rank of each entry along the last axis (0 = smallest; continuous draws have no ties)."""
    np_ = get_backend().np
    return int32(np_.argsort(int32(np_.argsort(x, axis=-1)), axis=-1))


def check_alpha(alpha: float) -> float:
    """``alpha`` in ``(0, 1]`` (at 0 nothing is ever learnt), or a ValueError naming it."""
    a = float(alpha)
    if not 0.0 < a <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    return a


def check_epsilon(epsilon: float) -> float:
    """``epsilon`` in ``[0, 1)`` (at 1 an agent never expresses what it holds), or a ValueError naming it."""
    e = float(epsilon)
    if not 0.0 <= e < 1.0:
        raise ValueError(f"epsilon must be in [0, 1), got {epsilon!r}")
    return e


def check_fraction(fraction: float) -> float:
    """An initial fraction of ``+1`` agents in ``[0, 1]``, or a ValueError naming it."""
    f = float(fraction)
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"initial_fraction must be in [0, 1], got {fraction!r}")
    return f


@dataclass(frozen=True)
class OpinionConfig:
    """The learners' parameters and what a run records.

    ``alpha`` and ``epsilon`` are the defaults of the settings of the same names;
    ``initial_fraction`` of the agents (rounded to a whole number ``k``) start at
    ``+1``, placed uniformly at random. ``feed_size = 0`` is random sequential
    interaction; ``feed_size > 0`` the synchronous feed, ranked with homophily
    ``feed_homophily`` (setting ``"feed_homophily"``) and a predicted approval
    learnt at rate ``feed_learning_rate``. ``trace_steps`` are the steps at which
    the magnetisation is recorded (field ``stats/trace``), ``snapshot_steps`` those
    at which every opinion is recorded (``stats/snapshots``).
    """

    alpha: float = 0.5
    epsilon: float = 0.1
    initial_fraction: float = 0.5
    feed_size: int = 0
    feed_homophily: float = 0.0
    feed_learning_rate: float = 0.1
    trace_steps: Sequence[int] = ()
    snapshot_steps: Sequence[int] = ()

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_epsilon(self.epsilon)
        check_fraction(self.initial_fraction)
        if int(self.feed_size) < 0:
            raise ValueError(f"feed_size must be >= 0, got {self.feed_size}")
        if not 0.0 < float(self.feed_learning_rate) <= 1.0:
            raise ValueError(f"feed_learning_rate must be in (0, 1], got {self.feed_learning_rate}")
        if not np.isfinite(float(self.feed_homophily)):
            raise ValueError(f"feed_homophily must be finite, got {self.feed_homophily}")
        for name in ("trace_steps", "snapshot_steps"):
            steps = np.asarray(getattr(self, name), np.int64)
            if steps.size and steps.min() < 0:
                raise ValueError(f"{name} must be steps >= 0, got {list(steps)}")


# -- the learner ---------------------------------------------------------------------------
def learn(q: Any, opinion: Any, expressed: Any, reward: Any, active: Any, alpha: Any) -> tuple[Any, Any]:
    """The learners' update where ``active``: ``Q(expressed) <- (1 - alpha) Q + alpha reward``, then the opinion.

    Shapes: ``q`` ``[..., 2]``, the others ``[...]``. Returns ``(q, opinion)``; the
    tie rule of the module docstring decides equal values.
    """
    B = get_backend()
    np_ = B.np
    col = (int32(expressed) + 1) // 2
    hit = B.one_hot(col, 2, dtype="bool") & np_.expand_dims(active, -1)
    r = np_.expand_dims(B.cast(reward, "float32"), -1)
    q_new = np_.where(hit, (1.0 - alpha) * q + alpha * r, q)
    diff = q_new[..., 1] - q_new[..., 0]
    tie = np_.where(B.cast(reward, "float32") >= 0.0, int32(expressed), -int32(expressed))
    held = np_.where(diff > 0.0, np_.ones_like(tie), np_.where(diff < 0.0, -np_.ones_like(tie), tie))
    return q_new, np_.where(active, held, int32(opinion))


def magnetisation(opinion: Any) -> Any:
    """The mean opinion (``[..., N]`` -> ``[...]``, float32)."""
    B = get_backend()
    return B.np.mean(B.cast(opinion, "float32"), axis=-1)


def mixed_pairs(neighbours: Any, opinion: Any) -> Any:
    """The number of (agent, neighbour) pairs holding opposite opinions: twice the mixed edges (int32, ``[...]``)."""
    B = get_backend()
    np_ = B.np
    nbr = int32(neighbours)
    n = nbr.shape[0]
    other = np_.take(opinion, np_.clip(nbr, 0, n - 1), axis=-1)  # [..., N, K]
    differ = (other != np_.expand_dims(opinion, -1)) & (nbr >= 0)
    return np_.sum(int32(differ), axis=(-2, -1))


def interface_density(neighbours: Any, degree: Any, opinion: Any) -> Any:
    """The share of edges whose ends hold opposite opinions (``opinion`` ``[..., N]`` -> ``[...]``)."""
    B = get_backend()
    np_ = B.np
    total = B.cast(np_.sum(int32(degree)), "float32")
    return B.cast(mixed_pairs(neighbours, opinion), "float32") / np_.maximum(total, 1.0)


def _initial_agents(shape: tuple[int, ...], k_plus: int) -> Value:
    """``k_plus`` agents of each replica at ``+1`` (those with the smallest ``placement`` draws); Q values
    ``Uniform(-1, 1)``, the larger one on the held opinion. ``shape`` is ``(replicas, agents)``."""
    B = get_backend()
    np_ = B.np
    placement = rv("placement", B.tfd.Uniform(B.asarray(0.0, "float32"), B.asarray(1.0, "float32")), shape)
    q_draw = rv("q_draw", B.tfd.Uniform(B.asarray(-1.0, "float32"), B.asarray(1.0, "float32")), (*shape, 2))
    rank = _ranks(placement)
    plus = rank < k_plus
    hi = np_.maximum(q_draw[..., 0], q_draw[..., 1])
    lo = np_.minimum(q_draw[..., 0], q_draw[..., 1])
    q = np_.stack([np_.where(plus, lo, hi), np_.where(plus, hi, lo)], axis=-1)
    opinion = np_.where(plus, np_.ones(shape, dtype="int32"), -np_.ones(shape, dtype="int32"))
    return Value(q=q, opinion=opinion, placement=placement, q_draw=q_draw,
                 num_plus=int32(np_.sum(int32(plus), axis=-1)))  # fmt: skip


class OpinionModel:
    """The opinion-dynamics network on ``graph``: `variables` and the `settings` to declare.

    ``replicas`` independent copies of the population evolve side by side in one
    run (every field has a leading replica axis ``R``): a batch of runs is then
    one vectorised program on every runtime, the NumPy one included.

    Variables: ``agents`` (``q`` ``[R, N, 2]``, ``opinion`` ``[R, N]``,
    ``num_plus`` ``[R]`` and the initial draws), ``interaction`` (sequential) or
    ``platform`` (feed), and ``stats`` (``step``, ``consensus_step`` ``[R]``; with
    the feed also cumulative ``views``, ``approvals`` and ``interface_sum`` per
    replica; ``trace`` ``[R, L]`` / ``snapshots`` ``[R, S, N]`` when asked for).
    """

    def __init__(self, graph: OpinionGraph, config: OpinionConfig | None = None, *, replicas: int = 1) -> None:
        self.graph = graph
        self.config = OpinionConfig() if config is None else config
        self.replicas = positive_int(replicas, "replicas")
        n = graph.num_agents
        self.k_plus = round(self.config.initial_fraction * n)
        self.feed_size = min(int(self.config.feed_size), graph.capacity)
        self.trace_steps = np.asarray(self.config.trace_steps, np.int32)
        self.snapshot_steps = np.asarray(self.config.snapshot_steps, np.int32)

    @property
    def num_agents(self) -> int:
        return self.graph.num_agents

    @property
    def is_feed(self) -> bool:
        return self.feed_size > 0

    @property
    def settings(self) -> dict[str, Any]:
        """The settings the model reads, with their defaults: declare them on the runtime."""
        c = self.config
        return {
            "alpha": np.float32(c.alpha),
            "epsilon": np.float32(c.epsilon),
            "feed_homophily": np.float32(c.feed_homophily),
            "graph_neighbours": self.graph.neighbours,
            "graph_degree": self.graph.degree,
        }

    def _graph(self) -> tuple[Any, Any]:
        return (int32(setting("graph_neighbours", default=self.graph.neighbours)),
                int32(setting("graph_degree", default=self.graph.degree)))  # fmt: skip

    def _params(self) -> tuple[Any, Any]:
        B = get_backend()
        alpha = setting("alpha", default=self.config.alpha)
        eps = setting("epsilon", default=self.config.epsilon)
        return B.cast(alpha, "float32"), B.cast(eps, "float32")

    def variables(self, *, logit_epsilon: Any = None) -> list[Variable]:
        """The network's variables: random sequential when ``feed_size == 0``, the feed otherwise.

        ``logit_epsilon`` (sequential model only) replaces the setting ``epsilon``
        by ``sigmoid(logit_epsilon)``: an array of the active backend (a parameter
        being fitted, as `recosim.inference.fit_mle` passes), or a `Variable` whose
        value holds the scalar field ``logit_epsilon`` (a latent to sample, such as
        a static prior variable), which the interaction then reads as a parent.
        """
        if self.is_feed:
            if logit_epsilon is not None:
                raise ValueError("logit_epsilon: only the random sequential model (feed_size = 0) takes it")
            return self._feed_variables()
        return self._sequential_variables(logit_epsilon)

    def final_measures(self, value: Any) -> dict[str, Any]:
        """The figures of a run from its (final) value, in backend operations: what a batch brings back.

        Per replica (``[R]``): ``consensus_step``, ``num_plus``, the
        ``interface_density`` of the opinions and its numerator ``mixed_pairs``
        (an integer, for a host that divides in its own arithmetic); with the feed
        also the cumulative ``views``, ``approvals`` and ``interface_sum``. Pass it (or a function around
        it) as ``outputs=`` of `recosim.core.runtime.Runtime.run_batch`.
        """
        agents, stats = value["agents"], value["stats"]
        nbr, deg = self._graph()
        out = {
            "consensus_step": stats.get("consensus_step"),
            "num_plus": agents.get("num_plus"),
            "interface_density": interface_density(nbr, deg, agents.get("opinion")),
            "mixed_pairs": mixed_pairs(nbr, agents.get("opinion")),
        }
        if self.is_feed:
            out.update(views=stats.get("views"), approvals=stats.get("approvals"),
                       interface_sum=stats.get("interface_sum"))  # fmt: skip
        return out

    # -- pieces both share ---------------------------------------------------------------
    def _agent_specs(self, extra: dict[str, FieldSpec] | None = None) -> ValueSpec:
        r, n = self.replicas, self.num_agents
        fields = dict(q=FieldSpec((r, n, 2), "float32"), opinion=FieldSpec((r, n), "int32"),
                      num_plus=FieldSpec((r,), "int32"), placement=FieldSpec((r, n), "float32"),
                      q_draw=FieldSpec((r, n, 2), "float32"))  # fmt: skip
        fields.update(extra or {})
        return ValueSpec(fields)

    def _stats_specs(self, extra: dict[str, FieldSpec] | None = None) -> ValueSpec:
        r = self.replicas
        fields = dict(step=FieldSpec((), "int32"), consensus_step=FieldSpec((r,), "int32"))
        if self.trace_steps.size:
            fields["trace"] = FieldSpec((r, int(self.trace_steps.size)), "float32")
        if self.snapshot_steps.size:
            fields["snapshots"] = FieldSpec((r, int(self.snapshot_steps.size), self.num_agents), "int32")
        fields.update(extra or {})
        return ValueSpec(fields)

    def _record(self, step: Any, agents: Value, trace: Any, snaps: Any) -> dict[str, Any]:
        B = get_backend()
        np_ = B.np
        out: dict[str, Any] = {}
        if self.trace_steps.size:
            now = B.asarray(self.trace_steps) == step
            out["trace"] = np_.where(now, np_.expand_dims(magnetisation(agents.get("opinion")), -1), trace)
        if self.snapshot_steps.size:
            now = np_.expand_dims(B.asarray(self.snapshot_steps) == step, -1)
            out["snapshots"] = np_.where(now, np_.expand_dims(agents.get("opinion"), 1), snaps)
        return out

    def _stats_initial(self, agents: Value, **extra: Any) -> Value:
        B = get_backend()
        np_ = B.np
        r, n = self.replicas, self.num_agents
        plus = agents.get("num_plus")
        consensus = (plus == 0) | (plus == n)
        step = np_.zeros((), dtype="int32")
        trace = np_.zeros((r, int(self.trace_steps.size)), dtype="float32")
        snaps = np_.zeros((r, int(self.snapshot_steps.size), n), dtype="int32")
        cs = np_.where(consensus, np_.zeros((r,), dtype="int32"), np_.full((r,), NO_CONSENSUS, dtype="int32"))
        return Value(step=step, consensus_step=cs, **self._record(step, agents, trace, snaps), **extra)

    def _stats_next(self, prev: Value, agents: Value, **extra: Any) -> Value:
        np_ = get_backend().np
        n = self.num_agents
        step = prev.get("step") + 1
        plus = agents.get("num_plus")
        consensus = (plus == 0) | (plus == n)
        cs = prev.get("consensus_step")
        cs = np_.where((cs < 0) & consensus, np_.broadcast_to(step, cs.shape), cs)
        trace = prev.get("trace") if self.trace_steps.size else None
        snaps = prev.get("snapshots") if self.snapshot_steps.size else None
        return Value(step=step, consensus_step=cs, **self._record(step, agents, trace, snaps), **extra)

    # -- random sequential interaction --------------------------------------------------
    def _sequential_variables(self, logit_epsilon: Any = None) -> list[Variable]:
        r, n = self.replicas, self.num_agents
        i32, f32 = "int32", "float32"
        learners = logit_epsilon if isinstance(logit_epsilon, Variable) else None
        agents = Variable("agents", self._agent_specs())
        interaction = Variable("interaction", ValueSpec(
            speaker=FieldSpec((r,), i32), slot=FieldSpec((r,), i32), flip=FieldSpec((r,), i32),
            listener=FieldSpec((r,), i32), expressed=FieldSpec((r,), i32), reward=FieldSpec((r,), f32)))  # fmt: skip
        stats = Variable("stats", self._stats_specs())

        def no_interaction() -> Value:
            np_ = get_backend().np
            none = -np_.ones((r,), dtype=i32)
            zero = np_.zeros((r,), dtype=i32)
            return Value(speaker=none, slot=none, flip=zero, listener=none, expressed=zero,
                         reward=np_.zeros((r,), dtype=f32))  # fmt: skip

        def interact(prev: Value, source: Value | None = None) -> Value:
            B = get_backend()
            np_ = B.np
            nbr, deg = self._graph()
            speaker = rv("speaker", UniformIndex(np_.full((r,), n, dtype=i32)))
            slot = rv("slot", UniformIndex(np_.take(deg, speaker)))
            if logit_epsilon is None:
                _, eps = self._params()
                explore = B.tfd.Bernoulli(probs=np_.full((r,), 1.0, dtype=f32) * eps, dtype=i32)
            else:
                logit = source.get("logit_epsilon") if source is not None else logit_epsilon
                explore = B.tfd.Bernoulli(logits=np_.zeros((r,), dtype=f32) + B.cast(logit, f32), dtype=i32)
            flip = int32(rv("flip", explore))
            rows = np_.take(nbr, speaker, axis=0)  # [r, capacity]
            listener = np_.take_along_axis(rows, np_.expand_dims(slot, -1), axis=-1)[:, 0]
            opinion = prev.get("opinion")
            own = np_.take_along_axis(opinion, np_.expand_dims(speaker, -1), axis=-1)[:, 0]
            expressed = np_.where(flip > 0, -own, own)
            heard = np_.take_along_axis(opinion, np_.expand_dims(listener, -1), axis=-1)[:, 0]
            reward = np_.where(heard == expressed, np_.ones((r,), dtype=f32), -np_.ones((r,), dtype=f32))
            return Value(speaker=speaker, slot=slot, flip=flip, listener=listener, expressed=expressed, reward=reward)

        def update(prev: Value, act: Value) -> Value:
            B = get_backend()
            np_ = B.np
            alpha, _ = self._params()
            speaker = act.get("speaker")
            active = B.one_hot(speaker, n, dtype="bool")  # [r, n]
            expressed = np_.broadcast_to(np_.expand_dims(act.get("expressed"), -1), (r, n))
            reward = np_.broadcast_to(np_.expand_dims(act.get("reward"), -1), (r, n))
            q, opinion = learn(prev.get("q"), prev.get("opinion"), expressed, reward, active, alpha)
            old = np_.take_along_axis(prev.get("opinion"), np_.expand_dims(speaker, -1), axis=-1)[:, 0]
            new = np_.take_along_axis(opinion, np_.expand_dims(speaker, -1), axis=-1)[:, 0]
            plus = prev.get("num_plus") + (new - old) // 2
            return Value(q=q, opinion=opinion, num_plus=int32(plus),
                         placement=prev.get("placement"), q_draw=prev.get("q_draw"))  # fmt: skip

        agents.initial_value = value(lambda: _initial_agents((r, n), self.k_plus))
        agents.value = value(update, (agents.previous, interaction))
        interaction.initial_value = value(no_interaction)
        interaction.value = value(interact, (agents.previous,) if learners is None else (agents.previous, learners))
        stats.initial_value = value(lambda a: self._stats_initial(a), (agents,))
        stats.value = value(lambda s, a: self._stats_next(s, a), (stats.previous, agents))
        return [agents, interaction, stats]

    # -- the platform: synchronous feed steps ----------------------------------------------
    def _feed_variables(self) -> list[Variable]:
        r, n, cap, k = self.replicas, self.num_agents, self.graph.capacity, self.feed_size
        i32, f32 = "int32", "float32"
        lr = float(self.config.feed_learning_rate)
        agents = Variable("agents", self._agent_specs({"predicted": FieldSpec((r, n, cap), f32)}))
        platform = Variable("platform", ValueSpec(
            flip=FieldSpec((r, n), i32), expressed=FieldSpec((r, n), i32), noise=FieldSpec((r, n, cap), f32),
            shown=FieldSpec((r, n, k), i32), response=FieldSpec((r, n, k), f32)))  # fmt: skip
        stats = Variable(
            "stats",
            self._stats_specs(
                {
                    "views": FieldSpec((r,), f32),
                    "approvals": FieldSpec((r,), f32),
                    "interface_sum": FieldSpec((r,), f32),
                }
            ),
        )

        def first_agents() -> Value:
            np_ = get_backend().np
            a = _initial_agents((r, n), self.k_plus)
            return Value(**dict(a.items()), predicted=np_.full((r, n, cap), 0.5, dtype=f32))

        def no_posts(a: Value) -> Value:
            np_ = get_backend().np
            return Value(flip=np_.zeros((r, n), dtype=i32), expressed=a.get("opinion"),
                         noise=np_.zeros((r, n, cap), dtype=f32), shown=-np_.ones((r, n, k), dtype=i32),
                         response=np_.zeros((r, n, k), dtype=f32))  # fmt: skip

        def authors_of(nbr: Any, slots: Any) -> Any:
            """``nbr[i, slots[r, i, j]]`` (``[r, n, k]``; ``-1`` for empty slots)."""
            np_ = get_backend().np
            return np_.take_along_axis(np_.broadcast_to(nbr, (r, n, cap)), np_.clip(slots, 0, cap - 1), axis=-1)

        def post_and_rank(prev: Value) -> Value:
            B = get_backend()
            np_ = B.np
            nbr, deg = self._graph()
            _, eps = self._params()
            h = B.cast(setting("feed_homophily", default=self.config.feed_homophily), f32)
            flip = int32(rv("flip", B.tfd.Bernoulli(probs=np_.full((r, n), 1.0, dtype=f32) * eps, dtype=i32)))
            opinion = prev.get("opinion")
            expressed = np_.where(flip > 0, -opinion, opinion)
            zero, one = B.asarray(0.0, f32), B.asarray(1.0, f32)
            noise = rv("noise", B.tfd.Gumbel(loc=zero, scale=one), (r, n, cap))
            filled = np_.arange(cap, dtype=i32) < np_.expand_dims(deg, -1)  # [n, cap]
            score = np_.where(filled, h * prev.get("predicted") + noise, np_.full((r, n, cap), _NEG, dtype=f32))
            _, slots = B.top_k(score, k)
            slots = int32(slots)
            seen = slots < np_.expand_dims(deg, -1)
            author = np_.clip(authors_of(nbr, slots), 0, n - 1)
            said = np_.reshape(np_.take_along_axis(expressed, np_.reshape(author, (r, n * k)), axis=-1), (r, n, k))
            agree = said == np_.expand_dims(opinion, -1)
            response = np_.where(seen, np_.where(agree, one, -one), zero)
            return Value(flip=flip, expressed=expressed, noise=noise,
                         shown=np_.where(seen, slots, -np_.ones_like(slots)), response=response)  # fmt: skip

        def update(prev: Value, plat: Value) -> Value:
            B = get_backend()
            np_ = B.np
            nbr, _ = self._graph()
            alpha, _ = self._params()
            shown = plat.get("shown")
            seen = shown >= 0
            author = np_.clip(authors_of(nbr, shown), 0, n - 1)
            offset = np_.reshape(np_.arange(r, dtype=i32) * n, (r, 1, 1))
            index = np_.reshape(author + offset, (-1,))
            response = np_.reshape(plat.get("response"), (-1,))
            total = np_.reshape(B.scatter_add(np_.zeros((r * n,), dtype=f32), index, response), (r, n))
            views = np_.reshape(B.cast(seen, f32), (-1,))
            count = np_.reshape(B.scatter_add(np_.zeros((r * n,), dtype=f32), index, views), (r, n))
            heard = count > 0.0
            mean = total / np_.maximum(count, 1.0)
            q, opinion = learn(prev.get("q"), prev.get("opinion"), plat.get("expressed"), mean, heard, alpha)
            # the ranker's predicted approval, per viewer and neighbour slot, moves towards what was seen
            cell = (np_.reshape(np_.arange(r * n, dtype=i32), (r, n, 1)) * cap + np_.clip(shown, 0, cap - 1))
            cell = np_.reshape(cell, (-1,))
            liked = np_.reshape(B.cast(plat.get("response") > 0.0, f32), (-1,))
            approved = np_.reshape(B.scatter_add(np_.zeros((r * n * cap,), dtype=f32), cell, liked), (r, n, cap))
            looked = np_.reshape(B.scatter_add(np_.zeros((r * n * cap,), dtype=f32), cell, views), (r, n, cap))
            pred = prev.get("predicted")
            pred = np_.where(looked > 0.0, (1.0 - lr) * pred + lr * approved / np_.maximum(looked, 1.0), pred)
            plus = int32(np_.sum(int32(opinion > 0), axis=-1))
            return Value(q=q, opinion=opinion, num_plus=plus, placement=prev.get("placement"),
                         q_draw=prev.get("q_draw"), predicted=pred)  # fmt: skip

        def stats_initial(a: Value) -> Value:
            np_ = get_backend().np
            z = np_.zeros((r,), dtype=f32)
            return self._stats_initial(a, views=z, approvals=z, interface_sum=z)

        def stats_next(s: Value, a: Value, plat: Value) -> Value:
            B = get_backend()
            np_ = B.np
            nbr, deg = self._graph()
            views = np_.sum(B.cast(plat.get("shown") >= 0, f32), axis=(-2, -1))
            approvals = np_.sum(B.cast(plat.get("response") > 0.0, f32), axis=(-2, -1))
            rho = interface_density(nbr, deg, a.get("opinion"))
            return self._stats_next(s, a, views=s.get("views") + views, approvals=s.get("approvals") + approvals,
                                    interface_sum=s.get("interface_sum") + rho)  # fmt: skip

        agents.initial_value = value(first_agents)
        agents.value = value(update, (agents.previous, platform))
        platform.initial_value = value(no_posts, (agents,))
        platform.value = value(post_and_rank, (agents.previous,))
        stats.initial_value = value(stats_initial, (agents,))
        stats.value = value(stats_next, (stats.previous, agents, platform))
        return [agents, platform, stats]
