"""Entity prototypes (abstract users, corpora, recommenders, metrics) and simple implementations.

Subclass a prototype to write a custom agent that the library's stories accept;
the concrete classes here are small, ready-made ones for tests and examples.
"""

from recosim.library.entities.base import Corpus, Metrics, Prototype, Recommender, User, subspec
from recosim.library.entities.corpora import StaticCorpus
from recosim.library.entities.metrics import CumulativeRewardMetrics
from recosim.library.entities.policies import HistoryPolicyRecommender
from recosim.library.entities.recommenders import RandomRecommender, SlateRecommender, TopKAffinityRecommender
from recosim.library.entities.users import StaticInterestUser

__all__ = [
    "Corpus",
    "CumulativeRewardMetrics",
    "HistoryPolicyRecommender",
    "Metrics",
    "Prototype",
    "RandomRecommender",
    "Recommender",
    "SlateRecommender",
    "StaticCorpus",
    "StaticInterestUser",
    "TopKAffinityRecommender",
    "User",
    "subspec",
]
