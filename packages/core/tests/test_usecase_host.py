"""Use-case options: one declaration each, converted and range-checked with messages naming the option."""

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recosim.core.errors import UsageError
from recosim.core.example_usecases import RandomWalkUseCase
from recosim.core.inputs import load_array
from recosim.core.usecase import HORIZON, NUM_USERS, SEED_LIMIT, NumberList, Parameter, check_seed


@given(st.integers(1, 10**9))
def test_integers_round_trip_from_text_and_numbers(n):
    assert NUM_USERS.convert(str(n)) == NUM_USERS.convert(n) == NUM_USERS.convert(float(n)) == n


@given(st.integers(-(10**6), 0))
def test_sizes_below_one_are_refused(n):
    with pytest.raises(UsageError, match=f"--num-users must be >= 1, got {n}"):
        NUM_USERS.convert(n)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", float("nan"), "x", True])
def test_floats_must_be_finite_numbers(bad):
    with pytest.raises(UsageError, match="--scale must be a"):
        Parameter("scale", float, 1.0).convert(bad)


def test_common_options_share_names_and_differ_only_in_default():
    h = HORIZON.with_default(300)
    assert (h.name, h.flag, h.minimum, h.default, HORIZON.default) == ("horizon", "--horizon", 1, 300, 100)


@pytest.mark.parametrize(
    ("text", "message"),
    [("0,nan", "'nan' is not a finite number"), ("0,-1", "'-1' is below 0"), ("0,,1", "give comma-separated"),
     ("0,0", "a value repeats"), ("1,x", "'x' is not a number"), ("", "give comma-separated")],
)
def test_number_lists_refuse_nan_negatives_repeats_and_text(text, message):
    with pytest.raises(UsageError, match=f"--boost-caps: {message}"):
        Parameter("boost_caps", NumberList(minimum=0.0), None).convert(text)


@pytest.mark.parametrize("seed", [0, 1, SEED_LIMIT - 1, "17", 5.0])
def test_seeds_in_range_are_kept(seed):
    assert check_seed(seed) == int(float(seed))


@pytest.mark.parametrize("seed", [-1, SEED_LIMIT, 2**64 + 3, 1.5, "x", True, None])
def test_seeds_out_of_range_are_refused_never_wrapped(seed):
    with pytest.raises(UsageError, match=r"--seed must be"):
        check_seed(seed)


def test_unknown_options_are_named_with_the_ones_that_exist():
    with pytest.raises(UsageError, match=r"has no option\(s\) --num-agents; its options: --num-users, --horizon"):
        RandomWalkUseCase().validate({"num_agents": 3})


def test_setup_checks_options_before_creating_out(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(UsageError, match="--seed"):
        RandomWalkUseCase().setup(runtime="numpy", seed=-3, out=out)
    with pytest.raises(UsageError, match="--runtime"):
        RandomWalkUseCase().setup(runtime="warp", seed=0, out=out)
    assert not out.exists()
    setup = RandomWalkUseCase().setup(runtime="numpy", seed=4, out=out, horizon="7")
    assert out.is_dir() and setup.params == {"num_users": 1000, "horizon": 7, "scale": 1.0}


# -- input files ----------------------------------------------------------------------


def npy(tmp_path, array, name="means.npy", **kwargs):
    path = tmp_path / name
    np.save(path, array, **kwargs)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: npy(p, np.zeros((5, 0))), r"shape \(5, 0\); a \(num_providers, num_topics\) array needs every axis"),
        (lambda p: npy(p, np.zeros((0, 2))), r"shape \(0, 2\)"),
        (lambda p: npy(p, np.array([[0.0, np.nan], [1.0, 2.0]])), r"1 value\(s\) that are NaN or infinite .* \(0, 1\)"),
        (lambda p: npy(p, np.array([[np.inf, 1.0]])), r"NaN or infinite"),
        (lambda p: npy(p, np.array([[1e300, 1.0]])), r"NaN or infinite as float32"),
        (lambda p: npy(p, np.zeros(4)), r"shape \(4,\) \(1 dimensions\); expected a .* with 2 dimensions"),
        (lambda p: npy(p, np.zeros((2, 2, 2))), r"\(3 dimensions\)"),
        (lambda p: npy(p, np.array([["a", "b"]])), r"holds values of type <U1, not numbers"),
        (lambda p: npy(p, np.array([[1, None]], dtype=object), allow_pickle=True), r"Python objects"),
        (lambda p: (p / "means.npy").write_text("1.0 2.0\n3.0 4.0\n") and p / "means.npy",
         r"is text, not a NumPy \.npy file \(write it with numpy\.save\)"),
        (lambda p: (p / "means.npy").write_bytes(pickle.dumps([[1.0, 2.0]])) and p / "means.npy",
         r"is not a NumPy \.npy file"),
        (lambda p: (p / "means.npy").write_bytes(b"") or p / "means.npy", r"is an empty file"),
        (lambda p: p / "missing.npy", r"does not exist"),
        (lambda p: p, r"is a directory"),
    ],
)
def test_input_arrays_are_checked_with_messages_about_the_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(UsageError) as err:
        load_array(path, option="--provider-means", ndim=2, what="(num_providers, num_topics)")
    text = str(err.value)
    assert text.startswith(f"--provider-means: {path}") and "pickled" not in text.replace("a pickled array", "")
    import re

    assert re.search(message, text), text


def test_npz_named_npy_is_named_as_an_archive(tmp_path):
    path = tmp_path / "means.npy"
    with open(path, "wb") as f:
        np.savez(f, a=np.zeros((2, 2)))
    with pytest.raises(UsageError, match="a zip archive"):
        load_array(path, option="--x")


def test_a_good_array_is_returned_as_float32(tmp_path):
    got = load_array(npy(tmp_path, np.arange(6, dtype=np.int64).reshape(3, 2)), option="--x", ndim=2)
    assert got.dtype == np.float32 and got.tolist() == [[0, 1], [2, 3], [4, 5]]
