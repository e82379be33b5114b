"""A run killed after k steps and resumed from its checkpoint equals the uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest
from inference_models import slate_story

from recosim.core.testing import make_runtime_for, to_numpy
from recosim.inference import InferenceError, fit_mcem, sample_posterior, train_reinforce
from recosim.inference.examples import conjugate_gaussian, persistent_satisfaction


class Killed(Exception):
    pass


def kill_after(k):
    def callback(done, records):
        if done >= k:
            raise Killed(done)

    return callback


def reinforce_run(runtime, learning_rate=0.1, **kw):
    return train_reinforce(
        slate_story(),
        {"logits": np.zeros(5, np.float32)},
        policy="recommender/slate",
        reward="metrics/reward",
        horizon=3,
        runtime=runtime,
        num_steps=6,
        baseline="mean",
        num_rollouts=2,
        learning_rate=learning_rate,
        seed=3,
        checkpoint_every=2,
        quiet=True,
        **kw,
    )


def nuts_run(runtime, **kw):
    traj = to_numpy(make_runtime_for("numpy", conjugate_gaussian(), seed=1).trajectory(5))
    return sample_posterior(
        conjugate_gaussian(),
        {"user": {}, "obs": traj["obs"]},
        "user/intent",
        runtime=runtime,
        method="nuts",
        num_chains=2,
        num_warmup=20,
        num_samples=30,
        seed=5,
        checkpoint_every=10,
        quiet=True,
        **kw,
    )


def mcem_run(runtime, **kw):
    make_model = persistent_satisfaction(num_users=3)
    traj = to_numpy(make_runtime_for("numpy", make_model({"alpha": np.float32(0.5)}), seed=2).trajectory(5))
    logged = {"user": {}, "match": traj["match"], "response": traj["response"]}
    return fit_mcem(
        make_model,
        {"alpha": np.float32(0.8)},
        logged,
        "user/intent",
        runtime=runtime,
        num_iterations=4,
        num_chains=2,
        num_warmup=10,
        num_warmup_per_iteration=3,
        num_samples=5,
        seed=1,
        checkpoint_every=2,
        quiet=True,
        **kw,
    )


_WHOLE: dict = {}


def uninterrupted(runtime, method):
    """The uninterrupted run of ``method`` (made once per runtime and shared by the tests)."""
    if (runtime, method) not in _WHOLE:
        _WHOLE[runtime, method] = RUNS[method][0](runtime)
    return _WHOLE[runtime, method]


RUNS = {
    "reinforce": (reinforce_run, 4, lambda r: (r.history, r.params)),
    "nuts": (nuts_run, 40, lambda r: (r.samples, r.sample_stats)),
    "mcem": (mcem_run, 2, lambda r: (r.history, r.params)),
}


@pytest.mark.parametrize("method", sorted(RUNS))
def test_killed_and_resumed_run_equals_uninterrupted(runtime, method, tmp_path):
    run, k, result = RUNS[method]
    whole = result(uninterrupted(runtime, method))
    with pytest.raises(Killed):
        run(runtime, checkpoint=tmp_path, callback=kill_after(k))
    resumed = result(run(runtime, checkpoint=tmp_path, resume=True))
    for got, want in zip(resumed, whole):
        assert sorted(got) == sorted(want)
        for key in want:
            np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(want[key]), err_msg=key)


def test_resume_refuses_a_different_configuration(runtime, tmp_path):
    reinforce_run(runtime, checkpoint=tmp_path)
    with pytest.raises(InferenceError, match=r"different configuration.*learning_rate"):
        reinforce_run(runtime, learning_rate=0.5, checkpoint=tmp_path, resume=True)


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one_then_starts_over(runtime, tmp_path):
    from recosim.core.results import RecoveryWarning

    whole = uninterrupted(runtime, "reinforce")
    reinforce_run(runtime, checkpoint=tmp_path)  # checkpoints after steps 2, 4 and 6; the last two are kept
    assert sorted(p.name for p in tmp_path.glob("records-*")) == ["records-4.npz", "records-6.npz"]
    newest = tmp_path / "records-6.npz"
    newest.write_bytes(newest.read_bytes()[:40])  # truncated
    with pytest.warns(RecoveryWarning, match=r"records-6.npz is damaged.*resuming from the previous"):
        resumed = reinforce_run(runtime, checkpoint=tmp_path, resume=True)
    np.testing.assert_array_equal(resumed.params["logits"], whole.params["logits"])
    for name in ("meta.json", "meta.prev.json"):
        (tmp_path / name).write_text("{ torn")
    with pytest.warns(RecoveryWarning, match="no usable inference checkpoint left, starting over"):
        again = reinforce_run(runtime, checkpoint=tmp_path, resume=True)
    np.testing.assert_array_equal(again.params["logits"], whole.params["logits"])
