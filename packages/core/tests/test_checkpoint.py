"""Long runs checkpoint after every chunk and resume to the uninterrupted result."""

import numpy as np
import pytest

from recosim.core import NumpyRuntime, Value
from recosim.core.checkpoint import load_network_value, run_resumable, save_network_value
from recosim.core.examples import random_walk_variables


def test_save_and_load_roundtrip(tmp_path):
    value = {"walk": Value(position=np.arange(3, dtype=np.float32)), "user": Value(a=np.int32(4))}
    save_network_value(tmp_path / "v.npz", value, {"done": 7})
    loaded, meta = load_network_value(tmp_path / "v.npz")
    assert meta == {"done": 7}
    assert loaded["walk"] == value["walk"] and loaded["user"] == value["user"]


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    walk = random_walk_variables(5)
    full = run_resumable(NumpyRuntime(walk, seed=0), 130, seed=8, chunk=40)

    ckpt = tmp_path / "ckpt.npz"

    def stop_after_second_chunk(done, total):
        if done >= 80:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_resumable(NumpyRuntime(walk, seed=0), 130, seed=8, chunk=40, checkpoint=ckpt,
                      progress=stop_after_second_chunk)
    assert load_network_value(ckpt)[1]["done"] == 80
    seen = []
    resumed = run_resumable(NumpyRuntime(walk, seed=0), 130, seed=8, chunk=40, checkpoint=ckpt,
                            progress=lambda d, t: seen.append(d))
    assert seen == [120, 130]  # only the missing chunks ran
    np.testing.assert_array_equal(resumed["walk"].get("position"), full["walk"].get("position"))


def test_checkpoint_of_another_configuration_is_not_reused(tmp_path):
    walk = random_walk_variables(2)
    ckpt = tmp_path / "ckpt.npz"
    run_resumable(NumpyRuntime(walk, seed=0), 60, seed=1, chunk=30, checkpoint=ckpt)
    seen = []
    run_resumable(NumpyRuntime(walk, seed=0), 60, seed=2, chunk=30, checkpoint=ckpt, progress=lambda d, t: seen.append(d))
    assert seen == [30, 60]
