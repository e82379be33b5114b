"""``calibrated_model.npz``: the fitted population as plain arrays (loaded with ``allow_pickle=False``).

Keys: every parameter of `recosim.usecases.calibration.model` under ``param/<name>``,
``genres`` ``[n_movies, 19]``, ``movie_ids``, ``train_counts`` (training interactions
per movie), ``min_length`` and ``format``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recosim.core.errors import UsageError
from recosim.core.results import write_bytes_atomic
from recosim.usecases.calibration.model import PRIOR_SCALES

__all__ = ["FORMAT", "CalibratedModel", "save_model", "load_model"]

FORMAT = 1


@dataclass(frozen=True)
class CalibratedModel:
    """A fitted population: parameters, the movies' genres and ids, training counts, the activity offset."""

    params: dict[str, np.ndarray]
    genres: np.ndarray
    movie_ids: np.ndarray
    train_counts: np.ndarray
    min_length: int

    @property
    def num_movies(self) -> int:
        return int(self.genres.shape[0])

    @property
    def dim(self) -> int:
        return int(self.params["interest"].shape[1])


def save_model(path: Path | str, model: CalibratedModel) -> Path:
    """Write ``model`` to ``path`` (atomically)."""
    arrays: dict[str, np.ndarray] = {f"param/{k}": np.asarray(v, np.float32) for k, v in model.params.items()}
    arrays.update(
        genres=model.genres.astype(np.float32),
        movie_ids=np.asarray(model.movie_ids, np.int64),
        train_counts=np.asarray(model.train_counts, np.int64),
        min_length=np.asarray(model.min_length, np.int64),
        format=np.asarray(FORMAT, np.int64),
    )
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    return write_bytes_atomic(path, buf.getvalue())


def load_model(path: Path | str) -> CalibratedModel:
    """Read a saved model; a `UsageError` names the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file (write one with 'recosim run calibration --out DIR')")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as err:
        raise UsageError(f"{path}: not a calibrated model ({err})") from None
    if "format" not in data or int(data["format"]) != FORMAT:
        raise UsageError(f"{path}: not a calibrated model of format {FORMAT}")
    params = {k.split("/", 1)[1]: v for k, v in data.items() if k.startswith("param/")}
    missing = sorted(set(PRIOR_SCALES) - set(params))
    if missing:
        raise UsageError(f"{path}: the parameters {missing} are missing")
    return CalibratedModel(params, data["genres"], data["movie_ids"], data["train_counts"], int(data["min_length"]))
