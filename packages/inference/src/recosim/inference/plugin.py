"""The recosim plugin of recosim-inference: registers the inference methods.

Loading this module imports no framework. Each method is registered once, under
its own name, with one implementation per runtime: the framework-free front of
`recosim.inference.api` with that runtime bound (`recosim.inference.bound`).
"""

from __future__ import annotations

from recosim.core.plugins import InferenceMethodRegistrar, hookimpl

RUNTIMES = ("jax", "tf")  # the same as recosim.inference.bound.RUNTIMES (not imported here: it loads the API)
_SAMPLERS = "jax: blackjax; tf: tfp.mcmc"
_EM = "jax: blackjax + optax; tf: tfp.mcmc + Keras"

METHODS = (
    ("hmc", f"Hamiltonian Monte Carlo over held-out latent fields, step-size adaptation ({_SAMPLERS})"),
    ("nuts", f"No-U-Turn sampler over held-out latent fields, step-size adaptation ({_SAMPLERS})"),
    ("mcem", f"Monte-Carlo EM: HMC/NUTS E-step, gradient M-step on model parameters ({_EM})"),
    ("vi", "variational inference: mean-field or full-rank Gaussian surrogate, ELBO (jax: optax; tf: Keras)"),
    ("mle", "maximum-likelihood parameters from batched, fully observed trajectories (jax: optax; tf: Keras)"),
    ("map", "MAP parameters: maximum likelihood plus a log prior (jax: optax; tf: Keras)"),
    ("reinforce", "REINFORCE on a policy's draws, reward-to-go, none/mean/group baseline (jax: optax; tf: Keras)"),
)


@hookimpl
def recosim_add_inference_methods(registry: InferenceMethodRegistrar) -> None:
    for name, summary in METHODS:
        implementations = {rt: f"recosim.inference.bound:{rt}_{name}" for rt in RUNTIMES}
        registry.add(name, implementations=implementations, summary=summary)
