"""Entity prototypes (abstract users, corpora, recommenders, metrics) and simple implementations."""

from recosim.library.entities.base import Corpus, Metrics, Prototype, Recommender, User, subspec

__all__ = ["Corpus", "Metrics", "Prototype", "Recommender", "User", "subspec"]
