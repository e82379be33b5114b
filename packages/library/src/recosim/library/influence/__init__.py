"""Follow dynamics and influencer agents on the social platform of opinion learners.

* follow dynamics (`recosim.library.influence.follow`): a dense follow relation
  ``follows[viewer, author]``; a viewer that approves of an author's post follows
  it with probability ``p_follow``, one that disapproves unfollows with
  ``p_unfollow``; follower counts are its column sums; each viewer's feed draws
  from the authors it follows, its graph neighbours and the posts pushed to it.
* influencer policies (`recosim.library.influence.agents`): the ``restricted``
  family (three stances, three audiences, self-observation), the ``full`` family
  (a stance on the continuum, any viewer targeted, no self-observation) and the
  ``fixed`` rule (its own opinion, random viewers); parameters are plain arrays
  a trainer differentiates.
* the platform (`recosim.library.influence.platform`): learners and influencers
  as one network of variables (``agents``, ``influencers``, ``platform``,
  ``social``, ``metrics``), the influencers' reward being the net followers gained
  per step.

Backend-agnostic: every block runs on the NumPy, TensorFlow and JAX runtimes, and
every draw is a field, so a logged trajectory has a log-probability.
"""

from recosim.library.influence.agents import (
    LEARNED_VARIANTS,
    OBSERVATIONS,
    RESTRICTED_STANCES,
    SEGMENTS,
    VARIANTS,
    InfluencerView,
    check_policy,
    draw_actions,
    initial_policy,
    policy_shapes,
)
from recosim.library.influence.follow import (
    apply_switches,
    approval_probability,
    feed_slots,
    follower_counts,
    following_shown,
    sum_by_author,
    switch_probability,
)
from recosim.library.influence.platform import (
    POLICY,
    POLICY_SETTING,
    REWARD,
    InfluenceConfig,
    InfluencePlatform,
    influencer_ids,
)

__all__ = [
    "LEARNED_VARIANTS",
    "OBSERVATIONS",
    "POLICY",
    "POLICY_SETTING",
    "RESTRICTED_STANCES",
    "REWARD",
    "SEGMENTS",
    "VARIANTS",
    "InfluenceConfig",
    "InfluencePlatform",
    "InfluencerView",
    "apply_switches",
    "approval_probability",
    "check_policy",
    "draw_actions",
    "feed_slots",
    "follower_counts",
    "following_shown",
    "influencer_ids",
    "initial_policy",
    "policy_shapes",
    "sum_by_author",
    "switch_probability",
]
