"""Registration table of library blocks: (name, "module:attribute", kind, summary).

Targets are import strings so that listing plugins imports no block module.
"""

from __future__ import annotations

_C = "recosim.library.choice"
_S = "recosim.library.state"

BLOCKS: list[tuple[str, str, str, str]] = [
    # choice models
    (
        "target_point_similarity",
        f"{_C}.affinities:TargetPointSimilarity",
        "choice",
        "affinities of a target point for slate items (euclidean, cosine, dot, single-peaked)",
    ),
    (
        "multinomial_logit",
        f"{_C}.selectors:MultinomialLogitChoiceModel",
        "choice",
        "softmax choice of one item, optional no-choice logit and positional bias",
    ),
    (
        "iterated_multinomial_logit",
        f"{_C}.selectors:IteratedMultinomialLogitChoiceModel",
        "choice",
        "Plackett-Luce slate of k distinct items (Gumbel-top-k sampling, exact log-probability)",
    ),
    (
        "greedy_choice",
        f"{_C}.selectors:GreedyChoiceModel",
        "choice",
        "deterministic choice of the highest-scoring item",
    ),
    (
        "top_k_choice",
        f"{_C}.selectors:TopKChoiceModel",
        "choice",
        "deterministic choice of the k highest-scoring items",
    ),
    (
        "cascade_choice",
        f"{_C}.selectors:CascadeChoiceModel",
        "choice",
        "cascade clicks: first click in examination order, or no choice",
    ),
    (
        "get_chosen",
        f"{_C}.selectors:get_chosen",
        "choice",
        "gather the features of the chosen item (zeros for no choice)",
    ),
    # static state models
    ("static_tensor", f"{_S}.static:StaticTensor", "state", "a fixed array, unchanged over time"),
    (
        "gmm_vector",
        f"{_S}.static:GMMVector",
        "state",
        "vectors from a Gaussian mixture, optionally with their component ids",
    ),
    (
        "hierarchical_clustered_tensor",
        f"{_S}.static:HierarchicalClusteredTensor",
        "state",
        "cluster centres, then members drawn around their cluster's centre",
    ),
    (
        "mixture_same_family",
        f"{_S}.static:MixtureSameFamily",
        "state",
        "a static state from any mixture of one distribution family",
    ),
    # dynamic state models
    ("linear_gaussian", f"{_S}.dynamic:LinearGaussian", "state", "x' = A x + Gaussian noise"),
    (
        "controlled_linear_gaussian",
        f"{_S}.dynamic:ControlledLinearGaussian",
        "state",
        "x' = A x + B u + Gaussian noise",
    ),
    (
        "controlled_linear_scaled_gaussian",
        f"{_S}.dynamic:ControlledLinearScaledGaussian",
        "state",
        "x' = a x + b u + s * standard normal noise (scaled identities)",
    ),
    (
        "finite_state_markov_chain",
        f"{_S}.dynamic:FiniteStateMarkovChain",
        "state",
        "(controlled) Markov chain on a finite state set",
    ),
    (
        "switching_dynamics",
        f"{_S}.dynamic:SwitchingDynamics",
        "state",
        "per-element choice among several transition models by an input mode",
    ),
    (
        "reset_or_continue",
        f"{_S}.dynamic:ResetOrContinue",
        "state",
        "restart from the initial model where an input flag says so, else continue",
    ),
    (
        "no_op_or_continue",
        f"{_S}.dynamic:NoOpOrContinue",
        "state",
        "keep the state where an input flag says so, else continue",
    ),
    (
        "recurrent_cell_state",
        f"{_S}.dynamic:RecurrentCellState",
        "state",
        "gated recurrent (GRU) cell state with array weights",
    ),
    # estimation models
    ("finite_history", f"{_S}.estimation:FiniteHistory", "state", "window of the last k observations"),
    ("kalman_filter", f"{_S}.estimation:KalmanFilter", "state", "Gaussian belief by Kalman predict/update"),
    (
        "finite_posterior",
        f"{_S}.estimation:FinitePosterior",
        "state",
        "exact posterior over a finite latent set from a likelihood table",
    ),
]
