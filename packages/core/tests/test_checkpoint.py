"""Long runs checkpoint after every chunk and resume to the uninterrupted result."""

import numpy as np
import pytest

from recosim.core import NumpyRuntime, Value
from recosim.core.checkpoint import load_network_value, run_resumable, save_network_value
from recosim.core.examples import random_walk_variables
from recosim.core.io import DamagedFileError, RecoveryWarning


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


def _interrupted_at(ckpt, steps, walk):
    def stop(done, total):
        if done >= steps:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_resumable(NumpyRuntime(walk, seed=0), 130, seed=8, chunk=40, checkpoint=ckpt, progress=stop)


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-100])


def _flip_a_bit(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x10  # inside the first array's bytes: its CRC no longer matches
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _flip_a_bit, lambda p: p.unlink()], ids=["truncated", "bit-flip",
                                                                                          "missing"])
def test_a_damaged_checkpoint_is_named_and_the_run_resumes_from_the_previous_one(tmp_path, damage):
    walk = random_walk_variables(5)
    full = run_resumable(NumpyRuntime(walk, seed=0), 130, seed=8, chunk=40)
    ckpt = tmp_path / "ckpt.npz"
    _interrupted_at(ckpt, 80, walk)
    previous = tmp_path / "ckpt.prev.npz"
    assert load_network_value(ckpt)[1]["done"] == 80 and load_network_value(previous)[1]["done"] == 40
    damage(ckpt)
    seen = []
    with pytest.warns(RecoveryWarning, match=r"ckpt\.npz (is damaged|is missing).*: resuming from the previous "
                                             r"checkpoint .*ckpt\.prev\.npz$"):
        resumed = run_resumable(NumpyRuntime(walk, seed=0), 130, seed=8, chunk=40, checkpoint=ckpt,
                                progress=lambda d, t: seen.append(d))
    assert seen == [80, 120, 130]  # from the previous checkpoint (40 steps), not from the start
    np.testing.assert_array_equal(resumed["walk"].get("position"), full["walk"].get("position"))


def test_with_both_checkpoints_damaged_the_run_starts_over_saying_so(tmp_path):
    walk = random_walk_variables(5)
    full = run_resumable(NumpyRuntime(walk, seed=0), 130, seed=8, chunk=40)
    ckpt = tmp_path / "ckpt.npz"
    _interrupted_at(ckpt, 80, walk)
    _truncate(ckpt)
    _flip_a_bit(tmp_path / "ckpt.prev.npz")
    seen = []
    with pytest.warns(RecoveryWarning, match=r"ckpt\.npz is damaged \(BadZipFile.*ckpt\.prev\.npz is damaged .*"
                                             r"no usable checkpoint left, starting over"):
        resumed = run_resumable(NumpyRuntime(walk, seed=0), 130, seed=8, chunk=40, checkpoint=ckpt,
                                progress=lambda d, t: seen.append(d))
    assert seen == [40, 80, 120, 130]
    np.testing.assert_array_equal(resumed["walk"].get("position"), full["walk"].get("position"))
    with pytest.raises(DamagedFileError, match=r"ckpt\.npz is damaged \(missing\)"):
        load_network_value(tmp_path / "gone" / "ckpt.npz")
