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
from recosim.core.log_probability import make_log_probability_fn
from recosim.core.plugins import (
    ANY_RUNTIME,
    BUILTIN_PLUGINS,
    FAMILIES,
    BlockRegistrar,
    Provider,
    Registry,
    RuntimeRegistrar,
    RuntimeRegistration,
    declare_block,
    hookspecs,
    make_plugins,
)

REPO = Path(__file__).resolve().parents[3]


def test_every_hook_is_specified_typed_and_documented():
    specs = {n: f for n, f in vars(hookspecs).items() if n.startswith("recosim_") and callable(f)}
    assert set(specs) == {family.hook for family in FAMILIES}
    for family in FAMILIES:
        fn = specs[family.hook]
        doc = inspect.getdoc(fn) or ""
        assert "registry.add(" in doc and "Returns nothing" in doc, family.hook
        sig = inspect.signature(fn)
        assert list(sig.parameters) == ["registry"], family.hook
        # each hook receives its family's registrar, whose add() is typed
        assert sig.parameters["registry"].annotation == family.registrar.__name__, family.hook
        add = inspect.signature(family.registrar.add)
        assert all(p.annotation != inspect.Parameter.empty for n, p in add.parameters.items() if n != "self")


def test_builtin_plugins_are_a_declared_tuple_registering_numpy_and_usecases():
    plugins = make_plugins(load_entry_points=False)
    assert [name for name, _ in plugins.loaded] == [name for name, _ in BUILTIN_PLUGINS]
    assert plugins.runtime_names() == ["numpy"]
    assert {"counting", "random-walk"} <= set(plugins.usecases.names())
    assert plugins.get_runtime("numpy").name == "numpy"
    assert plugins.get_backend("numpy").name == "numpy"
    spec = plugins.runtime_spec("numpy")
    assert isinstance(spec, RuntimeRegistration) and spec.framework is None
    assert plugins.inference_method("log_probability").runtimes == ("numpy",)
    assert plugins.get_inference_method("log_probability_fn", runtime="numpy") is make_log_probability_fn


class _Dup:
    @hookimpl
    def recosim_add_runtimes(self, registry):
        registry.add("numpy", "somewhere:Else", backend="somewhere:backend")


class _Broken:
    @hookimpl
    def recosim_add_blocks(self, registry):
        registry.add("fine_block", object, kind="choice")
        raise RuntimeError("boom while registering")


class _Lazy:
    @hookimpl
    def recosim_add_blocks(self, registry):
        registry.add("ghost", "no_such_module_xyz:Thing", kind="choice")


class _Unspecified:
    @hookimpl
    def recosim_add_widgets(self, registry):  # no such hook
        pass


class _Untyped:
    @hookimpl
    def recosim_add_blocks(self, registry):
        registry.add("no_kind", object)  # kind is required: a TypeError, reported


def test_duplicate_names_name_both_providers():
    plugins = make_plugins(load_entry_points=False, extra=[(_Dup(), "dup", "dup-dist")])
    (failure,) = plugins.failures
    assert "runtime 'numpy' is registered twice" in failure.error
    assert "plugin 'core-numpy' (distribution 'recosim-core')" in failure.error
    assert "plugin 'dup' (distribution 'dup-dist')" in failure.error
    assert plugins.get_runtime("numpy").name == "numpy"  # the host carries on


def test_registrar_raises_duplicate_error_where_it_is_added():
    plugins = make_plugins(load_entry_points=False)
    registrar = RuntimeRegistrar(plugins.runtimes, Provider("me", "my-dist"))
    with pytest.raises(DuplicateRegistrationError, match="registered twice"):
        registrar.add("numpy", object, backend=object)
    registrar.add("mine", object, backend=object)
    with pytest.raises(DuplicateRegistrationError, match="plugin 'me' .* and by plugin 'me'"):
        registrar.add("mine", object, backend=object)
    assert "mine" not in plugins.runtimes  # nothing reaches the registry before commit
    registrar.commit()
    assert plugins.runtime_spec("mine").provider == Provider("me", "my-dist")


def test_failures_are_isolated_and_reported():
    plugins = make_plugins(load_entry_points=False, extra=[(_Broken(), "broken", "broken-dist"),
                                                           (_Lazy(), "lazy", "lazy-dist"),
                                                           (_Unspecified(), "odd", "odd-dist"),
                                                           (_Untyped(), "untyped", "untyped-dist")])
    stages = {f.plugin: f for f in plugins.failures}
    assert "boom while registering" in stages["broken"].error and stages["broken"].stage == "recosim_add_blocks"
    assert "fine_block" not in plugins.blocks  # all-or-nothing per plugin and family
    assert "recosim_add_widgets" in stages["odd"].error
    assert "missing 1 required keyword-only argument: 'kind'" in stages["untyped"].error
    with pytest.raises(PluginError, match="block 'ghost' from plugin 'lazy' \\(distribution 'lazy-dist'\\) could not be loaded: ModuleNotFoundError"):
        plugins.get_block("ghost")
    with pytest.raises(UnknownPluginError, match="no runtime named 'tpu'.*failed to load.*broken"):
        plugins.get_runtime("tpu")


def _fit(*args, **kwargs):
    return "fit"


class _TorchRuntime:
    """A further runtime's plugin adds its own implementation of an existing method name."""

    @hookimpl
    def recosim_add_inference_methods(self, registry):
        registry.add("log_probability", implementations={"torch": _fit})
        registry.add("mle", implementations={"jax": "x:y", "torch": _fit}, summary="maximum likelihood")


class _Clash:
    @hookimpl
    def recosim_add_inference_methods(self, registry):
        registry.add("other", implementations={"numpy": _fit})
        registry.add("log_probability", implementations={"numpy": _fit})


class _Legacy:
    @hookimpl
    def recosim_add_inference_methods(self, registry):
        registry.add("sweep_everything", _fit, runtimes=(), summary="any runtime")
        registry.add("two_runtimes", _fit, runtimes=("jax", "tf"))


def test_inference_methods_one_name_one_implementation_per_runtime():
    plugins = make_plugins(load_entry_points=False, extra=[(_TorchRuntime(), "torch", "recosim-torch"),
                                                           (_Clash(), "clash", "clash-dist"),
                                                           (_Legacy(), "legacy", "legacy-dist")])
    method = plugins.inference_method("log_probability")
    assert method.runtimes == ("numpy", "torch")
    assert {p.distribution for p in method.providers} == {"recosim-core", "recosim-torch"}
    assert plugins.get_inference_method("log_probability", runtime="torch") is _fit
    with pytest.raises(UnknownPluginError, match="'mle' has no implementation for runtime 'numpy'; .*'jax', 'torch'"):
        plugins.get_inference_method("mle", runtime="numpy")
    with pytest.raises(UnknownPluginError, match="name one with runtime="):
        plugins.get_inference_method("mle")
    with pytest.raises(PluginError, match="inference method 'mle' for runtime 'jax' from plugin 'torch'"):
        plugins.get_inference_method("mle", runtime="jax")
    # the same (name, runtime) twice names both providers, and the clashing plugin registers nothing
    (clash,) = [f for f in plugins.failures if f.plugin == "clash"]
    assert "inference method 'log_probability' for runtime 'numpy' is registered twice" in clash.error
    assert "plugin 'core-numpy' (distribution 'recosim-core')" in clash.error and "'clash'" in clash.error
    assert "other" not in plugins.inference_methods
    # the transitional single-target form
    assert plugins.inference_method("sweep_everything").runtimes == (ANY_RUNTIME,)
    assert plugins.get_inference_method("sweep_everything", runtime="anything") is _fit
    assert plugins.inference_method("two_runtimes").runtimes == ("jax", "tf")


class _Named:
    block_name = "named_block"
    block_kind = "choice"
    block_summary = "declared on the class"


class _Inherits(_Named):
    """Reuses its parent's name by accident."""


@declare_block("story_fn", kind="story")
def _story():
    """A story function. It has two sentences."""
    return []


def test_blocks_register_under_the_names_they_declare():
    registrar = BlockRegistrar(Registry("blocks"), Provider("me", "my-dist"))
    registrar.add_named(_Named, _story)
    registrar.commit()
    named, story = registrar.registry.get("named_block"), registrar.registry.get("story_fn")
    assert (named.kind, named.summary, named.load()) == ("choice", "declared on the class", _Named)
    assert (story.kind, story.summary) == ("story", "A story function")
    with pytest.raises(PluginError, match="_Inherits declares no block_name and block_kind of its own"):
        registrar.add_named(_Inherits)


def test_plugins_json_lists_every_inference_method_with_its_runtimes(capsys):
    from recosim.core.cli import main

    assert main(["plugins", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (lp,) = [m for m in report["inference_methods"] if m["name"] == "log_probability"]
    assert "numpy" in lp["runtimes"] and {"runtime": "numpy", "plugin": "core-numpy",
                                          "distribution": "recosim-core"} in lp["implementations"]
    (numpy,) = [r for r in report["runtimes"] if r["name"] == "numpy"]
    assert numpy["framework"] is None


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
    assert {"name": "temperature_mnl", "plugin": "example", "distribution": "recosim-example-plugin", "kind": "choice",
            "summary": "Multinomial-logit choice with a temperature: ``P(i)`` proportional to ``exp(affinity_i / temperature)``"} in report["blocks"]
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
