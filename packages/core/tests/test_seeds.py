"""One seed convention: root seed, call index, step, draw name; the same path gives the same key."""

import numpy as np

from recosim.core import NumpyRuntime
from recosim.core.backend import numpy_backend
from recosim.core.checkpoint import chunk_seed
from recosim.core.examples import random_walk_variables
from recosim.core.random import rv, seed
from recosim.core.seeds import derive_seed, fold, name_hash

B = numpy_backend()


def test_a_draw_uses_the_key_at_its_path():
    walk = random_walk_variables(3)
    rt = NumpyRuntime(walk, seed=11)
    rt.trajectory(2)  # call 0
    second = rt.trajectory(2)["walk"].get("position")  # call 1
    call_key = fold(B, B.make_seed(11), 1)
    for t in range(2):
        draw_key = fold(B, call_key, t, "walk/position")
        loc = np.zeros(3, np.float32) if t == 0 else second[0]
        expected = B.sample(B.tfd.Normal(loc, 1.0), (), draw_key)
        np.testing.assert_array_equal(second[t], expected)


def test_seed_handler_and_explicit_call_seed_follow_the_same_path():
    with seed(B.make_seed(5), B):
        x = rv("x", B.tfd.Normal(0.0, 1.0))
    assert x == B.sample(B.tfd.Normal(0.0, 1.0), (), fold(B, B.make_seed(5), "x"))
    assert np.array_equal(fold(B, B.make_seed(5), "x"), B.fold_in(B.make_seed(5), name_hash("x")))
    a = NumpyRuntime(random_walk_variables(2), seed=0).execute(1, seed=9)["walk"].get("position")
    b = NumpyRuntime(random_walk_variables(2), seed=1).execute(1, seed=9)["walk"].get("position")
    np.testing.assert_array_equal(a, b)  # seed= on a call overrides the runtime's own


def test_derived_integer_seeds_are_stable_distinct_64_bit_values():
    seeds = {derive_seed(3, i) for i in range(200)}
    assert len(seeds) == 200 and all(0 <= s < 2**64 for s in seeds)
    assert derive_seed(3, 7) == derive_seed(3, 7) != derive_seed(4, 7)
    words = np.asarray(fold(B, B.make_seed(3), 7), np.uint32)
    assert derive_seed(3, 7) == int(words[0]) | int(words[1]) << 32
    assert derive_seed(3, "runs", 1) == derive_seed(3, name_hash("runs"), 1)
    assert chunk_seed(3, 7) == derive_seed(3, 7)


def test_run_many_runs_are_the_next_calls():
    walk = random_walk_variables(2)
    batched = NumpyRuntime(walk, seed=4).run_many(num_runs=3, length=2)["walk"].get("position")
    loop = NumpyRuntime(walk, seed=4)
    for i in range(3):
        np.testing.assert_array_equal(batched[i], loop.trajectory(2)["walk"].get("position"))
    assert isinstance(batched, np.ndarray)
