"""TFP's JAX substrate on the installed JAX: the aliases it writes through, and what it registers."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recosim.jax import _tfp_compat
from recosim.jax._tfp_compat import JAX_ALIASES, import_substrate_without_tensorflow, restore_jax_aliases

XLA_TABLE = ("jax.interpreters.xla", "pytype_aval_mappings")


def _home(homes):
    return next(t for t in (_tfp_compat._lookup(m, a) for m, a in homes) if t is not None)


def test_every_alias_is_the_table_jax_consults():
    restore_jax_aliases()
    for module_name, attribute, homes in JAX_ALIASES:
        assert _tfp_compat._lookup(module_name, attribute) is _home(homes), f"{module_name}.{attribute}"


def test_a_removed_alias_is_restored_and_reported(monkeypatch):
    module = importlib.import_module(XLA_TABLE[0])
    # record the module's own state so that teardown puts it back, then remove the alias
    monkeypatch.setattr(module, XLA_TABLE[1], None, raising=False)
    monkeypatch.delattr(module, XLA_TABLE[1])
    deprecations = module.__dict__.get("_deprecations")
    if deprecations is not None:
        monkeypatch.delitem(deprecations, XLA_TABLE[1], raising=False)
    assert _tfp_compat._lookup(*XLA_TABLE) is None

    assert restore_jax_aliases() == [".".join(XLA_TABLE)]
    assert module.__dict__[XLA_TABLE[1]] is jax._src.core.pytype_aval_mappings
    assert restore_jax_aliases() == []  # nothing left to do


def test_a_table_jax_no_longer_has_is_an_import_error_naming_it(monkeypatch):
    gone = ("jax.interpreters.xla", "no_such_table", (("jax._src.core", "no_such_home"),))
    monkeypatch.setattr(_tfp_compat, "JAX_ALIASES", (*JAX_ALIASES, gone))
    with pytest.raises(ImportError, match=rf"jax {jax.__version__}.*xla\.no_such_table.*jax\._src\.core\.no_such_home"):
        restore_jax_aliases()


def test_tfp_registers_its_variable_type_in_the_table_jax_consults():
    import_substrate_without_tensorflow("jax")
    from tensorflow_probability.python.internal.backend.jax.ops import NumpyVariable

    table = jax._src.core.pytype_aval_mappings
    assert table[NumpyVariable] is table[np.ndarray]


def test_tfp_variables_pass_through_jit():
    """jit accepts a TFP variable only if its registration landed in JAX's table."""
    pytest.importorskip("wrapt", reason="TFP's variables on JAX need wrapt, which TFP does not declare")
    import_substrate_without_tensorflow("jax")
    from tensorflow_probability.python.internal.backend import jax as tf2jax

    variable = tf2jax.Variable(np.float32(1.5))
    assert float(jax.jit(lambda v: v * 2)(variable)) == 3.0


def test_substrate_samples_and_scores_under_jit():
    tfd = import_substrate_without_tensorflow("jax").distributions
    logits = jnp.log(jnp.array([0.2, 0.3, 0.5], dtype=jnp.float32))

    @jax.jit
    def draw(key):
        return tfd.Categorical(logits=logits).sample(20000, seed=key)

    counts = np.bincount(np.asarray(draw(jax.random.PRNGKey(0))), minlength=3) / 20000
    # binomial standard error at n=20000 is at most 0.0036; allow 4.5 of them
    np.testing.assert_allclose(counts, [0.2, 0.3, 0.5], atol=0.017)
    log_p = jax.jit(lambda x: tfd.Normal(jnp.float32(1.0), jnp.float32(2.0)).log_prob(x))(jnp.float32(0.0))
    np.testing.assert_allclose(float(log_p), -0.5 * np.log(2 * np.pi * 4.0) - 1.0 / 8.0, rtol=1e-6)


def test_docstring_example():
    import doctest

    result = doctest.testmod(_tfp_compat, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
