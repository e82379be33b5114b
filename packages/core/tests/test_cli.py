"""The recosim command line."""

import io
import json

from recosim.core.cli import ProgressBar, main


def test_plugins_lists_runtimes_and_usecases(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "random-walk" in out and "counting" in out


def test_run_counting_writes_summary(tmp_path, capsys):
    assert main(["run", "counting", "--steps", "120", "--seed", "3", "--out", str(tmp_path), "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert printed == saved and saved["final_count"] == 120 and saved["seed"] == 3


def test_run_random_walk_is_reproducible(capsys):
    args = ["run", "random-walk", "--num-agents", "50", "--steps", "30", "--seed", "9", "--quiet"]
    main(args)
    first = json.loads(capsys.readouterr().out)
    main(args)
    assert json.loads(capsys.readouterr().out) == first


def test_unknown_runtime_is_a_clear_error(capsys):
    assert main(["run", "counting", "--runtime", "nope"]) == 1
    err = capsys.readouterr().err
    assert "no runtime named 'nope'" in err and "numpy" in err


def test_run_without_usecase_lists_them(capsys):
    assert main(["run"]) == 2
    assert "random-walk" in capsys.readouterr().err


def test_progress_bar_reports_tenths_when_not_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar("job", stream, force=True)
    for i in range(1, 101):
        bar(i, 100)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("job: 1/100") and lines[-1].startswith("job: 100/100") and len(lines) == 11
