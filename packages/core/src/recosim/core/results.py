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
import importlib.metadata
import json
import os
import tempfile
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from recosim.core.errors import UsageError
from recosim.core.io import (
    RecoveryWarning,
    append_bytes,
    array_hash,
    content_hash,
    jsonable,
    open_output,
    write_bytes_atomic,
    write_json_atomic,
)
from recosim.core.plugins import get_plugins

__all__ = [
    "LOCK_NAME",
    "OWNER_NAME",
    "OutLockedError",
    "RecoveryWarning",
    "RunStore",
    "array_hash",
    "claim_out",
    "content_hash",
    "default_out",
    "hold_out",
    "jsonable",
    "out_owner",
    "prepare_out",
    "record_check",
    "runtime_provenance",
    "write_bytes_atomic",
    "write_json_atomic",
]

LOCK_NAME = ".recosim.lock"
OWNER_NAME = ".recosim-owner.json"


class OutLockedError(UsageError):
    """Another job holds the output directory."""


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


def prepare_out(out: Path | str, owner: str | None = None) -> Path:
    """Create ``out`` if needed and check that files can be written there; `UsageError` otherwise.

    A path that is empty (``--out ''``, the current folder by accident), a file,
    under a file, or in a directory this process may not write is refused at once,
    before any work. With ``owner`` (a use case's name) the folder is marked as
    that use case's (``.recosim-owner.json``) and a folder owned by another use case,
    or holding a sweep, is refused naming its owner.
    """
    if isinstance(out, str) and not out.strip():
        raise UsageError("--out is empty; give a directory (--out . for the current one)")
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
    if owner is not None:
        claim_out(out, owner)
    return out


def out_owner(out: Path | str) -> str | None:
    """What the results in ``out`` belong to: a use case's name, ``"sweep of <use case>"``, or None."""
    out = Path(out)
    marker = out / OWNER_NAME
    if os.path.lexists(marker):
        try:
            fd = open_output(marker, os.O_RDONLY)
            with os.fdopen(fd, "rb") as f:
                owner = json.loads(f.read()).get("usecase")
        except (OSError, ValueError, AttributeError):
            owner = None
        if isinstance(owner, str):
            return owner
        raise UsageError(f"{marker} is unreadable; give another --out")
    sweep = out / "sweep.json"
    if sweep.is_file():
        try:
            name = json.loads(sweep.read_text()).get("usecase")
        except (OSError, ValueError, AttributeError):
            name = None
        return f"sweep of {name}" if isinstance(name, str) else "sweep"
    return None


def claim_out(out: Path | str, owner: str) -> None:
    """Mark ``out`` as holding ``owner``'s results; `UsageError` naming the owner if it holds another's."""
    out = Path(out)
    found = out_owner(out)
    if found is not None and found != owner:
        raise UsageError(f"--out {out} holds the results of {found!r}, not {owner!r}; give another --out")
    if found is None:
        write_json_atomic(out / OWNER_NAME, {"usecase": owner})


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
            fd = open_output(out / LOCK_NAME, os.O_RDWR | os.O_CREAT)  # a planted link is refused, not followed
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
CHECK_FIELD = "check"


def record_check(record: Mapping[str, Any]) -> str:
    """The checksum of a run record: SHA-256 (16 hex digits) of its canonical JSON without ``"check"``."""
    return content_hash({k: v for k, v in record.items() if k != CHECK_FIELD})[:16]


class RunStore:
    """The finished runs of a job: one JSON object per line in ``path``, appended crash-safely.

    ``config`` describes everything a run's result depends on (sizes, seed, runtime,
    content hashes of input files); its hash is written into every record and only
    records with the same hash are read back. ``key`` names the fields that
    identify a run (``("cap", "run")``); a key is stored once. ``fields`` is the
    record's schema: the fields every record must hold (its metrics, say). Open the
    store with ``with`` (it takes the directory's lock and repairs a torn last line).
    With ``path=None`` the records are kept in memory only.

    Each record carries a checksum of its own content (``"check"``). On reading, a
    record whose checksum does not match (a number edited by hand, a field removed)
    or that lacks a field of ``fields`` is skipped with a `RecoveryWarning` naming
    its line, and that run is computed again; it is never used or counted.
    """

    def __init__(
        self,
        path: Path | str | None,
        *,
        config: Mapping[str, Any],
        key: Sequence[str],
        fields: Sequence[str] = (),
    ) -> None:
        if not key:
            raise ValueError("RunStore needs at least one key field")
        self.path = None if path is None else Path(path)
        self.config = jsonable(dict(config))
        self.config_hash = content_hash(self.config)[:16]
        self.key_fields = tuple(key)
        self.fields = tuple(fields)
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
        data.pop(CHECK_FIELD, None)
        missing = [f for f in self.fields if f not in data]
        if missing:
            raise ValueError(f"the record {data} lacks the field(s) {', '.join(map(repr, missing))}")
        data[CHECK_FIELD] = record_check(data)
        key = self.key_of(data)
        if key in self.records:
            raise ValueError(f"the run {dict(zip(self.key_fields, key))} is already stored")
        if self.path is None:
            self.records[key] = data
            return
        line = (json.dumps(data, sort_keys=True, allow_nan=False) + "\n").encode()
        append_bytes(self.path, line)
        self.records[key] = data

    def _invalid(self, record: Mapping[str, Any]) -> str | None:
        """Why ``record`` cannot be used (None if it can): a checksum that does not match, a missing field."""
        if CHECK_FIELD in record and record[CHECK_FIELD] != record_check(record):
            return "does not match its checksum (edited after it was written)"
        if record.get("config") == self.config_hash:
            missing = [f for f in self.fields if f not in record]
            if missing:
                return f"lacks {', '.join(map(repr, missing))}"
        return None

    def _read(self) -> None:
        self.records.clear()
        self.other_configs = 0
        if self.path is None or not os.path.lexists(self.path):
            return
        fd = open_output(self.path, os.O_RDONLY)  # a planted link is refused, never read or truncated
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # an append cut short: cut it away so the next line starts clean
            fd = open_output(self.path, os.O_WRONLY)
            try:
                os.ftruncate(fd, end)
                os.fsync(fd)
            finally:
                os.close(fd)
        if end < len(data):
            warnings.warn(
                RecoveryWarning(
                    f"{self.path}: removed an incomplete last line ({len(data) - end} bytes) "
                    "left by an interrupted write; that run is computed again"
                ),
                stacklevel=4,
            )
        unreadable = duplicates = 0
        invalid: list[str] = []
        for number, line in enumerate(data[:end].splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = self.key_of(record)
                hash(key)
            except (ValueError, TypeError, AttributeError):
                unreadable += 1
                continue
            problem = self._invalid(record)
            if problem is not None:
                invalid.append(f"line {number} {problem}")
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
        if invalid:
            shown = "; ".join(invalid[:3]) + (f"; and {len(invalid) - 3} more" if len(invalid) > 3 else "")
            warnings.warn(
                RecoveryWarning(f"{self.path}: skipped {len(invalid)} invalid record(s) ({shown}); "
                                "those runs are computed again"),
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
