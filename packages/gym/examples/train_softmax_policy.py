"""Train a simple slate policy on ``recosim/InterestEvolution-v0`` through the vector environment.

The policy has one logit per document and no other input: every user's slate is
drawn from the same softmax without replacement. It is trained by REINFORCE on
whole episodes of all users at once (each vector step is one step of the
simulation for the whole population), so it learns which documents keep users
consuming over the episode, not only which ones they click now (showing trashy
documents wins clicks at first and then drives interests away). Episode 1 serves
uniformly random slates; at the default sizes the mean return climbs from about
54 to about 77 within 30 episodes (2.5 minutes on two busy CPU cores).

    python packages/gym/examples/train_softmax_policy.py
    python packages/gym/examples/train_softmax_policy.py --num-envs 200 --horizon 20

Prints one line per episode and, with ``--out FILE``, writes the returns and the logits as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import gymnasium
import numpy as np

import recosim.gym  # noqa: F401  (registers the environments)


class SoftmaxSlatePolicy:
    """A slate policy with one logit per document, trained by REINFORCE.

    Slates are drawn without replacement (iterated multinomial logit, by the
    Gumbel-top-k trick). After an episode, the logits move along
    ``mean over users and steps of (G - b_t) * grad log p(slate)``, where ``G`` is
    the user's reward-to-go and ``b_t`` its mean over users at step ``t``.
    """

    def __init__(self, num_docs: int, slate_size: int, learning_rate: float, seed: int) -> None:
        self.logits = np.zeros(num_docs)
        self.slate_size, self.learning_rate = slate_size, learning_rate
        self.rng = np.random.default_rng(seed)

    def act(self, num_users: int) -> np.ndarray:
        gumbel = self.rng.gumbel(size=(num_users, self.logits.size))
        return np.argsort(-(self.logits + gumbel), axis=1)[:, : self.slate_size]

    def score_gradient(self, slates: np.ndarray) -> np.ndarray:
        """``grad log p(slate)`` with respect to the logits, per user: ``[num_users, num_docs]``."""
        users = np.arange(slates.shape[0])
        remaining = np.ones((slates.shape[0], self.logits.size), bool)
        grad = np.zeros((slates.shape[0], self.logits.size))
        for position in range(self.slate_size):
            weights = np.where(remaining, np.exp(self.logits - self.logits.max()), 0.0)
            grad -= weights / weights.sum(axis=1, keepdims=True)
            grad[users, slates[:, position]] += 1.0
            remaining[users, slates[:, position]] = False
        return grad

    def learn(self, slates: list[np.ndarray], rewards: list[np.ndarray]) -> None:
        to_go = np.cumsum(np.stack(rewards)[::-1], axis=0)[::-1]  # [T, users]
        advantage = to_go - to_go.mean(axis=1, keepdims=True)
        advantage /= advantage.std() + 1e-8
        step = sum(adv @ self.score_gradient(s) for adv, s in zip(advantage, slates))
        self.logits += self.learning_rate * step / advantage.size


def run_episode(env: gymnasium.vector.VectorEnv, policy: SoftmaxSlatePolicy, seed: int | None) -> float:
    """One episode for every user, then one policy update; returns the mean return per user."""
    env.reset(seed=seed)
    slates, rewards = [], []
    while True:
        slates.append(policy.act(env.num_envs))
        _, reward, terminated, truncated, _ = env.step(slates[-1])
        rewards.append(reward)
        if np.all(terminated | truncated):
            break
    policy.learn(slates, rewards)
    return float(np.sum(rewards, axis=0).mean())


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=1000, help="users stepped together (default 1000)")
    parser.add_argument("--horizon", type=int, default=100, help="steps per episode (default 100)")
    parser.add_argument("--episodes", type=int, default=30, help="training episodes (default 30)")
    parser.add_argument(
        "--learning-rate", type=float, default=300.0, help="step size (default 300; advantages are standardised)"
    )
    parser.add_argument("--runtime", default="numpy", help="the runtime that steps the simulation (default numpy)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the returns here as JSON")
    args = parser.parse_args(argv)

    env = gymnasium.make_vec(
        "recosim/InterestEvolution-v0", num_envs=args.num_envs, horizon=args.horizon, runtime=args.runtime
    )
    num_docs = int(env.single_action_space.nvec[0])
    policy = SoftmaxSlatePolicy(num_docs, int(env.single_action_space.nvec.shape[0]), args.learning_rate, args.seed)
    start = time.perf_counter()
    returns = []
    for episode in range(args.episodes):  # the first episode serves uniformly random slates (all logits 0)
        returns.append(run_episode(env, policy, seed=args.seed + episode))
        print(f"episode {episode + 1}/{args.episodes}: mean return {returns[-1]:.2f}", flush=True)
    result = {
        "returns": returns,
        "logits": policy.logits.tolist(),
        "num_envs": args.num_envs,
        "horizon": args.horizon,
        "runtime": args.runtime,
        "seconds": time.perf_counter() - start,
    }
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    env.close()
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
