"""The plugin system: hook documentation, registries, failure isolation, a real third-party plugin."""

import importlib.metadata as md
import inspect
import json
import os
import re
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
    # an import string naming a module that is not installed fails at registration, once, with the reason
    assert stages["lazy"].stage == "recosim_add_blocks"
    assert "block 'ghost' from plugin 'lazy' (distribution 'lazy-dist') points at 'no_such_module_xyz:Thing'" in \
        stages["lazy"].error and "no module 'no_such_module_xyz' is installed" in stages["lazy"].error
    assert "ghost" not in plugins.blocks
    with pytest.raises(UnknownPluginError, match="no block named 'ghost'.*lazy"):
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
        registry.add("mle", implementations={"jax": "recosim.core.runtime:no_such_attr", "torch": _fit},
                     summary="maximum likelihood")


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
                          "--p", "0.25", "--steps", "8", "--quiet", "--json"], env=env, capture_output=True, text=True,
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


# -- plugins that try to hijack names or end the host ------------------------------------------


class _TakesJax:
    """A third party registering recosim's runtime name 'jax' (and one of its own, in the same hook)."""

    @hookimpl
    def recosim_add_runtimes(self, registry):
        registry.add("mine", "recosim.core.runtime:NumpyRuntime", backend="recosim.core.backend:numpy_backend")
        registry.add("jax", "recosim.core.runtime:NumpyRuntime", backend="recosim.core.backend:numpy_backend")


class _OfficialJax:
    @hookimpl
    def recosim_add_runtimes(self, registry):
        registry.add("jax", "recosim.core.runtime:NumpyRuntime", backend="recosim.core.backend:numpy_backend",
                     framework="jax")


class _Exits:
    @hookimpl
    def recosim_add_blocks(self, registry):
        raise SystemExit(3)


class _Interrupts:
    @hookimpl
    def recosim_add_usecases(self, registry):
        raise KeyboardInterrupt


class _FakeDist:
    def __init__(self, name, version):
        self.name, self.version = name, version


def _entry_point(name, module, dist, version="1.0"):
    ep = md.EntryPoint(name=name, value=module, group="recosim")
    return ep._for(_FakeDist(dist, version)) if hasattr(ep, "_for") else ep


def _plugin_module(tmp_path, monkeypatch, name, body):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_builtin_names_win_over_a_third_party_plugin_whatever_the_load_order(tmp_path, monkeypatch):
    official = _plugin_module(tmp_path, monkeypatch, "official_jax_plugin", """
        from recosim.core import hookimpl
        @hookimpl
        def recosim_add_runtimes(registry):
            registry.add("jax", "recosim.core.runtime:NumpyRuntime", backend="recosim.core.backend:numpy_backend",
                         framework="jax")
    """)
    hijack = _plugin_module(tmp_path, monkeypatch, "aaa_hijack_plugin", """
        from recosim.core import hookimpl
        @hookimpl
        def recosim_add_runtimes(registry):
            registry.add("jax", "recosim.core.runtime:NumpyRuntime", backend="recosim.core.backend:numpy_backend")
    """)
    # the hijacker's entry point sorts first by name; recosim's own distribution still loads first
    eps = [_entry_point("aaa", hijack, "evil-dist", "6.6"), _entry_point("jax", official, "recosim-runtime-jax", "0.1.0")]
    plugins = make_plugins(entry_points=eps)
    assert plugins.runtime_spec("jax").provider.distribution == "recosim-runtime-jax"
    assert plugins.runtime_provenance("jax") == {"runtime": "jax", "plugin": "jax",
                                                 "distribution": "recosim-runtime-jax", "version": "0.1.0"}
    (failure,) = plugins.failures
    assert failure.plugin == "aaa" and failure.distribution == "evil-dist"
    assert "runtime 'jax' is registered twice" in failure.error and "recosim's own names win" in failure.error


def test_reserved_runtime_names_are_refused_to_other_distributions_even_when_not_installed():
    plugins = make_plugins(load_entry_points=False, extra=[(_TakesJax(), "takes", "evil-dist")])
    (failure,) = plugins.failures
    assert failure.plugin == "takes" and "runtime 'jax' is recosim's own (distribution 'recosim-runtime-jax')" \
        in failure.error
    assert plugins.runtime_names() == ["numpy"]  # all or nothing: 'mine' went with it
    # recosim's own distribution may register it
    ok = make_plugins(load_entry_points=False, extra=[(_OfficialJax(), "jax", "recosim-runtime-jax")])
    assert not ok.failures and ok.runtime_spec("jax").framework == "jax"


def test_runtime_provenance_records_distribution_and_version():
    plugins = make_plugins(load_entry_points=False)
    prov = plugins.runtime_provenance("numpy")
    assert prov == {"runtime": "numpy", "plugin": "core-numpy", "distribution": "recosim-core",
                    "version": md.version("recosim-core")}
    assert plugins.providers["core-numpy"].version == md.version("recosim-core")


@pytest.mark.parametrize("plugin, stage, error", [
    (_Exits(), "recosim_add_blocks", "SystemExit: 3"),
    (_Interrupts(), "recosim_add_usecases", "KeyboardInterrupt"),
])
def test_a_plugin_that_exits_while_registering_is_isolated_and_named(plugin, stage, error):
    plugins = make_plugins(load_entry_points=False, extra=[(plugin, "quitter", "quitter-dist")])
    (failure,) = plugins.failures
    assert (failure.plugin, failure.distribution, failure.stage) == ("quitter", "quitter-dist", stage)
    assert failure.error.startswith(error)
    assert plugins.get_runtime("numpy").name == "numpy"  # the host carries on


def test_a_plugin_that_calls_sys_exit_at_import_is_isolated_and_named(tmp_path, monkeypatch):
    module = _plugin_module(tmp_path, monkeypatch, "exits_at_import", "import sys\nsys.exit('bye')\n")
    plugins = make_plugins(entry_points=[_entry_point("quitter", module, "quitter-dist")])
    (failure,) = plugins.failures
    assert (failure.plugin, failure.distribution, failure.stage) == ("quitter", "quitter-dist", "import")
    assert failure.error.startswith("SystemExit: bye")
    assert "numpy" in plugins.runtime_names()


def test_sys_exit_in_a_runtime_module_loaded_later_is_a_plugin_error(tmp_path, monkeypatch):
    module = _plugin_module(tmp_path, monkeypatch, "runtime_that_exits", "import sys\nsys.exit(1)\n")

    class Later:
        @hookimpl
        def recosim_add_runtimes(self, registry):
            registry.add("later", f"{module}:Runtime", backend="recosim.core.backend:numpy_backend")

    plugins = make_plugins(load_entry_points=False, extra=[(Later(), "later", "later-dist")])
    with pytest.raises(PluginError, match="runtime 'later' from plugin 'later'.*could not be loaded: SystemExit"):
        plugins.get_runtime("later")


def test_missing_modules_are_found_without_importing_anything(tmp_path, monkeypatch):
    from recosim.core.plugins.registry import module_exists

    _plugin_module(tmp_path, monkeypatch, "exists_but_raises", "raise RuntimeError('imported!')\n")
    assert module_exists("exists_but_raises") and "exists_but_raises" not in sys.modules
    assert module_exists("recosim.core.runtime") and not module_exists("recosim.core.no_such_module")
    assert not module_exists("no_such_top_level_module_q") and not module_exists("json.no_such_submodule")


def test_recosim_plugins_lists_a_missing_module_once_under_failed(tmp_path, monkeypatch, capsys):
    from recosim.core.cli import main
    from recosim.core.plugins import manager

    monkeypatch.setattr(manager, "_PLUGINS", make_plugins(load_entry_points=False,
                                                          extra=[(_Lazy(), "lazy", "lazy-dist")]))
    assert main(["plugins", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert [f["plugin"] for f in report["failed"]] == ["lazy"]
    assert "no module 'no_such_module_xyz' is installed" in report["failed"][0]["error"]
    assert all(b["name"] != "ghost" for b in report["blocks"]) and captured.err == ""


class _Vectorising:
    @hookimpl
    def recosim_add_runtimes(self, registry):
        registry.add("vec", "recosim.core.runtime:NumpyRuntime", backend="recosim.core.backend:numpy_backend",
                     capabilities=("vectorises", "compiles", "lasers"))


class _CapabilityString:
    @hookimpl
    def recosim_add_runtimes(self, registry):
        registry.add("oops", "recosim.core.runtime:NumpyRuntime", backend="recosim.core.backend:numpy_backend",
                     capabilities="compiles")


def test_runtimes_declare_capabilities_and_callers_query_them_without_imports():
    from recosim.core.plugins import CAPABILITIES, COMPILES, DIFFERENTIABLE, SHARDS, VECTORISES

    assert CAPABILITIES == {"compiles", "vectorises", "differentiable", "shards"}
    plugins = make_plugins(load_entry_points=False, extra=[(_Vectorising(), "vec", "vec-dist"),
                                                           (_CapabilityString(), "oops", "oops-dist")])
    assert plugins.runtime_capabilities("numpy") == frozenset()
    assert plugins.runtime_capabilities("vec") == {VECTORISES, COMPILES, "lasers"}
    assert plugins.runtimes_with() == ["numpy", "vec"]
    assert plugins.runtimes_with(COMPILES, VECTORISES) == ["vec"]
    assert plugins.runtimes_with(DIFFERENTIABLE) == [] and plugins.runtimes_with(SHARDS, COMPILES) == []
    (failure,) = plugins.failures  # a lone string is refused, not read as eight one-letter capabilities
    assert failure.plugin == "oops" and "capabilities must be a sequence of names" in failure.error
    with pytest.raises(UnknownPluginError, match="no runtime named 'nope'"):
        plugins.runtime_capabilities("nope")


def test_check_runtime_refuses_a_runtime_lacking_a_needed_capability_naming_those_that_have_it(monkeypatch):
    from recosim.core.errors import UsageError
    from recosim.core.plugins import manager
    from recosim.core.runtime import NumpyRuntime
    from recosim.core.usecase import check_runtime

    plugins = make_plugins(load_entry_points=False, extra=[(_Vectorising(), "vec", "vec-dist")])
    monkeypatch.setattr(manager, "_PLUGINS", plugins)
    assert check_runtime("vec", needs=("vectorises",)) is NumpyRuntime
    assert check_runtime("numpy", needs=()) is NumpyRuntime
    with pytest.raises(UsageError) as err:
        check_runtime("numpy", needs=("vectorises", "compiles"))
    assert str(err.value) == ("--runtime numpy: this needs the runtime capabilities 'vectorises', 'compiles', "
                              "which 'numpy' does not declare; use --runtime vec")
    with pytest.raises(UsageError, match="capability 'differentiable'.*no installed runtime declares it"):
        check_runtime("vec", needs=("differentiable",))
    assert NumpyRuntime.capabilities == plugins.runtime_capabilities("numpy") == frozenset()


def test_what_a_plugin_prints_while_loading_is_captured_and_reported_under_it(tmp_path, monkeypatch, capsys):
    module = _plugin_module(tmp_path, monkeypatch, "chatty_plugin", """
        import sys
        print("hello from chatty")
        print("second line", file=sys.stderr)
        from recosim.core import hookimpl
        @hookimpl
        def recosim_add_blocks(registry):
            print("registering")
    """)
    plugins = make_plugins(entry_points=[_entry_point("chatty", module, "chatty-dist")])
    out, err = capsys.readouterr()
    assert out == ""  # stdout stays clean for JSON
    assert plugins.output["chatty"] == "hello from chatty\nsecond line\nregistering\n"
    assert ("recosim: plugin 'chatty' (distribution chatty-dist) printed while loading: hello from chatty "
            "(and 1 more line(s))") in err.splitlines()
    assert not plugins.failures and ("chatty", "chatty-dist") in plugins.loaded


def test_a_real_ctrl_c_while_a_plugin_imports_stops_the_command(tmp_path, monkeypatch):
    module = _plugin_module(tmp_path, monkeypatch, "slow_plugin", """
        import os, signal
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C during a slow import
        import time
        time.sleep(5)
    """)
    with pytest.raises(KeyboardInterrupt):
        make_plugins(entry_points=[_entry_point("slow", module, "slow-dist")])
    # a plugin that raises KeyboardInterrupt itself is still only that plugin's failure
    raiser = _plugin_module(tmp_path, monkeypatch, "raiser_plugin", "raise KeyboardInterrupt\n")
    plugins = make_plugins(entry_points=[_entry_point("raiser", raiser, "raiser-dist")])
    assert [f.plugin for f in plugins.failures] == ["raiser"]


def test_disable_plugins_names_distributions_and_slow_imports_are_timed(tmp_path, monkeypatch, capsys):
    exits = _plugin_module(tmp_path, monkeypatch, "exits_hard", "import os\nos._exit(9)\n")
    fine = _plugin_module(tmp_path, monkeypatch, "fine_plugin", "import time\ntime.sleep(0.05)\n")
    eps = [_entry_point("hard", exits, "hard-dist"), _entry_point("fine", fine, "fine-dist")]
    monkeypatch.setenv("RECOSIM_DISABLE_PLUGINS", "hard-dist")
    monkeypatch.setattr("recosim.core.plugins.manager.SLOW_IMPORT_S", 0.01)
    plugins = make_plugins(entry_points=eps)  # without the variable this process would end here
    assert plugins.disabled == [("hard", "hard-dist")] and ("fine", "fine-dist") in plugins.loaded
    assert plugins.import_seconds["fine"] >= 0.05
    assert re.search(r"^recosim: plugin 'fine' \(distribution fine-dist\) took \d+\.\d s to import$",
                     capsys.readouterr().err, re.MULTILINE)
    monkeypatch.setenv("RECOSIM_DISABLE_PLUGINS", "1")
    assert sorted(make_plugins(entry_points=eps).disabled) == [("fine", "fine-dist"), ("hard", "hard-dist")]


def test_checking_plugins_in_child_processes_finds_one_that_ends_the_process(tmp_path, monkeypatch):
    from recosim.core.plugins.manager import check_entry_points

    exits = _plugin_module(tmp_path, monkeypatch, "ends_process", "import os\nos._exit(9)\n")
    raises = _plugin_module(tmp_path, monkeypatch, "raises_value", "raise ValueError('bad config')\n")
    eps = [_entry_point("ender", exits, "ender-dist"), _entry_point("raiser", raises, "raiser-dist"),
           _entry_point("numpyish", "recosim.core.plugins.builtin_numpy", "ok-dist")]
    report = {r["plugin"]: r for r in check_entry_points(eps, timeout=60)}
    assert report["ender"]["result"] == "ended the process (exit status 9)" and not report["ender"]["ok"]
    assert report["raiser"]["result"] == "raised ValueError: bad config"
    assert report["numpyish"]["ok"] and report["numpyish"]["distribution"] == "ok-dist"
