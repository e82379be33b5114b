"""The recosim plugin of recosim-inference: registers the inference methods.

Loading this module imports no framework. Each method is registered once, under
its own name, with one implementation per runtime that recosim-inference has
framework operations for (JAX and TF): the framework-free function of `recosim.inference.api`
with that runtime bound (`recosim.inference.api.method_for`).
"""

from __future__ import annotations

from recosim.core.plugins import InferenceMethodRegistrar, hookimpl

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
    from recosim.inference.api import method_for
    from recosim.inference.frameworks import FRAMEWORK_RUNTIMES

    for name, summary in METHODS:
        registry.add(name, implementations={rt: method_for(name, rt) for rt in FRAMEWORK_RUNTIMES}, summary=summary)
