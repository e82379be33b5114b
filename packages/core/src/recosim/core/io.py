"""Files recosim writes: atomic, durable, never through a planted symlink; JSON, ``.npz``, hashes.

Every file recosim writes goes through this module.

* :func:`write_bytes_atomic` (and :func:`write_json_atomic`, :func:`write_npz_atomic`):
  the data goes to a new temporary file in the target's folder (created with
  ``O_CREAT | O_EXCL | O_NOFOLLOW``, so nothing that already exists is opened),
  is flushed and fsynced, then renamed over the target, and the folder is fsynced.
  A reader sees the old file or the new one, never half of either, and after a
  power cut the rename is on disk.
* :func:`open_output` opens a file in an output folder for appending or updating
  without following a symlink (``O_NOFOLLOW``).
* A target that is a symlink is refused with an :class:`UnsafePathError` (a
  `UsageError`: one line), whoever planted it: in a shared or world-writable
  folder a link named like an output file would otherwise truncate its target.
* :func:`read_npz` reads an archive without pickles; a truncated, bit-flipped or
  missing file is a :class:`DamagedFileError` naming the file, in one line.
* :func:`content_hash`, :func:`array_hash`, :func:`bytes_hash`: SHA-256 of
  canonical JSON, of an array's dtype, shape and values, of bytes.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = write_json_atomic(d / "a.json", {"x": float("nan"), "y": [1, 2]})
>>> (d / "a.json").read_text().split()
['{', '"x":', 'null,', '"y":', '[', '1,', '2', ']', '}']
>>> _ = write_npz_atomic(d / "a.npz", {"w": np.arange(3)})
>>> read_npz(d / "a.npz")["w"].tolist()
[0, 1, 2]
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import secrets
import stat
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from recosim.core.errors import RecosimError, UsageError

__all__ = [
    "DamagedFileError",
    "RecoveryWarning",
    "UnsafePathError",
    "append_bytes",
    "array_hash",
    "bytes_hash",
    "canonical_json",
    "content_hash",
    "fsync_dir",
    "jsonable",
    "open_output",
    "previous_path",
    "read_newest_good",
    "read_npz",
    "refuse_symlink",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_keeping_previous",
    "write_npz_atomic",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class RecoveryWarning(UserWarning):
    """A file left by an interrupted job, or damaged, was repaired or skipped (the message says what)."""


class UnsafePathError(UsageError):
    """An output file is a symlink (recosim never writes through one)."""


class DamagedFileError(RecosimError, ValueError):
    """A file recosim wrote earlier cannot be read back (truncated, altered or missing)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path} is damaged ({reason})")
        self.path = Path(path)
        self.reason = reason


# -- values as JSON -------------------------------------------------------------------------


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


def canonical_json(value: Any) -> bytes:
    """``value`` as compact JSON with sorted keys (the form that is hashed)."""
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def bytes_hash(data: bytes) -> str:
    """SHA-256 of ``data`` as hex."""
    return hashlib.sha256(data).hexdigest()


def content_hash(value: Any) -> str:
    """SHA-256 of ``value`` as canonical JSON (sorted keys; NumPy values as Python ones)."""
    return bytes_hash(canonical_json(value))


def array_hash(array: Any) -> str:
    """SHA-256 of an array's dtype, shape and values: equal arrays hash equal whatever file they came from."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


# -- safe paths -------------------------------------------------------------------------------


def refuse_symlink(path: Path | str) -> Path:
    """``path``, or `UnsafePathError` if it is a symlink (dangling or not)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return path
    except NotADirectoryError:
        raise UsageError(f"{path}: a parent of it is a file, not a directory") from None
    if stat.S_ISLNK(mode):
        raise UnsafePathError(f"{path} is a symlink; recosim does not write through links (remove it)")
    return path


def fsync_dir(path: Path | str) -> None:
    """Make a rename or a new file in folder ``path`` durable (where the platform allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | _CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def open_output(path: Path | str, flags: int, mode: int = 0o644) -> int:
    """``os.open(path, flags | O_NOFOLLOW)``; a symlink at ``path`` is an `UnsafePathError`.

    The permission ``mode`` is subject to the umask, as for any new file.
    """
    path = refuse_symlink(path)
    try:
        return os.open(path, flags | _NOFOLLOW | _CLOEXEC, mode)
    except OSError as err:
        if _NOFOLLOW and os.path.islink(path):  # planted between the check and the open
            raise UnsafePathError(f"{path} is a symlink; recosim does not write through links (remove it)") from None
        raise err


def append_bytes(path: Path | str, data: bytes) -> None:
    """Append ``data`` to ``path`` with one loop of writes, fsync it (and the folder for a new file)."""
    path = Path(path)
    new = not os.path.lexists(path)
    fd = open_output(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        fsync_dir(path.parent)


def write_bytes_atomic(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path``: new temporary file, fsync, rename over ``path``, fsync the folder.

    A ``path`` that is a symlink is refused (`UnsafePathError`); the temporary file
    is created new (``O_EXCL | O_NOFOLLOW``), so nothing planted is ever opened.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    refuse_symlink(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # replaces a name: a link planted meanwhile is replaced, never followed
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return path


def write_json_atomic(path: Path | str, value: Mapping[str, Any]) -> Path:
    """Write ``value`` as indented JSON atomically (NaN and infinities become null)."""
    text = json.dumps(jsonable(value), indent=2, sort_keys=True, allow_nan=False) + "\n"
    return write_bytes_atomic(path, text.encode())


def write_npz_atomic(path: Path | str, arrays: Mapping[str, Any]) -> Path:
    """Write ``arrays`` as an uncompressed ``.npz`` archive atomically (object arrays refused)."""
    packed = {}
    for name, array in arrays.items():
        a = np.asarray(array)
        if a.dtype.hasobject:
            raise TypeError(f"array {name!r} holds Python objects; recosim writes no pickles")
        packed[name] = a
    buf = io.BytesIO()
    np.savez(buf, **packed)  # type: ignore[arg-type]
    return write_bytes_atomic(path, buf.getvalue())


def read_npz(path: Path | str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, read without pickles; `DamagedFileError` if it cannot be."""
    path = Path(path)
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:  # closed even when np.load fails
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise DamagedFileError(path, "missing") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DamagedFileError(path, f"{type(err).__name__}: {reason}") from None



# -- the last two versions of a file ---------------------------------------------------------------

T = TypeVar("T")


def previous_path(path: Path | str) -> Path:
    """Where the version before ``path``'s is kept: ``ckpt.npz`` -> ``ckpt.prev.npz``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def write_keeping_previous(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, keeping the version it replaces as :func:`previous_path`.

    The old file is renamed first, then the new one is written and renamed into
    place: at every moment one of the two names holds a whole, fsynced file.
    """
    path = refuse_symlink(path)
    if os.path.lexists(path):
        previous = refuse_symlink(previous_path(path))
        os.replace(path, previous)
        fsync_dir(path.parent)
    return write_bytes_atomic(path, data)


def read_newest_good(path: Path | str, read: Callable[[Path], T], what: str = "checkpoint") -> T | None:
    """``read(path)``, else ``read(previous_path(path))``, else None; each damaged file named in one warning.

    ``read`` raises `DamagedFileError` for a file it cannot use. Nothing at either
    name (a first run) returns None silently; a damaged newest file falls back to
    the previous one, saying so, and with no good file left the caller starts over.
    """
    path = Path(path)
    candidates = [path, previous_path(path)]
    if not any(os.path.lexists(c) for c in candidates):
        return None
    problems: list[str] = []
    for candidate in candidates:
        if not os.path.lexists(candidate):
            if candidate == path:
                problems.append(f"{candidate} is missing")
            continue
        try:
            result = read(refuse_symlink(candidate))
        except DamagedFileError as err:
            problems.append(str(err))
            continue
        if problems:
            warnings.warn(
                RecoveryWarning(f"{'; '.join(problems)}: resuming from the previous {what} {candidate}"), stacklevel=3
            )
        return result
    warnings.warn(RecoveryWarning(f"{'; '.join(problems)}: no usable {what} left, starting over"), stacklevel=3)
    return None
