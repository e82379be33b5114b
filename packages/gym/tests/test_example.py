"""The training example runs as written, at a tiny size."""

import importlib.util
import json
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_softmax_policy.py"


def _load():
    spec = importlib.util.spec_from_file_location("train_softmax_policy", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_trains_and_writes_its_returns(tmp_path, capsys):
    example = _load()
    out = tmp_path / "returns.json"
    result = example.main(
        ["--num-envs", "16", "--horizon", "5", "--episodes", "3", "--runtime", "numpy", "--out", str(out)]
    )
    assert len(result["returns"]) == 3 and all(np.isfinite(result["returns"]))
    assert json.loads(out.read_text())["returns"] == result["returns"]
    assert "episode 3/3: mean return" in capsys.readouterr().out
    # the first episode's slates were uniform; the updates moved the logits
    assert np.ptp(result["logits"]) > 0


def test_policy_gradient_of_a_slate_matches_finite_differences():
    example = _load()
    policy = example.SoftmaxSlatePolicy(num_docs=5, slate_size=2, learning_rate=1.0, seed=0)
    policy.logits = np.array([0.3, -0.2, 1.0, 0.0, 0.5])
    slates = np.array([[2, 0], [4, 1]])

    def log_prob(logits):
        total = np.zeros(2)
        for u, slate in enumerate(slates):
            left = list(range(5))
            for doc in slate:
                total[u] += logits[doc] - np.log(np.sum(np.exp(logits[left])))
                left.remove(doc)
        return total

    grad = policy.score_gradient(slates)
    eps = 1e-6
    for d in range(5):
        shift = np.zeros(5)
        shift[d] = eps
        numeric = (log_prob(policy.logits + shift) - log_prob(policy.logits - shift)) / (2 * eps)
        np.testing.assert_allclose(grad[:, d], numeric, rtol=1e-5, atol=1e-7)
