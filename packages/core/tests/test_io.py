"""recosim.core.io: atomic, durable writes that never follow a link; npz without pickles; the last two versions."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from recosim.core.io import (
    DamagedFileError,
    RecoveryWarning,
    UnsafePathError,
    append_bytes,
    previous_path,
    read_newest_good,
    read_npz,
    write_bytes_atomic,
    write_keeping_previous,
    write_npz_atomic,
)


def test_writes_refuse_a_symlinked_target_and_leave_its_target_alone(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    for name, write in [("a.json", lambda p: write_bytes_atomic(p, b"x")), ("b.jsonl", lambda p: append_bytes(p, b"x"))]:
        link = tmp_path / name
        link.symlink_to(victim)
        with pytest.raises(UnsafePathError, match=rf"{name} is a symlink; recosim does not write through links"):
            write(link)
    dangling = tmp_path / "c.npz"
    dangling.symlink_to(tmp_path / "nowhere")  # a dangling link is refused too: it would create its target
    with pytest.raises(UnsafePathError):
        write_npz_atomic(dangling, {"a": np.zeros(2)})
    assert victim.read_bytes() == b"keep" and not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.jsonl", "c.npz", "victim"]  # no temp left


def test_npz_round_trip_without_pickles_and_damage_named_in_one_line(tmp_path):
    path = write_npz_atomic(tmp_path / "a.npz", {"w": np.arange(4, dtype=np.int16), "s": np.asarray("meta")})
    got = read_npz(path)
    assert got["w"].dtype == np.int16 and got["w"].tolist() == [0, 1, 2, 3] and str(got["s"]) == "meta"
    with pytest.raises(TypeError, match="holds Python objects"):
        write_npz_atomic(tmp_path / "b.npz", {"o": np.asarray([{}], dtype=object)})
    path.write_bytes(path.read_bytes()[:-30])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)  # the file is closed although numpy could not read it
        with pytest.raises(DamagedFileError, match=r"a\.npz is damaged \(BadZipFile: ") as err:
            read_npz(path)
    assert "\n" not in str(err.value)
    with pytest.raises(DamagedFileError, match=r"is damaged \(missing\)"):
        read_npz(tmp_path / "none.npz")


def test_the_previous_version_survives_a_crash_between_the_two_renames(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    write_keeping_previous(path, b"one")
    write_keeping_previous(path, b"two")
    assert path.read_bytes() == b"two" and previous_path(path).read_bytes() == b"one"

    def read(p):
        return p.read_bytes()

    real_replace = os.replace

    def crash_on_second(src, dst):  # the old file is moved aside, then the machine stops
        real_replace(src, dst)
        if str(dst).endswith(".prev.npz"):
            raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash_on_second)
    with pytest.raises(OSError, match="power cut"):
        write_keeping_previous(path, b"three")
    monkeypatch.setattr(os, "replace", real_replace)
    with pytest.warns(RecoveryWarning, match=r"ckpt\.npz is missing: resuming from the previous checkpoint"):
        assert read_newest_good(path, read) == b"two"
    assert read_newest_good(tmp_path / "never.npz", read) is None  # nothing at either name: a first run
