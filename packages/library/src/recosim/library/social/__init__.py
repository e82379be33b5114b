"""Social-platform blocks: a sparse social graph, contact requests, a threshold detector, a rate limiter.

* `SparseSocialGraph` (state): contacts as fixed-capacity neighbour arrays that
  grow as requests are accepted; mutual contacts, uniform contact draws
  (`UniformIndex`), sums over contacts.
* `ContactRequests` (social): acceptance rising with mutual contacts; accepted
  requests become edges.
* `ThresholdDetector` (mechanism): discounted behaviour counts, a weighted score,
  suspension above a threshold.
* `RateLimiter` (mechanism): at most ``limit`` actions per account per step.

All are backend-agnostic (NumPy, TensorFlow, JAX) and take the mechanism's
parameters as arrays, so one compiled model serves a whole sweep.
"""

from recosim.library.social.detector import ThresholdDetector
from recosim.library.social.graph import SparseSocialGraph, UniformIndex
from recosim.library.social.ratelimit import RateLimiter
from recosim.library.social.requests import ContactRequests

__all__ = ["ContactRequests", "RateLimiter", "SparseSocialGraph", "ThresholdDetector", "UniformIndex"]
