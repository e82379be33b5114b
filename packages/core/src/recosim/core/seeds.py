"""One seed convention for all of recosim: a key is its root seed folded along a path.

Every random number recosim draws comes from a key reached from an integer seed
by folding in a path of integers (strings fold in as their :func:`name_hash`):

* a runtime seeded ``s``: its ``i``-th call (``trajectory``, ``execute``, or run ``i``
  of ``run_many(num_runs=...)``) uses ``fold(root(s), i)``; a call given ``seed=c``
  uses ``root(c)``;
* step ``t`` of a call keyed ``k`` draws under ``fold(k, t)``;
* the draw named ``"user response/choice"`` in that step uses
  ``fold(step_key, "user response/choice")``, so adding a draw never reshuffles the
  others; scoring a trajectory with ``seed=`` keys its step ``t`` the same way.

``root`` is the backend's ``make_seed`` and ``fold`` its ``fold_in``, so the same
path gives the same key every time on one backend (the bits differ between
backends). Host code that hands seeds on as plain integers (checkpointed chunks,
the runs of a use case, a sweep's cells) derives them along a path too, with
:func:`derive_seed`, which is the NumPy backend's key at that path read as one
64-bit integer.

>>> from recosim.core.backend import numpy_backend
>>> B = numpy_backend()
>>> a = fold(B, B.make_seed(7), 2, "walk/position")
>>> b = B.fold_in(B.fold_in(B.make_seed(7), 2), name_hash("walk/position"))
>>> bool((a == b).all()), derive_seed(7, 2) == derive_seed(7, 2) != derive_seed(7, 3)
(True, True)
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from recosim.core.backend import Backend, numpy_backend

__all__ = ["derive_seed", "fold", "name_hash"]


def name_hash(name: str) -> int:
    """A stable 31-bit integer for ``name`` (the same in every process and on every backend)."""
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def fold(backend: Backend, key: Any, *path: int | str | Any) -> Any:
    """``key`` folded along ``path``: integers (or traced integer arrays) as they are, strings by hash."""
    for part in path:
        key = backend.fold_in(key, name_hash(part) if isinstance(part, str) else part)
    return key


def derive_seed(seed: int, *path: int | str) -> int:
    """The integer seed at ``path`` below ``seed``: independent streams for host-level runs.

    >>> derive_seed(0, 1) != derive_seed(0, 2) and 0 <= derive_seed(0, 1) < 2**64
    True
    """
    B = numpy_backend()
    low, high = (int(w) for w in np.asarray(fold(B, B.make_seed(int(seed)), *path), np.uint32))
    return low | (high << 32)
