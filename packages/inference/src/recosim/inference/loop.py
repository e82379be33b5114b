"""The long-run machinery every method shares: chunks, progress, checkpoints, resume.

A method is an *engine* that advances its state by ``n`` units (sampler steps,
optimiser steps, EM iterations) at a time and returns what it recorded for each
unit. :func:`run` drives it in chunks of ``checkpoint_every`` units, shows a tqdm
progress bar (step, objective, rate), writes a checkpoint after each chunk and,
with ``resume=True``, continues from the last checkpoint. Every unit's
randomness is derived from the seed and the unit's index, and chunks always end
at the same units, so a resumed run equals an uninterrupted one.

Checkpoints are a directory holding ``meta.json`` (configuration, units done,
file names), the records so far (``records-<done>.npz``) and the engine's state
as a NumPy ``.npz`` (the leaves of the JAX pytree, or of the TF nest of
tensors and variables). Each file is written to a temporary name, flushed to
disk (fsync) and renamed; ``meta.json`` is replaced last, so a run killed while
writing leaves the previous checkpoint intact. A run whose objective or
parameters stop being finite stops before it checkpoints them, so its last
checkpoint holds the last finite state. Nothing is
loaded with pickle.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from recosim.core.io import (
    DamagedFileError,
    previous_path,
    read_newest_good,
    read_npz,
    write_keeping_previous,
    write_npz_atomic,
)
from recosim.inference.problem import InferenceError

__all__ = ["Engine", "StateStore", "NpzStore", "LoopOptions", "run", "concat_records"]

_FORMAT = "recosim-inference-checkpoint/1"


class Engine(Protocol):
    """What :func:`run` drives."""

    def start(self) -> None:
        """Build the initial state."""

    def advance(self, done: int, n: int) -> dict[str, np.ndarray]:
        """Advance units ``done .. done + n - 1``; return records with a leading axis of ``n``."""

    def state(self) -> dict[str, np.ndarray]:
        """The whole state as NumPy arrays (for a checkpoint)."""

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Set the state from :meth:`state`'s arrays."""


class StateStore(Protocol):
    suffix: str

    def save(self, path: Path, arrays: Mapping[str, np.ndarray]) -> None: ...

    def load(self, path: Path) -> dict[str, np.ndarray]: ...


class LeafState(ABC):
    """Checkpoint support written once: an engine's state is the nest ``_tree()`` of arrays.

    `state` names its leaves ``leaf00000``, ``leaf00001``, ... in flattening order;
    `restore` checks the count and rebuilds the nest. Each runtime says how to
    flatten its nests and how to restore one leaf (JAX: a new array; TF: assign to a
    variable in place).
    """

    @abstractmethod
    def start(self) -> None:
        """Build the engine's initial state (`restore` overwrites it)."""

    @abstractmethod
    def _tree(self) -> Any:
        """The engine's state as a nest of arrays."""

    @abstractmethod
    def _set_tree(self, tree: Any) -> None:
        """Take ``tree`` (the nest `_tree` returned, restored) as the engine's state."""

    @abstractmethod
    def _flatten(self, tree: Any) -> tuple[list[Any], Callable[[Sequence[Any]], Any]]:
        """The leaves of ``tree`` and a function that packs new leaves into its structure."""

    @abstractmethod
    def _restored_leaf(self, saved: np.ndarray, like: Any) -> Any:
        """The leaf that replaces ``like`` when its saved value is ``saved``."""

    def state(self) -> dict[str, np.ndarray]:
        leaves, _ = self._flatten(self._tree())
        return {f"leaf{i:05d}": np.asarray(x) for i, x in enumerate(leaves)}

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.start()
        leaves, pack = self._flatten(self._tree())
        if len(arrays) != len(leaves):
            raise InferenceError(f"the checkpoint holds {len(arrays)} arrays where this run's state has {len(leaves)}")
        self._set_tree(pack([self._restored_leaf(arrays[f"leaf{i:05d}"], x) for i, x in enumerate(leaves)]))


class NpzStore:
    """Engine state as a NumPy ``.npz`` file (the JAX runtime's plain pytree file)."""

    suffix = ".npz"

    def save(self, path: Path, arrays: Mapping[str, np.ndarray]) -> None:
        write_npz_atomic(path, arrays)

    def load(self, path: Path) -> dict[str, np.ndarray]:
        return read_npz(path)


@dataclass
class LoopOptions:
    """How a method's run is driven (the arguments every long method takes)."""

    label: str
    total: int
    objective: str
    config: dict[str, Any]
    checkpoint: str | os.PathLike[str] | None = None
    checkpoint_every: int = 100
    resume: bool = False
    quiet: bool = False
    callback: Callable[[int, dict[str, np.ndarray]], Any] | None = None
    boundaries: tuple[int, ...] = ()  # units where a chunk must end (e.g. the end of warm-up)

    def check(self) -> None:
        if int(self.checkpoint_every) != self.checkpoint_every or self.checkpoint_every < 1:
            raise InferenceError(f"checkpoint_every must be a positive integer, got {self.checkpoint_every!r}")
        if self.resume and self.checkpoint is None:
            raise InferenceError("resume=True needs checkpoint= (the directory the earlier run wrote)")
        if self.callback is not None and not callable(self.callback):
            raise InferenceError(f"callback must be callable, got {type(self.callback).__name__}")


def concat_records(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join per-chunk records along their leading axis."""
    parts = [p for p in parts if p]
    if not parts:
        return {}
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, sort_keys=True, default=_default))


def _default(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.generic,)):
        return x.item()
    return repr(x)


def _read_checkpoint(
    directory: Path, config: dict[str, Any], store: StateStore
) -> tuple[int, dict[str, np.ndarray], dict[str, np.ndarray]] | None:
    """The newest usable checkpoint under ``directory``, else the one before it, else None (start over).

    Two are kept (``meta.json`` and ``meta.prev.json`` with the files each names). A
    damaged one (unreadable meta, a truncated or altered ``.npz``, a missing file) is
    named in one warning and the previous one is used; a checkpoint of another
    configuration or format is refused, not skipped.
    """

    def read(meta_path: Path) -> tuple[int, dict[str, np.ndarray], dict[str, np.ndarray]]:
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as err:
            raise DamagedFileError(meta_path, f"not readable JSON: {err}") from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise InferenceError(f"{meta_path} is not a recosim-inference checkpoint (format {found!r})")
        saved = meta.get("config", {})
        want = _jsonable(config)
        if saved != want:
            diff = sorted(k for k in set(saved) | set(want) if saved.get(k) != want.get(k))
            details = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, now {want.get(k)!r}" for k in diff)
            raise InferenceError(
                f"cannot resume from {directory}: it was written with a different configuration ({details})"
            )
        records = read_npz(directory / meta["records"])
        state_path = directory / meta["state"]
        try:
            state = store.load(state_path)
        except DamagedFileError:
            raise
        except (OSError, ValueError, KeyError) as err:  # a missing, truncated or altered state file
            raise DamagedFileError(state_path, f"{type(err).__name__}: {err}") from None
        return int(meta["done"]), state, records

    return read_newest_good(directory / "meta.json", read, what="inference checkpoint")


def _write_checkpoint(
    directory: Path,
    done: int,
    config: dict[str, Any],
    state: Mapping[str, np.ndarray],
    records: Mapping[str, np.ndarray],
    store: StateStore,
) -> None:
    """Write the files of step ``done``, then its ``meta.json``, keeping the previous checkpoint beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    meta_path = directory / "meta.json"
    names = {"records": f"records-{done}.npz", "state": f"state-{done}{store.suffix}"}
    write_npz_atomic(directory / names["records"], records)
    store.save(directory / names["state"], state)
    meta = {"format": _FORMAT, "done": done, "config": _jsonable(config), **names}
    write_keeping_previous(meta_path, json.dumps(meta, indent=1, sort_keys=True).encode())
    keep = set(names.values())
    try:
        previous = json.loads(previous_path(meta_path).read_text())
        keep |= {previous.get("records"), previous.get("state")} - {None}
    except (OSError, ValueError):
        pass  # no previous checkpoint, or a damaged one: nothing of it to keep
    for path in [*directory.glob("records-*"), *directory.glob("state-*")]:
        if path.name not in keep:
            path.unlink(missing_ok=True)


class _Progress:
    def __init__(self, label: str, total: int, done: int, quiet: bool) -> None:
        self.bar = None
        if not quiet:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, desc=label, unit="step", dynamic_ncols=True)

    def update(self, n: int, objective_name: str, value: float | None) -> None:
        if self.bar is None:
            return
        if value is not None:
            self.bar.set_postfix({objective_name: f"{value:.4g}"}, refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(engine: Engine, options: LoopOptions, store: StateStore) -> dict[str, np.ndarray]:
    """Drive ``engine`` for ``options.total`` units; return all records joined."""
    options.check()
    directory = None if options.checkpoint is None else Path(options.checkpoint)
    done = 0
    parts: list[dict[str, np.ndarray]] = []
    restored = None
    if options.resume and directory is not None:
        restored = _read_checkpoint(directory, options.config, store)
    if restored is not None:
        done, state, records = restored
        engine.restore(state)
        if records:
            parts.append(records)
    else:
        engine.start()
    progress = _Progress(options.label, options.total, done, options.quiet)
    stops = sorted({*(b for b in options.boundaries if 0 < b < options.total), options.total})
    kept = done if restored is not None else None  # units done in the checkpoint this run can resume from
    try:
        while done < options.total:
            stop = next(b for b in stops if b > done)
            n = min(options.checkpoint_every - done % options.checkpoint_every, stop - done)
            try:
                rec = {k: np.asarray(v) for k, v in engine.advance(done, n).items()}
            except InferenceError as err:
                if getattr(err, "step", None) is None:
                    raise
                err.args = (f"{err.args[0]}; {_kept(directory, kept)}",)
                raise
            parts.append(rec)
            done += n
            value = rec.get(options.objective)
            last = None if value is None or value.size == 0 else float(np.mean(value[-1]))
            progress.update(n, options.objective, last)
            if directory is not None:
                joined = concat_records(parts)
                parts = [joined]
                _write_checkpoint(directory, done, options.config, engine.state(), joined, store)
                kept = done
            if options.callback is not None:
                options.callback(done, rec)
    finally:
        progress.close()
    return concat_records(parts)


def _kept(directory: Path | None, kept: int | None) -> str:
    if directory is None:
        return "no checkpoint was written (pass checkpoint= to keep the last finite state)"
    if kept is None:
        return f"no checkpoint in {directory} was written before it"
    return f"the checkpoint in {directory} holds the last finite state ({kept} units done; resume=True continues there)"
