"""The use-case template's run store: opened around ``simulate``, handed over as ``setup.store``, resumed."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from recosim.core.errors import RecosimError
from recosim.core.results import RunStore
from recosim.core.usecase import NUM_RUNS, RUN_STORE, Parameter, RunSetup, UseCase


class _Stored(UseCase):
    """Run ``i`` scores ``(i + 1) * scale``; finished runs are kept in the template's store."""

    name = "stored"
    parameters = (NUM_RUNS.with_default(3), Parameter("scale", float, 1.0))

    def __init__(self) -> None:
        self.computed: list[int] = []
        self.seen: list[RunSetup] = []

    def make_store(self, setup: RunSetup) -> RunStore:
        config = {"seed": setup.seed, "scale": setup.params["scale"]}
        return RunStore(setup.file(RUN_STORE), config=config, key=("run",), fields=("score",))

    def simulate(self, setup, progress=None):
        self.seen.append(setup)
        store = setup.store
        assert store is not None
        for i in range(setup.params["num_runs"]):
            if (i,) not in store:
                self.computed.append(i)
                store.add({"run": i, "score": (i + 1) * setup.params["scale"]})
                if progress is not None:
                    progress(i + 1, setup.params["num_runs"])
        scores = [r["score"] for r in store.select([(i,) for i in range(setup.params["num_runs"])])]
        return {"total": sum(scores)}

    def run_rows(self, setup, summary):
        keys = [(i,) for i in range(setup.params["num_runs"])]
        return ({"run": r["run"], "metric": "score", "value": r["score"]} for r in setup.store.select(keys))


def test_the_store_is_opened_around_simulate_kept_in_out_and_read_back(tmp_path):
    out = tmp_path / "o"
    case = _Stored()
    first = case.run(runtime="numpy", seed=0, out=out, num_runs=2)
    assert first["total"] == 3.0 and case.computed == [0, 1]
    assert len((out / RUN_STORE).read_text().splitlines()) == 2
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert [(r["run"], r["metric"], r["value"]) for r in rows] == [("0", "score", "1.0"), ("1", "score", "2.0")]
    # a second job on the same out computes only the run it lacks, and reports just the runs asked for
    case.computed.clear()
    second = case.run(runtime="numpy", seed=0, out=out, num_runs=3)
    assert case.computed == [2] and second["total"] == 6.0
    assert json.loads((out / "summary.json").read_text())["total"] == 6.0
    case.computed.clear()
    assert case.run(runtime="numpy", seed=0, out=out, num_runs=1)["total"] == 1.0 and case.computed == []
    # runs made with another configuration are not reused
    with pytest.warns(UserWarning, match="other options"):
        assert case.run(runtime="numpy", seed=0, out=out, num_runs=1, scale=2.0)["total"] == 2.0
    assert case.computed == [0]


def test_without_out_the_store_lives_in_memory_and_the_setup_handed_in_is_left_as_it_was(tmp_path):
    case = _Stored()
    setup = case.setup(runtime="numpy", seed=4, out=None, num_runs=2)
    assert setup.store is None and setup.file(RUN_STORE) is None
    assert case.execute(setup)["total"] == 3.0
    assert setup.store is None  # the template handed simulate a copy holding the store
    store = case.seen[0].store
    assert store is not None and store.path is None and len(store.records) == 2
    assert case.seen[0] == setup  # the store is not part of the setup's identity


def test_the_store_is_closed_and_the_folder_released_when_simulate_fails(tmp_path):
    class Failing(_Stored):
        def simulate(self, setup, progress=None):
            setup.store.add({"run": 0, "score": 1.0})
            raise RecosimError("run 1 gave a non-finite score")

    out = tmp_path / "o"
    with pytest.raises(RecosimError, match="non-finite"):
        Failing().run(runtime="numpy", seed=0, out=out)
    assert not (out / "summary.json").exists()
    assert len((out / RUN_STORE).read_text().splitlines()) == 1  # the finished run is kept
    # another process can take the folder at once: nothing holds its lock any more
    probe = subprocess.run(
        [sys.executable, "-c", f"from recosim.core.results import hold_out\nwith hold_out({str(out)!r}): print('ok')"],
        capture_output=True, text=True, timeout=120,
    )
    assert probe.stdout.strip() == "ok", probe.stderr
    case = _Stored()
    assert case.run(runtime="numpy", seed=0, out=out)["total"] == 6.0 and case.computed == [1, 2]


def test_a_use_case_without_a_store_gets_none_and_file_names_its_files(tmp_path):
    class Plain(UseCase):
        name = "plain"

        def simulate(self, setup, progress=None):
            assert setup.store is None
            return {"where": str(setup.file("x.npy"))}

    assert Plain().make_store(Plain().setup(runtime="numpy", seed=0, out=None)) is None
    summary = Plain().run(runtime="numpy", seed=0, out=tmp_path / "o")
    assert Path(summary["where"]) == tmp_path / "o" / "x.npy"
    assert Plain().run(runtime="numpy", seed=0, out=None)["where"] == "None"
