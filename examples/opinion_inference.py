"""Recover the learners' alpha and eps from a logged opinion trajectory.

Simulates random sequential interactions at known ``alpha, eps`` on a complete
graph, keeps only what a platform logs (who spoke to whom, the expressed opinion,
the approval, and the initial state), and recovers ``alpha`` and ``eps`` by
maximum likelihood and as a posterior (uniform priors) with
`recosim.usecases.opinion_dynamics_inference.fit_learners`.

    python examples/opinion_inference.py --alpha 0.3 --epsilon 0.1 --steps 2000 --runtime jax
"""

from __future__ import annotations

import argparse
import json

from recosim.core.plugins import get_plugins
from recosim.library.opinion import OpinionConfig, OpinionModel, complete_graph
from recosim.usecases.opinion_dynamics_inference import fit_learners, logged_interactions


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alpha", type=float, default=0.3)
    p.add_argument("--epsilon", type=float, default=0.1)
    p.add_argument("--num-agents", type=int, default=20)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runtime", default="numpy")
    args = p.parse_args(argv)
    model = OpinionModel(complete_graph(args.num_agents), OpinionConfig(alpha=args.alpha, epsilon=args.epsilon))
    runtime = get_plugins().get_runtime(args.runtime)(model.variables(), seed=args.seed, settings=model.settings)
    trajectory = runtime.trajectory(args.steps + 1)
    fit = fit_learners(logged_interactions(trajectory))
    result = {"truth": {"alpha": args.alpha, "epsilon": args.epsilon}, **fit.summary()}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
