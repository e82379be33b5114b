"""Choice models on every runtime: hand-computed values, frequencies and log-probabilities."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recosim.core import Value, get_backend
from recosim.core.testing import run_block
from recosim.library.choice import (
    CascadeChoiceModel,
    GreedyChoiceModel,
    IteratedMultinomialLogit,
    IteratedMultinomialLogitChoiceModel,
    MultinomialLogitChoiceModel,
    TargetPointSimilarity,
    TopKChoiceModel,
    get_chosen,
)

TARGET = np.array([[0.0, 0.0], [1.0, 2.0]], np.float32)
ITEMS = np.array([[[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]], [[1.0, 2.0], [2.0, 2.0], [-1.0, 0.0]]], np.float32)


def expected_affinities(kind: str) -> np.ndarray:
    t = TARGET[:, None, :].astype(np.float64)
    x = ITEMS.astype(np.float64)
    dist = np.sqrt(((t - x) ** 2).sum(-1))
    if kind == "negative_euclidean":
        return -dist
    if kind == "inverse_euclidean":
        return 1.0 / (dist + 1e-6)
    if kind == "dot":
        return (t * x).sum(-1)
    if kind == "negative_cosine":
        den = np.maximum(np.linalg.norm(t, axis=-1) * np.linalg.norm(x, axis=-1), 1e-6)
        return (t * x).sum(-1) / den - 1.0
    return (t - np.abs(t - x)).sum(-1)


def test_affinity_hand_values():
    # spot checks written out by hand for user 1 = (1, 2)
    out = TargetPointSimilarity("negative_euclidean").affinities(TARGET, ITEMS).get("affinities")
    np.testing.assert_allclose(out[1], [0.0, -1.0, -np.sqrt(8.0)], rtol=1e-6)
    out = TargetPointSimilarity("dot").affinities(TARGET, ITEMS).get("affinities")
    np.testing.assert_allclose(out[1], [5.0, 6.0, -1.0])
    out = TargetPointSimilarity("single_peaked").affinities(TARGET, ITEMS).get("affinities")
    np.testing.assert_allclose(out[1], [3.0, 2.0, 3.0 - 2.0 - 2.0])
    out = TargetPointSimilarity("negative_cosine").affinities(TARGET, ITEMS).get("affinities")
    np.testing.assert_allclose(out[1], [0.0, 6.0 / (np.sqrt(5) * np.sqrt(8)) - 1.0, -1.0 / np.sqrt(5) - 1.0], rtol=1e-5)


@pytest.mark.parametrize("kind", ["negative_euclidean", "inverse_euclidean", "dot", "negative_cosine", "single_peaked"])
def test_affinities_every_type(runtime, kind):
    model = TargetPointSimilarity(kind, no_choice_affinity=np.array([0.5, -0.5], np.float32))
    out = run_block(runtime, lambda: model.affinities(TARGET, ITEMS))["affinities"][0]
    assert out.shape == (2, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, :3], expected_affinities(kind), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[:, 3], [0.5, -0.5])


def test_affinities_shared_slate_and_batch_dims(runtime):
    target = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    slate = ITEMS[0]  # one slate shared by all 2 x 3 users
    out = run_block(runtime, lambda: TargetPointSimilarity("dot").affinities(target, slate))["affinities"][0]
    np.testing.assert_allclose(out, target @ slate.T)


def test_affinity_bad_input():
    with pytest.raises(ValueError, match="similarity_type"):
        TargetPointSimilarity("manhattan")
    with pytest.raises(ValueError, match="items"):
        TargetPointSimilarity("dot").affinities(TARGET, ITEMS[0, 0])


def test_greedy_and_top_k(runtime):
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [2.0, -1.0, 0.0, 1.0]], np.float32)

    def initial():
        greedy = GreedyChoiceModel().choice(scores).get("choice")
        abstain = GreedyChoiceModel(no_choice_logit=1.5).choice(scores).get("choice")
        top = TopKChoiceModel(3).choice(scores).get("choice")
        return Value(greedy=greedy, abstain=abstain, top=top)

    out = run_block(runtime, initial)
    assert out["greedy"][0].tolist() == [1, 0]  # tie between 1 and 3 goes to the lower index
    assert out["abstain"][0].tolist() == [4, 0]  # no choice (index 4) beats 0.9 but not 2.0
    assert out["top"][0].tolist() == [[1, 3, 2], [0, 3, 2]]
    assert out["greedy"].dtype == np.int32 and out["top"].dtype == np.int32


def test_get_chosen_with_no_choice(runtime):
    feats = Value(
        doc=Value(
            features=np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2),
            quality=np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], np.float32),
        ),
        id=np.array([[7, 8, 9], [4, 5, 6]], np.int32),
    )
    out = run_block(runtime, lambda: get_chosen(feats, np.array([2, 3], np.int32)))
    np.testing.assert_allclose(out["doc.features"][0], [[4.0, 5.0], [0.0, 0.0]])
    np.testing.assert_allclose(out["doc.quality"][0], [0.3, 0.0])
    assert out["id"][0].tolist() == [9, 0] and out["id"].dtype == np.int32
    filled = get_chosen(feats, np.array([3, 0]), no_choice=-1.0)
    assert filled.get("doc.quality").tolist() == pytest.approx([-1.0, 0.4])


def test_get_chosen_rejects_bad_shapes():
    with pytest.raises(ValueError, match="field 'q'"):
        get_chosen(Value(q=np.zeros(3, np.float32)), np.zeros(3, np.int32))


def _freq(x: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(x.ravel(), minlength=n) / x.size


def test_mnl_frequencies_and_no_choice(runtime, tools):
    n = 20000
    logits = np.array([1.0, 0.0, -0.5], np.float32)
    model = MultinomialLogitChoiceModel(no_choice_logit=0.5)
    batch = np.broadcast_to(logits, (n, 3)).copy()
    out = run_block(runtime, lambda: model.choice(batch), seed=3)["choice"][0]
    assert out.dtype == np.int32 and out.shape == (n,)
    full = np.array([1.0, 0.0, -0.5, 0.5])
    probs = np.exp(full) / np.exp(full).sum()
    assert tools.within(_freq(out, 4), probs, n)


def test_mnl_positional_bias(runtime, tools):
    n = 20000
    bias = np.array([1.0, 0.5, 0.0], np.float32)
    model = MultinomialLogitChoiceModel(positional_bias=bias)
    out = run_block(runtime, lambda: model.choice(np.zeros((n, 3), np.float32)), seed=4)["choice"][0]
    probs = np.exp(bias) / np.exp(bias).sum()
    assert tools.within(_freq(out, 3), probs, n)
    assert _freq(out, 3)[0] > 0.45  # the top slot is chosen far more than a third of the time
    with pytest.raises(ValueError, match="positional_bias"):
        model.choice(np.zeros((2, 4), np.float32))


def test_mnl_log_probability(runtime, tools):
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]], np.float32)
    model = MultinomialLogitChoiceModel(no_choice_logit=np.array([0.0, 1.0], np.float32))
    var = tools.block_variable(lambda: model.choice(logits), lambda prev: model.choice(logits), ("choice",))
    out, lp = tools.trajectory_and_log_prob(runtime, var, 3)
    full = np.concatenate([logits, [[0.0], [1.0]]], axis=1)
    logp = full - np.log(np.exp(full).sum(1, keepdims=True))
    expected = sum(logp[np.arange(2), out["choice"][t]].sum() for t in range(3))
    assert lp == pytest.approx(expected, rel=1e-5)


ALL_SLATES = np.array(list(itertools.permutations(range(4), 2)), np.int32)  # 12 ordered slates


def _pl_prob(w: np.ndarray, slate) -> float:
    p, left = 1.0, w.sum()
    for i in slate:
        p *= w[i] / left
        left -= w[i]
    return p


def test_iterated_mnl_log_probs_sum_to_one(runtime):
    logits = np.array([0.3, -1.0, 1.2, 0.0], np.float32)

    def initial():
        d = IteratedMultinomialLogitChoiceModel(k=2).choice(logits).get("choice")
        return Value(lp=d.log_prob(ALL_SLATES))

    lp = run_block(runtime, initial)["lp"][0]
    assert lp.shape == (12,)
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-5)
    w = np.exp(logits.astype(np.float64))
    np.testing.assert_allclose(np.exp(lp), [_pl_prob(w, s) for s in ALL_SLATES], rtol=1e-5)


def test_iterated_mnl_full_permutations_and_invalid_slates():
    logits = np.array([0.5, 0.0, -0.5], np.float32)
    d = IteratedMultinomialLogit(logits, 3)
    perms = np.array(list(itertools.permutations(range(3))), np.int32)
    assert np.exp(d.log_prob(perms)).sum() == pytest.approx(1.0, abs=1e-6)
    bad = d.log_prob(np.array([[0, 0, 1], [0, 1, 5]], np.int32))
    assert np.all(np.isneginf(bad))
    with pytest.raises(ValueError, match="k=4"):
        IteratedMultinomialLogit(logits, 4)


def test_iterated_mnl_sample_frequencies_and_scoring(runtime, tools):
    n = 12000
    logits = np.array([0.3, -1.0, 1.2, 0.0], np.float32)
    model = IteratedMultinomialLogitChoiceModel(k=2)
    batch = np.broadcast_to(logits, (n, 4)).copy()
    var = tools.block_variable(lambda: model.choice(batch), None, ("choice",))
    out, lp = tools.trajectory_and_log_prob(runtime, var, 1, seed=5)
    slates = out["choice"][0]
    assert slates.shape == (n, 2) and slates.dtype == np.int32
    assert np.all(slates[:, 0] != slates[:, 1])
    codes = slates[:, 0] * 4 + slates[:, 1]
    w = np.exp(logits.astype(np.float64))
    probs = np.array([_pl_prob(w, s) for s in ALL_SLATES])
    freq = np.array([(codes == a * 4 + b).mean() for a, b in ALL_SLATES])
    assert tools.within(freq, probs, n)
    expected = np.log([_pl_prob(w, s) for s in slates]).sum()
    assert lp == pytest.approx(expected, rel=1e-4)


def _cascade_probs(q: np.ndarray) -> np.ndarray:
    out, keep = [], 1.0
    for qi in q:
        out.append(keep * qi)
        keep *= 1 - qi
    return np.array([*out, keep])


def test_cascade_probabilities_closed_form(runtime):
    scores = np.array([[0.0, 1.0, -1.0], [3.0, 0.0, 0.0]], np.float32)
    attention = np.array([0.9, 0.5, 0.2], np.float32)

    def initial():
        plain = CascadeChoiceModel().log_probs(scores)
        att = CascadeChoiceModel(attention=attention).log_probs(scores)
        return Value(plain=plain, att=att)

    out = run_block(runtime, initial)
    sig = 1 / (1 + np.exp(-scores.astype(np.float64)))
    for b in range(2):
        np.testing.assert_allclose(np.exp(out["plain"][0, b]), _cascade_probs(sig[b]), rtol=1e-5)
        np.testing.assert_allclose(np.exp(out["att"][0, b]), _cascade_probs(attention * sig[b]), rtol=1e-5)
    assert np.exp(out["att"][0]).sum(-1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_cascade_sampling_and_log_probability(runtime, tools):
    n = 20000
    scores = np.array([-1.0, 0.5, 0.0], np.float32)
    model = CascadeChoiceModel()
    batch = np.broadcast_to(scores, (n, 3)).copy()
    var = tools.block_variable(lambda: model.choice(batch), None, ("choice",))
    out, lp = tools.trajectory_and_log_prob(runtime, var, 1, seed=6)
    probs = _cascade_probs(1 / (1 + np.exp(-scores.astype(np.float64))))
    choice = out["choice"][0]
    assert tools.within(_freq(choice, 4), probs, n)
    assert lp == pytest.approx(np.log(probs)[choice].sum(), rel=1e-4)


def test_cascade_rejects_bad_attention():
    with pytest.raises(ValueError, match="attention"):
        CascadeChoiceModel(attention=[0.5, 1.5])
    with pytest.raises(ValueError, match="attention"):
        CascadeChoiceModel(attention=[0.5, 0.5]).log_probs(np.zeros(3, np.float32))


def test_paper_user_choice_pipeline(runtime):
    """Affinity -> MNL -> chosen features, as in the paper's user model, batched over users."""
    users = np.array([[0.0, 0.0], [5.0, 5.0]], np.float32)
    slate = Value(features=np.array([[[0.0, 0.1], [5.0, 5.0]]] * 2, np.float32))
    aff = TargetPointSimilarity("negative_euclidean")
    mnl = MultinomialLogitChoiceModel()

    def initial():
        logits = aff.affinities(users, slate.get("features")).get("affinities") * 20.0
        choice = mnl.choice(logits)
        return choice

    out = run_block(runtime, initial, seed=1)
    assert out["choice"][0].tolist() == [0, 1]  # overwhelmingly likely at this temperature
    B = get_backend()
    assert B.name == "numpy"
    np.testing.assert_allclose(get_chosen(slate, out["choice"][0]).get("features"), [[0.0, 0.1], [5.0, 5.0]])


def test_blocks_import_no_framework():
    code = (
        "import sys, recosim.library.choice, recosim.library.state;"
        "bad=[m for m in ('tensorflow','jax') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_blocks_are_registered_under_the_names_they_declare():
    from recosim.core import get_plugins
    from recosim.library.catalogue import BLOCKS

    names = [block.block_name for block in BLOCKS]
    assert len(names) == len(set(names)) and "multinomial_logit" in names
    plugins = get_plugins()
    for block in BLOCKS:
        name = block.block_name
        assert name.isidentifier() and name == name.lower()
        reg = plugins.blocks.get(name)
        assert reg.kind == block.block_kind and reg.summary and reg.distribution == "recosim-library"
        assert plugins.get_block(name) is block


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=5),
    data=st.data(),
)
def test_iterated_mnl_is_a_distribution_over_ordered_slates(n, data):
    k = data.draw(st.integers(min_value=1, max_value=n))
    logits = np.asarray(data.draw(st.lists(st.floats(-4.0, 4.0, width=32), min_size=n, max_size=n)), dtype=np.float32)
    slates = np.array(list(itertools.permutations(range(n), k)), np.int32)
    lp = IteratedMultinomialLogit(logits, k).log_prob(slates)
    assert np.all(np.isfinite(lp))
    assert np.exp(lp.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-4)
