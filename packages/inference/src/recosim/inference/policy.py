"""Framework-free parts of policy-gradient training.

* :func:`step_log_prob`: the log-probability of a policy variable's draws at one
  logged step, per element of its batch (per user), as a function of the model's
  parameters: the behaviour is re-run on the logged inputs with its draws
  substituted by the logged values.
* :class:`shared_initial_draws`: a handler that makes the initial draws of the
  population variables common to a group of rollouts (the same users), while the
  policy and everything after step 0 is drawn independently per rollout.
* :func:`advantages`: reward-to-go per user and the three baselines.

>>> import numpy as np
>>> r = np.array([[[1.0], [0.0], [2.0]]])  # one rollout, three steps, one user
>>> reward_to_go(r)[0, :, 0].tolist()
[3.0, 2.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from recosim.core.backend import Backend
from recosim.core.evaluation import evaluate
from recosim.core.network import Network
from recosim.core.random import Handler, Site, block_unobserved, name_hash, substitute, trace
from recosim.core.value import Value, shape_of
from recosim.core.variable import Previous
from recosim.inference.problem import InferenceError

__all__ = ["step_log_prob", "shared_initial_draws", "reward_to_go", "advantages", "ReinforceSpec", "BASELINES"]

BASELINES = (None, "mean", "group")


def step_log_prob(
    network: Network,
    variable: str,
    keys: Sequence[str],
    current: Mapping[str, Value],
    previous: Mapping[str, Value] | None,
    backend: Backend,
) -> Any:
    """Sum of the log-probabilities of ``variable``'s draws of ``keys`` at one logged step.

    Keeps the draws' batch shape (one value per user); draws of other fields of
    the variable are substituted too but not counted. A draw of the variable that
    is not logged is an error naming it.
    """
    var = network[variable]
    binding = var.initial_value if previous is None else var.value
    if binding is None:  # a static variable draws nothing after step 0
        return backend.np.zeros((), dtype="float32")
    args = [
        Value(previous[d.name]) if isinstance(d, Previous) and previous is not None else Value(current[d.name])
        for d in binding.dependencies
    ]
    data = {f"{variable}/{k}": f for k, f in Value(current[variable]).items()}
    with (
        block_unobserved(f" (every draw of the policy variable {variable!r} must be one of its fields)"),
        substitute(data),
        trace() as tr,
    ):
        evaluate(network, var, binding, args)
    wanted = {f"{variable}/{k}" for k in keys}
    lps = [site.log_prob for name, site in tr.sites.items() if name in wanted]
    if not lps:
        return backend.np.zeros((), dtype="float32")
    total = lps[0]
    for lp in lps[1:]:
        total = total + lp if shape_of(lp) == shape_of(total) else backend.np.sum(total) + backend.np.sum(lp)
    return total


class shared_initial_draws(Handler):  # noqa: N801 - handlers read as verbs
    """Draw sites of ``variables`` with ``key`` (shared by a group); leave the others to outer handlers."""

    def __init__(self, key: Any, variables: Sequence[str], backend: Backend) -> None:
        self.key = key
        self.prefixes = tuple(f"{v}/" for v in variables)
        self.backend = backend

    def process(self, site: Site) -> None:
        if site.value is None and site.name.startswith(self.prefixes):
            site_key = self.backend.fold_in(self.key, name_hash(site.name))
            site.value = self.backend.sample(site.distribution, site.sample_shape, site_key)


def reward_to_go(rewards: np.ndarray, discount: float = 1.0) -> np.ndarray:
    """``G_t = sum_{s >= t} discount^(s - t) r_s`` along axis 1 of ``[rollouts, steps, ...]``."""
    out = np.zeros_like(rewards, dtype=np.float64)
    running = np.zeros_like(rewards[:, 0], dtype=np.float64)
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + discount * running
        out[:, t] = running
    return out


def advantages(
    rewards: np.ndarray,
    *,
    baseline: str | None,
    group_size: int,
    discount: float,
    running: np.ndarray | None,
    decay: float = 0.9,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Advantages ``[rollouts, steps, ...]`` and the new running-mean state.

    ``None``: the reward-to-go itself. ``"mean"``: minus a running mean of the
    reward-to-go per step (over users and rollouts; the first update uses its own
    batch mean). ``"group"``: rollouts ``[g*G, (g+1)*G)`` share a population; the
    reward-to-go is centred and scaled by its mean and standard deviation within
    the group, per step and user (as GRPO normalises rewards within a group).
    """
    g = reward_to_go(np.asarray(rewards, np.float64), discount)
    if baseline is None:
        return g, running
    if baseline == "mean":
        axes = tuple(i for i in range(g.ndim) if i != 1)
        batch_mean = g.mean(axis=axes)
        base = batch_mean if running is None else running
        new = batch_mean if running is None else decay * running + (1.0 - decay) * batch_mean
        shape = [1] * g.ndim
        shape[1] = g.shape[1]
        return g - base.reshape(shape), new
    grouped = g.reshape((g.shape[0] // group_size, group_size, *g.shape[1:]))
    centred = grouped - grouped.mean(axis=1, keepdims=True)
    scaled = centred / (grouped.std(axis=1, keepdims=True) + 1e-6)
    return scaled.reshape(g.shape), running


class ReinforceSpec:
    """What a REINFORCE run trains on: the policy's draws, the reward field, rollouts and baseline."""

    def __init__(
        self,
        *,
        variable: str,
        keys: Sequence[str],
        reward_variable: str,
        reward_key: str,
        population: Sequence[str],
        baseline: str | None,
        group_size: int,
        num_rollouts: int,
        discount: float,
        label: str = "",
    ) -> None:
        self.label = label or variable
        self.variable = variable
        self.keys = list(keys)
        self.reward_variable = reward_variable
        self.reward_key = reward_key
        self.population = list(population)
        self.baseline = baseline
        self.group_size = group_size
        self.num_rollouts = num_rollouts
        self.discount = discount
        self.checked = False
        self.step_shape: tuple[int, ...] = ()

    @property
    def policy_name(self) -> str:
        return self.label

    def keys_for(self, key: Any, fold_in: Any) -> tuple[list[Any], list[Any]]:
        """Per rollout: the key of its population's initial draws and the key of everything else."""
        pops, runs = fold_in(key, 1), fold_in(key, 2)
        share = self.group_size if self.baseline == "group" else 1
        pop = [fold_in(pops, r // share) for r in range(self.num_rollouts)]
        run = [fold_in(runs, r) for r in range(self.num_rollouts)]
        return pop, run

    def rewards(self, trajectories: Mapping[str, Any]) -> np.ndarray:
        """The reward field of a batch of rollouts, ``[rollouts, steps, ...]`` (NumPy)."""
        return np.asarray(Value(trajectories[self.reward_variable])[self.reward_key], np.float64)

    def check_first(self, rewards: np.ndarray, log_probs: np.ndarray, *, fresh: bool = True) -> None:
        """Refuse rollouts whose rewards or policy log-probabilities cannot train anything.

        ``fresh`` is false for the first rollouts of a resumed run: a policy trained
        until its draws are near certain may score exactly 0 in float32 there, which
        says nothing about whether it draws at all, so that check is left to fresh runs.
        """
        where = f"reward '{self.reward_variable}/{self.reward_key}'"
        bad = np.argwhere(~np.isfinite(rewards))
        if bad.size:
            raise InferenceError(f"{where} is not finite at step {int(bad[0][1])} of rollout {int(bad[0][0])}")
        bad = np.argwhere(~np.isfinite(log_probs))
        if bad.size:
            raise InferenceError(
                f"the log-probability of the policy {self.policy_name!r} is not finite at step {int(bad[0][1])} "
                f"of rollout {int(bad[0][0])}"
            )
        if fresh and np.all(log_probs == 0.0):
            raise InferenceError(
                f"the policy {self.policy_name!r} draws nothing: its log-probability is 0 at every step; name a "
                "variable or field whose value is drawn from a distribution (e.g. the slate)"
            )
        reward_step, lp_step = rewards.shape[2:], log_probs.shape[2:]
        if reward_step not in ((), lp_step):
            raise InferenceError(
                f"{where} has per-step shape {reward_step} but the policy {self.policy_name!r} has per-step "
                f"log-probabilities of shape {lp_step}; give one reward per policy draw (per user) or one per step"
            )
        self.step_shape = tuple(lp_step)
        self.checked = True

    def advantages(self, rewards: np.ndarray, running: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        adv, new = advantages(
            rewards, baseline=self.baseline, group_size=self.group_size, discount=self.discount, running=running
        )
        shape = (*adv.shape[:2], *self.step_shape)
        if adv.shape != shape:
            adv = np.broadcast_to(adv.reshape((*adv.shape[:2], *([1] * len(self.step_shape)))), shape)
        return np.ascontiguousarray(adv, np.float32), new

    def normaliser(self, shape: Sequence[int]) -> float:
        """Rollouts times policy draws per step (users): the surrogate loss is a mean over both."""
        return float(np.prod([shape[0], *shape[2:]]))

    @staticmethod
    def mean_return(rewards: np.ndarray) -> np.ndarray:
        return np.asarray(rewards.sum(axis=1).mean())
