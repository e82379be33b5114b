"""The ecosystem's boost cap as a setting: one runtime for every cap gives what one runtime per cap gave."""

import json

import numpy as np
import pytest

from recosim.core import Runtime
from recosim.core.cli import main
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.usecases.ecosystem import EcosystemConfig, ecosystem_variables
from recosim.usecases.ecosystem_usecase import run_seed

CAPS = (0.0, 1.2, 2.4)


@pytest.fixture(params=runtime_names())
def runtime(request):
    return request.param


def config(cap):
    return EcosystemConfig(num_users=20, num_docs=12, boost_cap=cap)


def assert_same(runtime, got, expected):
    """Bitwise on NumPy; within float32 rounding on TF and JAX (a constant became an argument)."""
    for var in expected:
        for key in expected[var]:
            if runtime == "numpy":
                np.testing.assert_array_equal(got[var][key], expected[var][key], err_msg=f"{var}/{key}")
            else:
                np.testing.assert_allclose(got[var][key], expected[var][key], rtol=1e-5, atol=1e-5,
                                           err_msg=f"{var}/{key}")


def test_one_runtime_with_the_cap_per_call_equals_a_runtime_per_cap(runtime):
    """The per-cap runtimes declare no setting, so ``recommend`` reads ``EcosystemConfig.boost_cap``."""
    low, high = CAPS[0], CAPS[-1]
    shared = make_runtime_for(runtime, ecosystem_variables(config(low)), seed=0, settings={"boost_cap": low})
    per_cap = {cap: make_runtime_for(runtime, ecosystem_variables(config(cap)), seed=0) for cap in (low, high)}
    seeds = [run_seed(7, i) for i in range(2)]
    finals = {}
    for cap, rt in per_cap.items():
        got = to_numpy(shared.run_many(seeds, num_steps=5, settings={"boost_cap": cap}))
        assert_same(runtime, got, to_numpy(rt.run_many(seeds, num_steps=5)))
        finals[cap] = got["corpus state"]["clicks"]
    # the cap matters: the myopic recommender and L = 2.4 concentrate clicks differently
    assert not np.array_equal(finals[low], finals[high])
    # trajectories too, with an override; and with the declared default, which is the first cap (compared with
    # the shared runtime's own trajectory at that cap, whose equality with a runtime per cap run_many showed above:
    # one compiled trajectory fewer)
    assert_same(runtime, to_numpy(shared.trajectory(4, seed=3, settings={"boost_cap": high})),
                to_numpy(per_cap[high].trajectory(4, seed=3)))
    default = to_numpy(shared.trajectory(4, seed=1))
    assert_same(runtime, default, to_numpy(shared.trajectory(4, seed=1, settings={"boost_cap": low})))


def test_the_use_case_builds_one_runtime_for_all_caps(tmp_path, capsys, monkeypatch):
    built = []
    original = Runtime.__init__

    def counting_init(self, *args, **kwargs):
        built.append(kwargs.get("settings"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(Runtime, "__init__", counting_init)
    out = tmp_path / "out"
    argv = ["run", "ecosystem", "--runtime", "numpy", "--num-users", "12", "--num-docs", "8", "--horizon", "4", "--num-runs", "2",
            "--boost-caps", "0,1.2,2.4", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()
    assert built == [{"boost_cap": 0.0}]
    monkeypatch.setattr(Runtime, "__init__", original)
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    # the recorded utilities are those of a runtime per cap (the model's constant cap), bitwise on NumPy
    for cap in CAPS:
        runs = sorted((r for r in records if r["cap"] == cap), key=lambda r: r["run"])
        rt = make_runtime_for("numpy", ecosystem_variables(EcosystemConfig(num_users=12, num_docs=8, boost_cap=cap)))
        final = rt.run_many([r["seed"] for r in runs], num_steps=3)
        expected = np.asarray(final["metrics"].get("cumulative_utility"), np.float64).mean(-1)
        assert [r["mean_cumulative_utility"] for r in runs] == [float(u) for u in expected]
