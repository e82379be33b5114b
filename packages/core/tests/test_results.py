"""Crash-safe results: the run store under torn writes, the lock, atomic files, content hashes, provenance."""

import json
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recosim.core.errors import UsageError
from recosim.core.results import (
    LOCK_NAME,
    OutLockedError,
    RecoveryWarning,
    RunStore,
    array_hash,
    content_hash,
    default_out,
    hold_out,
    prepare_out,
    runtime_provenance,
    write_json_atomic,
)

CONFIG = {"users": 3, "inputs_sha256": "ab"}


def store(path, config=CONFIG):
    return RunStore(path, config=config, key=("cap", "run"))


def lines(path):
    return path.read_bytes().splitlines(keepends=True)


def test_records_are_whole_lines_read_back_by_key_and_config(tmp_path):
    path = tmp_path / "runs.jsonl"
    with store(path) as s:
        s.add({"cap": 0.0, "run": 0, "value": 1.5})
        s.add({"cap": 1.2, "run": 0, "value": np.float32(2.5)})
        with pytest.raises(ValueError, match=r"the run \{'cap': 0.0, 'run': 0\} is already stored"):
            s.add({"cap": 0.0, "run": 0, "value": 9.0})
    assert all(line.endswith(b"\n") for line in lines(path)) and len(lines(path)) == 2
    with store(path) as s:
        assert [r["value"] for r in s.select([(1.2, 0), (0.0, 0), (0.0, 5)])] == [2.5, 1.5]
    with pytest.warns(RecoveryWarning) as caught, store(path, {**CONFIG, "inputs_sha256": "cd"}) as other:
        pass
    assert len(other) == 0 and other.other_configs == 2  # other inputs: nothing reused, nothing deleted
    assert "made with other options or input files" in str(caught[0].message)
    assert len(lines(path)) == 2


def test_a_torn_last_line_is_cut_away_so_the_next_record_starts_clean(tmp_path):
    path = tmp_path / "runs.jsonl"
    with store(path) as s:
        s.add({"cap": 0.0, "run": 0, "value": 1.0})
        s.add({"cap": 0.0, "run": 1, "value": 2.0})
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 7])  # the second append cut short
    with pytest.warns(RecoveryWarning, match=r"removed an incomplete last line \(\d+ bytes\)"), store(path) as s:
        assert list(s.records) == [(0.0, 0)]
        s.add({"cap": 0.0, "run": 1, "value": 2.0})
    assert path.read_bytes() == whole  # not glued onto the half line: the same file as without the crash


def test_damaged_and_repeated_lines_are_skipped_and_reported(tmp_path):
    path = tmp_path / "runs.jsonl"
    with store(path) as s:
        s.add({"cap": 0.0, "run": 0, "value": 1.0})
    good = path.read_bytes()
    path.write_bytes(good + b"{not json\n" + b"[1, 2]\n" + good)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with store(path) as s:
            assert s.records[(0.0, 0)]["value"] == 1.0
    messages = [str(w.message) for w in caught if issubclass(w.category, RecoveryWarning)]
    assert any("skipped 2 unreadable line(s)" in m for m in messages)
    assert any("1 run(s) appear more than once" in m for m in messages)


def test_an_edited_record_is_detected_by_its_checksum_skipped_and_computed_again(tmp_path):
    path = tmp_path / "runs.jsonl"
    with store(path) as s:
        s.add({"cap": 0.0, "run": 0, "value": 1.25})
        s.add({"cap": 0.0, "run": 1, "value": 2.5})
    first, second = lines(path)
    path.write_bytes(first.replace(b"1.25", b"9.25") + second)  # a number edited by hand
    with pytest.warns(RecoveryWarning, match=r"skipped 1 invalid record\(s\) \(line 1 does not match its checksum"):
        with store(path) as s:
            assert list(s.records) == [(0.0, 1)]  # the edited run is not used: it is computed again
            s.add({"cap": 0.0, "run": 0, "value": 1.25})
    with pytest.warns(RecoveryWarning, match=r"skipped 1 invalid"), store(path) as s:  # kept, never used
        assert s.records[(0.0, 0)]["value"] == 1.25 and len(lines(path)) == 3


def test_a_record_lacking_a_field_of_its_schema_is_skipped_not_a_key_error(tmp_path):
    path = tmp_path / "runs.jsonl"
    schema = dict(config=CONFIG, key=("cap", "run"), fields=("utility",))
    with RunStore(path, **schema) as s:
        s.add({"cap": 0.0, "run": 0, "utility": 1.0})
        with pytest.raises(ValueError, match="lacks the field\\(s\\) 'utility'"):
            s.add({"cap": 0.0, "run": 1})
    record = json.loads(path.read_text())
    del record["utility"], record["check"]  # parses, lacks its metric (and, written by hand, its checksum)
    path.write_text(json.dumps(record) + "\n")
    with pytest.warns(RecoveryWarning, match=r"line 1 lacks 'utility'"), RunStore(path, **schema) as s:
        assert len(s) == 0 and s.select([(0.0, 0)]) == []


def test_symlinked_output_files_are_refused_and_their_targets_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).symlink_to(victim)
    with pytest.raises(UsageError, match=r"\.recosim\.lock is a symlink; recosim does not write through links"):
        with hold_out(out):
            pass
    (out / LOCK_NAME).unlink()
    (out / "runs.jsonl").symlink_to(victim)
    with pytest.raises(UsageError, match=r"runs\.jsonl is a symlink"), store(out / "runs.jsonl"):
        pass
    (out / "summary.json").symlink_to(victim)
    with pytest.raises(UsageError, match=r"summary\.json is a symlink"):
        write_json_atomic(out / "summary.json", {"a": 1})
    assert victim.read_text() == "precious\n"


def test_another_use_case_in_the_same_out_is_refused_naming_the_owner(tmp_path):
    out = tmp_path / "out"
    prepare_out(out, owner="ecosystem")
    prepare_out(out, owner="ecosystem")  # the same use case resumes
    with pytest.raises(UsageError, match=r"--out .* holds the results of 'ecosystem', not 'random-walk'"):
        prepare_out(out, owner="random-walk")
    (tmp_path / "sw").mkdir()
    (tmp_path / "sw" / "sweep.json").write_text('{"usecase": "ecosystem"}')
    with pytest.raises(UsageError, match=r"holds the results of 'sweep of ecosystem'"):
        prepare_out(tmp_path / "sw", owner="ecosystem")
    with pytest.raises(UsageError, match=r"--out is empty"):
        prepare_out("", owner="ecosystem")


RECORDS = st.lists(
    st.fixed_dictionaries({"value": st.floats(allow_nan=False, allow_infinity=False), "note": st.text(max_size=8)}),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=RECORDS, cut=st.floats(0.0, 1.0), extra=st.integers(0, 3))
def test_any_truncation_loses_only_the_cut_record_and_appending_stays_readable(tmp_path, records, cut, extra):
    """Truncate the file at any byte: the store keeps exactly the whole lines before the cut, and what is
    appended afterwards reads back too (no record is glued onto a half line)."""
    path = tmp_path / f"runs-{abs(hash((str(records), cut, extra)))}.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecoveryWarning)
        with store(path) as s:
            for i, rec in enumerate(records):
                s.add({"cap": 0.0, "run": i, **rec})
        data = path.read_bytes()
        ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")]
        at = round(cut * len(data))
        path.write_bytes(data[:at])
        kept = sum(e <= at for e in ends)
        with store(path) as s:
            assert sorted(s.records) == [(0.0, i) for i in range(kept)]
            for i in range(kept, kept + extra):
                s.add({"cap": 0.0, "run": i, **records[i % len(records)]})
        with store(path) as s:
            assert sorted(s.records) == [(0.0, i) for i in range(kept + extra)]
            for i in range(kept):
                assert {k: s.records[(0.0, i)][k] for k in ("value", "note")} == records[i]
    assert path.read_bytes().endswith(b"\n") or path.read_bytes() == b""
    path.unlink()


def test_in_memory_store_without_a_path():
    with RunStore(None, config=CONFIG, key=("run",)) as s:
        s.add({"run": 3, "x": 1})
        assert (3,) in s and len(s) == 1


def test_lock_is_reentrant_in_a_process_and_refuses_another_process(tmp_path):
    out = tmp_path / "job"
    with hold_out(out), hold_out(out):
        assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())
        code = ("import sys\nfrom recosim.core.results import hold_out\n"
                f"try:\n    hold_out({str(out)!r}).__enter__()\nexcept Exception as e:\n    print(e); sys.exit(3)")
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert res.returncode == 3 and res.stdout.strip() == (
            f"another job (pid {os.getpid()}) holds {out}; wait for it to finish or give another --out")
    assert (out / LOCK_NAME).read_text() == ""  # released cleanly: nothing to warn the next job about
    with hold_out(out):
        pass


def test_a_lock_left_by_a_killed_job_is_taken_over(tmp_path):
    out = tmp_path / "job"
    code = (f"import time\nfrom recosim.core.results import hold_out\nwith hold_out({str(out)!r}):\n"
            "    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(OutLockedError, match=f"another job \\(pid {holder.pid}\\) holds"):
        with hold_out(out):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with pytest.warns(RecoveryWarning, match=f"the previous job \\(pid {holder.pid}\\) ended without releasing it"):
        with hold_out(out):
            assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())


def test_summaries_are_replaced_atomically_and_never_half_written(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    write_json_atomic(path, {"mean": 1.0, "stderr": float("nan"), "n": np.int64(3)})
    assert json.loads(path.read_text()) == {"mean": 1.0, "stderr": None, "n": 3}
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any file the user writes
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk vanished"):
        write_json_atomic(path, {"mean": 2.0})
    assert path.read_bytes() == before  # the old summary, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # no temporary file left behind


def test_prepare_out_refuses_files_and_paths_under_files(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a directory"):
        prepare_out(tmp_path / "f")
    with pytest.raises(UsageError, match="the directory cannot be created"):
        prepare_out(tmp_path / "f" / "sub")
    assert prepare_out(tmp_path / "new" / "dir").is_dir()


def test_default_out_is_new_each_time(tmp_path):
    first = default_out("eco system", root=tmp_path)
    first.mkdir()
    second = default_out("eco system", root=tmp_path)
    assert first.name.startswith("eco_system-") and second != first and not second.exists()


def test_hashes_follow_content_not_names():
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert array_hash(a) == array_hash(a.copy()) == array_hash(np.asfortranarray(a))
    assert array_hash(a) != array_hash(a.reshape(2, 3)) != array_hash(a.astype(np.float64))
    b = a.copy()
    b[2, 1] += 1e-3
    assert array_hash(a) != array_hash(b)
    assert content_hash({"a": 1, "b": [1.5]}) == content_hash({"b": (1.5,), "a": np.int64(1)})


def test_runtime_provenance_names_the_distribution_and_its_version():
    import importlib.metadata

    got = runtime_provenance("numpy")
    assert got == {"plugin": "core-numpy", "distribution": "recosim-core",
                   "version": importlib.metadata.version("recosim-core")}
