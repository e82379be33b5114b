"""Use cases that misbehave on purpose, for the sweep's fault tests (loaded as ``sweep_cases:ProbeUseCase``)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.usecase import Parameter, Progress, UseCase


class ProbeUseCase(UseCase):
    """``value = x + N(0, 1)`` from the run's seed; ``mode`` makes a run raise or kill its own process."""

    name = "probe"
    summary = "a run that can fail on request"
    parameters = (
        Parameter("x", float, 1.0, "location of the value"),
        Parameter("mode", str, "ok", "ok | raise | crash-once | crash"),
        Parameter("sleep", float, 0.0, "seconds to wait before finishing"),
        Parameter("log_dir", str, "", "where each finished run appends a line (and crash-once leaves a marker)"),
        Parameter("repeats", int, 1, "number of draws averaged"),
        Parameter("flag", bool, False, "echoed back"),
    )

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        p = super().validate(params)
        if p["repeats"] < 1:
            raise ValueError(f"--repeats must be >= 1, got {p['repeats']}")
        return p

    def run(
        self, *, runtime: str, seed: int, out: Path | None, progress: Progress | None = None, **params: Any
    ) -> Mapping[str, Any]:
        p = self.validate(params)
        rng = np.random.default_rng(seed)
        time.sleep(p["sleep"])
        tag = f"{p['mode']}-{p['x']}-{seed}"
        if p["mode"] == "raise":
            raise ValueError(f"x={p['x']} is refused on purpose")
        if p["mode"] == "crash-once" and not (Path(p["log_dir"]) / f"crashed-{tag}").exists():
            (Path(p["log_dir"]) / f"crashed-{tag}").touch()
            os.kill(os.getpid(), signal.SIGKILL)
        if p["mode"] == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        value = float(p["x"] + rng.normal(size=p["repeats"]).mean())
        if p["log_dir"]:
            with open(Path(p["log_dir"]) / "finished.log", "a") as f:
                f.write(f"{tag}\n")
        if out is not None:
            (out / "value.txt").write_text(repr(value))
        return {
            "usecase": self.name,
            "seed": seed,
            "x": p["x"],
            "value": value,
            "flag": p["flag"],
            "stats": {"draws": p["repeats"], "positive": value > 0},
            "label": f"x is {p['x']}",
            "pid": os.getpid(),
        }
