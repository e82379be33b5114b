"""Opinion dynamics by social reinforcement learning, and a feed that decides whom agents hear.

* graphs (`recosim.library.opinion.graphs`): complete, random geometric (radius
  ``r_g``, drawn until connected), two-community block model, an edge list from a
  file; all as `SparseSocialGraph` neighbour arrays.
* the model (`recosim.library.opinion.dynamics`): learners with two action values,
  exploration ``eps`` and rate ``alpha`` (``alpha = 1, eps = 0`` is exactly the voter
  model), random sequential interaction or synchronous feed steps ranked from
  uniform (``h = 0``) to engagement-ranked; magnetisation, interface density,
  consensus detection and engagement carried in the state.
* exact values (`recosim.library.opinion.voter`): the voter model on the complete
  graph as a birth-death chain, mean time to consensus and exit probability.

Backend-agnostic: every block runs on the NumPy, TensorFlow and JAX runtimes, and
every draw is a field, so a logged trajectory has a log-probability.
"""

from recosim.library.opinion.dynamics import (
    NO_CONSENSUS,
    OpinionConfig,
    OpinionModel,
    check_alpha,
    check_epsilon,
    check_fraction,
    interface_density,
    learn,
    magnetisation,
    mixed_pairs,
)
from recosim.library.opinion.graphs import (
    GraphError,
    OpinionGraph,
    complete_graph,
    connected_components,
    from_edges,
    geometric_graph,
    read_edge_list,
    sbm_graph,
)
from recosim.library.opinion.voter import voter_brute_force, voter_exact, voter_large_n_time

__all__ = [
    "NO_CONSENSUS",
    "GraphError",
    "OpinionConfig",
    "OpinionGraph",
    "OpinionModel",
    "check_alpha",
    "check_epsilon",
    "check_fraction",
    "complete_graph",
    "connected_components",
    "from_edges",
    "geometric_graph",
    "interface_density",
    "learn",
    "magnetisation",
    "mixed_pairs",
    "read_edge_list",
    "sbm_graph",
    "voter_brute_force",
    "voter_exact",
    "voter_large_n_time",
]
