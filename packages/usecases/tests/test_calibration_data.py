"""The MovieLens reader, the time split and the held-out scores, on synthetic logs (no runtime needed)."""

from __future__ import annotations

import numpy as np
import pytest

from recosim.usecases.calibration import checks, data
from recosim.usecases.calibration.data import DataError, read_movielens, time_split
from recosim.usecases.calibration.synthetic import synthetic_log, write_grouplens, write_recbole


@pytest.fixture(scope="module")
def synthetic() -> tuple[dict[str, np.ndarray], data.InteractionLog]:
    return synthetic_log(num_users=30, num_movies=25, dim=2, min_length=5, seed=3)


def _same(a: data.InteractionLog, b: data.InteractionLog) -> None:
    for name in ("users", "movies", "ratings", "timestamps", "genres", "user_ids", "movie_ids"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_both_layouts_read_back_the_log(tmp_path, synthetic) -> None:
    _, log = synthetic
    _same(read_movielens(write_grouplens(tmp_path / "gl", log)), log)
    _same(read_movielens(write_recbole(tmp_path / "rb", log)), log)
    # a parent folder holding ml-100k/, and a path to the data file, are accepted too
    write_grouplens(tmp_path / "parent" / "ml-100k", log)
    _same(read_movielens(tmp_path / "parent"), log)
    _same(read_movielens(tmp_path / "gl" / "u.data"), log)


BAD_DATA = [
    ("1\t2\t3\n", "expected 4 tab-separated fields"),
    ("1\tx\t3\t10\n", "item id 'x' is not an integer"),
    ("1\t2\t6\t10\n", "rating '6' is not one of 1, 2, 3, 4, 5"),
    ("1\t2\t3\t1.5\n", "timestamp '1.5' is not a whole number"),
    ("1\t999\t3\t10\n", "movie 999 is not described in u.item"),
    (None, "a second time"),
]


@pytest.mark.parametrize(("line", "message"), BAD_DATA)
def test_malformed_data_line_names_file_and_line(tmp_path, synthetic, line, message) -> None:
    _, log = synthetic
    folder = write_grouplens(tmp_path, log)
    text = (folder / "u.data").read_text().splitlines(keepends=True)
    at = 7
    if line is None:  # a pair the log already holds, after its first occurrence
        line, at = f"{log.user_ids[log.users[0]]}\t{log.movie_ids[log.movies[0]]}\t3\t10\n", len(text)
    text.insert(at, line)
    (folder / "u.data").write_text("".join(text))
    with pytest.raises(DataError) as err:
        read_movielens(folder)
    assert f"u.data, line {at + 1}:" in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("layout", "edit", "where", "message"),
    [
        ("grouplens", lambda t: t.replace("|0|", "|2|", 1), "u.item, line 1", "genre flags must be 0 or 1"),
        ("grouplens", lambda t: t.replace("|", "#", 1), "u.item, line 1", "expected 24 '|'-separated fields"),
        ("recbole", lambda t: t.replace("1995\t", "1995\tNoir ", 1), "ml-100k.item, line 2", "unknown genre 'Noir'"),
    ],
)
def test_malformed_item_line_names_file_and_line(tmp_path, synthetic, layout, edit, where, message) -> None:
    _, log = synthetic
    if layout == "grouplens":
        folder, name = write_grouplens(tmp_path, log), "u.item"
    else:
        folder, name = write_recbole(tmp_path, log), "ml-100k.item"
    path = folder / name
    path.write_text(edit(path.read_text(encoding="latin-1")), encoding="latin-1")
    with pytest.raises(DataError, match=message) as err:
        read_movielens(folder)
    assert where in str(err.value)


def test_no_data_says_how_to_get_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(data, "recbole_copy", lambda: None)
    with pytest.raises(DataError) as err:
        data.find_data(None)
    assert "\n" not in str(err.value) and "recbole==1.2.1" in str(err.value) and "--data" in str(err.value)
    with pytest.raises(DataError, match="no such folder"):
        data.find_data(tmp_path / "missing")
    with pytest.raises(DataError, match="neither u.data"):
        data.find_data(tmp_path)


def test_command_without_data_exits_2_with_one_line(monkeypatch, capsys) -> None:
    from recosim.core.cli import main

    monkeypatch.setattr(data, "recbole_copy", lambda: None)
    assert main(["run", "calibration", "--runtime", "jax", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install recbole==1.2.1 --no-deps" in err


def test_time_split_holds_out_each_users_last_fifth_and_never_leaks(synthetic) -> None:
    _, log = synthetic
    split = time_split(log)
    counts = np.bincount(log.users, minlength=log.num_users)
    np.testing.assert_array_equal(split.test_count, np.floor(0.2 * counts + 1e-9).astype(int))
    np.testing.assert_array_equal(np.bincount(log.users[split.test], minlength=log.num_users), split.test_count)
    for u in range(log.num_users):
        train, test = split.train & (log.users == u), split.test & (log.users == u)
        assert not set(log.movies[train]) & set(log.movies[test])
        if test.any():
            assert log.timestamps[train].max() <= log.timestamps[test].min()
            assert np.flatnonzero(test).min() > np.flatnonzero(train).max()


def test_split_ignores_file_order(tmp_path, synthetic) -> None:
    _, log = synthetic
    a = time_split(read_movielens(write_grouplens(tmp_path / "a", log, seed=1)))
    b = time_split(read_movielens(write_grouplens(tmp_path / "b", log, seed=2)))
    np.testing.assert_array_equal(a.test, b.test)


def test_held_out_scores_match_brute_force(synthetic) -> None:
    truth, log = synthetic
    split = time_split(log)
    got = checks.held_out_log_likelihoods(log, split, truth)
    logits = checks.logits_of(truth, log.genres)
    pop = np.log(np.bincount(log.movies[split.train], minlength=log.num_movies) + 1.0)
    want = {"model": [], "popularity": [], "uniform": []}
    for u in range(log.num_users):
        rows = np.flatnonzero(log.users == u)
        for i, row in enumerate(rows):
            if not split.test[row]:
                continue
            free = np.setdiff1d(np.arange(log.num_movies), log.movies[rows[:i]])
            m = log.movies[row]
            for name, s in (("model", logits[u]), ("popularity", pop), ("uniform", np.zeros(log.num_movies))):
                want[name].append(s[m] - np.log(np.exp(s[free]).sum()))
    for name, values in want.items():
        assert got[name] == pytest.approx(np.mean(values), abs=1e-9), name
    # the true model beats popularity and uniform on its own data
    assert got["model"] > got["popularity"] > got["uniform"]


def test_predictive_checks_are_small_for_the_true_model_and_large_for_a_wrong_one(synthetic) -> None:
    truth, log = synthetic
    split = time_split(log)
    good = checks.predictive_checks(log, split, truth, min_length=5, replicates=3, seed=0)
    wrong = dict(truth, popularity=-3.0 * truth["popularity"], cut_start=np.asarray(1.0, np.float32))
    bad = checks.predictive_checks(log, split, wrong, min_length=5, replicates=3, seed=0)
    assert set(good) == {"popularity", "gini", "genres", "ratings", "per_user"}
    for name in ("popularity", "ratings"):
        assert bad[name].distance > good[name].distance + 0.1, name
    assert checks.gini(np.ones(5)) == pytest.approx(0.0)
    assert checks.total_variation(np.array([1, 0]), np.array([0, 2])) == pytest.approx(1.0)
    assert checks.ks_distance(np.array([1, 2]), np.array([1, 2])) == 0.0


@pytest.mark.parametrize("name", ["data", "model", "checks", "synthetic"])
def test_docstring_examples(name) -> None:
    import doctest
    import importlib

    module = importlib.import_module(f"recosim.usecases.calibration.{name}")
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
