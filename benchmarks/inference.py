"""Effective samples per second of NUTS and HMC, on TF and JAX.

    python benchmarks/inference.py [--runtimes jax,tf] [--models conjugate,latent]
                                   [--warmup 500] [--samples 1000] [--chains 4] [--json out.json]

Models: the conjugate Gaussian model (3 users, 10 observations each; the latent
is each user's intent) and the latent-variable model of the reference use cases
(section 3 of REFERENCE_MODELS.md: 5 users, 3 topics, slates of 4, horizon 6; the
latent is each user's 3-d intent, alpha fixed at its true 0.8). For each run: the
smallest bulk ESS over the latent's elements, the sampling time (warm-up
excluded), ESS per second over all draws, and ESS per second in the steady state
(draws after the first chunk, whose time includes compilation).
"""

from __future__ import annotations

import argparse
import json
import platform
from typing import Any

import numpy as np

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, value
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.inference import sample_posterior
from recosim.inference.examples import conjugate_gaussian


def latent_variable_model(num_users: int = 5, num_topics: int = 3, slate_size: int = 4, alpha: float = 0.8) -> list:
    """Section 3: static intent (a mixture at the one-hot vectors), random slates, satisfaction, choices."""
    intent = Variable("user", ValueSpec(intent=FieldSpec(shape=(num_users, num_topics), dtype="float32")))
    slate = Variable("slate", ValueSpec(docs=FieldSpec(shape=(num_users, slate_size, num_topics), dtype="float32")))
    state = Variable(
        "state",
        ValueSpec(
            satisfaction=FieldSpec(shape=(num_users,), dtype="float32"),
            match=FieldSpec(shape=(num_users,), dtype="float32"),
        ),
    )
    response = Variable("response", ValueSpec(choice=FieldSpec(shape=(num_users,), dtype="int32")))

    def draw_intent() -> Value:
        B = get_backend()
        tfd = B.tfd
        mixture = tfd.Categorical(logits=B.np.zeros((num_users, num_topics), dtype="float32"))
        locs = B.np.zeros((num_users, num_topics, num_topics), dtype="float32") + B.np.eye(num_topics, dtype="float32")
        components = tfd.MultivariateNormalDiag(locs, B.np.zeros_like(locs) + np.float32(np.sqrt(0.1)))
        return Value(intent=tfd.MixtureSameFamily(mixture, components))

    def draw_slate() -> Value:
        B = get_backend()
        return Value(docs=B.tfd.Normal(B.np.zeros((num_users, slate_size, num_topics), dtype="float32"), 0.5))

    def match(u: Value, s: Value) -> Any:
        B = get_backend()
        distance = B.norm(u.get("intent")[:, None, :] - s.get("docs"), axis=-1)
        return B.np.max(-distance, axis=-1) + 2.0

    def first_state(u: Value, s: Value) -> Value:
        m = match(u, s)
        return Value(satisfaction=get_backend().tfd.Normal(alpha * 5.0 + m, 0.01), match=m)

    def next_state(u: Value, s: Value, previous: Value) -> Value:
        m = match(u, s)
        loc = alpha * previous.get("satisfaction") + (m - previous.get("match"))
        return Value(satisfaction=get_backend().tfd.Normal(loc, 0.01), match=m)

    def choose(u: Value, s: Value, st: Value) -> Value:
        B = get_backend()
        logits = -B.norm(u.get("intent")[:, None, :] - s.get("docs"), axis=-1) + 2.0 + st.get("satisfaction")[:, None]
        logits = B.np.concatenate([logits, B.np.zeros((num_users, 1), dtype="float32")], axis=-1)
        return Value(choice=B.tfd.Categorical(logits=logits, dtype="int32"))

    intent.initial_value = value(draw_intent)
    slate.initial_value = value(draw_slate)
    slate.value = value(draw_slate)
    state.initial_value = value(first_state, (intent, slate))
    state.value = value(next_state, (intent, slate, state.previous))
    response.initial_value = value(choose, (intent, slate, state))
    response.value = value(choose, (intent, slate, state))
    return [intent, slate, state, response]


def logged_trajectory(model: str) -> tuple[list, dict[str, Any], str]:
    if model == "conjugate":
        traj = to_numpy(make_runtime_for("numpy", conjugate_gaussian(), seed=1).trajectory(10))
        return conjugate_gaussian(), {"user": {}, "obs": traj["obs"]}, "user/intent"
    traj = to_numpy(make_runtime_for("numpy", latent_variable_model(), seed=1).trajectory(6))
    logged = {"user": {}, "slate": traj["slate"], "state": traj["state"], "response": traj["response"]}
    # the intent's true value starts the chains (the posterior is multimodal; mixing between modes is not measured)
    return latent_variable_model(), logged, "user/intent"


def bench(runtime: str, model: str, method: str, args: argparse.Namespace) -> dict[str, Any]:
    variables, logged, latent = logged_trajectory(model)
    init = None
    if model == "latent":
        truth = to_numpy(make_runtime_for("numpy", latent_variable_model(), seed=1).trajectory(6))["user"]["intent"][0]
        init = {latent: truth}
    post = sample_posterior(
        variables,
        logged,
        [latent],
        runtime=runtime,
        method=method,
        num_chains=args.chains,
        num_warmup=args.warmup,
        num_samples=args.samples,
        num_leapfrog_steps=5,
        seed=0,
        init=init,
        init_spread=0.05 if init else 0.5,
        checkpoint_every=max(args.samples // 4, 1),
        quiet=True,
    )
    d = post.diagnostics
    return {
        "runtime": runtime,
        "model": model,
        "method": method,
        "chains": args.chains,
        "warmup": args.warmup,
        "samples": args.samples,
        "min_bulk_ess": round(d["ess"][latent], 1),
        "max_r_hat": round(d["r_hat"].get(latent, float("nan")), 3),
        "acceptance": round(d["acceptance_rate"], 3),
        "divergences": d["divergences"],
        "sampling_s": round(post.sampling_seconds, 2),
        "ess_per_s": round(post.ess_per_second()[latent], 1),
        "steady_ess_per_s": round(post.ess_per_second(steady=True)[latent], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default="jax,tf")
    parser.add_argument("--models", default="conjugate,latent")
    parser.add_argument("--methods", default="nuts,hmc")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()
    available = runtime_names()
    rows = []
    for runtime in args.runtimes.split(","):
        if runtime not in available:
            print(f"skipping {runtime}: not installed")
            continue
        for model in args.models.split(","):
            for method in args.methods.split(","):
                row = bench(runtime, model, method, args)
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": platform.platform(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
