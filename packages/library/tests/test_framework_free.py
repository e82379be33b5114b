"""Core and library import no framework: checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import importlib, json, pkgutil, sys
import recosim.core
import recosim.library
from recosim.library import blocks_agents, blocks_models
names = sorted(m.name for m in pkgutil.walk_packages(recosim.library.__path__, "recosim.library."))
for name in names:
    importlib.import_module(name)
for table in (blocks_agents.BLOCKS, blocks_models.BLOCKS):
    for _, target, _, _ in table:
        module, _, attr = target.partition(":")
        getattr(importlib.import_module(module), attr)
print(json.dumps({"modules": names, "loaded": sorted(m for m in ("tensorflow", "jax") if m in sys.modules)}))
"""


def test_core_and_every_library_module_import_without_tensorflow_or_jax():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    for expected in ("recosim.library.bandits.algorithms", "recosim.library.entities.base", "recosim.library.stories"):
        assert expected in report["modules"]
    assert report["loaded"] == [], f"importing the library loaded {report['loaded']}"
