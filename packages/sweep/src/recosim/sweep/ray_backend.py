"""The Ray backend: every task a Ray task, on a cluster you name or on a local one.

With ``address`` the driver joins an existing cluster (connecting to someone's
cluster is an explicit choice). Without it, a local cluster is started for the
sweep and stopped after it; that cluster listens on the loopback interface only
(127.0.0.1) and starts no dashboard, since Ray's dashboard and job API take
commands without authentication. If Ray is already initialised in this process,
that connection is used as it is.

A local cluster keeps its session files in a folder of its own,
``<temp>/recosim-ray-<driver pid>``. Ray stops the cluster's processes when the
driver dies (on Linux they are bound to its life); the folder is removed when the
sweep ends, and one left by a driver that was killed is removed by the next local
cluster recosim starts.

Each task asks for ``num_cpus`` and ``num_gpus``; Ray runs a task again when its
worker process or node dies (``max_retries``), and a task that still cannot finish
is recorded as failed. Exceptions raised by the use case are recorded by the task
itself and never retried.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from recosim.sweep.plan import SweepConfigError

__all__ = ["RayBackend", "start_local_cluster", "require_ray", "session_root", "remove_stale_sessions"]

Record = dict[str, Any]
_LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


_NO_RAY = "the ray backend needs Ray: pip install 'recosim-sweep[ray]' (or use --backend local)"


def require_ray() -> None:
    """Refuse the ray backend early (without importing Ray) when Ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        raise SweepConfigError(_NO_RAY)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise SweepConfigError(_NO_RAY) from None
    return ray


def _ray_task(spec: Mapping[str, Any], threads: int) -> Record:
    from recosim.sweep.task import limit_threads, run_task

    limit_threads(threads)
    return run_task(spec)


_SESSION_PREFIX = "recosim-ray-"


def session_root(pid: int | None = None) -> Path:
    """The folder of the local cluster started by process ``pid`` (default: this one)."""
    return Path(tempfile.gettempdir()) / f"{_SESSION_PREFIX}{os.getpid() if pid is None else pid}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_sessions(root: Path | None = None) -> list[Path]:
    """Remove the session folders of local clusters whose driver is gone; return them.

    Only folders named by recosim (``recosim-ray-<pid>``) and owned by this user are
    touched, and never one whose process is alive.
    """
    root = Path(tempfile.gettempdir()) if root is None else Path(root)
    removed = []
    for folder in root.glob(f"{_SESSION_PREFIX}*"):
        pid_text = folder.name[len(_SESSION_PREFIX):]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        try:
            if folder.is_symlink() or folder.lstat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def start_local_cluster(num_cpus: int | None = None, num_gpus: float | None = None) -> Any:
    """Start a Ray cluster on this machine, bound to 127.0.0.1, with no dashboard; return Ray's context.

    On Linux, Ray advertises and binds the machine's network address unless it is
    told that the cluster is local-only, which it reads from the variable
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` when it is first imported. The setting
    is applied around the start (also when Ray was imported earlier in this process)
    and the address the cluster got is checked afterwards.
    """
    saved_env = {k: os.environ.get(k) for k in (_LOCAL_ONLY, "RAY_USAGE_STATS_ENABLED")}
    os.environ[_LOCAL_ONLY] = "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = _import_ray()
    remove_stale_sessions()
    constants = sys.modules.get("ray._private.ray_constants")
    saved_flag = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if saved_flag is not None:
        constants.ENABLE_RAY_CLUSTER = False  # type: ignore[union-attr]
    try:
        context = ray.init(
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            _temp_dir=str(session_root()),
        )
    finally:  # the started processes keep the setting; this process goes back to Ray's default
        if saved_flag is not None:
            constants.ENABLE_RAY_CLUSTER = saved_flag  # type: ignore[union-attr]
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    node_ip = context.address_info.get("node_ip_address", "")
    try:
        loopback = ipaddress.ip_address(node_ip).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        ray.shutdown()
        raise SweepConfigError(
            f"the local Ray cluster would listen on {node_ip}, not on 127.0.0.1; "
            "start a cluster yourself (ray start --head) and pass --address"
        )
    return context


class RayBackend:
    """Run tasks as Ray tasks with ``num_cpus``/``num_gpus`` each.

    ``cluster_cpus`` sizes a local cluster (default: this machine's cores);
    ``threads`` caps each task's native thread pools (default: ``num_cpus``).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        max_retries: int = 2,
        cluster_cpus: int | None = None,
        threads: int | None = None,
    ) -> None:
        if num_cpus < 0 or num_gpus < 0:
            raise SweepConfigError(f"--num-cpus and --num-gpus must be >= 0, got {num_cpus} and {num_gpus}")
        self.address = address
        self.num_cpus, self.num_gpus = float(num_cpus), float(num_gpus)
        self.max_retries = max(0, int(max_retries))
        self.cluster_cpus = cluster_cpus
        self.threads = max(1, int(threads or max(1.0, self.num_cpus)))
        self._ray: Any = None
        self._started = False

    def describe(self) -> str:
        where = f"Ray cluster at {self.address}" if self.address else "local Ray cluster on 127.0.0.1"
        gpus = f", {self.num_gpus:g} GPU" if self.num_gpus else ""
        return f"{where} ({self.num_cpus:g} CPU{gpus} per run)"

    def connect(self) -> None:
        """Join (or start) the cluster; an error here is raised before any task starts."""
        ray = self._ray = _import_ray()
        if ray.is_initialized():
            pass
        elif self.address:
            try:
                ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
            except Exception as err:
                raise SweepConfigError(f"could not connect to the Ray cluster at {self.address}: {err}") from None
        else:
            start_local_cluster(self.cluster_cpus)
            self._started = True
        available = ray.cluster_resources()
        for resource, need in (("CPU", self.num_cpus), ("GPU", self.num_gpus)):
            if need > available.get(resource, 0.0):
                self.close()
                raise SweepConfigError(
                    f"each run asks for {need:g} {resource} but the Ray cluster has {available.get(resource, 0.0):g}"
                )

    def close(self) -> None:
        if self._started and self._ray is not None:
            self._ray.shutdown()
            shutil.rmtree(session_root(), ignore_errors=True)
        self._started = False

    def run(self, specs: list[Mapping[str, Any]], on_record: Callable[[Record], None]) -> None:
        """Submit every spec; call ``on_record`` in this thread as each finishes (Ctrl-C cancels the rest)."""
        if self._ray is None:
            self.connect()
        ray = self._ray
        from recosim.sweep.task import lost_record

        remote = ray.remote(_ray_task).options(
            num_cpus=self.num_cpus,
            num_gpus=self.num_gpus,
            max_retries=self.max_retries,
            retry_exceptions=False,
            name="recosim-sweep",
        )
        window = max(64, 4 * int(ray.cluster_resources().get("CPU", 1)))
        todo = iter(specs)
        pending: dict[Any, Mapping[str, Any]] = {}

        def fill() -> None:
            while len(pending) < window:
                spec = next(todo, None)
                if spec is None:
                    return
                pending[remote.remote(dict(spec), self.threads)] = spec

        try:
            fill()
            while pending:
                ray.wait(list(pending), num_returns=1)
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
                for ref in ready:
                    spec = pending.pop(ref)
                    try:
                        record = ray.get(ref)
                    except ray.exceptions.RayError as err:
                        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                        record = lost_record(spec, f"{type(err).__name__}: {first}")
                    on_record(record)
                fill()
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
