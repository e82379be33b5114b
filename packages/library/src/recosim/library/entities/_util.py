"""Small helpers shared by the concrete entities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recosim.core import FieldSpec, Value, ValueSpec, get_backend
from recosim.core.value import dtype_name, shape_of
from recosim.library.params import positive_int

__all__ = ["positive_int", "spec_like", "gather_documents", "slate_spec"]


def spec_like(fields: Mapping[str, Any]) -> ValueSpec:
    """The `ValueSpec` (exact shapes and dtypes) of a mapping of arrays.

    >>> import numpy as np
    >>> spec_like({"features": np.zeros((4, 2), np.float32)})["features"]
    FieldSpec(shape=(4, 2), dtype='float32')
    """
    return ValueSpec({k: FieldSpec(shape_of(f), dtype_name(f)) for k, f in Value(fields).items()})


def gather_documents(documents: Value, doc_index: Any) -> Value:
    """Every field of ``documents`` (leading document axis) at ``doc_index`` (``[..., k]`` int).

    >>> import numpy as np
    >>> docs = Value(quality=np.array([0.1, 0.2, 0.3], np.float32))
    >>> gather_documents(docs, np.array([[2, 0]])).get("quality").tolist()
    [[0.30000001192092896, 0.10000000149011612]]
    """
    B = get_backend()
    return Value({k: B.np.take(B.asarray(f), doc_index, axis=0) for k, f in documents.items()})


def slate_spec(document_spec: ValueSpec, num_users: int, slate_size: int) -> ValueSpec:
    """The spec of slates of ``slate_size`` documents per user, from the documents' spec.

    Document fields ``[num_docs, *rest]`` become ``[num_users, slate_size, *rest]``,
    and the int32 field ``doc_index`` ``[num_users, slate_size]`` is added.
    """
    out = {}
    for key, field in document_spec.items():
        if field.shape is None or len(field.shape) < 1:
            raise ValueError(f"document field {key!r} needs a leading document axis; its spec is {field}")
        out[key] = FieldSpec((num_users, slate_size, *field.shape[1:]), field.dtype)
    if "doc_index" in out:
        raise ValueError("documents may not have a field named 'doc_index'; slates add it")
    out["doc_index"] = FieldSpec((num_users, slate_size), "int32")
    return ValueSpec(out)


def num_documents(document_spec: ValueSpec) -> int:
    """The size of the leading (document) axis shared by every field of ``document_spec``."""
    sizes = {k: (None if f.shape is None or not f.shape else f.shape[0]) for k, f in document_spec.items()}
    known = set(sizes.values())
    if len(known) != 1 or None in known:
        raise ValueError(f"documents need one static leading document axis shared by all fields; got {sizes}")
    (size,) = known
    assert size is not None
    return int(size)
