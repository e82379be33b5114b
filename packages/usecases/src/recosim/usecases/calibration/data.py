"""Reading a MovieLens 100K log and splitting it by time.

Two layouts are read, both as the user has them (the data is never shipped):

* the GroupLens folder ``ml-100k/``: ``u.data`` (``user<TAB>item<TAB>rating<TAB>timestamp``)
  and ``u.item`` (``id|title|release date|video release date|URL|`` + 19 genre flags,
  Latin-1 text);
* the copy inside an installed ``recbole`` 1.2.1 distribution
  (``dataset_example/ml-100k/ml-100k.inter`` and ``ml-100k.item``, tab-separated with a
  typed header line), found with `importlib.util.find_spec` without importing it.

A malformed line is refused with a `DataError` naming the file and the line number.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "u.data").write_text("1\\t1\\t5\\t10\\n1\\t2\\t3\\t20\\n")
>>> _ = (folder / "u.item").write_text("1|A|||" + "|0" * 18 + "|1\\n2|B|||" + "|1" + "|0" * 18 + "\\n")
>>> log = read_movielens(folder)
>>> log.num_users, log.num_movies, log.ratings.tolist()
(1, 2, [5, 3])
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recosim.core.errors import UsageError

__all__ = [
    "GENRES",
    "HOW_TO_GET",
    "DataError",
    "InteractionLog",
    "Split",
    "find_data",
    "held_out_count",
    "read_movielens",
    "recbole_copy",
    "time_split",
]

GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
"""The 19 genres of MovieLens 100K, in the order of ``u.item``'s flags."""

HOW_TO_GET = (
    "no MovieLens 100K log found: give --data PATH to a GroupLens ml-100k/ folder "
    "(https://grouplens.org/datasets/movielens/100k/) or install the copy in recbole with "
    "'pip install recbole==1.2.1 --no-deps'"
)
"""The one line printed when no log is available."""

HELD_OUT_FRACTION = 0.2


class DataError(UsageError):
    """A log that cannot be read (the message names the file and line)."""


@dataclass(frozen=True)
class InteractionLog:
    """Interactions sorted by user, then time (then file order); users and movies re-indexed from 0.

    ``users``, ``movies`` (int32), ``ratings`` (int32, 1..5) and ``timestamps`` (int64)
    have one entry per interaction; ``genres`` is ``[num_movies, 19]`` float32 flags;
    ``user_ids`` and ``movie_ids`` hold the original identifiers of each index.
    """

    users: np.ndarray
    movies: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    genres: np.ndarray
    user_ids: np.ndarray
    movie_ids: np.ndarray
    source: str

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_movies(self) -> int:
        return len(self.movie_ids)

    def __len__(self) -> int:
        return len(self.users)


def recbole_copy() -> Path | None:
    """The ``ml-100k`` folder inside an installed recbole, or None (recbole is not imported)."""
    try:
        spec = importlib.util.find_spec("recbole")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        folder = Path(root) / "dataset_example" / "ml-100k"
        if (folder / "ml-100k.inter").is_file() and (folder / "ml-100k.item").is_file():
            return folder
    return None


def find_data(path: str | Path | None) -> Path:
    """The folder to read: ``path`` (checked), else recbole's copy, else a `DataError` saying how to get one."""
    if path is None or str(path) == "":
        found = recbole_copy()
        if found is None:
            raise DataError(HOW_TO_GET)
        return found
    folder = Path(path)
    if folder.is_file() and folder.name in ("u.data", "ml-100k.inter"):
        folder = folder.parent
    if not folder.is_dir():
        raise DataError(f"--data {path}: no such folder; {HOW_TO_GET.split(': ', 1)[1]}")
    if not ((folder / "u.data").is_file() or (folder / "ml-100k.inter").is_file()):
        nested = folder / "ml-100k"
        if nested.is_dir():
            return find_data(nested)
        raise DataError(f"--data {path}: the folder holds neither u.data (GroupLens) nor ml-100k.inter (recbole)")
    return folder


def _lines(path: Path, encoding: str) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: file missing (the log needs it)")
    try:
        return path.read_text(encoding=encoding).splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not {encoding} text ({err})") from None


def _int(text: str, path: Path, line: int, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise DataError(f"{path}, line {line}: {what} {text!r} is not an integer") from None


def _interactions(path: Path, header: bool) -> np.ndarray:
    rows = []
    for n, text in enumerate(_lines(path, "utf-8"), 1):
        if header and n == 1:
            continue
        if not text.strip():
            continue
        parts = text.split("\t")
        if len(parts) != 4:
            raise DataError(
                f"{path}, line {n}: expected 4 tab-separated fields (user, item, rating, timestamp), got {len(parts)}"
            )
        user = _int(parts[0], path, n, "user id")
        item = _int(parts[1], path, n, "item id")
        try:
            rating_f = float(parts[2])
        except ValueError:
            raise DataError(f"{path}, line {n}: rating {parts[2]!r} is not a number") from None
        if rating_f not in (1.0, 2.0, 3.0, 4.0, 5.0):
            raise DataError(f"{path}, line {n}: rating {parts[2]!r} is not one of 1, 2, 3, 4, 5")
        try:
            stamp_f = float(parts[3])
        except ValueError:
            raise DataError(f"{path}, line {n}: timestamp {parts[3]!r} is not a number") from None
        if not math.isfinite(stamp_f) or stamp_f != int(stamp_f):
            raise DataError(f"{path}, line {n}: timestamp {parts[3]!r} is not a whole number of seconds")
        rows.append((user, item, int(rating_f), int(stamp_f), n))
    if not rows:
        raise DataError(f"{path}: no interactions")
    return np.asarray(rows, dtype=np.int64)


def _grouplens_items(path: Path) -> dict[int, np.ndarray]:
    out = {}
    for n, text in enumerate(_lines(path, "latin-1"), 1):
        if not text.strip():
            continue
        parts = text.split("|")
        if len(parts) != 5 + len(GENRES):
            raise DataError(
                f"{path}, line {n}: expected {5 + len(GENRES)} '|'-separated fields "
                f"(id, title, dates, URL, {len(GENRES)} genre flags), got {len(parts)}"
            )
        item = _int(parts[0], path, n, "movie id")
        flags = parts[5:]
        if any(f.strip() not in ("0", "1") for f in flags):
            raise DataError(f"{path}, line {n}: genre flags must be 0 or 1, got {'|'.join(flags)!r}")
        out[item] = np.asarray([f.strip() == "1" for f in flags], np.float32)
    return out


def _recbole_items(path: Path) -> dict[int, np.ndarray]:
    index = {g: i for i, g in enumerate(GENRES)}
    lines = _lines(path, "utf-8")
    if not lines:
        raise DataError(f"{path}: empty file")
    head = [h.split(":")[0] for h in lines[0].split("\t")]
    if "item_id" not in head or "class" not in head:
        raise DataError(f"{path}, line 1: the header must name item_id and class columns, got {lines[0]!r}")
    at_id, at_class = head.index("item_id"), head.index("class")
    out = {}
    for n, text in enumerate(lines[1:], 2):
        if not text.strip():
            continue
        parts = text.split("\t")
        if len(parts) != len(head):
            raise DataError(f"{path}, line {n}: expected {len(head)} tab-separated fields, got {len(parts)}")
        item = _int(parts[at_id], path, n, "movie id")
        flags = np.zeros(len(GENRES), np.float32)
        for name in parts[at_class].split():
            if name not in index:
                raise DataError(f"{path}, line {n}: unknown genre {name!r}; the genres are {', '.join(GENRES)}")
            flags[index[name]] = 1.0
        out[item] = flags
    return out


def read_movielens(path: str | Path | None = None) -> InteractionLog:
    """Read the log in ``path`` (GroupLens or recbole layout; None: recbole's copy).

    Every interaction's movie must be described in the item file, and a user may
    rate a movie once; otherwise a `DataError` names the file and line.
    """
    folder = find_data(path)
    if (folder / "u.data").is_file():
        data_file, item_file = folder / "u.data", folder / "u.item"
        rows = _interactions(data_file, header=False)
        items = _grouplens_items(item_file)
    else:
        data_file, item_file = folder / "ml-100k.inter", folder / "ml-100k.item"
        rows = _interactions(data_file, header=True)
        items = _recbole_items(item_file)
    movie_ids = np.asarray(sorted(items), np.int64)
    movie_index = {int(m): i for i, m in enumerate(movie_ids)}
    seen: set[tuple[int, int]] = set()
    for user, item, _, _, line in rows:
        if int(item) not in movie_index:
            raise DataError(f"{data_file}, line {line}: movie {item} is not described in {item_file.name}")
        pair = (int(user), int(item))
        if pair in seen:
            raise DataError(f"{data_file}, line {line}: user {user} rates movie {item} a second time")
        seen.add(pair)
    user_ids, users = np.unique(rows[:, 0], return_inverse=True)
    movies = np.asarray([movie_index[int(m)] for m in rows[:, 1]], np.int64)
    order = np.lexsort((rows[:, 4], rows[:, 3], users))  # by user, then time, then line
    genres = np.stack([items[int(m)] for m in movie_ids])
    return InteractionLog(
        users=users[order].astype(np.int32),
        movies=movies[order].astype(np.int32),
        ratings=rows[order, 2].astype(np.int32),
        timestamps=rows[order, 3],
        genres=genres,
        user_ids=user_ids,
        movie_ids=movie_ids,
        source=str(folder),
    )


def held_out_count(n: int | np.ndarray) -> np.ndarray:
    """How many of a user's ``n`` interactions the split holds out: ``floor(0.2 n)`` (none below 5)."""
    return np.floor(np.asarray(n) * HELD_OUT_FRACTION + 1e-9).astype(np.int64)


@dataclass(frozen=True)
class Split:
    """A boolean mask over the log's interactions: ``test`` (held out) and its complement ``train``.

    ``train_count`` and ``test_count`` are per user.
    """

    test: np.ndarray
    train_count: np.ndarray
    test_count: np.ndarray

    @property
    def train(self) -> np.ndarray:
        return ~self.test


def time_split(log: InteractionLog) -> Split:
    """Each user's last ``floor(20%)`` interactions in time order held out (the log is sorted by user, time).

    >>> import numpy as np
    >>> log = InteractionLog(np.zeros(10, np.int32), np.arange(10, dtype=np.int32), np.ones(10, np.int32),
    ...     np.arange(10), np.zeros((10, 19), np.float32), np.arange(1), np.arange(10), "")
    >>> np.flatnonzero(time_split(log).test).tolist()
    [8, 9]
    """
    counts = np.bincount(log.users, minlength=log.num_users)
    test_count = held_out_count(counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(len(log)) - starts[log.users]
    test = position >= (counts - test_count)[log.users]
    return Split(test=test, train_count=counts - test_count, test_count=test_count)
