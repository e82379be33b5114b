"""The recosim plugin of recosim-inference: registers the inference methods.

Loading this module imports no framework. Each method is registered once, under
its own name, pointing at the framework-free front in `recosim.inference.api`,
which picks the JAX or TF implementation from its ``runtime=`` argument.
"""

from __future__ import annotations

from typing import Any

from recosim.core.plugins import hookimpl

RUNTIMES = ("jax", "tf")
_SAMPLERS = "jax: blackjax; tf: tfp.mcmc"
_EM = "jax: blackjax + optax; tf: tfp.mcmc + Keras"

METHODS = (
    ("hmc", "hmc", f"Hamiltonian Monte Carlo over held-out latent fields, step-size adaptation ({_SAMPLERS})"),
    ("nuts", "nuts", f"No-U-Turn sampler over held-out latent fields, step-size adaptation ({_SAMPLERS})"),
    ("mcem", "mcem", f"Monte-Carlo EM: HMC/NUTS E-step, gradient M-step on model parameters ({_EM})"),
    ("vi", "vi", "variational inference: mean-field or full-rank Gaussian surrogate, ELBO (jax: optax; tf: Keras)"),
    ("mle", "mle", "maximum-likelihood parameters from batched, fully observed trajectories (jax: optax; tf: Keras)"),
    ("map", "map_fit", "MAP parameters: maximum likelihood plus a log prior (jax: optax; tf: Keras)"),
    ("reinforce", "reinforce", "REINFORCE on a policy's draws, reward-to-go, none/mean/group baseline (jax, tf)"),
)


@hookimpl
def recosim_add_inference_methods(registry: Any) -> None:
    for name, attr, summary in METHODS:
        registry.add(name, f"recosim.inference.api:{attr}", runtimes=RUNTIMES, summary=f"[jax, tf] {summary}")
