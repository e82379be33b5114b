"""Sweeps on the local process pool: equal results for equal seeds, faults recorded, Parquet read back."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from recosim.core.cli import main
from recosim.core.plugins import get_plugins
from recosim.sweep import read_results, sweep
from recosim.sweep.plan import load_usecase

WALK = {"grid": {"scale": [0.5, 2.0]}, "fixed": {"horizon": 3, "num-users": 10}, "seeds": 3}


def direct_metrics(usecase: str, settings: dict, seed: int) -> dict:
    """What one ``run`` in this process returns for the metrics the sweep records."""
    summary = load_usecase(usecase).run(runtime="numpy", seed=seed, out=None, **settings)
    return {k: v for k, v in summary.items() if isinstance(v, float) and k not in settings}


def test_tiny_sweep_equals_direct_runs_and_reads_back_with_pyarrow(tmp_path):
    result = sweep("random-walk", **WALK, out=tmp_path, workers=2, plots=False)
    assert (result.ran, result.resumed, result.failed) == (6, 0, 0)

    table = pq.read_table(tmp_path / "results.parquet")  # the consolidated file, read with pyarrow alone
    assert table.num_rows == 6 and len(set(table.column("task_id").to_pylist())) == 6
    assert table.schema.field("seed").type == "int64" and table.schema.field("scale").type == "double"
    assert str(table.schema.field("started_at").type) == "timestamp[us, tz=UTC]"
    assert table.schema.metadata is None or b"recosim" not in b"".join(table.schema.metadata.values())
    rows = table.to_pylist()
    assert {(r["scale"], r["seed"]) for r in rows} == {(s, k) for s in (0.5, 2.0) for k in (0, 1, 2)}
    for row in rows:  # the same seed gives the same numbers as a run in this process
        expected = direct_metrics("random-walk", {"horizon": 3, "num_users": 10, "scale": row["scale"]}, row["seed"])
        assert {k: row[f"metric.{k}"] for k in expected} == expected
        assert row["status"] == "ok" and row["error"] is None and row["wall_time_s"] > 0
        assert row["version.recosim-core"] and row["version.numpy"] == np.__version__
        assert row["runtime_provider"] == "recosim-core"
        assert "metric.horizon" not in row and "metric.seed" not in row  # echoed inputs are settings, not metrics
    # common random numbers: with the same seed, scale 2 draws exactly 4x the scale-0.5 positions
    by = {(r["scale"], r["seed"]): r["metric.final_mean"] for r in rows}
    assert all(by[(2.0, k)] == pytest.approx(4 * by[(0.5, k)], rel=1e-5) for k in range(3))

    summary = pq.read_table(tmp_path / "summary.parquet").to_pylist()
    for cell in summary:
        values = [r["metric.final_std"] for r in rows if r["scale"] == cell["scale"]]
        assert cell["runs"] == cell["ok"] == cell["final_std.n"] == 3 and cell["failed"] == 0
        assert cell["final_std.mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert cell["final_std.stderr"] == pytest.approx(np.std(values, ddof=1) / np.sqrt(3), rel=1e-12)
    assert read_results(tmp_path).num_rows == 6  # the journal agrees with the table

    # Readable without recosim: a fresh interpreter where importing recosim fails.
    code = ("import sys; sys.modules['recosim'] = None; import pyarrow.parquet as pq;"
            f"t = pq.read_table({str(tmp_path / 'results.parquet')!r}); print(t.num_rows)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "6", res.stderr


def test_pandas_and_polars_read_the_table(tmp_path):
    pd = pytest.importorskip("pandas")
    sweep("counting", grid={"horizon": [2, 4]}, seeds=2, out=tmp_path, workers=1, plots=False)
    df = pd.read_parquet(tmp_path / "results.parquet")
    assert df.groupby("horizon")["metric.final_count"].mean().to_dict() == {2: 1.0, 4: 3.0}
    try:
        import polars as pl
    except ImportError:
        return
    assert pl.read_parquet(tmp_path / "results.parquet").height == 4


def test_failing_and_crashing_runs_are_recorded_while_the_others_finish(tmp_path, probe):
    logs = tmp_path / "logs"
    logs.mkdir()
    grid = {"mode": ["ok", "raise", "crash-once", "crash"]}
    result = sweep(probe, grid=grid, fixed={"log-dir": str(logs)}, seeds=2, out=tmp_path / "out", workers=2,
                   max_retries=1, plots=False, task_files=True)
    rows = {(r["mode"], r["seed"]): r for r in result.table.to_pylist()}
    assert len(rows) == 8
    for row in rows.values():  # with task_files each run wrote into its own directory
        written = tmp_path / "out" / "tasks" / row["task_id"] / "value.txt"
        assert written.exists() == (row["status"] == "ok")
        if written.exists():
            assert float(written.read_text()) == row["metric.value"]
    for seed in (0, 1):
        assert rows[("ok", seed)]["status"] == "ok"
        raised = rows[("raise", seed)]
        assert raised["status"] == "failed" and raised["error"] == "ValueError: x=1.0 is refused on purpose"
        assert "sweep_cases.py" in raised["traceback"]
        # a worker killed once: the run is retried on a fresh worker and finishes
        assert rows[("crash-once", seed)]["status"] == "ok"
        assert (logs / f"crashed-crash-once-1.0-{seed}").exists()
        # a worker killed on every attempt: recorded as failed after the retries
        lost = rows[("crash", seed)]
        assert lost["status"] == "failed" and lost["error"].startswith("WorkerLost: ")
        assert "died 2 times" in lost["error"] and "SIGKILL" in lost["error"]
    summary = {r["mode"]: r for r in result.summary.to_pylist()}
    assert [summary[m]["ok"] for m in grid["mode"]] == [2, 0, 2, 0]
    assert [summary[m]["failed"] for m in grid["mode"]] == [0, 2, 0, 2]
    # the probe's metrics: nested names dotted, text kept, echoes dropped
    ok = rows[("ok", 0)]
    assert ok["metric.stats.draws"] == 1 and isinstance(ok["metric.stats.positive"], bool)
    assert ok["metric.label"] == "x is 1.0" and "metric.x" not in ok and "metric.flag" not in ok
    assert ok["metric.value"] == pytest.approx(1.0 + np.random.default_rng(0).normal(size=1).mean(), rel=1e-12)

    # Re-running resumes: nothing is run again; with retry_failed only the failed runs are.
    again = sweep(probe, grid=grid, fixed={"log-dir": str(logs)}, seeds=2, out=tmp_path / "out", workers=2,
                  max_retries=0, plots=False)
    assert (again.ran, again.resumed) == (0, 8)
    finished_once = (logs / "finished.log").read_text().splitlines()
    assert sorted(finished_once) == sorted(f"{m}-1.0-{s}" for m in ("ok", "crash-once") for s in (0, 1))
    retried = sweep(probe, grid={"mode": ["ok", "raise"]}, fixed={"log-dir": str(logs)}, seeds=2,
                    out=tmp_path / "out", workers=1, retry_failed=True, plots=False)
    assert (retried.ran, retried.resumed, retried.failed) == (2, 2, 2)
    assert read_results(tmp_path / "out").num_rows == 8  # retried runs replace their rows, never add


def test_command_line_sweep_of_the_ecosystem_at_a_tiny_size(tmp_path, capsys):
    if "ecosystem" not in get_plugins().registry("usecases"):
        pytest.skip("recosim-usecases is not installed")
    case = load_usecase("ecosystem")
    names = {p.name for p in case.parameters}
    tiny = {"num_users": 12, "num_docs": 6, "num_runs": 1, "runs_per_call": 1}
    assert "horizon" in names, f"the ecosystem has no horizon option any more: {sorted(names)}"
    argv = ["sweep", "ecosystem", "--grid", "horizon=2,3", "--seeds", "2", "--out", str(tmp_path), "--quiet",
            "--workers", "2"]
    for name, value in tiny.items():
        if name in names:
            argv += ["--set", f"{name.replace('_', '-')}={value}"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "horizon" in printed and "results:" in printed
    table = pq.read_table(tmp_path / "results.parquet").to_pylist()
    assert len(table) == 4 and all(r["status"] == "ok" for r in table)
    row = next(r for r in table if r["horizon"] == 3 and r["seed"] == 1)
    # the same settings and seed through `recosim run` give the same metrics
    run_argv = ["run", "ecosystem", "--seed", "1", "--quiet", "--json", "--horizon", "3", "--out", str(tmp_path / "direct")]
    for name, value in tiny.items():
        if name in names:
            run_argv += [f"--{name.replace('_', '-')}", str(value)]
    assert main(run_argv) == 0
    direct = json.loads(capsys.readouterr().out)
    from recosim.sweep.task import flatten_summary

    metrics = {k: v for k, v in flatten_summary(direct).items() if isinstance(v, float)}
    assert metrics and all(row[f"metric.{k}"] == v for k, v in metrics.items() if f"metric.{k}" in row)
