"""Results that survive crashes: an append-only run store, atomic files, one job per directory.

* :class:`RunStore`: the finished runs of a job as JSON lines (``runs.jsonl``). A
  record is appended as one whole line with a single ``write`` and made durable
  with ``fsync`` before the job goes on. A line cut short by a crash is cut away
  when the store is opened again (with a warning), so the next record never lands
  on half a line. Records carry a content hash of the job's configuration (inputs
  hashed by content, not by path), and a resumed job only reuses records of the
  same configuration; each key is counted once.
* :func:`write_json_atomic` / :func:`write_bytes_atomic`: a summary or figure is
  written to a temporary file in the same directory, flushed to disk and renamed
  over the old one, so a reader sees the old file or the new one, never half.
* :func:`hold_out`: a lock file in the output directory. A second job on the same
  directory is refused (`OutLockedError`, naming the pid that holds it); the operating
  system releases the lock when its holder dies, so a job killed with SIGKILL
  leaves nothing to clean up.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> with RunStore(out / "runs.jsonl", config={"size": 3}, key=("run",)) as store:
...     store.add({"run": 0, "value": 1.5})
...     store.add({"run": 1, "value": 2.5})
>>> with RunStore(out / "runs.jsonl", config={"size": 3}, key=("run",)) as store:
...     [r["value"] for r in store.select([(1,), (0,), (7,)])]
[2.5, 1.5]
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import json
import math
import os
import secrets
import tempfile
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.errors import UsageError
from recosim.core.plugins import get_plugins

__all__ = [
    "LOCK_NAME",
    "OutLockedError",
    "RecoveryWarning",
    "RunStore",
    "array_hash",
    "content_hash",
    "default_out",
    "hold_out",
    "jsonable",
    "prepare_out",
    "runtime_provenance",
    "write_bytes_atomic",
    "write_json_atomic",
]

LOCK_NAME = ".recosim.lock"


class RecoveryWarning(UserWarning):
    """Something left by an interrupted job was repaired or skipped (the message says what)."""


class OutLockedError(UsageError):
    """Another job holds the output directory."""


# -- values as JSON -------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays as Python numbers and lists, NaN and infinities as None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _canonical(value: Any) -> bytes:
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def content_hash(value: Any) -> str:
    """SHA-256 of ``value`` as canonical JSON (sorted keys; NumPy values as Python ones)."""
    return hashlib.sha256(_canonical(value)).hexdigest()


def array_hash(array: Any) -> str:
    """SHA-256 of an array's dtype, shape and values: equal arrays hash equal whatever file they came from."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


# -- durable files --------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (where the platform allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes_atomic(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename (never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any new file
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def write_json_atomic(path: Path | str, value: Mapping[str, Any]) -> Path:
    """Write ``value`` as indented JSON atomically (NaN and infinities become null)."""
    text = json.dumps(jsonable(value), indent=2, sort_keys=True, allow_nan=False) + "\n"
    return write_bytes_atomic(path, text.encode())


# -- output directories ----------------------------------------------------------------


def default_out(name: str, root: Path | str = "runs") -> Path:
    """A new directory name under ``root``: ``runs/<name>-<UTC time>`` (with ``-2``, ``-3``... if taken)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "run"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{safe}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def prepare_out(out: Path | str) -> Path:
    """Create ``out`` if needed and check that files can be written there; `UsageError` otherwise.

    A path that is a file, under a file, or in a directory this process may not
    write is refused at once, before any work.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out {out}: the directory cannot be created ({err.strerror or err})") from None
    try:
        with tempfile.TemporaryFile(dir=out, prefix=".recosim-probe-"):
            pass
    except OSError as err:
        raise UsageError(f"--out {out} is not writable ({err.strerror or err})") from None
    return out


# -- one job per directory ---------------------------------------------------------------

_HELD: dict[Path, list[Any]] = {}  # directory -> [open lock file, depth]
_HELD_LOCK = threading.Lock()


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _read_holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 64).decode(errors="replace").strip()


@contextlib.contextmanager
def hold_out(out: Path | str | None) -> Iterator[Path | None]:
    """Hold the lock of directory ``out`` for the body; `OutLockedError` if another job holds it.

    Re-entrant within a process (the command holds it and a `RunStore` inside the
    use case takes it again). The lock is an advisory ``flock`` on ``out/.recosim.lock``,
    which holds the holder's pid; the operating system releases it when the holder
    dies, and the next job takes it over (warning that the previous one did not end
    cleanly). ``out=None`` (no directory) holds nothing.
    """
    if out is None:
        yield None
        return
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    key = out.resolve()
    with _HELD_LOCK:
        held = _HELD.get(key)
        if held is not None:
            held[1] += 1
        else:
            fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                holder = _read_holder(fd) or "unknown"
                os.close(fd)
                raise OutLockedError(
                    f"another job (pid {holder}) holds {out}; wait for it to finish or give another --out"
                )
            previous = _read_holder(fd)
            if previous and previous != str(os.getpid()):
                warnings.warn(
                    RecoveryWarning(f"{out}: the previous job (pid {previous}) ended without releasing it; resuming"),
                    stacklevel=3,
                )
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
            os.fsync(fd)
            _HELD[key] = [fd, 1]
    try:
        yield out
    finally:
        with _HELD_LOCK:
            entry = _HELD[key]
            entry[1] -= 1
            if entry[1] == 0:
                del _HELD[key]
                with contextlib.suppress(OSError):
                    os.ftruncate(entry[0], 0)  # a clean end: nobody to warn about
                os.close(entry[0])  # releases the lock


# -- provenance ---------------------------------------------------------------------------


def runtime_provenance(runtime: str) -> dict[str, Any]:
    """Which plugin and distribution (and its version) provide runtime ``runtime``."""
    spec = get_plugins().runtime_spec(runtime)
    try:
        version: str | None = importlib.metadata.version(spec.distribution)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        version = None
    return {"plugin": spec.plugin, "distribution": spec.distribution, "version": version}


# -- the run store ---------------------------------------------------------------------------

Key = tuple[Any, ...]


class RunStore:
    """The finished runs of a job: one JSON object per line in ``path``, appended crash-safely.

    ``config`` describes everything a run's result depends on (sizes, seed, runtime,
    content hashes of input files); its hash is written into every record and only
    records with the same hash are read back. ``key`` names the fields that
    identify a run (``("cap", "run")``); a key is stored once. Open the store with
    ``with`` (it takes the directory's lock and repairs a torn last line). With
    ``path=None`` the records are kept in memory only.
    """

    def __init__(self, path: Path | str | None, *, config: Mapping[str, Any], key: Sequence[str]) -> None:
        if not key:
            raise ValueError("RunStore needs at least one key field")
        self.path = None if path is None else Path(path)
        self.config = jsonable(dict(config))
        self.config_hash = content_hash(self.config)[:16]
        self.key_fields = tuple(key)
        self.records: dict[Key, dict[str, Any]] = {}
        self.other_configs = 0
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> RunStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Take the directory's lock, cut away a torn last line and read this configuration's records."""
        stack = contextlib.ExitStack()
        self._stack = stack
        if self.path is None:
            return
        stack.enter_context(hold_out(self.path.parent))
        try:
            self._read()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def key_of(self, record: Mapping[str, Any]) -> Key:
        try:
            return tuple(record[f] for f in self.key_fields)
        except KeyError as err:
            raise ValueError(f"a record lacks the key field {err.args[0]!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def select(self, keys: Iterable[Key]) -> list[dict[str, Any]]:
        """The records of exactly ``keys`` that are finished, in the order of ``keys``."""
        return [self.records[k] for k in keys if k in self.records]

    def add(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` as one line and fsync it; a key already stored is an error."""
        if self._stack is None:
            raise RuntimeError("open the RunStore (use it in a with statement) before adding records")
        data = jsonable({**record, "config": self.config_hash})
        key = self.key_of(data)
        if key in self.records:
            raise ValueError(f"the run {dict(zip(self.key_fields, key))} is already stored")
        if self.path is None:
            self.records[key] = data
            return
        line = (json.dumps(data, sort_keys=True, allow_nan=False) + "\n").encode()
        new = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            _fsync_dir(self.path.parent)
        self.records[key] = data

    def _read(self) -> None:
        self.records.clear()
        self.other_configs = 0
        if self.path is None or not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # an append cut short: cut it away so the next line starts clean
            with open(self.path, "r+b") as f:
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())
            warnings.warn(
                RecoveryWarning(
                    f"{self.path}: removed an incomplete last line ({len(data) - end} bytes) "
                    "left by an interrupted write; that run is computed again"
                ),
                stacklevel=4,
            )
        unreadable = duplicates = 0
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = self.key_of(record)
                hash(key)
            except (ValueError, TypeError, AttributeError):
                unreadable += 1
                continue
            if record.get("config") != self.config_hash:
                self.other_configs += 1
            elif key in self.records:
                duplicates += 1
            else:
                self.records[key] = record
        if unreadable:
            warnings.warn(
                RecoveryWarning(f"{self.path}: skipped {unreadable} unreadable line(s); those runs are computed again"),
                stacklevel=4,
            )
        if self.other_configs and not self.records:
            warnings.warn(
                RecoveryWarning(
                    f"{self.path}: its {self.other_configs} run(s) were made with other options or input files "
                    "(compared by content); they are kept but not used"
                ),
                stacklevel=4,
            )
        if duplicates:
            warnings.warn(
                RecoveryWarning(f"{self.path}: {duplicates} run(s) appear more than once; the first of each is used"),
                stacklevel=4,
            )
