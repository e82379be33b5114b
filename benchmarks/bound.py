"""The arithmetic bound of an interest-evolution REINFORCE step, and each runtime's step as a multiple of it.

    python benchmarks/bound.py [--size small|reference] [--runtimes jax,tf] [--steps 5] [--json out.json]

The training step of ``recosim run interest-evolution`` (one rollout of every user
over the horizon, a running-mean baseline, one Adam step) does its arithmetic in
the recommender network's matrix products; the user model has none (distances from
2-topic interests to the 2 documents of a slate, about 20 floating-point
operations per user and step). So:

* **FLOPs** are counted from the network's matrix products, analytically, for the
  network as the model computes it (`recosim.usecases.interest_evolution.history_scores`:
  the first dense layer folded into a per-step table, so a user's history costs a
  gather, not a product): per step the table ``[H, D + 1, E] x [H, E, U]`` and, per
  user, the times ``[H] x [H, U]``, the second layer ``[U] x [U, E]`` and the scores
  ``[E] x [E, D]``. A backward pass costs two products of the same size per forward
  product (the gradient of each operand), one where an operand is data (the times).
  XLA's own count (``jax.jit(...).lower(...).compile().cost_analysis()``) of one
  step's scores is printed beside the analytic one as a check.
* **The bound** is the time the machine needs for exactly those products, measured:
  each product (and the two of its backward pass) at its own shapes, in a compiled
  loop (`INNER` products a call, so a call's own cost is left out), median of
  repeated calls. A training step that evaluates the policy once costs one forward
  and one backward pass of the network at every step of the horizon; the bound is
  their measured time, summed.
* **Each runtime's step** is measured on the inference engine itself (compilation
  excluded, median of ``--steps`` steps after two warm-up steps): the rollouts with
  the current parameters, then the gradient step. On JAX both ways of getting the
  gradient are measured: the log-probabilities scored inside the rollouts' scan
  (``jax.vjp``; the step runs only the backward pass) and the policy evaluated
  again on the trajectories (forward and backward in the step).

Run it on a quiet machine (``uptime``): on a loaded one the step/bound multiples
mean little, as the load slows the step and the bound's products unevenly.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SIZES = {
    "small": {"num_users": 50, "horizon": 10},
    "reference": {"num_users": 1000, "horizon": 100},
}


@dataclass(frozen=True)
class Product:
    """A matrix product ``[batch..., m, k] x [k, n]`` done ``per_step`` times a step, ``backward`` products back."""

    name: str
    m: int
    k: int
    n: int
    batch: int = 1
    backward: int = 2

    @property
    def flops(self) -> int:
        return 2 * self.batch * self.m * self.k * self.n


def network_products(num_users: int, history: int, docs: int, embedding: int, hidden: int) -> list[Product]:
    """The recommender network's products at one step of one rollout (see the module docstring)."""
    h, d, e, u = history, docs, embedding, hidden
    return [
        Product("history table [H, D+1, E] x [H, E, U]", d + 1, e, u, batch=h),
        Product("times [users, H] x [H, U]", num_users, h, u, backward=1),
        Product("layer 2 [users, U] x [U, E]", num_users, u, e),
        Product("scores [users, E] x [E, D]", num_users, e, d),
    ]


def _median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


INNER = 20
"""Products per timed call: the product runs in a compiled loop, as inside the training step, not per dispatch."""


def product_seconds(p: Product, repeat: int) -> dict[str, float]:
    """The measured time of the product, and of its backward products (each operand's gradient).

    Each is timed as ``INNER`` products in one compiled ``fori_loop`` (each fed by the
    previous one's sum, so none is hoisted out of the loop), divided by ``INNER``: the
    time of the product inside a compiled program, without the cost of a call.
    """
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)

    def timed(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> float:
        a = jnp.asarray(rng.standard_normal(a_shape, dtype=np.float32))
        b = jnp.asarray(rng.standard_normal(b_shape, dtype=np.float32))

        @jax.jit
        def products(a: Any, b: Any) -> Any:
            def body(_: Any, s: Any) -> Any:
                return jnp.sum(jnp.matmul(a + s, b)) * np.float32(1e-30)

            return jax.lax.fori_loop(0, INNER, body, jnp.zeros((), jnp.float32))

        return _median_seconds(lambda: products(a, b).block_until_ready(), repeat) / INNER

    lead = (p.batch,) if p.batch > 1 else ()
    forward = timed((*lead, p.m, p.k), (*lead, p.k, p.n))
    d_left = timed((*lead, p.m, p.n), (*lead, p.n, p.k))  # dA = dC B^T
    d_right = timed((*lead, p.k, p.m), (*lead, p.m, p.n))  # dB = A^T dC
    return {"forward": forward, "backward": d_right + (d_left if p.backward == 2 else 0.0)}


def peak_rate(repeat: int) -> float:
    """FLOP/s of one large square product (for scale: the small products above run far below it)."""
    import jax
    import jax.numpy as jnp

    n = 1024
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(jnp.matmul)
    return 2 * n**3 / _median_seconds(lambda: f(a, a).block_until_ready(), repeat)


def xla_scores_flops(cfg: Any, params: Any) -> float:
    """XLA's count of the FLOPs of one step's policy scores (`history_scores` for every user)."""
    import jax
    import jax.numpy as jnp

    from recosim.core.backend import using_backend
    from recosim.jax.backend import jax_backend
    from recosim.usecases.interest_evolution import history_scores

    scorer = cfg.scorer()
    ids = jnp.zeros((cfg.num_users, cfg.history_length), jnp.int32)
    times = jnp.zeros((cfg.num_users, cfg.history_length), jnp.float32)

    def scores(p: Any) -> Any:
        with using_backend(jax_backend()):
            return history_scores(scorer, p, ids, times)

    tree = jax.tree.map(jnp.asarray, params)
    cost = jax.jit(scores).lower(tree).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):  # older JAX: one dict per device
        cost = cost[0]
    return float(cost.get("flops", float("nan")))


def engine_steps(runtime: str, cfg: Any, horizon: int, steps: int, recorded: bool) -> dict[str, float]:
    """Median milliseconds of the rollouts and of the gradient step, on the inference engine."""
    from recosim.inference import engines
    from recosim.inference.api import _policy_task
    from recosim.inference.options import OptimizerOptions, RolloutOptions
    from recosim.usecases.interest_evolution import POLICY, REWARD, init_params, make_model

    def model(p: Any) -> Any:
        return make_model(p, cfg)

    rollout = RolloutOptions(num_rollouts=1)
    task = _policy_task("reinforce", model, init_params(0, cfg), POLICY, REWARD, horizon, runtime, "mean", rollout)
    optim = OptimizerOptions(learning_rate=0.01, optimizer="adam")
    engine = engines.ReinforceEngine(task.fw, model, task.params, task.spec, optim, horizon=horizon, seed=0)
    engine.start()
    rollouts, gradients = [], []
    for update in range(steps + 2):
        start = time.perf_counter()
        batch, rewards = engine.sample(update, differentiable=recorded)
        middle = time.perf_counter()
        if not task.spec.checked:
            task.spec.check_first(rewards, engine.log_probs(batch))
        adv, _ = task.spec.advantages(rewards, None)
        mid = time.perf_counter()
        engine.ops.step(batch, adv)
        end = time.perf_counter()
        if update >= 2:  # the first two include compilation
            rollouts.append(middle - start)
            gradients.append(end - mid)
    r, g = statistics.median(rollouts) * 1e3, statistics.median(gradients) * 1e3
    return {"rollouts_ms": r, "gradient_ms": g, "step_ms": r + g}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--num-users", type=int, default=None, help="overrides the size's")
    parser.add_argument("--horizon", type=int, default=None, help="overrides the size's")
    parser.add_argument("--runtimes", default="jax,tf")
    parser.add_argument("--steps", type=int, default=5, help="training steps timed per runtime (after 2 warm-up)")
    parser.add_argument("--repeat", type=int, default=50, help="calls per product timed for the bound")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from recosim.core.testing import runtime_names
    from recosim.usecases.interest_evolution import InterestEvolutionConfig, init_params

    size = dict(SIZES[args.size])
    size.update({k: v for k, v in (("num_users", args.num_users), ("horizon", args.horizon)) if v is not None})
    users, horizon = size["num_users"], size["horizon"]
    cfg = InterestEvolutionConfig(num_users=users, history_length=15)
    products = network_products(users, cfg.history_length, cfg.num_docs, cfg.embedding_dim, cfg.hidden_units)
    load = os.getloadavg()[0]
    print(
        f"interest evolution, {users} users x {horizon} steps, history {cfg.history_length}, "
        f"{cfg.num_docs} documents; 1-minute load average {load:.2f}{' (NOT QUIET)' if load >= 0.25 else ''}"
    )

    rows = []
    forward_flops = backward_flops = forward_s = backward_s = 0.0
    for p in products:
        t = product_seconds(p, args.repeat)
        fwd, bwd = p.flops, p.backward * p.flops
        forward_flops += fwd
        backward_flops += bwd
        forward_s += t["forward"]
        backward_s += t["backward"]
        rows.append(
            {
                "product": p.name,
                "mflop_forward": fwd / 1e6,
                "mflop_backward": bwd / 1e6,
                "us_forward": t["forward"] * 1e6,
                "us_backward": t["backward"] * 1e6,
                "gflops_forward": fwd / t["forward"] / 1e9,
            }
        )
    print("\n| product (one step) | MFLOP fwd | MFLOP bwd | us fwd | us bwd | GFLOP/s fwd |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['product']} | {r['mflop_forward']:.2f} | {r['mflop_backward']:.2f} | {r['us_forward']:.1f} | "
            f"{r['us_backward']:.1f} | {r['gflops_forward']:.1f} |"
        )
    xla = xla_scores_flops(cfg, init_params(0, cfg))
    analytic_scores = sum(p.flops for p in products) + cfg.history_length * cfg.hidden_units * users
    step_flops = horizon * (forward_flops + backward_flops)
    bound_ms = horizon * (forward_s + backward_s) * 1e3
    peak = peak_rate(max(args.repeat // 5, 3))
    print(
        f"\nper step of the horizon: analytic {sum(p.flops for p in products) / 1e6:.2f} MFLOP in products "
        f"(+ {cfg.history_length * cfg.hidden_units * users / 1e6:.2f} MFLOP of gathered sums); XLA counts "
        f"{xla / 1e6:.2f} MFLOP for the scores ({xla / analytic_scores:.2f}x the analytic count)"
    )
    print(
        f"training step (one forward, one backward): {step_flops / 1e9:.3f} GFLOP; bound {bound_ms:.1f} ms "
        f"(the products alone, measured at their shapes: {step_flops / bound_ms / 1e6:.1f} GFLOP/s; "
        f"a 1024^3 product runs at {peak / 1e9:.1f} GFLOP/s here)"
    )

    available = runtime_names()
    table = []
    for runtime in args.runtimes.split(","):
        if runtime not in available:
            print(f"skipping {runtime}: not installed")
            continue
        ways = (
            [("scored in the rollouts", True), ("evaluated again", False)]
            if runtime == "jax"
            else [("evaluated again", False)]
        )
        for label, recorded in ways:
            m = engine_steps(runtime, cfg, horizon, args.steps, recorded)
            table.append(
                {
                    "runtime": runtime,
                    "log-probabilities": label,
                    **m,
                    "bound_ms": bound_ms,
                    "multiple": m["step_ms"] / bound_ms,
                }
            )
    print(
        "\n| runtime | log-probabilities | rollouts ms | gradient step ms | training step ms | bound ms | "
        "step / bound |"
    )
    print("|---|---|---|---|---|---|---|")
    for t in table:
        print(
            f"| {t['runtime']} | {t['log-probabilities']} | {t['rollouts_ms']:.1f} | {t['gradient_ms']:.1f} | "
            f"{t['step_ms']:.1f} | {t['bound_ms']:.1f} | {t['multiple']:.2f} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": platform.platform(),
                    "load_average": load,
                    "num_users": users,
                    "horizon": horizon,
                    "products": rows,
                    "step_gflop": step_flops / 1e9,
                    "bound_ms": bound_ms,
                    "peak_gflops": peak / 1e9,
                    "xla_scores_mflop": xla / 1e6,
                    "steps": table,
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
