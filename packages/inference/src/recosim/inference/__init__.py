"""recosim.inference: learning from recosim models on TF and JAX.

One API, the framework chosen by ``runtime="jax"`` or ``runtime="tf"``:

* `sample_posterior` (HMC, NUTS): held-out latent fields given a logged trajectory;
* `fit_mcem`: Monte-Carlo EM for model parameters with latent fields;
* `fit_vi`: a Gaussian surrogate posterior (mean-field or full-rank);
* `fit_mle` / `fit_map`: parameters from fully observed trajectories;
* `train_reinforce`: policy-gradient training of a recommender;
* `train_grpo`: GRPO (group-relative advantages, clipped ratio, KL penalty).

Options shared by several methods are frozen dataclasses (`SamplerOptions`,
`OptimizerOptions`, `RunOptions`, `RolloutOptions`), passed whole or field by field as keywords.

Importing this package imports no framework; the runtime's implementation is
imported when a method first runs with it. Models with parameters are written as
``make_model(params)`` where ``params`` is a (nested) dict of arrays.

>>> from recosim.inference import sample_posterior, fit_vi
>>> callable(sample_posterior) and callable(fit_vi)
True
"""

# the methods' functions (api.FUNCTIONS), re-exported
from recosim.inference.api import FUNCTIONS
from recosim.inference.api import fit_map as fit_map
from recosim.inference.api import fit_mcem as fit_mcem
from recosim.inference.api import fit_mle as fit_mle
from recosim.inference.api import fit_vi as fit_vi
from recosim.inference.api import policy_gradient_estimates as policy_gradient_estimates
from recosim.inference.api import sample_posterior as sample_posterior
from recosim.inference.api import train_grpo as train_grpo
from recosim.inference.api import train_reinforce as train_reinforce
from recosim.inference.engines import NonFiniteError
from recosim.inference.options import OptimizerOptions, RolloutOptions, RunOptions, SamplerOptions
from recosim.inference.problem import InferenceError
from recosim.inference.results import EMFit, ParameterFit, Posterior, TrainingResult, VIFit, load_posterior

__all__ = [
    *FUNCTIONS,
    "SamplerOptions",
    "OptimizerOptions",
    "RunOptions",
    "RolloutOptions",
    "InferenceError",
    "NonFiniteError",
    "load_posterior",
    "Posterior",
    "EMFit",
    "VIFit",
    "ParameterFit",
    "TrainingResult",
]
