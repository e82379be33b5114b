"""Socialbots: bot accounts that spread content by independent cascades while evading a detector.

* `IndependentCascade` (social): the independent-cascade model in its live-edge
  form, one field of edge draws and a deterministic reach; `expected_reach`
  estimates it on the host.
* `PeriodicDetector` (mechanism): a `recosim.library.social.ThresholdDetector`
  that suspends only every few actions; `bot_detector` and `activity_counts`
  give it the counts a bot detector sees (activities, follow requests, rejections).
* `preferential_attachment_graph`: a follow graph with a heavy-tailed degree
  distribution; `top_degree` its best-connected accounts.
* `SocialbotsModel` / `SocialbotsConfig`: the story (bots with an activity policy and a
  follow policy, ordinary accounts, the detector, cascades), with the random and
  top-degree baselines (`RANDOM_POLICY`, `TOP_DEGREE_POLICY`) and its per-run
  figures (`final_figures`).

All blocks are backend-agnostic (NumPy, TensorFlow, JAX).
"""

from recosim.library.socialbots.cascade import IndependentCascade, expected_reach
from recosim.library.socialbots.detector import (
    ACTIVITIES,
    DETECTOR_COUNTS,
    DETECTOR_TERMS,
    DETECTOR_WEIGHTS,
    PeriodicDetector,
    activity_counts,
    bot_detector,
)
from recosim.library.socialbots.graph import preferential_attachment_graph, top_degree
from recosim.library.socialbots.story import (
    POLICY_SHAPES,
    RANDOM_POLICY,
    SETTING_DEFAULTS,
    TOP_DEGREE_POLICY,
    SocialbotsConfig,
    SocialbotsModel,
    check_policy,
    final_figures,
    policy_settings,
)

__all__ = [
    "ACTIVITIES",
    "DETECTOR_COUNTS",
    "DETECTOR_TERMS",
    "DETECTOR_WEIGHTS",
    "IndependentCascade",
    "POLICY_SHAPES",
    "PeriodicDetector",
    "RANDOM_POLICY",
    "SETTING_DEFAULTS",
    "SocialbotsConfig",
    "SocialbotsModel",
    "TOP_DEGREE_POLICY",
    "activity_counts",
    "bot_detector",
    "check_policy",
    "expected_reach",
    "final_figures",
    "policy_settings",
    "preferential_attachment_graph",
    "top_degree",
]
