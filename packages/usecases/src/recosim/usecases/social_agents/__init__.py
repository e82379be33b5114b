"""Strategic agents on the social platform: influencers and socialbots."""
