"""Discovery through the plugin manager, and a plugin module that stays framework-free."""

from __future__ import annotations

import doctest
import importlib
import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from recosim.core import backend_for
from recosim.core.plugins import get_plugins, make_plugins
from recosim.core.testing import runtime_names


def test_runtime_and_backend_are_registered():
    plugins = get_plugins()
    assert "jax" in plugins.runtime_names()
    spec = plugins.runtime_spec("jax")
    assert spec.framework == "jax" and spec.distribution == "recosim-runtime-jax"
    from recosim.jax import JaxBackend, JaxRuntime

    assert plugins.get_runtime("jax") is JaxRuntime
    assert isinstance(plugins.get_backend("jax"), JaxBackend)
    wanted = os.environ.get("RECOSIM_TEST_RUNTIMES")
    if not wanted or "jax" in wanted.split(","):
        assert "jax" in runtime_names()
    assert not [f for f in plugins.failures if f.distribution == "recosim-runtime-jax"]
    from recosim.jax import log_probability_from_value_trajectory, make_log_probability_fn

    assert plugins.get_inference_method("log_probability", runtime="jax") is log_probability_from_value_trajectory
    assert plugins.get_inference_method("log_probability_fn", runtime="jax") is make_log_probability_fn


def test_backend_for_recognises_jax_arrays():
    assert backend_for(jnp.zeros(2)).name == "jax"
    assert backend_for(np.zeros(2)).name == "numpy"


def test_plugin_module_imports_no_jax():
    code = (
        "import sys\n"
        "import recosim.jax.plugin\n"
        "from recosim.core.plugins import make_plugins\n"
        "assert 'jax' in make_plugins().runtime_names()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'tensorflow'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_namespace_package_has_no_init():
    src = Path(__file__).resolve().parents[1] / "src" / "recosim"
    assert not (src / "__init__.py").exists()
    assert (src / "jax" / "__init__.py").exists()


def test_lazy_package_attributes():
    import recosim.jax as pkg

    assert pkg.JaxRuntime.name == "jax"
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        pkg.nope  # noqa: B018


def test_registered_without_entry_points_too():
    import recosim.jax.plugin as plugin

    plugins = make_plugins(load_entry_points=False, extra=[(plugin, "jax", "recosim-runtime-jax")])
    assert plugins.runtime_names() == ["jax", "numpy"]


@pytest.mark.parametrize("module", ["backend", "runtime", "log_probability", "summary", "compile_cache", "sharding"])
def test_docstring_examples(module):
    mod = importlib.import_module(f"recosim.jax.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
