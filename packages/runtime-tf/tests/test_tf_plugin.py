from recosim.core.plugins import get_plugins


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


