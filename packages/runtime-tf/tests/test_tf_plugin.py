import subprocess
import sys

from recosim.core.plugins import get_plugins


def test_plugin_module_imports_no_tensorflow_and_numpy_substrate_does_not_break_tfp_later():
    # one fresh process (a start costs seconds): the plugin is found without importing TensorFlow; then
    # NumPy's TFP substrate is loaded first, and TFP on TensorFlow still works afterwards
    code = (
        "import sys\n"
        "import recosim.tf.plugin, recosim.tf\n"
        "from recosim.core.plugins import get_plugins\n"
        "assert 'tf' in get_plugins().runtime_names()\n"
        "bad = [m for m in ('tensorflow', 'tensorflow_probability', 'edward2') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "from recosim.core.backend import numpy_backend; numpy_backend().tfd.Normal\n"
        "import tensorflow_probability as tfp; print(float(tfp.distributions.Normal(0., 1.).log_prob(0.)))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1].startswith("-0.9189")


def test_plugin_is_discovered_and_loads_runtime_and_backend():
    plugins = get_plugins()
    assert "tf" in plugins.runtime_names()
    assert not [f for f in plugins.failures if f.plugin == "tf"]
    spec = plugins.runtime_spec("tf")
    assert spec.framework == "tensorflow"
    assert spec.distribution == "recosim-runtime-tf"
    from recosim.tf.runtime import TFRuntime

    assert plugins.get_runtime("tf") is TFRuntime
    backend = plugins.get_backend("tf")
    from recosim.tf.backend import tf_backend

    assert backend.name == "tf" and backend is tf_backend()
    from recosim.tf import log_probability_from_value_trajectory, make_log_probability_fn, run_distributed

    assert plugins.get_inference_method("log_probability", runtime="tf") is log_probability_from_value_trajectory
    assert plugins.get_inference_method("log_probability_fn", runtime="tf") is make_log_probability_fn
    assert plugins.get_inference_method("run_distributed", runtime="tf") is run_distributed
    assert plugins.inference_method("run_distributed").runtimes == ("tf",)


def test_runtime_names_for_block_tests_include_tf():
    from recosim.core.testing import run_block, runtime_names

    assert "tf" in runtime_names()
    out = run_block("tf", lambda: {"x": 1.5}, lambda prev: {"x": prev["x"] * 2.0}, length=3)
    assert out["x"].tolist() == [1.5, 3.0, 6.0]


