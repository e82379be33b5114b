"""The persistent compilation cache: written by one process, read by the next, keyed by release, off on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recosim.jax import compile_cache

TESTS = Path(__file__).parent

# One small model compiled and run in a fresh process; prints its numbers, the
# folder JAX caches in and how many executables JAX loaded from the cache.
CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    import jax
    import numpy as np
    from jax_models import drift_variables
    from recosim.jax.runtime import JaxRuntime
    from recosim.jax import compile_cache

    hits = []
    jax.monitoring.register_event_listener(
        lambda event, **kw: hits.append(1) if event == "/jax/compilation_cache/cache_hits" else None
    )
    rt = JaxRuntime(drift_variables(num_agents=3), seed=11)
    x = np.asarray(rt.trajectory(6)["chain"].get("x")).tolist()
    print(json.dumps({{"x": x, "folder": compile_cache.active_folder(), "hits": len(hits)}}))
    """
)


def _run_children(env_updates: dict[str, str], count: int = 1, *others: dict[str, str]) -> list[dict]:
    """``count`` children with ``env_updates`` and one per dict of ``others``, started together (they compile,
    read and write the cache at the same time)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "RECOSIM_COMPILE_CACHE", "XDG_CACHE"))}
    envs = [{"JAX_PLATFORMS": "cpu", **base, **updates} for updates in [env_updates] * count + list(others)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD.format(tests=str(TESTS))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env in envs
    ]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr[-2000:]
        assert "persistent compilation cache" not in stderr, stderr[-2000:]  # no unreadable or unwritable entry
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return results


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*-cache")) if folder.exists() else []


def test_second_process_loads_what_the_first_compiled_and_off_writes_nothing(tmp_path):
    # four fresh processes (about 8 s of CPU each, mostly imports)
    env = {"XDG_CACHE_HOME": str(tmp_path / "home"), compile_cache.ENV_VAR: str(tmp_path / "mine")}
    expected = tmp_path / "mine" / compile_cache.versions_tag()
    cold, beside = _run_children(env, count=2)  # two processes fill one empty folder at the same time
    assert cold["folder"] == beside["folder"] == str(expected)
    assert beside["x"] == cold["x"]
    written = _entries(expected)
    assert written, "the first processes wrote no executable"
    # a warm process, and beside it one with the cache off (it neither reads nor writes one)
    warm, off = _run_children(env, 1, {"XDG_CACHE_HOME": str(tmp_path / "home"), compile_cache.ENV_VAR: "off"})
    assert warm["hits"] >= 1, "the second process compiled again instead of loading"
    assert _entries(expected) == written  # nothing new to write
    assert warm["x"] == cold["x"]  # the loaded executable gives the same numbers, bit for bit
    assert off["folder"] is None
    assert off["x"] == cold["x"]
    assert not (tmp_path / "home").exists()  # neither the moved cache nor "off" touched the default folder


def test_the_default_folder_is_the_users_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache.default_root() == tmp_path / "recosim" / "jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert compile_cache.default_root() == tmp_path / "user" / ".cache" / "recosim" / "jax"


def test_a_cache_the_user_gave_jax_is_respected(tmp_path):
    import jax

    before = jax.config.jax_compilation_cache_dir
    ours = compile_cache._ours
    try:
        if before is not None and before == ours:
            jax.config.update("jax_compilation_cache_dir", None)  # the user's setting replaces recosim's
            compile_cache._ours = None
        theirs = str(tmp_path / "theirs")
        if before is None or before == ours:
            jax.config.update("jax_compilation_cache_dir", theirs)
        else:
            theirs = before
        assert compile_cache.configure(tmp_path / "mine") == theirs
        assert compile_cache.configure(None) == theirs
        assert jax.config.jax_compilation_cache_dir == theirs
        assert not (tmp_path / "mine").exists()
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
        compile_cache._ours = ours


def test_a_new_release_selects_another_folder(tmp_path):
    now = compile_cache.versions_tag()
    assert compile_cache.versions_tag(jax_version="99.0") != now
    assert compile_cache.versions_tag(jaxlib_version="99.0") != now
    assert compile_cache.versions_tag(recosim_version="99.0") != now
    assert compile_cache.folder_under(tmp_path) == tmp_path / now


def test_a_file_where_the_folder_should_be_is_refused(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("")
    with pytest.raises(ValueError, match="compile_cache: .*a-file.* is a file"):
        compile_cache.configure(path)
