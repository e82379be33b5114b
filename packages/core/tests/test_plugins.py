"""The plugin system: hook documentation, registries, failure isolation, a real third-party plugin."""

import importlib.metadata as md
import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recosim.core import DuplicateRegistrationError, PluginError, UnknownPluginError, hookimpl
from recosim.core.plugins import hookspecs, make_plugins
from recosim.core.plugins.manager import FAMILIES

REPO = Path(__file__).resolve().parents[3]


def test_every_hook_is_specified_typed_and_documented():
    specs = {n: f for n, f in vars(hookspecs).items() if n.startswith("recosim_") and callable(f)}
    assert set(specs) == set(FAMILIES.values())
    for name, fn in specs.items():
        doc = inspect.getdoc(fn) or ""
        assert "registry.add(" in doc and "Returns nothing" in doc, name
        sig = inspect.signature(fn)
        assert list(sig.parameters) == ["registry"], name
        assert sig.parameters["registry"].annotation != inspect.Parameter.empty, name
        assert name in (inspect.getdoc(hookspecs) or "") or "registry" in doc


def test_builtin_plugin_registers_numpy_runtime_and_usecases():
    plugins = make_plugins(load_entry_points=False)
    assert plugins.runtime_names() == ["numpy"]
    assert {"counting", "random-walk"} <= set(plugins.registry("usecases").names())
    assert plugins.get_runtime("numpy").name == "numpy"
    assert plugins.get_backend("numpy").name == "numpy"


class _Dup:
    @hookimpl
    def recosim_add_runtimes(self, registry):
        registry.add("numpy", "somewhere:Else")


class _Broken:
    @hookimpl
    def recosim_add_blocks(self, registry):
        registry.add("fine_block", object)
        raise RuntimeError("boom while registering")


class _Lazy:
    @hookimpl
    def recosim_add_blocks(self, registry):
        registry.add("ghost", "no_such_module_xyz:Thing", kind="choice")


class _Unspecified:
    @hookimpl
    def recosim_add_widgets(self, registry):  # no such hook
        pass


def test_duplicate_names_name_both_providers():
    plugins = make_plugins(load_entry_points=False, extra=[(_Dup(), "dup", "dup-dist")])
    (failure,) = plugins.failures
    assert "runtime name 'numpy' is registered twice" in failure.error
    assert "plugin 'core-numpy' (distribution 'recosim-core')" in failure.error
    assert "plugin 'dup' (distribution 'dup-dist')" in failure.error
    assert plugins.get_runtime("numpy").name == "numpy"  # the host carries on


def test_registry_add_raises_duplicate_error_directly():
    plugins = make_plugins(load_entry_points=False)
    reg = plugins.registry("runtimes")._as("me", "my-dist")
    with pytest.raises(DuplicateRegistrationError, match="registered twice"):
        reg.add("numpy", object)


def test_failures_are_isolated_and_reported():
    plugins = make_plugins(load_entry_points=False, extra=[(_Broken(), "broken", "broken-dist"),
                                                           (_Lazy(), "lazy", "lazy-dist"),
                                                           (_Unspecified(), "odd", "odd-dist")])
    stages = {f.plugin: f for f in plugins.failures}
    assert "boom while registering" in stages["broken"].error and stages["broken"].stage == "recosim_add_blocks"
    assert "fine_block" not in plugins.registry("blocks")  # all-or-nothing per plugin and family
    assert "recosim_add_widgets" in stages["odd"].error
    with pytest.raises(PluginError, match="block 'ghost' from plugin 'lazy' \\(distribution 'lazy-dist'\\) could not be loaded: ModuleNotFoundError"):
        plugins.get_block("ghost")
    with pytest.raises(UnknownPluginError, match="no runtime named 'tpu'.*failed to load.*broken"):
        plugins.get_runtime("tpu")


def test_entry_point_import_failure_names_plugin_and_distribution():
    ep = md.EntryPoint(name="bad", value="no_such_module_abc.plugin", group="recosim")
    plugins = make_plugins(entry_points=[ep])
    (failure,) = plugins.failures
    assert failure.plugin == "bad" and failure.stage == "import" and "ModuleNotFoundError" in failure.error


def _install(src: Path, target: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(src)]
    try:
        import hatchling  # noqa: F401
        cmd.insert(4, "--no-build-isolation")
    except ImportError:
        pass
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)


def _broken_distribution(root: Path) -> None:
    """A distribution whose plugin module raises on import."""
    (root / "recosim_broken_plugin.py").write_text("raise ImportError('needs libfoo 9, found libfoo 8')\n")
    info = root / "recosim_broken_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: recosim-broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[recosim]\nbroken = recosim_broken_plugin\n")
    (info / "RECORD").write_text("")


def test_installed_third_party_plugin_is_found_and_broken_one_reported(tmp_path):
    if shutil.which("pip") is None and subprocess.run([sys.executable, "-m", "pip", "--version"],
                                                       capture_output=True).returncode != 0:
        pytest.fail("pip is needed to install the example plugin")
    site = tmp_path / "site"
    _install(REPO / "examples" / "recosim-example-plugin", site)
    _broken_distribution(site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "recosim.core.cli", "plugins", "--json"], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(out.stdout)
    assert {"plugin": "example", "distribution": "recosim-example-plugin"} in report["loaded"]
    assert any(b["name"] == "temperature_mnl" and b["distribution"] == "recosim-example-plugin" for b in report["blocks"])
    (failed,) = [f for f in report["failed"] if f["plugin"] == "broken"]
    assert failed["distribution"] == "recosim-broken-plugin" and "needs libfoo 9" in failed["error"]
    run = subprocess.run([sys.executable, "-m", "recosim.core.cli", "run", "coin-flips", "--num-agents", "4000",
                          "--p", "0.25", "--steps", "8", "--quiet"], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    summary = json.loads(run.stdout)
    assert abs(summary["mean_heads"] - 2.0) < 0.1  # 8 flips x 0.25; sd of the mean is about 0.02
    code = textwrap.dedent("""
        import numpy as np
        from recosim.core import get_plugins
        from recosim.core.testing import run_block
        block = get_plugins().get_block("temperature_mnl")(temperature=0.5)
        out = run_block("numpy", lambda: block.choice(np.tile(np.log([1.0, 2.0, 1.0]).astype("float32"), (20000, 1))))
        freq = np.bincount(out["choice"][0], minlength=3) / 20000
        print(freq.tolist())
    """)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    freq = json.loads(res.stdout.strip().splitlines()[-1])
    # temperature 0.5 squares the weights: (1, 4, 1) / 6
    assert abs(freq[1] - 4 / 6) < 0.015 and abs(freq[0] - 1 / 6) < 0.015
