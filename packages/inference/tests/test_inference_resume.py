"""A run killed after k steps and resumed from its checkpoint equals the uninterrupted run."""

from __future__ import annotations

import json
import shutil

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
        checkpoint_every=1,
        quiet=True,
        **kw,
    )


RUNS = {"reinforce": reinforce_run, "nuts": nuts_run, "mcem": mcem_run}
_WHOLE: dict = {}


def uninterrupted(runtime, method, store):
    """The uninterrupted run of ``method`` and its checkpoint directory (made once per runtime, shared by the tests).

    The run writes its checkpoints into a directory of ``store``; a test that damages or resumes them works on a
    copy (`checkpoint_copy`), so one straight run serves every test instead of one each.
    """
    if (runtime, method) not in _WHOLE:
        directory = store.mktemp(f"{method}-{runtime}")
        _WHOLE[runtime, method] = (RUNS[method](runtime, checkpoint=directory), directory)
    return _WHOLE[runtime, method]


def checkpoint_copy(runtime, method, store, tmp_path):
    """A private copy of the uninterrupted run's checkpoint directory, and that run's result."""
    whole, directory = uninterrupted(runtime, method, store)
    copy = tmp_path / "checkpoint"
    shutil.copytree(directory, copy)
    return whole, copy


def chunk_ends():
    """A callback recording the units done at the end of each chunk a run goes through, and the list it fills."""
    seen: list[int] = []
    return (lambda done, records: seen.append(done)), seen


COMPARED = {
    "reinforce": lambda r: (r.history, r.params),
    "nuts": lambda r: (r.samples, r.sample_stats),
    "mcem": lambda r: (r.history, r.params),
}


def assert_same_results(method, got, want):
    for got_part, want_part in zip(COMPARED[method](got), COMPARED[method](want)):
        assert sorted(got_part) == sorted(want_part)
        for key in want_part:
            np.testing.assert_array_equal(np.asarray(got_part[key]), np.asarray(want_part[key]), err_msg=key)


def test_killed_and_resumed_run_equals_uninterrupted(runtime, tmp_path, tmp_path_factory):
    whole, _ = uninterrupted(runtime, "reinforce", tmp_path_factory)
    with pytest.raises(Killed):
        reinforce_run(runtime, checkpoint=tmp_path, callback=kill_after(2))
    callback, seen = chunk_ends()
    resumed = reinforce_run(runtime, checkpoint=tmp_path, resume=True, callback=callback)
    assert seen == [4, 6], f"the resumed run went through the chunks ending at {seen}, not those after step 2"
    assert_same_results("reinforce", resumed, whole)


# A run killed after a chunk leaves the checkpoint that the uninterrupted run wrote at that chunk (a checkpoint's
# files do not depend on what comes after it), so each sampler's resume starts from a copy of the uninterrupted
# run's previous checkpoint instead of from a second, killed run: NUTS after 40 of its 50 steps (mid-sampling:
# the restored kernel results carry the adapted step size and mass matrix), MC-EM after 3 of its 4 iterations
# (parameters, optimiser state and the E-step's step size restored). REINFORCE's kill is checked above.
@pytest.mark.parametrize("method", ["mcem", "nuts"])
def test_a_sampler_resumed_from_its_previous_checkpoint_equals_uninterrupted(
    runtime, method, tmp_path, tmp_path_factory
):
    whole, directory = checkpoint_copy(runtime, method, tmp_path_factory, tmp_path)
    previous = json.loads((directory / "meta.prev.json").read_text())["done"]
    shutil.copyfile(directory / "meta.prev.json", directory / "meta.json")  # the newest checkpoint: unit 40 or 3
    callback, seen = chunk_ends()
    resumed = RUNS[method](runtime, checkpoint=directory, resume=True, callback=callback)
    last, chunk = {"nuts": (50, 10), "mcem": (4, 1)}[method]
    assert previous == last - chunk and seen == [last], (
        f"resumed from unit {previous}, the run went through the chunks ending at {seen}"
    )
    assert_same_results(method, resumed, whole)


def test_resume_refuses_a_different_configuration(runtime, tmp_path, tmp_path_factory):
    _, directory = checkpoint_copy(runtime, "reinforce", tmp_path_factory, tmp_path)  # a finished run's checkpoint
    with pytest.raises(InferenceError, match=r"different configuration.*learning_rate"):
        reinforce_run(runtime, learning_rate=0.5, checkpoint=directory, resume=True)


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one_then_starts_over(
    runtime, tmp_path, tmp_path_factory
):
    from recosim.core.results import RecoveryWarning

    whole, directory = checkpoint_copy(runtime, "reinforce", tmp_path_factory, tmp_path)
    # the straight run checkpointed after steps 2, 4 and 6; the last two are kept
    assert sorted(p.name for p in directory.glob("records-*")) == ["records-4.npz", "records-6.npz"]
    newest = directory / "records-6.npz"
    newest.write_bytes(newest.read_bytes()[:40])  # truncated
    with pytest.warns(RecoveryWarning, match=r"records-6.npz is damaged.*resuming from the previous"):
        resumed = reinforce_run(runtime, checkpoint=directory, resume=True)
    np.testing.assert_array_equal(resumed.params["logits"], whole.params["logits"])
    for name in ("meta.json", "meta.prev.json"):
        (directory / name).write_text("{ torn")
    with pytest.warns(RecoveryWarning, match="no usable inference checkpoint left, starting over"):
        again = reinforce_run(runtime, checkpoint=directory, resume=True)
    np.testing.assert_array_equal(again.params["logits"], whole.params["logits"])
