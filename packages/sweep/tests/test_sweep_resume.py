"""Stopping the driver: Ctrl-C says how to resume; SIGKILL loses nothing finished; re-runs never repeat a run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds worker processes through /proc")


def children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for_parts(out: Path, count: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(list((out / "parts").glob("*.parquet"))) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep produced no results in time"
        time.sleep(0.05)


def snapshot(out: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / "parts").glob("*.parquet")}


def saved_tags(out: Path) -> set[str]:
    """The probe's log tag of every run whose result is saved."""
    rows = [pq.read_table(p).to_pylist()[0] for p in (out / "parts").glob("*.parquet")]
    return {f"ok-{r['x']}-{r['seed']}" for r in rows}


def finished_runs(logs: Path) -> list[str]:
    path = logs / "finished.log"
    return path.read_text().splitlines() if path.exists() else []


def default_sigint() -> None:
    """In a child about to be sent SIGINT: the default disposition, whatever its parent's was."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupt_then_kill_then_resume(tmp_path, probe, cli_env):
    out, logs = tmp_path / "out", tmp_path / "logs"
    logs.mkdir()
    argv = [sys.executable, "-m", "recosim.core.cli", "sweep", probe, "--grid", "x=1,2,3,4,5,6",
            "--set", "sleep=0.3", "--set", f"log-dir={logs}", "--seeds", "2", "--out", str(out), "--workers", "2"]
    start = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env)

    # 1. Ctrl-C: one line that says how to resume, no traceback, status 130. Started as a background job
    # would be (SIGINT ignored and inherited), the driver gets the default disposition back.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc = subprocess.Popen(argv, **start, preexec_fn=default_sigint)
    finally:
        signal.signal(signal.SIGINT, previous)
    wait_for_parts(out, 1, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("recosim: interrupted with ") and "of 12 runs finished" in last and "resume with: " in last
    assert "Traceback" not in err
    assert pq.read_table(out / "results.parquet").num_rows == len(snapshot(out))  # the table was saved on the way out

    # 2. SIGKILL of the driver while runs are in flight; its workers exit by themselves.
    before = len(snapshot(out))
    saved, logged = saved_tags(out), len(finished_runs(logs))
    proc = subprocess.Popen(argv, **start)
    wait_for_parts(out, before + 2, proc)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    kept = snapshot(out)
    assert len(kept) >= before + 2 and workers
    deadline = time.monotonic() + 30
    while any(alive(w) for w in workers):
        assert time.monotonic() < deadline, "pool processes outlived their driver"
        time.sleep(0.1)

    # A run whose result was saved is never run again (a run cut off before its result was saved may be).
    assert not saved & set(finished_runs(logs)[logged:])
    saved, logged = saved_tags(out), len(finished_runs(logs))

    # 3. Re-run: resumes, finishes, and repeats no finished run.
    res = subprocess.run(argv, capture_output=True, text=True, env=cli_env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"resuming: {len(kept)} of 12 runs already finished" in res.stderr
    after = snapshot(out)
    assert len(after) == 12
    assert all(after[name] == kept[name] for name in kept)  # finished parts untouched
    table = pq.read_table(out / "results.parquet")
    assert table.num_rows == 12 and len(set(table.column("task_id").to_pylist())) == 12
    assert len(saved) == len(kept) and not saved & set(finished_runs(logs)[logged:])
