"""The integrity model and use case: a trajectory on every runtime, the rest on NumPy and JAX, log-probabilities, sweep statistics."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from recosim.core import RandomVariableError, Value
from recosim.core.backend import numpy_backend, using_backend
from recosim.core.cli import main
from recosim.core.errors import UsageError
from recosim.core.log_probability import step_log_probabilities
from recosim.core.network import Network
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.core.trajectory import slice_step
from recosim.usecases.integrity import (
    FIXED_RULE_POLICY,
    PARAMETER_SETTINGS,
    IntegrityConfig,
    check_params,
    default_params,
    integrity_variables,
    parameter_settings,
    summarise_final,
)
from recosim.usecases.integrity import statistics as stats
from recosim.usecases.integrity.grid import METRICS, GridRunner, Job
from recosim.usecases.integrity.runner import IntegrityUseCase

TINY = IntegrityConfig(num_accounts=120, scammer_fraction=0.05)  # what the use case builds at this size
HORIZON, BATCH = 5, 4  # one compiled batch function serves every JAX test below


@pytest.fixture(params=runtime_names())
def runtime(request):
    return request.param


@pytest.mark.every_runtime
def test_trajectory_is_consistent(runtime):
    """Graph symmetry, rate limits, reward bookkeeping and suspension, on every runtime."""
    params = default_params(rate_limit=2.0, threshold=3.0)
    traj = to_numpy(make_runtime_for(runtime, integrity_variables(TINY, params), seed=4).trajectory(8))
    nbr, deg = traj["graph"]["neighbours"], traj["graph"]["degree"]
    is_scam = TINY.is_scammer()
    for t in range(8):
        lists = [set(r[:d]) for r, d in zip(nbr[t], deg[t])]
        assert all(i in lists[j] for i in range(TINY.num_accounts) for j in lists[i])  # undirected
        assert all(len(lists[i]) == d for i, d in enumerate(deg[t]))  # no repeats
        assert not any(lists[i] & set(np.flatnonzero(is_scam)) for i in np.flatnonzero(is_scam))  # no scam rings
    lim = traj["platform limits"]
    sent_requests = lim["scam_request"].sum(-1)
    sent_messages = lim["scam_message"].sum(-1) + lim["camouflage"]
    assert sent_requests.max() <= 2 and sent_messages.max() <= 2 and lim["genuine_messages"].max() <= 2
    assert np.all(lim["scam_request"] <= traj["scammers"]["request"])  # only attempted requests are sent
    m = traj["metrics"]
    np.testing.assert_allclose(m["cumulative_reward"], np.cumsum(m["reward"], axis=0))
    np.testing.assert_allclose(m["reward"], traj["interactions"]["scam_success"].sum(-1))
    assert np.all(m["victim"][1:] >= m["victim"][:-1]) and m["victim"][-1].sum() == m["cumulative_reward"][-1].sum()
    assert not np.any(m["victim"][:, is_scam])
    plat = traj["platform"]
    assert np.all(plat["suspended"][1:] >= plat["suspended"][:-1])
    newly = plat["suspended"][1:] & ~plat["suspended"][:-1]
    assert np.all(plat["score"][1:][newly] > 3.0)
    # suspended scammers stop acting the step after
    sids = TINY.scammer_ids()
    for t in range(1, 8):
        off = plat["suspended"][t - 1][sids]
        assert traj["scammers"]["request"][t][off].sum() == 0 and traj["scammers"]["message"][t][off].sum() == 0


def test_log_probability_of_a_logged_trajectory(runtime):
    """Every draw is logged; the runtime's log-probability matches the NumPy reference and is finite."""
    variables = integrity_variables(TINY, default_params(3.0, 4.0))
    traj = make_runtime_for("numpy", variables, seed=1).trajectory(5)
    reference = float(make_runtime_for("numpy", variables).log_probability(traj))
    assert np.isfinite(reference) and reference < 0
    if runtime != "numpy":
        got = float(np.asarray(make_runtime_for(runtime, integrity_variables(TINY, default_params(3.0, 4.0))).log_probability(traj)))
        assert got == pytest.approx(reference, rel=1e-4, abs=0.05)


def test_policy_log_probability_has_its_closed_form_and_calibrates_the_policy():
    cfg = dataclasses.replace(TINY, num_accounts=400, community_size=40, capacity=10)
    truth = dict(FIXED_RULE_POLICY, request_bias=np.float32(0.5))
    variables = integrity_variables(cfg, default_params(4.0, 50.0, truth))
    traj = make_runtime_for("numpy", variables, seed=2).trajectory(12)
    network = Network(variables)
    B = numpy_backend()
    with using_backend(B):
        lp = step_log_probabilities(network, slice_step(traj, 5), slice_step(traj, 4), backend=B)["scammers"]
    view, act = traj["scammer view"], traj["scammers"]
    sids = cfg.scammer_ids()
    active = ~np.asarray(traj["platform"].get("suspended"))[4][sids]

    def bern(logits, mask, x):
        p = 1 / (1 + np.exp(-logits))
        return np.where(mask, np.where(x == 1, np.log(p), np.log1p(-p)), 0.0).sum()

    req = 0.5 + view["candidate_features"][5] @ np.zeros(3)
    msg = 0.0 + 0.0 * view["contact_signal"][5]
    expected = (
        bern(req, view["candidate_ok"][5] & active[:, None], act["request"][5])
        + bern(np.full(act["camouflage"][5].shape, -3.0), np.broadcast_to(active[:, None], act["camouflage"][5].shape), act["camouflage"][5])
        + bern(msg, view["contact_ok"][5] & active[:, None], act["message"][5])
    )
    assert float(lp) == pytest.approx(expected, rel=1e-4)

    # the log-probability as a function of the request bias peaks near the value that generated the data
    def total(bias):
        policy = dict(truth, request_bias=np.float32(bias))
        return float(make_runtime_for("numpy", integrity_variables(cfg, default_params(4.0, 50.0, policy))).log_probability(traj))

    grid = [-1.0, 0.0, 0.5, 1.0, 2.0]
    scores = [total(b) for b in grid]
    assert grid[int(np.argmax(scores))] == 0.5
    # a draw missing from the log is named, not sampled
    broken = dict(traj, scammers=Value({k: v for k, v in traj["scammers"].items() if k != "camouflage"}))
    with pytest.raises(RandomVariableError, match="scammers/camouflage"):
        make_runtime_for("numpy", variables).log_probability(broken)


def test_usecase_at_a_tiny_size(tmp_path):
    """Files, summary and resume: a job stopped after its first chunk of runs keeps them and goes on from there.

    Bookkeeping that does not depend on the runtime, so on NumPy only: the use case runs on JAX in
    ``test_robust_design_pipeline`` and its batches are checked against single runs there in
    ``test_batched_jobs_equal_single_runs_of_the_model_built_with_its_parameters``.
    """
    runtime = "numpy"
    case = IntegrityUseCase()
    args = dict(
        runtime=runtime, seed=3, out=tmp_path, num_users=120, scammer_fraction=0.05, horizon=HORIZON,
        rate_limits="2", thresholds="3", runs_per_call=BATCH, num_runs=2 * BATCH,
    )  # one cell (one runtime to build), two chunks of runs

    def stop_after_first_chunk(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        case.run(progress=stop_after_first_chunk, **args)
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == BATCH  # the finished chunk is saved
    seen = []
    summary = case.run(progress=lambda d, t: seen.append((d, t)), **args)
    assert seen == [(BATCH, 2 * BATCH), (2 * BATCH, 2 * BATCH)]  # the saved runs were read back, not recomputed
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 2 * BATCH
    rows = json.loads((tmp_path / "sweep.json").read_text())["rows"]
    assert [(r["rate_limit"], r["threshold"], r["runs"]) for r in rows] == [(2.0, 3.0, 2 * BATCH)]
    for r in rows:
        assert all(np.isfinite(r[m]) for m in METRICS) and r["overflow"] == 0
    for name in ("pareto.png", "heatmaps.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "sweep.csv").read_text().splitlines()[0].startswith("policy,rate_limit,threshold,runs,victims")
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["usecase"] == "integrity" and written["runtime"] == runtime and written["num_users"] == 120
    assert written["rate_limits"] == [2.0] and written["runtime_provider"]["distribution"]
    assert summary["chosen_against_fixed_rule"]["runs"] == 2 * BATCH
    table = (tmp_path / "runs.csv").read_text().splitlines()  # every metric of every run, one per row
    assert table[0] == "usecase,runtime,seed,run,policy,rate_limit,threshold,metric,value"
    assert len(table) == 1 + 2 * BATCH * len(METRICS) and written["files"]["runs_table"] == "runs.csv"
    chosen = summary["chosen_against_fixed_rule"]
    assert case.headline(summary)[0] == ("victims at L=2,tau=3, chosen against rule followers", chosen["victims"],
                                         chosen["victims_se"])


def test_batched_jobs_equal_single_runs_of_the_model_built_with_its_parameters(runtime):
    """The grid's batches (parameters as settings, cells x runs) give each job's own run."""
    from recosim.core.checkpoint import chunk_seed

    cfg, horizon = TINY, HORIZON
    other = dict(FIXED_RULE_POLICY, camouflage_bias=np.float32(1.0), request_weights=np.float32([0.5, 0.0, -0.5]))
    policies = {"fixed": None, "other": other}
    jobs = [Job("other", 3.0, 4.0, 1), Job("fixed", 2.0, 3.0, 0), Job("other", 3.0, 4.0, 0), Job("fixed", 2.0, 3.0, 1)]
    batched = GridRunner(cfg, horizon, runtime, runs_per_call=BATCH).run(jobs, policies, seed=7)  # one batch
    assert [(r["policy"], r["rate_limit"], r["threshold"], r["run"]) for r in batched] == [
        (j.policy, j.rate_limit, j.threshold, j.run) for j in jobs
    ]
    job, rec = jobs[0], batched[0]  # not the first cell nor the first run of the batch
    params = default_params(job.rate_limit, job.threshold, policies[job.policy])
    rt = make_runtime_for(runtime, integrity_variables(cfg, params))
    single = summarise_final(to_numpy(rt.execute(horizon, seed=chunk_seed(7, job.run))), cfg)
    single["engagement"] /= cfg.num_genuine * horizon
    for m in ("victims", "friction", "engagement", "scammer_reward", "scammers_suspended"):
        assert rec[m] == pytest.approx(single[m], rel=1e-6), m
    assert batched[0]["engagement"] != batched[2]["engagement"]  # runs 1 and 0: different seeds
    assert batched[1]["engagement"] != batched[3]["engagement"]


def test_parameters_as_settings_are_checked():
    s = parameter_settings(default_params(2.0, 3.0))
    assert set(s) == set(PARAMETER_SETTINGS) and s["rate_limit"] == 2.0 and s["request_weights"].shape == (3,)
    with pytest.raises(ValueError, match=r"params\['scammer'\] lacks 'request_weights'"):
        parameter_settings({"mechanism": default_params()["mechanism"], "scammer": {"request_bias": 1.0}})


def test_statistics_on_synthetic_records():
    rng = np.random.default_rng(0)
    records = []
    for i in range(6):
        base = rng.normal(0, 1)
        for limit in (1.0, 2.0):
            for tau in (2.0, 4.0):
                victims = 100 * tau + 10 * limit + base  # stricter (lower) is fewer victims
                friction = 50 / tau + 5 / limit + 0.1 * base
                records.append({"policy": "p", "rate_limit": limit, "threshold": tau, "run": i,
                                **{m: 0.0 for m in METRICS}, "victims": victims, "friction": friction})
    rows = stats.summarise(records, "p")
    assert len(rows) == 4 and rows[0]["runs"] == 6
    d = stats.paired_difference(records, "victims", ("p", (2.0, 4.0)), ("p", (2.0, 2.0)))
    assert d["difference"] == pytest.approx(-200.0) and d["stderr"] < 1e-9 and d["z"] < -1e6  # common noise cancels
    t = stats.trends(records, "p", [1.0, 2.0], [2.0, 4.0])
    assert t["threshold"]["victims_down_significant"] == 2 and t["threshold"]["friction_up_significant"] == 2
    assert t["rate_limit"]["victims_down_significant"] == 2 and t["rate_limit"]["friction_up_significant"] == 2
    assert t["corner"]["victims"]["difference"] == pytest.approx(-210.0)
    chosen = stats.choose(rows, friction_weight=1.0)
    assert (chosen["rate_limit"], chosen["threshold"]) == (1.0, 2.0)
    assert (stats.choose(rows, 100.0)["rate_limit"], stats.choose(rows, 100.0)["threshold"]) == (2.0, 4.0)
    front = stats.pareto_front(rows)
    assert [(r["rate_limit"], r["threshold"]) for r in front] == [(2.0, 4.0), (1.0, 4.0), (2.0, 2.0), (1.0, 2.0)]
    # one run says nothing about the spread: core's convention, a NaN standard error (never a silent 0)
    one = [r for r in records if r["run"] == 0]
    row = stats.summarise(one, "p")[0]
    assert row["runs"] == 1 and np.isnan(row["victims_se"]) and row["victims"] == one[0]["victims"]
    d = stats.paired_difference(one, "victims", ("p", (2.0, 4.0)), ("p", (2.0, 2.0)))
    assert d["runs"] == 1 and np.isnan(d["stderr"]) and np.isnan(d["z"])


def test_bad_input_is_named(tmp_path, capsys):
    case = IntegrityUseCase()
    assert case.validate({"rate_limits": "8,2", "thresholds": [4, 3.5]})["rate_limits"] == (2.0, 8.0)
    with pytest.raises(UsageError, match="--rate-limits"):
        case.run(runtime="numpy", seed=0, out=None, rate_limits="1,x")
    with pytest.raises(UsageError, match="--thresholds must all be > 0"):
        case.run(runtime="numpy", seed=0, out=None, thresholds="0,2")
    with pytest.raises(UsageError, match="--scammer-fraction"):
        case.run(runtime="numpy", seed=0, out=None, scammer_fraction=0.7)
    with pytest.raises(UsageError, match="--num-users.*leaves no scammer"):
        case.run(runtime="numpy", seed=0, out=None, num_users=20, scammer_fraction=0.01)
    with pytest.raises(UsageError, match="--horizon"):
        case.run(runtime="numpy", seed=0, out=None, horizon=0)
    # the runtime's missing capability, or first (where recosim-inference is not installed) the missing trainer
    with pytest.raises(UsageError, match="--learning-adversary( trains by gradients, which the 'numpy' runtime|: "
                                         "learning scammers need recosim-inference)"):
        case.run(runtime="numpy", seed=0, out=None, learning_adversary=True, num_users=100)
    with pytest.raises(ValueError, match="request_weights"):
        check_params(default_params(policy=dict(FIXED_RULE_POLICY, request_weights=np.zeros(2, np.float32))))
    # the command line: one error line, exit status 2, nothing written
    assert main(["run", "integrity", "--thresholds", "0,2", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["recosim: error: --thresholds must all be > 0, got 0,2"]
    assert not (tmp_path / "x" / "runs.jsonl").exists()


@pytest.mark.needs_runtime("jax")
def test_robust_design_pipeline(tmp_path, monkeypatch):
    """The learning phase's bookkeeping, with a stand-in for the (separately tested) trainer.

    The stand-in's best response to a setting requests more the higher the threshold, so the
    setting chosen against it is the strictest one; the use case must find it, train there,
    and report the comparisons and files.
    """
    from recosim.usecases.integrity import learning

    trained = []

    def fake_train(setup, rate_limit, threshold, *, init_policy=None, updates=None, seed=0, checkpoint=None,
                   runtime="jax", quiet=True, callback=None):
        trained.append(((rate_limit, threshold), init_policy is None, updates))
        assert runtime == "jax"  # the use case's runtime trains
        policy = dict(FIXED_RULE_POLICY, request_bias=np.float32(threshold / 2), camouflage_bias=np.float32(2.0))
        return learning.LearnedPolicy(policy, np.linspace(0.1, 2.0, updates or setup.updates), (rate_limit, threshold))

    monkeypatch.setattr(learning, "trainer_available", lambda: None)
    monkeypatch.setattr(learning, "train_best_response", fake_train)
    summary = IntegrityUseCase().run(
        runtime="jax", seed=1, out=tmp_path, num_users=120, scammer_fraction=0.05, horizon=HORIZON, num_runs=2,
        rate_limits="8", thresholds="2,4,30", learning_adversary=True, train_updates=6, robust_candidates=2,
        runs_per_call=BATCH, friction_weight=0.0,
    )
    learning = summary["learning"]
    chosen = tuple(summary["chosen_against_fixed_rule"][k] for k in ("rate_limit", "threshold"))
    assert trained[0] == (chosen, True, 6)  # the first best response starts from the fixed rule
    assert [t[1:] for t in trained[1:]] == [(False, 3), (False, 3)]  # the others from the first, half as long
    assert {tuple(c) for c in learning["candidates"]} == {(8.0, t) for t in (2.0, 4.0, 30.0)} - {chosen}
    assert learning["reward_over_training"]["rise"] == pytest.approx(1.9 * 4 / 5, rel=0.3)
    diff = learning["at_chosen_against_fixed_rule"]["learner_minus_fixed"]
    assert diff["runs"] == 2 and np.isfinite(diff["difference"])
    robust = learning["chosen_against_learners"]
    assert robust["cost"] == pytest.approx(robust["victims"])  # friction weight 0: victims alone decide
    rows = json.loads((tmp_path / "learning.json").read_text())["learner_rows"]
    assert robust["victims"] == min(r["victims"] for r in rows) and len(rows) == 3
    for name in ("learning_curves.png", "robust.png", "robust.csv"):
        assert (tmp_path / name).read_bytes()[:4] in (b"\x89PNG", b"poli")


@pytest.mark.needs_runtime("jax")
def test_learning_scammers_improve_on_the_fixed_rule():
    pytest.importorskip("recosim.inference")
    from recosim.usecases.integrity.learning import TrainingSetup, train_best_response

    cfg = IntegrityConfig(num_accounts=400, scammer_fraction=0.05)
    setup = TrainingSetup(cfg, horizon=31, updates=16, learning_rate=0.2)
    learned = train_best_response(setup, 8.0, 4.0, seed=0)
    assert learned.curve.shape == (16,)
    assert learned.policy["request_weights"].shape == (3,)
    # rule followers at (8, 4) rarely scam anyone before they are caught; the learners do much better
    assert learned.curve[-4:].mean() > 3 * learned.curve[:4].mean() + 0.1
