"""Saving network values, and chunked runs that resume after an interruption.

A checkpoint is an ``.npz`` archive (no pickles) written atomically with fsync
(`recosim.core.io`); the one it replaces is kept beside it (``ckpt.prev.npz``).
A truncated, altered or missing checkpoint is named in one `RecoveryWarning` and
the run resumes from the previous one, or starts over when neither can be read.

>>> import tempfile, pathlib
>>> from recosim.core.examples import counting_variables
>>> from recosim.core.runtime import NumpyRuntime
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> rt = NumpyRuntime(counting_variables(), seed=0)
>>> int(run_resumable(rt, 120, seed=0, checkpoint=d / "ckpt.npz")["count"].get("n"))
120
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.io import DamagedFileError, read_newest_good, read_npz, write_keeping_previous
from recosim.core.network import NetworkValue
from recosim.core.seeds import derive_seed
from recosim.core.trajectory import check_count
from recosim.core.value import Value

__all__ = ["save_network_value", "load_network_value", "load_checkpoint", "run_resumable"]

_META = "__recosim_meta__"
_FORMAT = 2  # checkpoints written under another seed convention are not resumed


def save_network_value(path: Path, value: Mapping[str, Value], meta: Mapping[str, Any] | None = None) -> None:
    """Write ``value`` (variable -> Value) to an ``.npz`` file atomically, with JSON ``meta``.

    The file it replaces is kept as ``<name>.prev.npz`` (see :func:`load_checkpoint`).
    """
    arrays = {f"{name}/{key}": np.asarray(field) for name, v in value.items() for key, field in Value(v).items()}
    arrays[_META] = np.asarray(json.dumps(dict(meta or {}), sort_keys=True))
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    write_keeping_previous(Path(path), buf.getvalue())


def load_network_value(path: Path) -> tuple[NetworkValue, dict[str, Any]]:
    """Read what :func:`save_network_value` wrote: ``(value, meta)``; `DamagedFileError` if it cannot be read."""
    data = read_npz(path)
    try:
        meta = json.loads(str(data[_META])) if _META in data else {}
    except ValueError as err:
        raise DamagedFileError(path, f"its metadata is not JSON: {err}") from None
    if not isinstance(meta, dict):
        raise DamagedFileError(path, "its metadata is not a JSON object")
    grouped: dict[str, dict[str, Any]] = {}
    for key, array in data.items():
        if key == _META:
            continue
        name, _, field = key.partition("/")
        grouped.setdefault(name, {})[field] = array
    return {name: Value(fields) for name, fields in grouped.items()}, meta


def load_checkpoint(path: Path) -> tuple[NetworkValue, dict[str, Any]] | None:
    """The newest readable checkpoint at ``path`` or the one before it, or None (start over).

    Each damaged or missing file is named in one `RecoveryWarning`, as is the
    fallback used.
    """
    return read_newest_good(Path(path), load_network_value)


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of chunk ``chunk`` of a run seeded ``seed``: ``derive_seed(seed, chunk)``.

    It does not depend on where a run resumed (see `recosim.core.seeds`).
    """
    return derive_seed(seed, chunk)


def run_resumable(
    runtime: Any,
    num_steps: int,
    *,
    seed: int,
    checkpoint: Path | None = None,
    chunk: int = 50,
    progress: Any = None,
    config: Mapping[str, Any] | None = None,
) -> NetworkValue:
    """Execute ``num_steps`` transitions in chunks, checkpointing after each chunk.

    Chunk ``c`` runs with ``seed=chunk_seed(seed, c)`` (chunk 0 is the initial
    value). If ``checkpoint`` exists and was written with the same ``seed``,
    ``chunk`` and ``config``, the run continues from it; the result equals an
    uninterrupted run.
    """
    num_steps = check_count(num_steps, "num_steps", 0)
    chunk = check_count(chunk, "chunk", 1)
    meta = {
        "format": _FORMAT,
        "seed": int(seed),
        "chunk": chunk,
        "num_steps": num_steps,
        "config": dict(config or {}),
    }
    done, value = 0, None
    found = None if checkpoint is None else load_checkpoint(Path(checkpoint))
    if found is not None:
        saved, saved_meta = found
        same = {k: saved_meta.get(k) for k in ("format", "seed", "chunk", "config")} == {
            k: json.loads(json.dumps(meta[k])) for k in ("format", "seed", "chunk", "config")
        }
        if same and saved_meta.get("done", 0) <= num_steps:
            value, done = saved, int(saved_meta["done"])
    if value is None:
        value = runtime.execute(0, seed=chunk_seed(seed, 0))
    while done < num_steps:
        n = min(chunk, num_steps - done)
        value = runtime.execute(n, starting_value=value, seed=chunk_seed(seed, 1 + done // chunk))
        done += n
        if checkpoint is not None:
            save_network_value(Path(checkpoint), value, {**meta, "done": done})
        if progress is not None:
            progress(done, num_steps)
    return value
