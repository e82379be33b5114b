"""The methods are registered through the inference-method hook, each for both runtimes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from recosim.core.plugins import get_plugins

METHODS = ["hmc", "map", "mcem", "mle", "nuts", "reinforce", "vi"]


def test_recosim_plugins_lists_every_method_for_each_runtime():
    cli = Path(sys.executable).with_name("recosim")
    done = subprocess.run([str(cli), "plugins", "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    ours = {
        m["name"]: m
        for m in report["inference_methods"]
        if any(i["distribution"] == "recosim-inference" for i in m["implementations"])
    }
    assert sorted(ours) == METHODS
    assert all(m["runtimes"] == ["jax", "tf"] for m in ours.values())
    assert all(
        [i["distribution"] for i in m["implementations"]] == ["recosim-inference"] * 2 for m in ours.values()
    )
    assert not [f for f in report["failed"] if f["distribution"] == "recosim-inference"]
    text = subprocess.run([str(cli), "plugins"], capture_output=True, text=True, timeout=120).stdout
    for name in METHODS:
        assert any(line.split()[:1] == [name] and "[jax, tf]" in line for line in text.splitlines()), name
    plugins = get_plugins()
    for name in METHODS:
        for runtime in ("jax", "tf"):
            method = plugins.get_inference_method(name, runtime=runtime)
            assert callable(method)
            assert method.keywords["runtime"] == runtime  # a method looked up for a runtime runs there
            assert set(method.keywords) == ({"runtime", "method"} if name in ("hmc", "nuts") else {"runtime"})
            if name in ("hmc", "nuts"):
                assert method.keywords["method"] == name


def test_plugin_and_front_import_no_framework():
    code = (
        "import sys; import recosim.inference, recosim.inference.plugin; "
        "from recosim.core.plugins import get_plugins; get_plugins(); "
        "print(sorted(m for m in ('jax', 'tensorflow', 'blackjax', 'optax') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
