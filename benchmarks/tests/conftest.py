"""The benchmark harness's own tests: benchmarks/ holds plain modules, put it on the path."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
