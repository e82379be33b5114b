"""The local backend: a pool of worker processes on this machine, one task at a time each.

Workers are fresh Python interpreters started with ``subprocess`` (TensorFlow and
JAX are not safe to use in a forked child). Unlike ``multiprocessing``'s ``spawn``
method they never import the caller's ``__main__`` module, so a script that calls
:func:`recosim.sweep.sweep` at top level, without an ``if __name__ == "__main__":``
guard, works: its code is not run again in every worker. Workers get the driver's
``sys.path``, persist across tasks (a framework is imported once per worker, not
once per task) and exchange JSON with the driver over a socket (nothing is
unpickled). The driver knows which task each worker holds, so when a worker dies
(killed, out of memory, a crash in native code) exactly that task is run again on a
fresh worker, up to ``max_retries`` times; then it is recorded as failed. Workers
run in their own process group and ignore Ctrl-C (the driver decides what stops),
and exit by themselves when the driver process dies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

__all__ = ["LocalBackend", "available_cores"]

Record = dict[str, Any]


def available_cores() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _exit_with_driver(driver: int) -> None:
    """Exit this worker when process ``driver`` is gone (its parent changes), even in the middle of a task."""

    def watch() -> None:
        while os.getppid() == driver:
            time.sleep(0.25)
        os._exit(3)

    threading.Thread(target=watch, name="driver-watch", daemon=True).start()


def _worker_main(conn: Connection, threads: int, log_path: str | None, driver: int) -> None:
    """Body of a pool process: run the tasks the driver sends until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_driver(driver)
    from recosim.sweep.task import limit_threads

    limit_threads(threads)
    if log_path:  # a run's own output goes to a log, not over the driver's progress bar
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    from recosim.sweep.task import run_task

    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not data:
            return
        record = run_task(json.loads(data))
        try:
            conn.send_bytes(json.dumps(record, default=str).encode())
        except OSError:
            return


def _subprocess_main() -> None:
    """Entry of a worker interpreter: ``argv`` = socket fd, threads, log path ('' for none), JSON ``sys.path``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fd, threads, log_path, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sys.path[:] = json.loads(path)
    os.set_inheritable(fd, False)  # a run's own child processes do not hold the driver's socket
    _worker_main(Connection(fd), threads, log_path or None, os.getppid())


_ENTRY = "from recosim.sweep.local import _subprocess_main; _subprocess_main()"


class _Process:
    """A worker interpreter (the parts of ``multiprocessing.Process`` the pool uses)."""

    def __init__(self, child: socket.socket, threads: int, log: str | None) -> None:
        fd = child.fileno()
        argv = [sys.executable, "-c", _ENTRY, str(fd), str(threads), log or "", json.dumps(sys.path)]
        self.popen = subprocess.Popen(argv, pass_fds=(fd,), stdin=subprocess.DEVNULL, process_group=0)
        self.pid = self.popen.pid

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def join(self, timeout: float | None = None) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class _Worker:
    def __init__(self, index: int, threads: int, log_dir: Path | None) -> None:
        mine, child = socket.socketpair()
        log = str(log_dir / f"worker-{index}.log") if log_dir is not None else None
        try:
            self.proc = _Process(child, threads, log)
        finally:
            child.close()
        self.conn = Connection(mine.detach())
        self.index = index
        self.spec: Mapping[str, Any] | None = None

    def send(self, spec: Mapping[str, Any]) -> bool:
        try:
            self.conn.send_bytes(json.dumps(spec).encode())
        except OSError:
            return False
        self.spec = spec
        return True

    def receive(self) -> Record | None:
        """The finished task's record, or None if the worker died."""
        try:
            if self.conn.poll():
                record = json.loads(self.conn.recv_bytes())
                self.spec = None
                return record
        except (EOFError, OSError):
            pass
        return None

    def stop(self, *, force: bool) -> None:
        if not force:
            try:
                self.conn.send_bytes(b"")
            except OSError:
                pass
            self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)
        self.conn.close()


class LocalBackend:
    """Run tasks on ``workers`` processes of this machine (default: one per core).

    ``threads`` caps the native thread pools of each worker (default: the cores
    divided among the workers); ``log_dir`` receives each worker's own output.
    """

    name = "local"

    def __init__(
        self,
        workers: int | None = None,
        *,
        max_retries: int = 2,
        threads: int | None = None,
        log_dir: Path | None = None,
    ) -> None:
        cores = available_cores()
        self.workers = max(1, int(workers or cores))
        self.threads = max(1, int(threads or cores // self.workers))
        self.max_retries = max(0, int(max_retries))
        self.log_dir = log_dir

    def describe(self) -> str:
        return f"local pool of {self.workers} process{'es' * (self.workers != 1)}"

    def run(self, specs: list[Mapping[str, Any]], on_record: Callable[[Record], None]) -> None:
        """Run every spec; call ``on_record`` in this thread as each finishes (Ctrl-C stops all)."""
        if not specs:
            return
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        queue: deque[Mapping[str, Any]] = deque(specs)
        lost: Counter[str] = Counter()
        count = min(self.workers, len(specs))
        workers = [_Worker(i, self.threads, self.log_dir) for i in range(count)]
        interrupted = True
        try:
            while queue or any(w.spec is not None for w in workers):
                for i, w in enumerate(workers):
                    if w.spec is None and queue:
                        if not w.proc.is_alive():
                            w.stop(force=True)
                            workers[i] = w = _Worker(w.index, self.threads, self.log_dir)
                        spec = queue.popleft()
                        if not w.send(spec):
                            queue.appendleft(spec)
                busy = [w for w in workers if w.spec is not None]
                if not busy:  # a send failed: the dead worker is replaced on the next pass
                    continue
                ready = set(wait([w.conn for w in busy]))  # a worker that dies closes its end: readable, EOF
                for i, w in enumerate(workers):
                    if w.spec is None or w.conn not in ready:
                        continue
                    spec = w.spec
                    record = w.receive()
                    if record is not None:
                        on_record(record)
                        continue
                    w.proc.join(timeout=5)
                    lost[spec["task_id"]] += 1
                    reason = _describe_exit(w.proc.exitcode)
                    w.stop(force=True)
                    workers[i] = _Worker(w.index, self.threads, self.log_dir)
                    if lost[spec["task_id"]] <= self.max_retries:
                        queue.appendleft(spec)
                    else:
                        from recosim.sweep.task import lost_record

                        n = lost[spec["task_id"]]
                        on_record(lost_record(spec, f"WorkerLost: the worker running it died {n} time{'s' * (n != 1)} "
                                                    f"(last: {reason}); not retried again"))
            interrupted = False
        finally:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main_thread() else None
            try:
                for w in workers:
                    w.stop(force=interrupted or w.spec is not None)
            finally:
                if previous is not None:
                    signal.signal(signal.SIGINT, previous)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
