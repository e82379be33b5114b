"""``recosim run latent-variable``: files, figure and resume per EM iteration, one-line errors."""

import csv
import json

import numpy as np
import pytest
from model_tools import png_size

from recosim.core.cli import main
from recosim.core.testing import runtime_names
from recosim.usecases.latent_variable import LATENT, TRUE_ALPHA
from recosim.usecases.latent_variable_usecase import DIFFERENTIABLE_RUNTIMES, LatentVariableUseCase

# 2 users (alpha starts at 0 and 1), 3 steps, 4 EM iterations of 2 chains x (15 burn-in + 15 draws)
TINY = dict(
    num_users=2, horizon=3, num_iterations=4, num_chains=2, num_burnin_steps=15, num_samples=15, learning_rate=0.05
)
TINY_ARGV = [a for k, v in TINY.items() for a in ("--" + k.replace("_", "-"), str(v))]
FILES = {"summary.json", "history.csv", "history.json", "figure2.png", "checkpoint", "runs.csv", "posterior.nc"}


@pytest.fixture(params=runtime_names())
def runtime(request):
    return request.param


def test_writes_history_summary_and_figure_resumes_and_moves_alpha_toward_the_truth(runtime, tmp_path, capsys):
    """Stopped after two of four EM iterations (Ctrl-C in the middle of the job), then rerun: the rerun computes
    only the last two, and the files hold all four."""
    out = tmp_path / "out"
    argv = ["run", "latent-variable", "--runtime", runtime, *TINY_ARGV, "--seed", "3", "--out", str(out), "--quiet"]
    if runtime not in DIFFERENTIABLE_RUNTIMES:  # numpy cannot differentiate: refused before any work
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("recosim: error: --runtime numpy"), err
        assert "needs gradients" in err[0] and not out.exists()
        return
    case = LatentVariableUseCase()

    def stop_after_two(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        case.run(runtime=runtime, seed=3, out=out, progress=stop_after_two, **TINY)
    meta = json.loads((out / "checkpoint" / "meta.json").read_text())
    assert meta["done"] == 2 and meta["state"].endswith(".npz") and not (out / "summary.json").exists()
    with np.load(out / "checkpoint" / meta["records"], allow_pickle=False) as saved:
        first_two = saved["params/alpha"].copy()

    seen = []
    summary = case.run(runtime=runtime, seed=3, out=out, progress=lambda d, t: seen.append((d, t)), **TINY)
    assert seen == [(3, 4), (4, 4)]  # only the last two iterations were computed
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == FILES
    history = json.loads((out / "history.json").read_text())
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["runtime"] == runtime and summary["num_iterations"] == 4
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["iteration"]) for r in rows] == history["iteration"] == [1, 2, 3, 4]
    alpha = np.array([[float(r["alpha_0"]), float(r["alpha_1"])] for r in rows])
    np.testing.assert_allclose(alpha, history["alpha"], rtol=1e-12)
    np.testing.assert_allclose(alpha[:2], first_two, rtol=1e-6)  # the finished iterations were kept
    np.testing.assert_allclose(np.abs(alpha - TRUE_ALPHA).mean(axis=1), history["mae"], rtol=1e-12)
    assert summary["final_alpha"] == history["alpha"][-1] and summary["final_mae"] == history["mae"][-1]
    assert np.all((alpha >= 0) & (alpha <= 1)) and np.all(np.isfinite(history["elbo"]))
    # started at 0 and 1, each user's estimate moves toward 0.8 at every Adam step (lr 0.05), and the ELBO rises
    assert np.all(np.diff(alpha[:, 0]) > 0) and np.all(np.diff(alpha[:, 1]) < 0)
    assert history["mae"][-1] < history["mae"][0] < 0.8 and summary["elbo_last"] > summary["elbo_first"]
    assert 0.3 < summary["mean_acceptance_rate"] <= 1.0
    from recosim.inference import load_posterior

    draws = load_posterior(out / "posterior.nc").samples[LATENT]  # the last E-step's, [chains, draws, ...]
    assert draws.shape[:2] == (TINY["num_chains"], TINY["num_samples"]) and np.all(np.isfinite(draws))
    assert png_size(out / "figure2.png") == (1210, 484)
    table = list(csv.DictReader((out / "runs.csv").open()))  # tidy: one figure per row
    assert [(r["user"], r["metric"]) for r in table[:2]] == [("0", "final_alpha"), ("1", "final_alpha")]
    assert [float(r["value"]) for r in table[:2]] == pytest.approx(summary["final_alpha"])
    assert {r["run"] for r in table} == {"0"} and table[2]["metric"] == "final_mae"
    headline = case.headline(summary)
    assert headline[0][0].startswith("final alpha, mean over 2 users") and headline[1][1] == summary["final_mae"]
    # other options on the same --out: one line, status 2, the finished iterations kept
    assert main([*argv, "--learning-rate", "0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different configuration" in err[0] and "learning_rate" in err[0], err
    assert json.loads((out / "checkpoint" / "meta.json").read_text())["done"] == 4


BAD = [
    (["--num-iterations", "0"], "--num-iterations must be >= 1, got 0"),
    (["--num-samples", "0"], "--num-samples must be >= 1, got 0"),
    (["--num-burnin-steps", "-1"], "--num-burnin-steps must be >= 0, got -1"),
    (["--num-chains", "1.5"], "--num-chains must be an integer, got '1.5'"),
    (["--num-leapfrog-steps", "0"], "--num-leapfrog-steps must be >= 1, got 0"),
    (["--step-size", "0"], "--step-size must be > 0, got 0"),
    (["--step-size", "nan"], "--step-size must be a finite number"),
    (["--target-accept", "1"], "--target-accept must be strictly between 0 and 1, got 1"),
    (["--learning-rate", "-0.1"], "--learning-rate must be > 0, got -0.1"),
    (["--num-users", "0"], "--num-users must be >= 1, got 0"),
    (["--horizon", "0"], "--horizon must be >= 1, got 0"),
    (["--runtime", "numpy"], "--runtime numpy: Monte-Carlo EM needs gradients"),
    (["--runtime", "nope"], "--runtime"),
]


@pytest.mark.parametrize(("option", "message"), BAD, ids=[" ".join(o) for o, _ in BAD])
def test_each_bad_option_is_one_line_and_status_2(tmp_path, capsys, option, message):
    out = tmp_path / "never"
    assert main(["run", "latent-variable", *option, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("recosim: error: ") and message in err[0], err
    assert captured.out == "" and not out.exists()
