"""Input files of use cases, checked before any work with messages that say what is wrong.

:func:`load_array` reads a ``.npy`` file (never a pickle) and checks it against
what the option needs (number of dimensions, non-empty axes, a numeric dtype,
finite values). Every failure is a `UsageError` naming the option and the file.

>>> import tempfile, pathlib, numpy as np
>>> path = pathlib.Path(tempfile.mkdtemp()) / "means.npy"
>>> np.save(path, np.zeros((4, 0)))
>>> load_array(path, option="--provider-means", ndim=2, what="(num_providers, num_topics)")
Traceback (most recent call last):
...
recosim.core.errors.UsageError: --provider-means: .../means.npy holds an array of shape (4, 0); ... non-empty
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from recosim.core.errors import UsageError

__all__ = ["load_array"]

_NPY_MAGIC = b"\x93NUMPY"


def _describe_content(head: bytes) -> str:
    if head.startswith(b"PK"):
        return "a zip archive (an .npz file?), not a single .npy array"
    if not head:
        return "an empty file"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "not a NumPy .npy file"
    return "text, not a NumPy .npy file (write it with numpy.save)"


def load_array(
    path: Path | str,
    *,
    option: str,
    ndim: int | None = None,
    what: str = "array",
    finite: bool = True,
    dtype: str = "float32",
) -> np.ndarray:
    """The array in the ``.npy`` file ``path``, checked; a `UsageError` naming ``option`` and the file otherwise.

    ``ndim`` is the number of dimensions required (every axis must then be
    non-empty), ``what`` how the message names the expected array; values must be
    numbers (and finite unless ``finite=False``). Object arrays (pickles) are
    refused, never loaded. The result has ``dtype``.
    """
    path = Path(path)
    where = f"{option}: {path}"
    if not path.exists():
        raise UsageError(f"{where} does not exist")
    if path.is_dir():
        raise UsageError(f"{where} is a directory, not an .npy file")
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as err:
        raise UsageError(f"{where} cannot be read ({err.strerror or err})") from None
    if not head.startswith(_NPY_MAGIC):
        raise UsageError(f"{where} is {_describe_content(head)}")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err) or "pickle" in str(err).lower():
            raise UsageError(f"{where} holds Python objects (a pickled array); give an array of numbers") from None
        raise UsageError(f"{where} is a damaged .npy file ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise UsageError(f"{where} is a damaged .npy file ({err})") from None
    if not isinstance(array, np.ndarray):  # pragma: no cover - np.load of a .npy file returns an array
        raise UsageError(f"{where} does not hold a single array")
    if array.dtype.kind not in "biuf":
        raise UsageError(f"{where} holds values of type {array.dtype}, not numbers")
    if ndim is not None:
        if array.ndim != ndim:
            raise UsageError(
                f"{where} holds an array of shape {array.shape} ({array.ndim} dimensions); "
                f"expected a {what} array with {ndim} dimensions"
            )
        if 0 in array.shape:
            raise UsageError(
                f"{where} holds an array of shape {array.shape}; a {what} array needs every axis non-empty"
            )
    with np.errstate(over="ignore", invalid="ignore"):
        converted = array.astype(dtype)
    if finite:
        bad = ~np.isfinite(converted)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise UsageError(
                f"{where} holds {int(bad.sum())} value(s) that are NaN or infinite as {dtype} "
                f"(the first at index {first}: {array[first]})"
            )
    return converted
