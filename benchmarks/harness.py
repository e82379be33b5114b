"""Measurement machinery shared by ``bench.py`` and ``compare.py``.

Every workload runs in a child process of its own (``python harness.py child
SPEC``), so that one workload's memory, threads and compiled caches never
colour another's figures. The parent waits for the child with ``os.wait4`` and
takes the child's peak resident memory (its RSS high-water mark, from the
kernel) from the returned resource usage; the child reports its timed phases
and result figures in a JSON file.

A workload is a function ``fn(clock, **params) -> dict`` in a module of this
folder. It marks its phases with ``clock.phase(name)`` and returns its result
figures (utility levels, rewards, parameters learnt), which end up in the report
beside the timings so that a fast but wrong run shows.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

__all__ = [
    "Clock",
    "ChildResult",
    "split_compile",
    "run_child",
    "timing_figures",
    "machine_description",
    "machine_markdown",
    "markdown_table",
    "write_report",
    "quiet_warning",
    "fmt_seconds",
    "fmt_mib",
]

# Distributions whose versions a report records (those missing are left out).
PACKAGES = (
    "numpy",
    "scipy",
    "tensorflow",
    "tf-keras",
    "tensorflow-probability",
    "tfp-nightly",
    "jax",
    "jaxlib",
    "edward2",
    "recosim-core",
    "recosim-library",
    "recosim-runtime-tf",
    "recosim-runtime-jax",
    "recosim-usecases",
    "recsim-ng",
    "gym",
    "gin-config",
)

# Environment variables that change how fast the frameworks run.
SPEED_ENV = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "XLA_FLAGS",
    "JAX_PLATFORMS",
    "JAX_ENABLE_X64",
    "TF_NUM_INTEROP_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_USE_LEGACY_KERAS",
    "CUDA_VISIBLE_DEVICES",
)


# -- the child's side --------------------------------------------------------------


class Clock:
    """Wall-clock phases of one workload, measured in the child.

    >>> clock = Clock()
    >>> with clock.phase("build"):
    ...     pass
    >>> sorted(clock.phases)
    ['build']
    """

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.marks: list[float] = []
        self.start = time.perf_counter()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block; a phase entered twice adds up."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - t0

    def mark(self, *_: Any) -> None:
        """Record the time now (usable as a use case's ``progress(done, total)`` callback)."""
        self.marks.append(time.perf_counter())

    def step_times(self, since: float) -> list[float]:
        """Durations between consecutive marks, the first measured from ``since``."""
        times, last = [], since
        for m in self.marks:
            times.append(m - last)
            last = m
        return times


def split_compile(step_times: Sequence[float]) -> tuple[float | None, float | None]:
    """(compile estimate, steady seconds per step) from per-step durations.

    The first step carries the tracing and compilation; the median of the other
    steps is the steady cost of one step, so compile ~ first - median. Needs at
    least three steps to say anything.
    """
    if len(step_times) < 3:
        return None, None
    rest = sorted(step_times[1:])
    median = rest[len(rest) // 2] if len(rest) % 2 else 0.5 * (rest[len(rest) // 2 - 1] + rest[len(rest) // 2])
    return max(step_times[0] - median, 0.0), median


def _child_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    out = Path(spec["result"])
    record: dict[str, Any] = {"ok": False}
    clock = Clock()
    try:
        sys.path[:0] = [*spec.get("path", []), str(HERE)]
        with clock.phase("import"):
            module = importlib.import_module(spec["module"])
        fn = getattr(module, spec["function"])
        record["result"] = fn(clock, **spec["params"])
        record["ok"] = True
    except Exception as err:  # reported by the parent, with the child's stderr tail
        record["error"] = f"{type(err).__name__}: {err}"
        import traceback

        traceback.print_exc()
    record["phases"] = clock.phases
    record["hwm_after_import_mib"] = _vm_hwm_mib()
    out.write_text(json.dumps(record, default=_jsonable))
    return 0 if record["ok"] else 1


def _vm_hwm_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


# -- the parent's side -------------------------------------------------------------


@dataclass
class ChildResult:
    """What one child process reported, plus what the parent measured of it."""

    ok: bool
    phases: dict[str, float] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    peak_rss_mib: float | None = None
    wall_s: float = 0.0
    exit_status: int | None = None
    log_tail: str = ""
    load_before: tuple[float, float, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "phases": self.phases,
            "result": self.result,
            "error": self.error,
            "peak_rss_mib": self.peak_rss_mib,
            "wall_s": self.wall_s,
            "exit_status": self.exit_status,
            "load_before": self.load_before,
        }


def run_child(
    module: str,
    function: str,
    params: Mapping[str, Any],
    *,
    python: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    log_dir: Path | None = None,
    label: str = "workload",
    path: Sequence[str] = (),
) -> ChildResult:
    """Run ``module.function(clock, **params)`` in a fresh Python process and measure it.

    ``python`` is the interpreter to use (default: this one), ``env`` extra
    environment variables. The child's output goes to a log file (kept under
    ``log_dir`` if given); its last lines come back in ``log_tail`` on failure.
    ``path`` lists folders searched for ``module`` before this one.
    A child still running after ``timeout`` seconds is killed and reported as such.
    """
    with tempfile.TemporaryDirectory(prefix="recosim-bench-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(
            json.dumps(
                {
                    "module": module,
                    "function": function,
                    "params": dict(params),
                    "result": str(result_path),
                    "path": [str(p) for p in path],
                }
            )
        )
        log_path = (log_dir / f"{_safe(label)}.log") if log_dir else Path(tmp) / "child.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        child_env = {**os.environ, **(env or {})}
        load = os.getloadavg() if hasattr(os, "getloadavg") else None
        t0 = time.perf_counter()
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [python or sys.executable, str(HERE / "harness.py"), "child", str(spec_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env,
                cwd=str(HERE.parent),
            )
            status, usage, timed_out = _wait(proc, timeout)
        wall = time.perf_counter() - t0
        tail = _tail(log_path)
        peak = usage.ru_maxrss / 1024 if usage is not None else None  # Linux reports KiB
        if result_path.exists():
            rec = json.loads(result_path.read_text())
            return ChildResult(
                ok=bool(rec.get("ok")),
                phases=rec.get("phases", {}),
                result=rec.get("result") or {},
                error=rec.get("error"),
                peak_rss_mib=peak,
                wall_s=wall,
                exit_status=status,
                log_tail="" if rec.get("ok") else tail,
                load_before=load,
            )
        why = f"timed out after {timeout:g} s" if timed_out else f"child exited with status {status} and no result"
        if status is not None and status < 0:
            why += f" (killed by signal {-status}; out of memory?)"
        return ChildResult(
            ok=False, error=why, peak_rss_mib=peak, wall_s=wall, exit_status=status, log_tail=tail, load_before=load
        )


def _wait(proc: subprocess.Popen, timeout: float | None) -> tuple[int | None, Any, bool]:
    """Wait for ``proc`` with ``os.wait4`` (for its own resource usage), killing it after ``timeout``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    while True:
        pid, status, usage = os.wait4(proc.pid, 0 if deadline is None else os.WNOHANG)
        if pid == proc.pid:
            code = os.waitstatus_to_exitcode(status)
            proc.returncode = code  # tell Popen the child is reaped
            return code, usage, timed_out
        if deadline is not None and time.monotonic() > deadline and not timed_out:
            timed_out = True
            proc.kill()
            deadline = None  # now wait for it to go
            continue
        time.sleep(0.05)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def timing_figures(child: ChildResult) -> dict[str, float | None]:
    """The report's time columns from a child's phases and result.

    ``total_s`` is the work as a user waits for it, start-up imports left out:
    ``build + first`` for workloads timed in two passes, else ``build + run``.
    ``compile_s`` is ``first - warm`` for two-pass workloads, else the estimate the
    workload reports (first step minus median step). ``run_s`` is ``total_s`` less
    ``build`` and compilation; ``per_unit_s`` divides it by the workload's units
    (run-steps, training steps, EM iterations).
    """
    ph, res = child.phases, child.result
    build = ph.get("build", 0.0)
    if "first" in ph:
        total = build + ph["first"]
        compile_s = max(ph["first"] - ph["warm"], 0.0) if "warm" in ph else None
        run = ph["warm"] if "warm" in ph else ph["first"]
    elif "run" in ph:
        total = build + ph["run"]
        compile_s = res.get("compile_estimate_s")
        run = ph["run"] - (compile_s or 0.0)
    else:
        return {
            "import_s": ph.get("import"),
            "build_s": None,
            "total_s": None,
            "compile_s": None,
            "run_s": None,
            "per_unit_s": None,
        }
    units = res.get("units") or 0
    return {
        "import_s": ph.get("import"),
        "build_s": build,
        "total_s": total,
        "compile_s": compile_s,
        "run_s": run,
        "per_unit_s": run / units if units else None,
    }


# -- the machine -------------------------------------------------------------------


def machine_description() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python, package versions and speed-relevant settings of this machine."""
    cpu = _cpu_model()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = {}
    for dist in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": _mem_total_gib(),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "environment": {k: os.environ[k] for k in SPEED_ENV if k in os.environ},
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "blas": _blas(),
        "git_commit": _git_commit(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def _blas() -> list[dict[str, Any]] | None:
    try:
        import numpy  # noqa: F401  (threadpoolctl only lists libraries already loaded)
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    keep = ("internal_api", "version", "architecture", "num_threads")
    return [{k: lib.get(k) for k in keep} for lib in threadpool_info()]


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


# -- reports -----------------------------------------------------------------------


def fmt_seconds(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def fmt_mib(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (``|`` inside cells escaped)."""

    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_markdown(machine: Mapping[str, Any]) -> str:
    """The machine description as a short markdown list."""
    pk = ", ".join(f"{k} {v}" for k, v in machine.get("packages", {}).items())
    env = ", ".join(f"{k}={v}" for k, v in machine.get("environment", {}).items()) or "none set"
    load = machine.get("load_average")
    blas = machine.get("blas")
    lines = [
        f"- date: {machine.get('date')}; git commit {machine.get('git_commit') or 'unknown'}",
        f"- CPU: {machine.get('cpu')}; {machine.get('usable_cores')} usable of {machine.get('logical_cores')} "
        f"logical cores; memory {machine.get('memory_gib')} GiB",
        f"- OS: {machine.get('os')} (kernel {machine.get('kernel')}); Python {machine.get('python')}",
        f"- packages: {pk}",
        f"- speed-relevant environment: {env}",
    ]
    if blas:
        lines.append("- BLAS: " + "; ".join(f"{b['internal_api']} {b['version']} ({b['architecture']})" for b in blas))
    if load:
        lines.append(f"- load average when the run started (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in load)}")
    return "\n".join(lines)


def write_report(out_dir: Path, stem: str, title: str, body_md: str, payload: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write ``STEM.md`` (title, machine, body) and ``STEM.json`` (payload) under ``out_dir``; atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md = f"# {title}\n\n## Machine\n\n{machine_markdown(payload['machine'])}\n\n{body_md}\n"
    paths = (out_dir / f"{stem}.md", out_dir / f"{stem}.json")
    for path, text in zip(paths, (md, json.dumps(payload, indent=2, default=_jsonable) + "\n")):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return paths


def quiet_warning(load: Sequence[float] | None, cores: int | None) -> str | None:
    """A warning line when the machine was busy as measuring began (1-minute load over a quarter core)."""
    if not load or load[0] < 0.25:
        return None
    return (
        f"**The machine was not quiet** (1-minute load average {load[0]:.2f} on {cores} cores when the run "
        "started): these figures are not fit to quote; take them again on an idle machine."
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "child":
        sys.exit(_child_main(sys.argv[2]))
    print("usage: python harness.py child SPEC.json  (started by bench.py and compare.py)", file=sys.stderr)
    sys.exit(2)
