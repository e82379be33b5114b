"""The command line as a newcomer meets it: lazy imports, no abbreviations, --version, python -m recosim,
readable help, a closing table, use cases as templates (and older use cases unchanged)."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import subprocess
import sys
import time

import pytest

from recosim.core.cli import closing_report, main
from recosim.core.example_usecases import RandomWalkUseCase
from recosim.core.plugins import hookimpl, make_plugins, manager
from recosim.core.progress import ProgressBar
from recosim.core.usecase import NUM_RUNS, Parameter, UseCase

_IMPORTED_USECASES = (  # the modules that registered use cases live in, and which of them were imported
    "import sys; from recosim.core.cli import main; from recosim.core.plugins import get_plugins; "
    "code = main({argv!r}); "
    "mods = {{r.target.split(':')[0] for r in get_plugins().usecases if isinstance(r.target, str)}}; "
    "assert 'recosim.core.example_usecases' in mods, mods; "
    "print('MODULES', sorted(m for m in mods if m in sys.modules), code)"
)


def _imported_usecase_modules(argv):
    res = subprocess.run([sys.executable, "-c", _IMPORTED_USECASES.format(argv=argv)], capture_output=True,
                         text=True, timeout=300)
    line = next(line for line in res.stdout.splitlines() if line.startswith("MODULES"))
    return line


@pytest.mark.parametrize("argv", [["--help"], ["plugins"], ["run", "--help"]])
def test_help_and_plugins_import_no_use_case(argv):
    line = _imported_usecase_modules(argv)
    assert line.startswith("MODULES [] "), line


def test_run_imports_only_the_use_case_it_runs(tmp_path):
    line = _imported_usecase_modules(["run", "counting", "--horizon", "3", "--quiet", "--out", str(tmp_path)])
    assert line == "MODULES ['recosim.core.example_usecases'] 0", line


def test_options_are_never_abbreviated(tmp_path, capsys):
    assert main(["run", "random-walk", "--num", "5", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unrecognized arguments: --num 5" in err[0], err
    assert not (tmp_path / "x").exists()


def test_version(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("recosim 0.") and "recosim-core 0." in out


@pytest.mark.skipif(importlib.util.find_spec("recosim.__main__") is None,
                    reason="`python -m recosim` comes with the umbrella distribution `recosim` (pip install -e .)")
def test_python_dash_m_recosim():
    res = subprocess.run([sys.executable, "-m", "recosim", "--version"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.startswith("recosim 0."), res.stderr


def test_help_says_each_default_once_and_lists_choices(capsys):
    assert main(["run", "random-walk", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--num-users", "--horizon", "--scale", "--runtime"):
        part = text.split(flag, 2)[-1].split(" --", 1)[0]
        assert part.count("default:") == 1, part


class _Choosy(UseCase):
    """A template use case: only simulate, with a choice option and several runs."""

    name = "choosy"
    parameters = (Parameter("mode", str, "fast", "how to run", choices=("fast", "slow")), NUM_RUNS.with_default(3))

    def simulate(self, setup, progress=None):
        runs = [float(i + (setup.params["mode"] == "slow")) for i in range(setup.params["num_runs"])]
        self.last_setup = setup
        return {"score": {"mean": sum(runs) / len(runs), "se": 0.577, "n": len(runs)}, "per_run": runs}

    def run_rows(self, setup, summary):
        for i, v in enumerate(summary["per_run"]):
            yield {"run": i, "mode": setup.params["mode"], "metric": "score", "value": v}


class _OldStyle(UseCase):
    """Written before the template: overrides run and calls setup itself."""

    name = "old-style"
    parameters = (NUM_RUNS.with_default(2),)

    def run(self, *, runtime, seed, out, progress=None, validate=False, **params):
        setup = self.setup(runtime=runtime, seed=seed, out=out, validate=validate, **params)
        summary = {**setup.header(), "total": 7.5}
        if setup.out is not None:
            (setup.out / "summary.json").write_text(json.dumps(summary))
        return summary

    def run_rows(self, setup, summary):
        return self.summary_rows(setup, summary)


class _Plugin:
    @hookimpl
    def recosim_add_usecases(self, registry):
        registry.add("choosy", _Choosy, summary="choosy")
        registry.add("old-style", _OldStyle, summary="old")


@pytest.fixture
def plugins(monkeypatch):
    made = make_plugins(load_entry_points=False, extra=[(_Plugin(), "fc-test", "fc-test-dist")])
    monkeypatch.setattr(manager, "_PLUGINS", made)
    return made


def test_choices_are_listed_and_checked(plugins, capsys, tmp_path):
    assert main(["run", "choosy", "--help"]) == 0
    assert "--mode {fast,slow}" in capsys.readouterr().out
    assert main(["run", "choosy", "--mode", "warp", "--out", str(tmp_path / "x")]) == 2
    assert "--mode must be one of fast, slow, got 'warp'" in capsys.readouterr().err


def test_a_template_use_case_writes_summary_and_a_tidy_runs_table(plugins, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", "choosy", "--mode", "slow", "--out", str(out), "--quiet", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((out / "summary.json").read_text())
    assert printed["usecase"] == "choosy" and printed["mode"] == "slow" and printed["score"]["mean"] == 2.0
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert [r["value"] for r in rows] == ["1.0", "2.0", "3.0"]
    assert list(rows[0]) == ["usecase", "runtime", "seed", "run", "mode", "metric", "value"]
    assert {r["usecase"] + r["runtime"] + r["seed"] + r["metric"] for r in rows} == {"choosynumpy0score"}


def test_the_command_line_hands_its_setup_over_instead_of_checking_twice(plugins, tmp_path, monkeypatch):
    calls = []
    original = _Choosy.setup
    monkeypatch.setattr(_Choosy, "setup", lambda self, **kw: calls.append(kw) or original(self, **kw))
    assert main(["run", "choosy", "--out", str(tmp_path / "o"), "--quiet", "--json"]) == 0
    assert len(calls) == 1


def test_an_old_style_use_case_runs_unchanged_and_gets_a_runs_table(plugins, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", "old-style", "--out", str(out), "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 7.5
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert [(r["metric"], r["value"]) for r in rows] == [("total", "7.5")]
    summary = _OldStyle().run(runtime="numpy", seed=1, out=None)  # and the Python API too
    assert summary["total"] == 7.5 and summary["seed"] == 1


def test_the_closing_table_is_short_with_standard_errors_and_names_the_files(plugins, tmp_path):
    out = tmp_path / "o"
    summary = _Choosy().run(runtime="numpy", seed=0, out=out, mode="slow")
    text = closing_report(_Choosy(), summary, out)
    lines = text.splitlines()
    assert lines[0] == "choosy on numpy, seed 0:"
    assert "score" in lines[1] and "2.00 ± 0.58" in lines[1]
    assert any(line.startswith(f"files in {out}: runs.csv, summary.json") for line in lines)
    assert len(lines) < 12 and "{" not in text


def test_on_a_terminal_the_run_ends_with_the_table_not_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert main(["run", "random-walk", "--num-users", "20", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("random-walk on numpy, seed 0:") and "final_std" in out and "{" not in out


def test_the_run_ends_with_a_short_table_and_json_only_behind_the_flag(tmp_path, capsys):
    args = ["run", "random-walk", "--num-users", "20", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "random-walk on numpy, seed 0:" and not any(line.lstrip().startswith("{") for line in out)
    assert any(line.startswith("files in ") for line in out) and len(out) < 15
    assert main([*args, "--out", str(tmp_path / "p"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_users"] == 20


def test_while_compiling_the_bar_shows_the_seconds_elapsed():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = ProgressBar("demo", stream, tick=0.05)
    time.sleep(0.4)
    bar(1, 2)
    text = stream.getvalue()
    bar.close()
    assert "demo: compiling… 0s" in text
    frozen = stream.getvalue()
    time.sleep(0.2)
    assert stream.getvalue() == frozen  # the ticker stops at the first report


def test_template_use_case_python_api_hands_over_a_setup(tmp_path):
    case = RandomWalkUseCase()
    setup = case.setup(runtime="numpy", seed=3, out=tmp_path / "o", num_users="10", horizon="4")
    summary = case.run(runtime="ignored", seed=99, out=None, setup=setup)
    assert summary["seed"] == 3 and summary["num_users"] == 10
    assert (tmp_path / "o" / "summary.json").exists()
    assert (tmp_path / "o" / "runs.csv").read_text().splitlines()[0] == "usecase,runtime,seed,run,metric,value"
