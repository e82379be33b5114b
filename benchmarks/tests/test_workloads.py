"""The workload registry: availability, the ecosystem workload against its use case, the use-case contract."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from harness import Clock
from workloads import SIZES, WORKLOADS, Workload, availability, child_params, ecosystem, through_usecase

import recosim.core.plugins as plugins_mod
from recosim.core.plugins import hookimpl, make_plugins
from recosim.core.usecase import Parameter, UseCase


def test_every_workload_has_every_size() -> None:
    for name in ("reference", "small"):
        assert set(SIZES[name]) == set(WORKLOADS)
    # "short" is the reference latent-variable problem with fewer EM iterations, nothing else
    short = SIZES["short"]["latent-variable"]
    assert set(SIZES["short"]) == {"latent-variable"}
    assert {**short, "num_iterations": 100} == SIZES["reference"]["latent-variable"] and short["num_iterations"] < 100
    ref = SIZES["reference"]
    assert ref["ecosystem"] == {
        "num_users": 2000,
        "num_docs": 400,
        "horizon": 300,
        "num_runs": 8,
        "boost_caps": [0.0, 1.2],
    }
    assert ref["interest-evolution"] == {
        "num_users": 1000,
        "horizon": 100,
        "num_training_steps": 100,
        "history_length": "15",
    }
    assert ref["latent-variable"]["num_iterations"] == 100 and ref["latent-variable"]["num_users"] == 5


def test_a_missing_use_case_or_runtime_is_reported_not_run() -> None:
    ghost = Workload("ghost", "no such use case", "no-such-usecase", ("numpy",), "through_usecase", {})
    assert availability(ghost, "numpy") == "not available (use case not installed)"
    assert availability(WORKLOADS["ecosystem"], "no-such-runtime") == "not available (runtime not installed)"
    assert availability(WORKLOADS["ecosystem"], "numpy") is None


def test_ecosystem_workload_matches_the_use_case_run_for_run() -> None:
    from recosim.usecases.ecosystem_usecase import EcosystemUseCase

    sizes = {"num_users": 6, "num_docs": 12, "horizon": 3, "num_runs": 2, "boost_caps": [0.0, 1.2]}
    clock = Clock()
    got = ecosystem(clock, runtime="numpy", seed=4, **sizes)
    want = EcosystemUseCase().run(
        runtime="numpy", seed=4, out=None, num_users=6, num_docs=12, horizon=3, num_runs=2, boost_caps="0,1.2"
    )
    for cap in ("L=0", "L=1.2"):
        assert got["utility"][cap]["runs"] == 2
        assert got["utility"][cap]["mean"] == pytest.approx(want["policies"][cap]["mean"], rel=1e-6)
        assert got["utility"][cap]["stderr"] == pytest.approx(want["policies"][cap]["stderr"], rel=1e-6)
    assert got["units"] == 2 * 2 * 3
    assert "first" in clock.phases and "warm" not in clock.phases  # NumPy compiles nothing


class _StepUseCase(UseCase):
    name = "stepper"
    parameters = (
        Parameter("num_users", int, 3),
        Parameter("horizon", int, 2),
        Parameter("num_training_steps", int, 1),
        Parameter("report_every", int, 1),
    )
    seen: ClassVar[dict[str, Any]] = {}

    def run(self, *, runtime: str, seed: int, out: Path | None, progress: Any = None, **params: Any) -> Mapping:
        p = self.validate(params)
        type(self).seen = {"runtime": runtime, **p}
        n, every = p["num_training_steps"], p["report_every"]
        for step in range(n):
            time.sleep(0.05 if step == 0 else 0.01)  # the first step "compiles"
            if progress is not None and ((step + 1) % every == 0 or step + 1 == n):
                progress(step + 1, n)
        return {"reward": float(p["num_users"] * p["horizon"]), "curve": list(range(500))}


class _Plugin:
    @hookimpl
    def recosim_add_usecases(self, registry: Any) -> None:
        registry.add("stepper", _StepUseCase, summary="test use case")


@pytest.fixture
def stepper_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = make_plugins(load_entry_points=False, extra=[(_Plugin(), "stepper", "stepper-dist")])
    monkeypatch.setattr(plugins_mod, "get_plugins", lambda **_: plugins)


def test_use_case_contract_gets_the_sizes_under_its_own_names(stepper_installed: None) -> None:
    clock = Clock()
    res = through_usecase(
        clock,
        runtime="numpy",
        usecase="stepper",
        usecase_params={"num_users": "num_users", "horizon": "horizon", "num_training_steps": "num_training_steps"},
        num_users=7,
        horizon=5,
        num_training_steps=4,
        not_a_use_case_size=1,  # sizes without a mapping stay with the benchmark
    )
    assert _StepUseCase.seen == {
        "runtime": "numpy",
        "num_users": 7,
        "horizon": 5,
        "num_training_steps": 4,
        "report_every": 1,
    }
    assert res["summary"] == {"reward": 35.0}  # long arrays left out of the report
    assert res["units"] == 4 and res["compile_estimate_s"] is not None


def test_a_progress_report_covering_several_steps_counts_each(stepper_installed: None) -> None:
    res = through_usecase(
        Clock(),
        runtime="numpy",
        usecase="stepper",
        usecase_params={"num_training_steps": "num_training_steps", "every": "report_every"},
        num_training_steps=20,
        every=5,
    )
    assert res["units"] == 20
    # steps of 10 ms after a first of 50 ms: sleeps only lengthen, so bounds from below and loosely above
    assert 0.009 < res["steady_step_s"] < 0.05
    assert 0.03 < res["compile_estimate_s"] < 0.2


def test_use_case_contract_names_parameters_it_lacks(stepper_installed: None) -> None:
    with pytest.raises(
        ValueError,
        match=r"takes parameters \['horizon', 'num_training_steps', 'num_users', 'report_every'\].*"
        r"\['num_iterations'\]",
    ):
        through_usecase(Clock(), runtime="numpy", usecase="stepper", usecase_params={"n": "num_iterations"}, n=3)


def test_child_params_carry_the_use_case_mapping() -> None:
    p = child_params(WORKLOADS["interest-evolution"], "jax", "small")
    assert p["runtime"] == "jax" and p["usecase"] == "interest-evolution"
    assert p["usecase_params"]["num_training_steps"] == "train_steps"
    e = child_params(WORKLOADS["ecosystem"], "tf", "small", warm=False, runs_per_call=None)
    assert e["warm"] is False and "runs_per_call" not in e
