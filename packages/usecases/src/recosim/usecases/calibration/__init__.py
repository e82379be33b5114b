"""A user population calibrated to MovieLens 100K, validated on a time split, usable as a simulator.

* `data`: reading the log (GroupLens ``ml-100k/`` or recbole's copy) and the time split;
* `model`: the user model as a recosim story (interests, genre features, embeddings,
  popularity, multinomial-logit next movie, ordinal rating, activity);
* `fit`: MAP for the population and NUTS for a few users' interests (recosim-inference);
* `checks`: held-out log-likelihoods and posterior predictive checks;
* `usecase`: ``recosim run calibration``.
"""
