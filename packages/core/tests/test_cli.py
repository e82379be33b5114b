"""The recosim command line: common options, one-line errors, default --out, the lock, Ctrl-C, progress."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recosim.core import hookimpl
from recosim.core.cli import main, resume_command
from recosim.core.errors import UsageError
from recosim.core.plugins import make_plugins, manager
from recosim.core.progress import ProgressBar
from recosim.core.runtime import NumpyRuntime
from recosim.core.usecase import NUM_RUNS, UseCase


def test_plugins_lists_runtimes_and_usecases(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "random-walk" in out and "counting" in out


def test_run_counting_writes_summary_with_provenance(tmp_path, capsys):
    assert main(["run", "counting", "--horizon", "121", "--seed", "3", "--out", str(tmp_path), "--quiet", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert printed == saved and saved["final_count"] == 120 and saved["seed"] == 3 and saved["horizon"] == 121
    assert saved["runtime_provider"]["distribution"] == "recosim-core" and saved["runtime_provider"]["version"]


def test_run_random_walk_is_reproducible(tmp_path, capsys):
    args = ["run", "random-walk", "--num-users", "50", "--horizon", "30", "--seed", "9", "--quiet", "--json"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert first["expected_std"] == pytest.approx(30**0.5)


def test_without_out_results_go_to_a_new_directory_under_runs_named_at_the_start(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "counting", "--horizon", "4"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("recosim: results in runs/counting-"), err  # before the progress bar
    out = Path(err[0].split(" in ", 1)[1])
    assert json.loads((tmp_path / out / "summary.json").read_text())["final_count"] == 3
    assert main(["run", "counting", "--horizon", "4", "--quiet"]) == 0  # a second job: another directory
    assert len(list((tmp_path / "runs").iterdir())) == 2


def _file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


BAD_OPTIONS = [
    (["counting", "--horizon", "0"], "--horizon must be >= 1, got 0"),
    (["counting", "--horizon", "ten"], "--horizon must be an integer, got 'ten'"),
    (["counting", "--horizon", "2.5"], "--horizon must be an integer, got '2.5'"),
    (["counting", "--seed", "-1"], "--seed must be in [0, 2**32)"),
    (["counting", "--seed", str(2**32)], "--seed must be in [0, 2**32) = [0, 4294967296), got 4294967296"),
    (["counting", "--seed", "1.5"], "--seed must be an integer in [0, 2**32), got '1.5'"),
    (["counting", "--runtime", "nope"], "no runtime named 'nope'"),
    (["counting", "--stepz", "3"], "unrecognized arguments: --stepz 3"),
    (["counting", "--horizon"], "argument --horizon: expected one argument"),
    (["random-walk", "--scale", "0"], "--scale must be > 0, got 0.0"),
    (["random-walk", "--scale", "nan"], "--scale must be a finite number, got 'nan'"),
    (["random-walk", "--num-users", "0"], "--num-users must be >= 1, got 0"),
    (["nope"], "invalid choice: 'nope'"),
    ([], "recosim run needs a use case: "),
]


@pytest.mark.parametrize(("argv", "message"), BAD_OPTIONS, ids=[" ".join(a) or "none" for a, _ in BAD_OPTIONS])
def test_each_bad_option_is_one_line_and_status_2_before_any_work(tmp_path, capsys, argv, message):
    out = tmp_path / "never"
    extra = ["--out", str(out)] if argv and argv[0] in ("counting", "random-walk") else []
    assert main(["run", *argv, *extra]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("recosim: error: ") and message in err[0], err
    assert captured.out == "" and not out.exists()  # nothing was computed or written


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_an_out_that_is_a_file_or_cannot_be_created_fails_at_once(tmp_path, capsys, where):
    path = _file(tmp_path) if where == "file" else _file(tmp_path) / "sub"
    assert main(["run", "counting", "--out", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    expected = "is a file, not a directory" if where == "file" else "the directory cannot be created (Not a directory)"
    assert len(err) == 1 and err[0].startswith(f"recosim: error: --out {path}") and expected in err[0], err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions do not bind root")
def test_a_read_only_out_fails_at_once(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert main(["run", "counting", "--out", str(out)]) == 2
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not writable" in err[0] and not (out / "summary.json").exists()


class _NoCheckedMode(NumpyRuntime):
    def __init__(self, network, *, seed=None):  # no validate=: a runtime without checked mode
        super().__init__(network, seed=seed)


class _StopsAfterThree(UseCase):
    """Reports 3 of 10 units, then Ctrl-C arrives."""

    name = "stops"
    parameters = (NUM_RUNS.with_default(10),)

    def run(self, *, runtime, seed, out, progress=None, validate=False, **params):
        setup = self.setup(runtime=runtime, seed=seed, out=out, validate=validate, **params)
        (setup.out / "part").write_text("3")
        progress(3, setup.params["num_runs"])
        raise KeyboardInterrupt


class _TestPlugin:
    @hookimpl
    def recosim_add_runtimes(self, registry):
        registry.add("unchecked", _NoCheckedMode, backend="recosim.core.backend:numpy_backend")

    @hookimpl
    def recosim_add_usecases(self, registry):
        registry.add("stops", _StopsAfterThree, summary="stops")


@pytest.fixture
def test_plugins(monkeypatch):
    plugins = make_plugins(load_entry_points=False, extra=[(_TestPlugin(), "cli-test", "cli-test-dist")])
    monkeypatch.setattr(manager, "_PLUGINS", plugins)
    return plugins


def test_validate_on_a_runtime_without_checked_mode_is_refused_before_work(tmp_path, capsys, test_plugins):
    out = tmp_path / "never"
    assert main(["run", "counting", "--runtime", "unchecked", "--validate", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["recosim: error: --validate: runtime 'unchecked' (from cli-test-dist) has no checked mode"]
    assert not out.exists()
    assert main(["run", "counting", "--runtime", "unchecked", "--out", str(out), "--quiet"]) == 0


def test_ctrl_c_is_one_line_saying_how_to_resume_and_status_130(tmp_path, capsys, test_plugins):
    out = tmp_path / "job"
    assert main(["run", "stops", "--num-runs", "10", "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"recosim: interrupted with 3 of 10 finished and saved in {out}; "
                       f"resume with: recosim run stops --num-runs 10 --out {out}")
    assert "Traceback" not in "\n".join(err) and (out / "part").exists()
    assert not (out / ".recosim.lock").read_text()  # released cleanly


def test_resume_command_adds_out_only_when_missing():
    assert resume_command(["run", "counting"], Path("runs/x y")) == "recosim run counting --out 'runs/x y'"
    assert resume_command(["run", "counting", "--out=a"], "b") == "recosim run counting --out=a"


def test_second_job_on_one_out_is_refused_while_the_first_holds_it(tmp_path, capsys):
    out = tmp_path / "busy"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from recosim.core.results import hold_out\n"
         f"with hold_out({str(out)!r}):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["run", "counting", "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"recosim: error: another job (pid {holder.pid}) holds {out}; "
                       "wait for it to finish or give another --out"]
        assert not (out / "summary.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(["run", "counting", "--out", str(out), "--quiet"]) == 0  # the dead holder's lock is taken over
    assert f"the previous job (pid {holder.pid}) ended without releasing it" in capsys.readouterr().err


def default_sigint() -> None:
    """In a child about to be sent SIGINT: the default disposition, whatever its parent's was."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not Path("/proc").is_dir() or os.name != "posix", reason="signals a subprocess")
def test_a_real_ctrl_c_in_a_subprocess_is_one_line_and_status_130(tmp_path):
    out = tmp_path / "walk"
    argv = [sys.executable, "-m", "recosim.core.cli", "run", "random-walk", "--num-users", "4", "--horizon",
            "400000", "--out", str(out)]
    # Started as a background job would be (SIGINT ignored, and inherited so), the child gets the
    # default disposition back, so the suite passes from `nohup ... &` as from a terminal.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=default_sigint)
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.npz").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("recosim: interrupted with ") and last.endswith(
        f"resume with: recosim run random-walk --num-users 4 --horizon 400000 --out {out}"), last
    assert "Traceback" not in stderr and stdout == ""


def test_progress_shows_compiling_until_the_first_report():
    stream = io.StringIO()
    bar = ProgressBar("job", stream, log_interval=0)
    assert stream.getvalue() == "job: compiling…\n"
    for i in range(1, 5):
        bar(i, 4)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "job: compiling…" and lines[1].startswith("job:  25%") and "4/4" in lines[-1]
    assert (bar.first, bar.last) == ((1, 4), (4, 4))


def test_progress_time_estimate_counts_only_this_jobs_work(monkeypatch):
    """Resumed at 90 of 100: 5 more in 5 s leaves 5 s, not the 0.3 s that 95 done in 5 s would suggest."""
    clock = [1000.0]
    monkeypatch.setattr("recosim.core.progress.time.monotonic", lambda: clock[0])
    stream = io.StringIO()
    bar = ProgressBar("job", stream, log_interval=0)
    bar(90, 100)
    clock[0] += 5.0
    bar(95, 100)
    assert stream.getvalue().splitlines()[-1].endswith("95/100 [00:05<00:05]")


def test_usage_error_is_a_value_error_for_python_callers():
    assert issubclass(UsageError, ValueError)
