"""``recosim run ... --devices N``: the population's users split over N devices, or one line saying why not.

The option travels to the runtime the use case builds through ``RECOSIM_SHARD``
(``devices=N,population=P``, P being the use case's ``--num-users``), set while
the use case runs. The plumbing and the refusals are checked here with a stand-in
runtime (no framework needed); the last test runs the ecosystem through the
command line on the JAX runtime with 4 host devices, split and not split.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from recosim.core import hookimpl
from recosim.core.cli import SHARD_ENV, main
from recosim.core.plugins import SHARDS, get_plugins, make_plugins, manager
from recosim.core.runtime import NumpyRuntime

SEEN: list[str | None] = []


class _Splitting(NumpyRuntime):
    """A NumPy runtime that takes a ``shard`` option and notes the sharding the environment asks for."""

    capabilities = frozenset({SHARDS})

    def __init__(self, network, *, shard=None, **kwargs):
        SEEN.append(os.environ.get(SHARD_ENV))
        super().__init__(network, **kwargs)


class _ClaimsOnly(NumpyRuntime):
    """Declares the capability but takes no shard option."""

    capabilities = frozenset({SHARDS})


class _Plugin:
    @hookimpl
    def recosim_add_runtimes(self, registry):
        registry.add("splitting", _Splitting, backend="recosim.core.backend:numpy_backend", capabilities=(SHARDS,))
        registry.add("claims", _ClaimsOnly, backend="recosim.core.backend:numpy_backend", capabilities=(SHARDS,))


@pytest.fixture
def plugins(monkeypatch):
    monkeypatch.delenv(SHARD_ENV, raising=False)
    SEEN.clear()
    made = make_plugins(load_entry_points=False, extra=[(_Plugin(), "devices-test", "devices-test-dist")])
    monkeypatch.setattr(manager, "_PLUGINS", made)
    return made


WALK = ["run", "random-walk", "--horizon", "3", "--quiet", "--json"]


def test_devices_reach_the_runtime_the_use_case_builds_and_only_while_it_runs(tmp_path, capsys, plugins):
    assert main([*WALK, "--runtime", "splitting", "--num-users", "12", "--devices", "4", "--out", str(tmp_path)]) == 0
    assert SEEN == ["devices=4,population=12"]
    assert SHARD_ENV not in os.environ
    summary = json.loads(capsys.readouterr().out)
    assert summary["num_users"] == 12
    # one device: nothing to split, on any runtime
    assert main([*WALK, "--runtime", "splitting", "--devices", "1", "--out", str(tmp_path / "one")]) == 0
    assert main([*WALK, "--runtime", "numpy", "--devices", "1", "--out", str(tmp_path / "numpy")]) == 0
    assert SEEN == ["devices=4,population=12", None]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["random-walk", "--runtime", "numpy", "--devices", "2"],
         "--devices 2: runtime 'numpy' cannot split a population over devices (it does not declare the 'shards' "
         "capability); use --runtime claims or --runtime splitting"),
        (["random-walk", "--runtime", "claims", "--devices", "2"],
         "--devices 2: runtime 'claims' declares the 'shards' capability but takes no shard option"),
        (["random-walk", "--runtime", "splitting", "--num-users", "10", "--devices", "4"],
         "--devices 4: --num-users 10 does not split evenly over 4 devices; give a user count divisible by 4 "
         "(such as 8 or 12)"),
        (["counting", "--runtime", "splitting", "--devices", "2"],
         "--devices 2: use case 'counting' has no --num-users option"),
        (["random-walk", "--devices", "0"], "--devices must be a positive integer, got 0"),
        (["random-walk", "--devices", "two"], "--devices must be a positive integer, got 'two'"),
    ],
)
def test_what_cannot_be_split_is_one_line_and_status_2_before_any_work(tmp_path, capsys, plugins, argv, message):
    out = tmp_path / "never"
    assert main(["run", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"recosim: error: {message}"), err
    assert not out.exists() and SEEN == []


def _ecosystem_on_jax() -> str | None:
    plugins = get_plugins()
    if "jax" not in plugins.runtime_names():
        return "the JAX runtime is not installed"
    if "ecosystem" not in plugins.usecases.names():
        return "recosim-usecases is not installed"
    return None


ECOSYSTEM = ["run", "ecosystem", "--runtime", "jax", "--num-users", "8", "--num-docs", "6", "--horizon", "4",
             "--num-runs", "2", "--quiet", "--json"]


@pytest.mark.skipif(_ecosystem_on_jax() is not None, reason=str(_ecosystem_on_jax()))
def test_more_devices_than_visible_is_one_line_naming_the_count_and_the_host_device_flag(tmp_path, capsys):
    import jax

    visible = len(jax.devices())
    code = main([*ECOSYSTEM, "--devices", str(visible * 2), "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith(f"recosim: error: --devices {visible * 2} (RECOSIM_SHARD="), err
    assert f"only {visible} cpu device(s) are visible" in err[-1]
    assert "XLA_FLAGS=--xla_force_host_platform_device_count=N" in err[-1]


@pytest.mark.skipif(_ecosystem_on_jax() is not None, reason=str(_ecosystem_on_jax()))
def test_the_ecosystem_split_over_four_host_devices_gives_the_numbers_of_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLA_FLAGS", "JAX_", SHARD_ENV))}
    env |= {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    env |= {"RECOSIM_COMPILE_CACHE": "off", "TF_CPP_MIN_LOG_LEVEL": "3"}
    # one process with 4 host devices runs the command twice: --devices 1, then --devices 4
    script = (
        "import sys; from recosim.core.cli import main; argv = sys.argv[2:]; "
        "sys.exit(main([*argv, \"--devices\", \"1\", \"--out\", sys.argv[1] + \"/1\"]) "
        "or main([*argv, \"--devices\", \"4\", \"--out\", sys.argv[1] + \"/4\"]))"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), *ECOSYSTEM], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = {d: json.loads((tmp_path / str(d) / "summary.json").read_text()) for d in (1, 4)}
    one, four = summaries[1], summaries[4]
    print("1 device: ", json.dumps(one["policies"], sort_keys=True))
    print("4 devices:", json.dumps(four["policies"], sort_keys=True))
    assert one["policies"] == four["policies"]  # identical numbers, every cap, mean and standard error
    assert {k: v for k, v in one.items() if k != "files"} == {k: v for k, v in four.items() if k != "files"}
