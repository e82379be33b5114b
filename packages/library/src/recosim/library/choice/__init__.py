"""Choice models: affinity models and selectors (paper section 3.3)."""

from recosim.library.choice import affinities, selectors
from recosim.library.choice.affinities import TargetPointSimilarity
from recosim.library.choice.selectors import (
    CascadeChoiceModel,
    GreedyChoiceModel,
    IteratedMultinomialLogit,
    IteratedMultinomialLogitChoiceModel,
    MultinomialLogitChoiceModel,
    TopKChoiceModel,
    get_chosen,
)

__all__ = [
    "affinities",
    "selectors",
    "TargetPointSimilarity",
    "MultinomialLogitChoiceModel",
    "IteratedMultinomialLogitChoiceModel",
    "IteratedMultinomialLogit",
    "GreedyChoiceModel",
    "TopKChoiceModel",
    "CascadeChoiceModel",
    "get_chosen",
]
