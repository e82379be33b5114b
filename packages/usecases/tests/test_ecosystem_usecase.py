"""The use cases from the command line: files and figure, quiet on every runtime, one-line errors, crash-safe resume."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from model_tools import png_size

from recosim.core.cli import main
from recosim.core.results import array_hash
from recosim.core.summary import summarize
from recosim.core.testing import runtime_names
from recosim.usecases.ecosystem import default_provider_means
from recosim.usecases.ecosystem_usecase import FIGURE_CAPS, EcosystemUseCase, run_seed

TINY = ["--num-users", "12", "--num-docs", "8", "--horizon", "4"]
TINY_ARGS = dict(num_users=12, num_docs=8, horizon=4)


@pytest.fixture(params=runtime_names())
def runtime(request):
    return request.param


FILES = {
    "counting": (["--horizon", "5"], {"summary.json", "checkpoint.npz", "runs.csv"}),
    "random-walk": (["--num-users", "6", "--horizon", "5"],
                    {"summary.json", "checkpoint.npz", "final_positions.npy", "runs.csv"}),
    "ecosystem": ([*TINY, "--num-runs", "2", "--boost-caps", "0,1.2,2.4"],
                  {"summary.json", "runs.jsonl", "runs.csv", "figure3.png"}),
}


@pytest.mark.parametrize("usecase", sorted(FILES))
def test_each_use_case_at_a_tiny_size_writes_its_files(usecase, tmp_path, capsys):
    """The files do not depend on the runtime: NumPy's (each runtime runs the command below and the
    ecosystem's batches in the last test)."""
    runtime = "numpy"
    options, files = FILES[usecase]
    out = tmp_path / "out"
    assert main(["run", usecase, "--runtime", runtime, *options, "--out", str(out), "--quiet", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == files
    saved = json.loads((out / "summary.json").read_text())
    assert printed == saved and saved["runtime"] == runtime and saved["runtime_provider"]["version"]
    if usecase == "ecosystem":
        assert saved["boost_caps"] == [0.0, 1.2, 2.4] and saved["num_providers"] == 80
        assert saved["provider_means"]["sha256"] == array_hash(default_provider_means())
        assert [saved["policies"][k]["runs"] for k in ("L=0", "L=1.2", "L=2.4")] == [2, 2, 2]
        assert len((out / "runs.jsonl").read_text().splitlines()) == 6
        assert png_size(out / "figure3.png") == (1210, 484)
        table = (out / "runs.csv").read_text().splitlines()
        assert table[0] == "usecase,runtime,seed,run,boost_cap,metric,value" and len(table) == 1 + 6


@pytest.mark.every_runtime
def test_the_command_prints_no_framework_log_noise(runtime, tmp_path):
    """Only recosim's own lines reach stderr: TensorFlow's and XLA's C++ logging is silenced."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    res = subprocess.run([sys.executable, "-m", "recosim.core.cli", "run", "counting", "--runtime", runtime,
                          "--horizon", "3", "--out", str(tmp_path / "out"), "--json"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    noise = [line for line in res.stderr.splitlines() if not line.startswith(("recosim", "counting ["))]
    assert noise == [], res.stderr
    assert json.loads(res.stdout)["final_count"] == 2


def test_summary_records_caps_providers_and_paired_differences(tmp_path):
    case = EcosystemUseCase()
    summary = case.run(runtime="numpy", seed=3, out=tmp_path, num_runs=3, boost_caps="1.2,0", **TINY_ARGS)
    records = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    by = {(r["cap"], r["run"]): r["mean_cumulative_utility"] for r in records}
    assert summary["boost_caps"] == [0.0, 1.2] and summary["baseline_cap"] == 0.0  # numbers, sorted
    assert all(r["seed"] == run_seed(3, r["run"]) for r in records)
    diffs = [by[(1.2, i)] - by[(0.0, i)] for i in range(3)]
    paired = summary["policies"]["L=1.2"]["paired_difference_vs_L=0"]
    s = summarize(np.array(diffs))
    assert paired == {"mean": pytest.approx(float(s.mean)), "stderr": pytest.approx(float(s.stderr)), "runs": 3}
    assert summary["policies"]["L=0"]["mean"] == pytest.approx(np.mean([by[(0.0, i)] for i in range(3)]))
    assert "paired_difference_vs_L=0" not in summary["policies"]["L=0"]
    # the closing table: each cap's utility, then the paired gain, each with its standard error
    assert case.headline(summary) == [
        ("L=0 cumulative utility per user", summary["policies"]["L=0"]["mean"], summary["policies"]["L=0"]["stderr"]),
        ("L=1.2 cumulative utility per user", summary["policies"]["L=1.2"]["mean"],
         summary["policies"]["L=1.2"]["stderr"]),
        ("L=1.2 minus L=0 (paired)", paired["mean"], paired["stderr"]),
    ]
    assert case.is_template()  # the template holds out, opens runs.jsonl and writes summary.json and runs.csv


def test_figure_mode_defaults_to_seven_caps_and_explicit_caps_win():
    case = EcosystemUseCase()
    assert case.validate({"figure": True})["boost_caps"] == FIGURE_CAPS and len(FIGURE_CAPS) >= 5
    assert case.validate({})["boost_caps"] == (0.0, 1.2)
    assert case.validate({"figure": "yes", "boost_caps": "0.6,0"})["boost_caps"] == (0.0, 0.6)


def test_resume_computes_only_missing_runs_and_reports_exactly_the_runs_asked_for(tmp_path):
    case = EcosystemUseCase()
    args = dict(runtime="numpy", seed=4, out=tmp_path, boost_caps="0,1.2", runs_per_call=1, **TINY_ARGS)
    two = case.run(num_runs=2, **args)
    seen = []
    three = case.run(num_runs=3, progress=lambda d, t: seen.append((d, t)), **args)
    assert seen == [(5, 6), (6, 6)]  # only the third run of each cap was computed
    assert three["policies"]["L=0"]["runs"] == 3
    again = []
    fewer = case.run(num_runs=2, progress=lambda d, t: again.append((d, t)), **args)
    assert again == []  # nothing computed
    assert fewer["policies"] == two["policies"]  # the two runs asked for, not the three stored
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 6


def test_a_stored_run_lacking_its_metric_is_recomputed_not_a_key_error(tmp_path):
    import json

    case = EcosystemUseCase()
    args = dict(runtime="numpy", seed=4, out=tmp_path, boost_caps="0", num_runs=2, runs_per_call=1, **TINY_ARGS)
    first = case.run(**args)
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    del record["mean_cumulative_utility"]
    (tmp_path / "runs.jsonl").write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    seen = []
    with pytest.warns(UserWarning, match="runs.jsonl"):
        again = case.run(progress=lambda d, t: seen.append(d), **args)
    assert seen == [2]  # the damaged run alone was computed again
    assert again["policies"] == first["policies"]


def test_resume_matches_provider_means_by_content_not_by_path(tmp_path):
    case = EcosystemUseCase()
    means = default_provider_means()
    first, moved = tmp_path / "means.npy", tmp_path / "moved.npy"
    np.save(first, means)
    np.save(moved, means)
    args = dict(runtime="numpy", seed=1, out=tmp_path / "out", num_runs=2, boost_caps="0", **TINY_ARGS)
    calls = []
    base = case.run(provider_means=str(first), **args)
    same = case.run(provider_means=str(moved), progress=lambda d, t: calls.append(d), **args)
    assert calls == [] and same["policies"] == base["policies"]  # same content elsewhere: reused
    np.save(first, means[::-1] + 1.0)  # the same path, other means
    with pytest.warns(UserWarning, match="made with other options or input files"):
        changed = case.run(provider_means=str(first), progress=lambda d, t: calls.append(d), **args)
    assert calls == [1, 2] and changed["provider_means"]["sha256"] != base["provider_means"]["sha256"]
    assert changed["policies"]["L=0"]["mean"] != base["policies"]["L=0"]["mean"]


def test_a_torn_record_is_reported_in_one_line_and_computed_again(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", "ecosystem", *TINY, "--num-runs", "2", "--boost-caps", "0", "--out", str(out), "--quiet", "--json"]
    assert main(argv) == 0
    whole = json.loads(capsys.readouterr().out)
    runs = out / "runs.jsonl"
    lines = runs.read_bytes().splitlines(keepends=True)
    runs.write_bytes(lines[0] + lines[1][:20])  # the second record cut short, as by a crash mid-write
    assert main(argv) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith("recosim: warning: ") and "incomplete last line" in warnings[0]
    assert json.loads(captured.out) == whole and runs.read_bytes() == b"".join(lines)


def _provider_file(tmp_path, content):
    path = tmp_path / "bad.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.save(path, content)
    return path


BAD = [
    (["--boost-caps", "0,x"], "--boost-caps: 'x' is not a number"),
    (["--boost-caps", "0,nan"], "--boost-caps: 'nan' is not a finite number"),
    (["--boost-caps", "-1"], "--boost-caps: '-1' is below 0"),
    (["--boost-caps", "0,1.2,0"], "--boost-caps: a value repeats"),
    (["--boost-caps", ""], "--boost-caps: give comma-separated numbers"),
    (["--num-docs", "2"], "--num-docs must be at least the slate size 3, got 2"),
    (["--num-runs", "0"], "--num-runs must be >= 1, got 0"),
    (["--num-users", "-5"], "--num-users must be >= 1, got -5"),
    (["--horizon", "0"], "--horizon must be >= 1, got 0"),
    (["--runs-per-call", "0"], "--runs-per-call must be >= 1, got 0"),
    (["--figure", "yes"], "unrecognized arguments: yes"),
    (["--seed", str(2**32 + 1)], "--seed must be in [0, 2**32)"),
    (["--provider-means", np.zeros((80, 0))], "shape (80, 0)"),
    (["--provider-means", np.array([[0.0, np.nan]])], "NaN or infinite"),
    (["--provider-means", np.zeros(80)], "shape (80,) (1 dimensions)"),
    (["--provider-means", b"0.1 0.2\n0.3 0.4\n"], "is text, not a NumPy .npy file"),
    (["--provider-means", "missing.npy"], "does not exist"),
]


@pytest.mark.parametrize(("option", "message"), BAD, ids=[f"{o[0]}={str(o[1])[:12]}" for o, _ in BAD])
def test_each_bad_ecosystem_option_is_one_line_and_status_2(tmp_path, capsys, option, message):
    flag, value = option
    if not isinstance(value, str):
        value = str(_provider_file(tmp_path, value))
    elif flag == "--provider-means":
        value = str(tmp_path / value)
    out = tmp_path / "never"
    assert main(["run", "ecosystem", *TINY, flag, value, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("recosim: error: ") and message in err[0], err
    assert "pickle" not in err[0] and captured.out == "" and not out.exists()


def test_a_job_on_an_out_held_by_another_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import time\nfrom recosim.core.results import hold_out\nwith hold_out({str(out)!r}):\n"
         "    print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["run", "ecosystem", *TINY, "--out", str(out), "--quiet"]) == 2
        assert f"another job (pid {holder.pid}) holds {out}" in capsys.readouterr().err
        assert not (out / "runs.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.skipif(os.name != "posix", reason="kills subprocesses with SIGKILL")
def test_killed_at_random_points_torn_and_resumed_equals_an_uninterrupted_run(tmp_path):
    """SIGKILL a real job three times at random points, tear its last record, resume: the summary equals an
    uninterrupted run's and runs.jsonl holds every run exactly once."""
    argv = [sys.executable, "-m", "recosim.core.cli", "run", "ecosystem", "--num-users", "40", "--num-docs", "20",
            "--horizon", "10", "--num-runs", "7", "--boost-caps", "0,1.2", "--runs-per-call", "1", "--seed", "5",
            "--quiet", "--json"]
    total = 14
    reference = subprocess.run([*argv, "--out", str(tmp_path / "ref")], capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "killed"
    runs = out / "runs.jsonl"
    rng = random.Random(20261124)

    def count() -> int:
        return runs.read_bytes().count(b"\n") if runs.exists() else 0

    kills = []
    for target in sorted(rng.sample(range(2, total - 2), 3)):
        proc = subprocess.Popen([*argv, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while count() < target and proc.poll() is None:
            assert time.monotonic() < deadline, "the job made no progress"
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.08))  # somewhere inside the next run, or inside its write
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, "the job finished before it could be killed"
        kills.append(count())
    assert kills == sorted(kills) and kills[-1] < total
    data = runs.read_bytes()
    last = data[: len(data) - 1].rsplit(b"\n", 1)[-1]
    runs.write_bytes(data + last[: len(last) // 2])  # a torn append: half a record, no newline

    resumed = subprocess.run([*argv, "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "recosim: warning: " in resumed.stderr and "incomplete last line" in resumed.stderr
    assert json.loads(resumed.stdout) == json.loads(reference.stdout)
    assert json.loads((out / "summary.json").read_text()) == json.loads((tmp_path / "ref" / "summary.json").read_text())
    records = [json.loads(line) for line in runs.read_text().splitlines()]  # every line whole JSON: nothing glued
    keys = [(r["cap"], r["run"]) for r in records]
    assert len(keys) == len(set(keys)) == total  # no record lost or duplicated
    reference_records = {(r["cap"], r["run"]): r for r in map(json.loads, (tmp_path / "ref" / "runs.jsonl").open())}
    assert {k: r for k, r in zip(keys, records)} == reference_records


@pytest.mark.parametrize("runtime", [r for r in runtime_names() if r != "numpy"])
def test_batched_runs_equal_single_runs_and_other_runtimes_agree_in_distribution(runtime):
    case = EcosystemUseCase()
    args = dict(seed=2, out=None, num_users=40, num_docs=20, horizon=6, boost_caps="1.2", num_runs=3)
    batched = case.run(runtime=runtime, runs_per_call=3, **args)
    single = case.run(runtime=runtime, runs_per_call=1, **args)
    assert batched["policies"]["L=1.2"]["mean"] == pytest.approx(single["policies"]["L=1.2"]["mean"], rel=1e-5)
    reference = case.run(runtime="numpy", **args)["policies"]["L=1.2"]
    got = batched["policies"]["L=1.2"]
    # different random streams: the per-run means agree within sampling error (3 runs x 40 users x 6 steps)
    assert abs(got["mean"] - reference["mean"]) < 5 * np.hypot(got["stderr"], reference["stderr"]) + 1.0

