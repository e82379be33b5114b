"""The sweep refuses bad output directories before any work, never lets a reader delete the writer's
files, and never reports an all-failed sweep as a success."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recosim.core.cli import main
from recosim.core.plugins import get_plugins
from recosim.core.results import prepare_out
from recosim.sweep import SweepFailedError, read_results, sweep
from recosim.sweep.plan import load_usecase, plan_sweep
from recosim.sweep.store import ResultStore, make_row


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("recosim: error: "), err
    return err[0]


def test_output_errors_are_one_line_and_status_2_before_any_work(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    base = ["sweep", "counting", "--seeds", "1", "--quiet", "--no-plots"]
    assert main([*base, "--out", str(tmp_path / "file" / "sub")]) == 2
    assert "the directory cannot be created" in _one_line_error(capsys)
    assert main([*base, "--out", str(tmp_path / "file")]) == 2
    assert "is a file, not a directory" in _one_line_error(capsys)
    assert main([*base, "--out", ""]) == 2
    assert "--out is empty" in _one_line_error(capsys)
    prepare_out(tmp_path / "case", owner="counting")  # a use case's results directory
    assert main([*base, "--out", str(tmp_path / "case")]) == 2  # another use case's results
    assert "holds the results of 'counting'" in _one_line_error(capsys)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions do not bind root")
def test_a_read_only_out_is_one_line_and_status_2(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(["sweep", "counting", "--seeds", "1", "--quiet", "--out", str(ro / "x")]) == 2
        assert "cannot be created" in _one_line_error(capsys)
        assert main(["sweep", "counting", "--seeds", "1", "--quiet", "--out", str(ro)]) == 2
        assert "is not writable" in _one_line_error(capsys)
    finally:
        ro.chmod(0o755)


def test_a_metric_that_names_no_metric_is_an_error_naming_the_metrics(tmp_path, capsys):
    argv = ["sweep", "counting", "--grid", "horizon=2,3", "--seeds", "1", "--workers", "1", "--quiet",
            "--out", str(tmp_path / "o"), "--metric", "final_cnt"]
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("recosim: error: --metric 'final_cnt' names no metric of 'counting' (its metrics: ")
    assert "final_count" in last
    assert read_results(tmp_path / "o").num_rows == 2  # the runs are saved all the same


def test_a_reader_never_deletes_the_writers_temporary_files(tmp_path):
    plan = plan_sweep("counting", {"horizon": [2]}, seeds=1)
    out = tmp_path / "o"
    with ResultStore(out, plan) as store:
        writing = out / "parts" / ".abc.parquet.0123.tmp"  # a part being written by the driver
        writing.write_bytes(b"half")
        assert read_results(out).num_rows == 0
        assert writing.exists()  # the reader left it alone
        store.add(make_row(plan, plan.tasks[0], {"status": "ok", "metrics": {"final_count": 1}}))
        assert read_results(out).num_rows == 1 and writing.exists()
    with ResultStore(out, plan):  # the next writer, under its lock, cleans up what a crash left
        assert not writing.exists()


def test_a_sweep_in_which_every_run_failed_raises(tmp_path, probe):
    with pytest.raises(SweepFailedError, match=r"every one of the 2 runs of the sweep in .* failed; first error: "
                                               r"ValueError: x=1.0 is refused on purpose") as err:
        sweep(probe, fixed={"mode": "raise"}, seeds=2, out=tmp_path / "o", workers=1, plots=False)
    assert err.value.result.table.num_rows == 2
    result = sweep(probe, grid={"mode": ["ok", "raise"]}, seeds=1, out=tmp_path / "p", workers=1, plots=False)
    assert result.failed == 1  # some failed: a result, the failures counted


def test_the_python_api_works_in_a_script_without_a_main_guard(tmp_path, cli_env):
    script = tmp_path / "t.py"
    script.write_text(textwrap.dedent(f"""
        from recosim.sweep import sweep
        result = sweep("counting", grid={{"horizon": [2, 3]}}, seeds=2, out={str(tmp_path / 'o')!r},
                       workers=2, plots=False)
        print(sorted(result.table.column("status").to_pylist()), result.failed)
    """))
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=cli_env, timeout=300,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines() == ["['ok', 'ok', 'ok', 'ok'] 0"], res.stdout + res.stderr
    assert "OutLockedError" not in res.stderr and Path(tmp_path / "o" / "results.parquet").exists()


def test_an_ecosystem_sweep_over_boost_caps_gives_one_tidy_utility_column_and_its_figure(tmp_path):
    if "ecosystem" not in get_plugins().registry("usecases"):
        pytest.skip("recosim-usecases is not installed")
    names = {p.name for p in load_usecase("ecosystem").parameters}
    tiny = {k: v for k, v in {"num_users": 12, "num_docs": 6, "num_runs": 1, "runs_per_call": 1, "horizon": 2}.items()
            if k in names}
    result = sweep("ecosystem", grid={"boost-caps": [0, 0.6]}, fixed=tiny, seeds=2, out=tmp_path / "o", workers=1)
    rows = result.table.to_pylist()
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    assert not [c for c in result.table.column_names if "L=" in c]  # no per-policy columns, empty elsewhere
    assert all(isinstance(r["metric.policies.mean"], float) for r in rows)
    assert result.summary.column("policies.mean.n").to_pylist() == [2, 2]
    assert tmp_path / "o" / "plot-policies.mean.png" in result.plots


def test_session_folders_of_local_ray_clusters_whose_driver_died_are_removed(tmp_path):
    from recosim.sweep.ray_backend import remove_stale_sessions, session_root

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"recosim-ray-{dead.pid}"
    (stale / "session_x" / "logs").mkdir(parents=True)
    alive = tmp_path / f"recosim-ray-{os.getppid()}"  # a driver still running
    alive.mkdir()
    mine = tmp_path / session_root().name
    mine.mkdir()
    other = tmp_path / "ray-session-not-ours"
    other.mkdir()
    assert remove_stale_sessions(tmp_path) == [stale]
    assert not stale.exists() and alive.exists() and mine.exists() and other.exists()
