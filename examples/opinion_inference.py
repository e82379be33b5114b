"""Recover the learners' alpha and eps from a logged opinion trajectory, two ways.

Simulates random sequential interactions at known ``alpha, eps`` on a complete
graph, keeps only what a platform logs (who spoke to whom, the expressed opinion,
the approval, and the initial state), and recovers ``alpha`` and ``eps``:

* by the exact grid likelihood (`recosim.usecases.opinion_dynamics_inference.fit_learners`):
  maximum likelihood and the posterior under uniform priors, in closed form per ``alpha``;
* with recosim-inference (`fit_learners_inference`): ``eps`` by ``fit_mle`` and by
  NUTS on the model's own log-probability, ``alpha`` profiled over the same grid
  (skipped, with a note, where no differentiable runtime is installed).

    python examples/opinion_inference.py --alpha 0.3 --epsilon 0.1 --steps 1000 --inference-runtime jax
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from recosim.core.plugins import get_plugins
from recosim.library.opinion import OpinionConfig, OpinionModel, complete_graph
from recosim.usecases.opinion_dynamics_inference import fit_learners, fit_learners_inference, logged_interactions


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--alpha", type=float, default=0.3)
    p.add_argument("--epsilon", type=float, default=0.1)
    p.add_argument("--num-agents", type=int, default=20)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runtime", default="numpy", help="the runtime that simulates the log")
    p.add_argument("--inference-runtime", default=None, help="jax or tf (default: the first installed)")
    args = p.parse_args(argv)
    graph = complete_graph(args.num_agents)
    model = OpinionModel(graph, OpinionConfig(alpha=args.alpha, epsilon=args.epsilon))
    runtime = get_plugins().get_runtime(args.runtime)(model.variables(), seed=args.seed, settings=model.settings)
    data = logged_interactions(runtime.trajectory(args.steps + 1))
    result: dict[str, Any] = {"truth": {"alpha": args.alpha, "epsilon": args.epsilon},
                              "exact_grid": fit_learners(data).summary()}  # fmt: skip
    able = list(get_plugins().runtimes_with("differentiable"))
    chosen = args.inference_runtime or next((r for r in ("jax", "tf") if r in able), None)
    if chosen is None:
        result["recosim_inference"] = "skipped: install recosim-inference[jax] or [tf] for a differentiable runtime"
    else:
        fit = fit_learners_inference(data, graph, runtime=chosen, seed=args.seed, ml_steps=200, learning_rate=0.1,
                                     num_warmup=200, num_samples=300)  # fmt: skip
        result["recosim_inference"] = {"runtime": chosen, **fit.summary()}
    print(json.dumps(result, indent=2))
    print(_table(result))
    return result


def _table(result: dict[str, Any]) -> str:
    truth = result["truth"]
    lines = [f"{'':40s} {'alpha':>22s} {'eps':>22s}", f"{'truth':40s} {truth['alpha']:22.3f} {truth['epsilon']:22.3f}"]
    fits = [("exact grid", result["exact_grid"])]
    if isinstance(result["recosim_inference"], dict):
        fits.append(("recosim-inference", result["recosim_inference"]))
    for label, fit in fits:
        ml, post = fit["ml"], fit["posterior"]
        lines.append(f"{label + ': ML':40s} {ml['alpha']:22.3f} {ml['epsilon']:22.4f}")
        cells = []
        for name in ("alpha", "epsilon"):
            lo, hi = post[name]["interval95"]
            cells.append(f"{post[name]['mean']:.3f} [{lo:.3f}, {hi:.3f}]")
        lines.append(f"{label + ': posterior mean [95%]':40s} {cells[0]:>22s} {cells[1]:>22s}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
