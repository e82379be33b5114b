"""The harness: child processes, per-process peak memory, phases and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import (
    ChildResult,
    Clock,
    machine_description,
    markdown_table,
    quiet_warning,
    run_child,
    split_compile,
    timing_figures,
    write_report,
)

HERE = Path(__file__).resolve().parent


def test_split_compile_takes_first_step_over_median() -> None:
    compile_s, step = split_compile([5.0, 1.0, 3.0, 2.0])
    assert step == 2.0  # median of 1, 3, 2
    assert compile_s == pytest.approx(3.0)
    assert split_compile([5.0, 1.0]) == (None, None)  # too few steps to tell
    assert split_compile([0.5, 1.0, 1.0])[0] == 0.0  # never negative


def test_clock_phases_add_up_and_marks_give_step_times() -> None:
    clock = Clock()
    with clock.phase("run"):
        pass
    first = clock.phases["run"]
    with clock.phase("run"):
        pass
    assert clock.phases["run"] >= first
    clock.marks = [10.0, 12.5, 13.0]
    assert clock.step_times(since=9.0) == [1.0, 2.5, 0.5]


def test_timing_figures_for_two_pass_and_progress_workloads() -> None:
    two_pass = ChildResult(
        ok=True, phases={"import": 1.0, "build": 0.5, "first": 10.0, "warm": 4.0}, result={"units": 8}
    )
    t = timing_figures(two_pass)
    assert (t["total_s"], t["compile_s"], t["run_s"], t["per_unit_s"]) == (10.5, 6.0, 4.0, 0.5)
    one_pass = ChildResult(ok=True, phases={"run": 10.0}, result={"compile_estimate_s": 3.0, "units": 7})
    t = timing_figures(one_pass)
    assert (t["total_s"], t["compile_s"], t["run_s"], t["per_unit_s"]) == (10.0, 3.0, 7.0, 1.0)
    numpy_like = ChildResult(ok=True, phases={"build": 0.0, "first": 6.0}, result={"units": 3})
    assert timing_figures(numpy_like)["compile_s"] is None
    assert timing_figures(numpy_like)["run_s"] == 6.0


def test_each_child_reports_its_own_peak_memory() -> None:
    big = run_child("child_fixtures", "allocate", {"mib": 300}, path=[str(HERE)], timeout=120)
    small = run_child("child_fixtures", "allocate", {"mib": 10}, path=[str(HERE)], timeout=120)
    assert big.ok and small.ok, (big.error, small.error)
    assert big.result["sum"] == 300 * 2**20 // 8
    assert big.peak_rss_mib >= 300
    # the second child's figure is its own, not the larger high-water mark of the first
    assert small.peak_rss_mib < big.peak_rss_mib - 250
    assert set(big.phases) >= {"import", "build", "run"}


def test_a_failing_child_reports_the_error_and_its_log() -> None:
    res = run_child("child_fixtures", "fail", {"message": "boom at step 3"}, path=[str(HERE)], timeout=120)
    assert not res.ok
    assert res.error == "ValueError: boom at step 3"
    assert "boom at step 3" in res.log_tail
    assert res.exit_status == 1


def test_a_child_past_its_timeout_is_stopped() -> None:
    res = run_child("child_fixtures", "sleep", {"seconds": 60}, path=[str(HERE)], timeout=1)
    assert not res.ok
    assert "timed out after 1 s" in res.error


def test_machine_description_names_cpu_cores_memory_and_versions() -> None:
    m = machine_description()
    assert m["cpu"] and m["logical_cores"] >= 1 and m["usable_cores"] >= 1
    assert m["python"].count(".") == 2
    assert "numpy" in m["packages"] and "recosim-core" in m["packages"]
    assert json.loads(json.dumps(m)) == m  # fit for the JSON report


def test_report_files_hold_the_table_and_the_machine(tmp_path: Path) -> None:
    body = markdown_table(("a", "b"), [["x|y", 1]])
    assert body.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]
    md, js = write_report(tmp_path, "r", "title", body, {"machine": machine_description(), "results": []})
    text = md.read_text()
    assert text.startswith("# title") and "## Machine" in text and "| x\\|y | 1 |" in text
    assert json.loads(js.read_text())["results"] == []


def test_a_busy_machine_is_flagged() -> None:
    assert quiet_warning([0.05, 0.1, 0.1], 2) is None
    assert "not quiet" in quiet_warning([1.5, 1.0, 0.5], 2)
