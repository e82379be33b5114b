"""Core and library import no framework: checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import importlib, json, pkgutil, sys
import recosim.core
import recosim.library
from recosim.core.plugins import make_plugins
names = sorted(m.name for m in pkgutil.walk_packages(recosim.library.__path__, "recosim.library."))
for name in names:
    importlib.import_module(name)
plugins = make_plugins()
for name in plugins.blocks.names():
    plugins.get_block(name)
assert not plugins.failures, plugins.failures
print(json.dumps({"modules": names, "loaded": sorted(m for m in ("tensorflow", "jax") if m in sys.modules)}))
"""


def test_core_and_every_library_module_import_without_tensorflow_or_jax():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    for expected in ("recosim.library.bandits.algorithms", "recosim.library.entities.base", "recosim.library.stories"):
        assert expected in report["modules"]
    assert report["loaded"] == [], f"importing the library loaded {report['loaded']}"
