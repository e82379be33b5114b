"""JaxBackend operations, keys and Value as a pytree."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recosim.core import Value, get_backend, using_backend
from recosim.core.random import name_hash, rv, seed, trace
from recosim.jax.backend import JaxBackend, is_weakly_typed, jax_backend, strong

B = jax_backend()


def test_identity_and_namespaces():
    assert (B.name, B.framework) == ("jax", "jax")
    assert B.np is jnp
    assert B.tfd.Normal.__module__.startswith("tensorflow_probability.substrates.jax")
    a = B.asarray([[2.0, 1.0], [1.0, 3.0]], "float32")
    np.testing.assert_allclose(
        B.linalg.solve(a, B.np.ones((2, 1), dtype="float32")), np.linalg.solve(a, np.ones((2, 1))), rtol=1e-5
    )
    sign, logdet = B.linalg.slogdet(a)
    assert float(sign) == 1.0 and float(logdet) == pytest.approx(np.log(5.0), rel=1e-5)


def test_operations_match_numpy_backend():
    from recosim.core.backend import numpy_backend

    assert isinstance(B, JaxBackend)
    nb = numpy_backend()
    x = np.array([[0.5, 3.0, -1.0, 2.0]], dtype=np.float32)
    for name in ("softmax", "log_softmax", "sigmoid"):
        np.testing.assert_allclose(getattr(B, name)(x), getattr(nb, name)(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(B.logsumexp(x), nb.logsumexp(x), rtol=1e-6)
    v, i = B.top_k(x, 2)
    assert i.tolist() == [[1, 3]] and v.tolist() == [[3.0, 2.0]]
    out = B.scatter_add(np.zeros(3, np.float32), np.array([0, 2, 0]), np.array([1.0, 2.0, 3.0], np.float32))
    assert out.tolist() == [4.0, 0.0, 2.0]
    oh = B.one_hot(np.array([2, 0]), 3, "int32")
    assert oh.dtype == jnp.int32 and oh.tolist() == [[0, 0, 1], [1, 0, 0]]
    assert B.cast(np.array([1.7]), "int32").tolist() == [1]
    g = jax.grad(lambda y: jnp.sum(B.stop_gradient(y) * y))(jnp.ones(2))
    assert g.tolist() == [1.0, 1.0]


def test_keys_are_deterministic_and_distinct():
    k = B.make_seed(3)
    assert np.array_equal(k, jax.random.PRNGKey(3))
    assert np.array_equal(B.fold_in(k, 5), B.fold_in(k, 5))
    assert not np.array_equal(B.fold_in(k, 5), B.fold_in(k, 6))
    assert not np.array_equal(B.make_seed(1), B.make_seed(1 + 2**32))  # the high bits count
    assert B.make_seed(2**40 + 7).shape == (2,)
    # a traced step index folds in like the same Python int
    traced = jax.jit(lambda key, t: B.fold_in(key, t))(k, jnp.int32(9))
    assert np.array_equal(traced, B.fold_in(k, 9))


def test_seed_handler_draws_by_name():
    def draws(names):
        with using_backend(B), seed(B.make_seed(0), B), trace() as tr:
            for n in names:
                rv(n, B.tfd.Normal(0.0, 1.0))
        return {n: float(s.value) for n, s in tr.sites.items()}

    assert draws(["a", "b"])["b"] == draws(["b"])["b"]  # adding a draw does not reshuffle others
    assert draws(["a"])["a"] != draws(["b"])["b"]
    assert name_hash("a") != name_hash("b")


def test_owns_arrays_and_tracers():
    assert B.owns(jnp.zeros(2)) and not B.owns(np.zeros(2)) and not B.owns(1.0)
    seen = []
    jax.jit(lambda x: seen.append(B.owns(x)) or x)(1.0)
    jax.grad(lambda x: seen.append(B.owns(x)) or x)(1.0)
    assert seen == [True, True]
    assert get_backend().name == "numpy"  # nothing leaked onto the backend stack


def test_weak_types():
    assert is_weakly_typed(1) and is_weakly_typed(jnp.asarray(1.0)) and not is_weakly_typed(np.float32(1))
    assert not is_weakly_typed(strong(1)) and strong(1).dtype == jnp.int32
    assert strong(2, jnp.float32).dtype == jnp.float32


def test_value_is_a_pytree_with_sorted_keys():
    v = Value(b=jnp.ones(2), a=3)
    leaves, tree = jax.tree.flatten(v)
    assert leaves[0] == 3 and leaves[1].shape == (2,)
    assert jax.tree.structure(Value(a=0, b=0)) == tree  # field order does not matter
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path({"u": v})[0]]
    assert paths == ["['u']['a']", "['u']['b']"]
    doubled = jax.jit(lambda val: val.map(lambda x: x * 2))(v)
    assert isinstance(doubled, Value) and doubled.get("a") == 6
    batched = jax.vmap(lambda val: Value(s=jnp.sum(val.get("x"))))(Value(x=jnp.ones((3, 2))))
    assert batched.get("s").tolist() == [2.0, 2.0, 2.0]
    grad = jax.grad(lambda val: jnp.sum(val.get("x") ** 2))(Value(x=jnp.arange(3.0)))
    assert isinstance(grad, Value) and grad.get("x").tolist() == [0.0, 2.0, 4.0]
    nested = jax.tree.map(lambda x: x + 1, Value(user=Value(interest=jnp.zeros(1))))
    assert list(nested.keys()) == ["user.interest"]


@pytest.mark.parametrize("shape,k", [((7, 400), 3), ((2, 3, 50), 2), ((5, 97), 4)])
def test_blocked_top_k_equals_lax_top_k_ties_included(shape, k):
    from recosim.jax.backend import BLOCKED_TOP_K_RATIO, blocked_top_k

    assert shape[-1] >= k * BLOCKED_TOP_K_RATIO  # B.top_k takes the blocked path here (rows padded for 50 and 97)
    rng = np.random.default_rng(0)
    for x in (rng.normal(size=shape), rng.integers(0, 5, size=shape)):  # integers: many ties
        x = jnp.asarray(x, jnp.float32)
        expected = jax.lax.top_k(x, k)
        for got in (blocked_top_k(x, k), jax.jit(blocked_top_k, static_argnums=1)(x, k), B.top_k(x, k)):
            assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])


def test_uniform_and_categorical_samplers():
    from recosim.jax.sampling import random_bits

    key = B.make_seed(3)
    assert np.array_equal(random_bits(key, (4, 33)), jax.random.bits(key, (4, 33)))
    uniform = B.tfd.Uniform(jnp.float32(-1.0), jnp.float32(2.0))
    assert np.array_equal(B.sample(uniform, (5, 6), key), uniform.sample((5, 6), seed=key))  # TFP's own draw
    # Categorical by inversion: frequencies within 4.5 standard errors of the probabilities, zero never drawn
    probs = np.array([0.5, 0.0, 0.2, 0.3], np.float32)
    draws = np.asarray(B.sample(B.tfd.Categorical(logits=jnp.log(probs)), (20000,), key))
    freq = np.bincount(draws, minlength=4) / draws.size
    assert freq[1] == 0.0
    np.testing.assert_allclose(freq, probs, atol=4.5 * np.sqrt(0.25 / draws.size))
