"""The console and markdown rows, resuming, and the reference/recosim ratios."""

from __future__ import annotations

import json
from pathlib import Path

from bench import _previous, describe_result, record_of, table_row
from compare import ratio_rows
from harness import ChildResult
from workloads import SIZES


def _child(phases: dict, result: dict) -> ChildResult:
    return ChildResult(ok=True, phases=phases, result=result, peak_rss_mib=512.0)


def test_rows_show_times_memory_and_the_result() -> None:
    child = _child(
        {"import": 2.0, "build": 1.0, "first": 9.0, "warm": 4.0},
        {"utility": {"L=0": {"mean": 130.5, "stderr": 1.25, "runs": 8}}, "units": 800, "unit": "run-step"},
    )
    row = table_row(record_of("ecosystem", "jax", child))
    assert row[:8] == ["ecosystem", "jax", "ok", "10.0", "5.000", "4.000", "5.00 ms/run-step", "512"]
    assert row[9] == "L=0: 130.50 ± 1.25 (8 runs)"
    skipped = table_row(record_of("latent-variable", "tf", None, "not available (use case not installed)"))
    assert skipped[2] == "not available (use case not installed)" and skipped[3] == "—"


def test_result_line_leaves_out_timing_keys() -> None:
    line = describe_result({"alpha": [0.8], "steady_step_s": 0.1, "units": 3, "reward_last": 63.123456})
    assert line == "alpha=[0.8], reward_last=63.12"


def test_ratio_is_reference_over_recosim() -> None:
    ref = record_of("interest-evolution", "tf", _child({"build": 2.0, "run": 60.0}, {"compile_estimate_s": 6.0}))
    ours = record_of("interest-evolution", "jax", _child({"run": 8.0}, {"compile_estimate_s": 2.0}))
    eco_ref = record_of("ecosystem", "tf", _child({"run": 80.0}, {}))
    eco = record_of("ecosystem", "jax", _child({"build": 0.0, "first": 20.0, "warm": 10.0}, {}))
    rows = ratio_rows(
        [
            ref | {"side": "recsim-ng 0.1.2"},
            ours | {"side": "recosim"},
            eco_ref | {"side": "recsim-ng 0.1.2"},
            eco | {"side": "recosim"},
        ]
    )
    assert rows[0] == ["interest-evolution", "jax", "62.0", "8.000", "7.75x", "9.00x", "6x"]
    # the reference's ecosystem compiles inside its runs: no run-only ratio
    assert rows[1] == ["ecosystem", "jax", "80.0", "20.0", "4.00x", "—", "10x"]


def test_resume_keeps_finished_rows_of_the_same_sizes_only(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    done = {"workload": "ecosystem", "runtime": "jax", "status": "ok", "total_s": 1.0}
    failed = {"workload": "ecosystem", "runtime": "tf", "status": "failed"}
    path.write_text(json.dumps({"size": "small", "sizes": SIZES["small"], "results": [done, failed]}))
    assert _previous(path, "small") == {("ecosystem", "jax"): done}
    assert _previous(path, "reference") == {}
    path.write_text(json.dumps({"size": "small", "sizes": {"ecosystem": {}}, "results": [done]}))
    assert _previous(path, "small") == {}  # sizes changed since: measure again
