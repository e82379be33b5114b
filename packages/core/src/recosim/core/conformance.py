"""Backend conformance: every operation of the backend contract, on any backend, against NumPy.

Each `Case` computes a few results with one declared operation (``np.sum``,
``tfd.Normal``, ``op.top_k``, ...) on the backend under test and on the NumPy
backend, and compares them: values within the case's tolerance, float and bool
dtypes exactly, integer dtypes by kind (NumPy's ``argmax`` is int64 where JAX's
is int32). Random draws are compared by shape and dtype only, since each
framework turns keys into bits its own way. A backend conforms when
:func:`check_backend` returns no problems; third-party backends can run it too.

>>> from recosim.core.backend import numpy_backend
>>> check_backend(numpy_backend())
[]
>>> covered_names() >= {"np.sum", "tfd.Normal", "linalg.inv", "op.top_k"}
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.core.backend import (
    DISTRIBUTIONS,
    LINALG_FUNCTIONS,
    NUMPY_FUNCTIONS,
    OPERATIONS,
    Backend,
    numpy_backend,
    using_backend,
)

__all__ = ["CASES", "Case", "check_backend", "check_case", "covered_names", "declared_names"]


@dataclass(frozen=True)
class Case:
    """One declared operation exercised the way blocks use it.

    ``run(B)`` returns named results; keys in ``random`` are draws, compared by
    shape and dtype only.
    """

    name: str
    run: Callable[[Backend], Mapping[str, Any]]
    rtol: float = 1e-5
    atol: float = 1e-6
    random: tuple[str, ...] = ()


_X = np.array([[0.5, -1.0, 2.0], [3.0, 0.25, -0.75]], np.float32)
_POS = np.array([[0.5, 1.0, 2.0], [3.0, 0.25, 0.75]], np.float32)
_I = np.array([[0, 1, 2], [2, 1, 0]], np.int32)
_SPD = np.array([[[2.0, 0.5], [0.5, 1.0]], [[1.5, -0.2], [-0.2, 0.8]]], np.float32)


def _f32(x: Any) -> np.ndarray:
    return np.asarray(x, np.float32)


def _i32(x: Any) -> np.ndarray:
    return np.asarray(x, np.int32)


def _a(B: Backend, x: Any) -> Any:
    return B.asarray(x)


def _np(name: str, fn: Callable[[Backend, Any], Any]) -> Case:
    return Case(f"np.{name}", lambda B: {"out": fn(B, B.np)})


_NUMPY_CASES = [
    _np("abs", lambda B, n: n.abs(_a(B, _X))),
    _np("all", lambda B, n: n.all(_a(B, _X) > -0.9, axis=-1)),
    _np("any", lambda B, n: n.any(_a(B, _X) > 2.5, axis=-1)),
    _np("arange", lambda B, n: n.arange(5, dtype="int32")),
    _np("argmax", lambda B, n: n.argmax(_a(B, _X), axis=-1)),
    _np("argsort", lambda B, n: n.argsort(_a(B, _X), axis=-1)),
    _np("asarray", lambda B, n: n.asarray([1.5, 2.0], dtype="float32")),
    _np("broadcast_to", lambda B, n: n.broadcast_to(_a(B, _X[0]), (4, 3))),
    _np("clip", lambda B, n: n.clip(_a(B, _X), -0.5, 0.5)),
    _np("concatenate", lambda B, n: n.concatenate([_a(B, _X), _a(B, _POS)], axis=-1)),
    _np("cumsum", lambda B, n: n.cumsum(_a(B, _X), axis=-1)),
    _np("einsum", lambda B, n: n.einsum("...ij,...j->...i", _a(B, _SPD), _a(B, _X[:, :2]))),
    _np("equal", lambda B, n: n.equal(_a(B, _I), 1)),
    _np("exp", lambda B, n: n.exp(_a(B, _X))),
    _np("expand_dims", lambda B, n: n.expand_dims(_a(B, _X), -2)),
    _np("eye", lambda B, n: n.eye(3, dtype="float32")),
    _np("floor", lambda B, n: n.floor(_a(B, _X))),
    _np("full", lambda B, n: n.full((2, 3), 0.25, dtype="float32")),
    _np("full_like", lambda B, n: n.full_like(_a(B, _X), -np.inf)),
    _np("isfinite", lambda B, n: n.isfinite(_a(B, np.array([1.0, np.inf, -np.inf, np.nan], np.float32)))),
    _np("log", lambda B, n: n.log(_a(B, _POS))),
    _np("log1p", lambda B, n: n.log1p(_a(B, _POS))),
    _np("matmul", lambda B, n: n.matmul(_a(B, _SPD), _a(B, _SPD))),
    _np("max", lambda B, n: n.max(_a(B, _X), axis=-1, keepdims=True)),
    _np("maximum", lambda B, n: n.maximum(_a(B, _X), 0.0)),
    _np("mean", lambda B, n: n.mean(_a(B, _X), axis=0)),
    _np("minimum", lambda B, n: n.minimum(_a(B, _X), 0.0)),
    _np("ones", lambda B, n: n.ones((2, 3), dtype="float32")),
    _np("ones_like", lambda B, n: n.ones_like(_a(B, _I))),
    _np("power", lambda B, n: n.power(_a(B, _POS), 1.5)),
    _np("reshape", lambda B, n: n.reshape(_a(B, _SPD), (2, 4))),
    _np("sort", lambda B, n: n.sort(_a(B, _X), axis=-1)),
    _np("sqrt", lambda B, n: n.sqrt(_a(B, _POS))),
    _np("squeeze", lambda B, n: n.squeeze(_a(B, _X[:, :1]), axis=-1)),
    _np("stack", lambda B, n: n.stack([_a(B, _X), _a(B, _POS)], axis=0)),
    _np("sum", lambda B, n: n.sum(_a(B, _X), axis=-1)),
    _np("swapaxes", lambda B, n: n.swapaxes(_a(B, _SPD), -1, -2)),
    _np("take", lambda B, n: n.take(_a(B, _X), _a(B, np.array([1, 0, 1], np.int32)), axis=0)),
    _np("take_along_axis", lambda B, n: n.take_along_axis(_a(B, _X), _a(B, _I[:, :2]), axis=1)),
    _np("tanh", lambda B, n: n.tanh(_a(B, _X))),
    _np("transpose", lambda B, n: n.transpose(_a(B, _SPD), (0, 2, 1))),
    _np("where", lambda B, n: n.where(_a(B, _X) > 0.0, _a(B, _X), n.zeros_like(_a(B, _X)))),
    _np("zeros", lambda B, n: n.zeros((3,), dtype="int32")),
    _np("zeros_like", lambda B, n: n.zeros_like(_a(B, _X))),
]


def _dist(name: str, build: Callable[[Backend], Any], value: Any) -> Case:
    """``log_prob`` of a fixed value, and a draw of shape ``(2, *batch, *event)`` through ``B.sample``."""

    def run(B: Backend) -> dict[str, Any]:
        d = build(B)
        return {"log_prob": d.log_prob(_a(B, value)), "draw": B.sample(d, (2,), B.make_seed(3))}

    return Case(f"tfd.{name}", run, random=("draw",))


_LOC, _SCALE = np.array([0.0, 1.0, -1.0], np.float32), np.array([1.0, 0.5, 2.0], np.float32)
_DISTRIBUTION_CASES = [
    _dist("Normal", lambda B: B.tfd.Normal(_a(B, _LOC), _a(B, _SCALE)), _X),
    _dist("Uniform", lambda B: B.tfd.Uniform(B.np.zeros(3, dtype="float32"), B.np.ones(3, dtype="float32")), _POS / 4),
    _dist("Bernoulli", lambda B: B.tfd.Bernoulli(probs=_a(B, _f32([0.2, 0.5, 0.9])), dtype="int32"), _I % 2),
    _dist("Beta", lambda B: B.tfd.Beta(_a(B, _f32([1.0, 2.0, 0.5])), _a(B, np.float32(2.0))), _POS / 4),
    _dist("Categorical", lambda B: B.tfd.Categorical(logits=_a(B, _X), dtype="int32"), _i32([2, 0])),
    _dist("Deterministic", lambda B: B.tfd.Deterministic(loc=_a(B, _LOC)), _LOC),
    _dist("Geometric", lambda B: B.tfd.Geometric(probs=_a(B, _f32([0.2, 0.5, 0.9]))), _f32([[0, 1, 3], [2, 0, 1]])),
    _dist("Gumbel", lambda B: B.tfd.Gumbel(loc=_a(B, _X), scale=1.0), _POS),
    _dist(
        "Independent",
        lambda B: B.tfd.Independent(B.tfd.Normal(_a(B, _X), 1.0), reinterpreted_batch_ndims=1),
        _POS,
    ),
    _dist(
        "MixtureSameFamily",
        lambda B: B.tfd.MixtureSameFamily(
            mixture_distribution=B.tfd.Categorical(logits=_a(B, _f32([0.0, 1.0]))),
            components_distribution=B.tfd.MultivariateNormalDiag(loc=_a(B, _SPD[0]), scale_diag=_a(B, _SPD[1] ** 2)),
        ),
        _X[:, :2],
    ),
    _dist("Logistic", lambda B: B.tfd.Logistic(loc=_a(B, _X), scale=1.0), _X),
    _dist("LogNormal", lambda B: B.tfd.LogNormal(_a(B, _LOC), _a(B, _SCALE)), _POS),
    _dist("MultivariateNormalDiag", lambda B: B.tfd.MultivariateNormalDiag(_a(B, _X), _a(B, _POS)), _POS),
    _dist(
        "MultivariateNormalTriL",
        lambda B: B.tfd.MultivariateNormalTriL(_a(B, _X[:, :2]), B.linalg.cholesky(_a(B, _SPD))),
        _POS[:, :2],
    ),
    _dist(
        "NegativeBinomial",
        lambda B: B.tfd.NegativeBinomial(total_count=_a(B, _f32([1.0, 2.5, 4.0])), logits=_a(B, _X)),
        _f32([[0, 1, 3], [2, 0, 1]]),
    ),
    _dist(
        "OrderedLogistic",
        lambda B: B.tfd.OrderedLogistic(cutpoints=_a(B, _f32([-1.0, 0.0, 1.5])), loc=_a(B, _X), dtype="int32"),
        _i32([[0, 1, 3], [2, 0, 1]]),
    ),
    _dist("BatchBroadcast", lambda B: B.tfd.BatchBroadcast(B.tfd.Normal(0.0, 1.0), with_shape=(2, 3)), _X),
]


def _linalg(name: str, fn: Callable[[Any, Any], Any]) -> Case:
    return Case(f"linalg.{name}", lambda B: {"out": fn(B.linalg, _a(B, _SPD))}, rtol=1e-4)


_LINALG_CASES = [
    _linalg("inv", lambda la, m: la.inv(m)),
    _linalg("solve", lambda la, m: la.solve(m, m[..., :1] + 1.0)),
    _linalg("cholesky", lambda la, m: la.cholesky(m)),
    _linalg("det", lambda la, m: la.det(m)),
    _linalg("slogdet", lambda la, m: dict(zip(("sign", "logdet"), la.slogdet(m)))),
]


def _keys(B: Backend) -> dict[str, Any]:
    root = B.make_seed(7)
    a, b, c = B.fold_in(root, 1), B.fold_in(root, 1), B.fold_in(root, 2)
    same = bool(np.array_equal(np.asarray(a), np.asarray(b)))
    differs = not np.array_equal(np.asarray(a), np.asarray(c))
    far = not np.array_equal(np.asarray(B.make_seed(7)), np.asarray(B.make_seed(7 + 2**32)))
    return {"same path, same key": np.bool_(same), "other path, other key": np.bool_(differs), "64 bits": np.bool_(far)}


_OPERATION_CASES = [
    Case("op.asarray", lambda B: {"out": B.asarray([1, 2, 3], "float32"), "kept": B.asarray(_I)}),
    Case("op.cast", lambda B: {"int": B.cast(_a(B, _X), "int32"), "bool": B.cast(_a(B, _I), "bool")}),
    Case(
        "op.top_k",  # ties keep the lower index first
        lambda B: dict(zip(("values", "indices"), B.top_k(_a(B, _f32([[1, 3, 3, 2], [0, -1, 5, 5]])), 2))),
    ),
    Case("op.stop_gradient", lambda B: {"out": B.stop_gradient(_a(B, _X))}),
    Case(
        "op.scatter_add",  # repeated indices accumulate
        lambda B: {"out": B.scatter_add(B.np.zeros(4, dtype="float32"), _a(B, _i32([0, 2, 0])), _a(B, _LOC))},
    ),
    Case(
        "op.one_hot",  # indices outside [0, depth) give zeros
        lambda B: {
            "float": B.one_hot(_a(B, _i32([2, -1, 5, 0])), 3),
            "bool": B.one_hot(_a(B, _i32([1, 3])), 3, dtype="bool"),
        },
    ),
    Case(
        "op.logsumexp",
        lambda B: {
            "out": B.logsumexp(_a(B, _X), axis=-1),
            "keep": B.logsumexp(_a(B, _f32([[-np.inf, 0.0], [-np.inf, -np.inf]])), axis=-1, keepdims=True),
        },
    ),
    Case("op.log_softmax", lambda B: {"out": B.log_softmax(_a(B, _X), axis=-1)}),
    Case("op.softmax", lambda B: {"out": B.softmax(_a(B, _X), axis=0)}),
    Case("op.sigmoid", lambda B: {"out": B.sigmoid(_a(B, _X))}),
    Case("op.log_sigmoid", lambda B: {"out": B.log_sigmoid(_a(B, _f32([-100.0, -1.0, 0.0, 30.0, 100.0])))}),
    Case("op.norm", lambda B: {"out": B.norm(_a(B, _X), axis=-1), "keep": B.norm(_a(B, _X), axis=0, keepdims=True)}),
    Case("op.static_value", lambda B: {"out": B.static_value(_a(B, _I))}),
    Case("op.make_seed", _keys),
    Case("op.fold_in", _keys),
    Case(
        "op.sample",
        lambda B: {
            "normal": B.sample(B.tfd.Normal(B.np.zeros(4, dtype="float32"), 1.0), (2,), B.make_seed(0)),
            "categorical": B.sample(B.tfd.Categorical(logits=_a(B, _X), dtype="int32"), (5,), B.make_seed(0)),
        },
        random=("normal", "categorical"),
    ),
]

CASES: tuple[Case, ...] = (*_NUMPY_CASES, *_DISTRIBUTION_CASES, *_LINALG_CASES, *_OPERATION_CASES)
"""Every case of the suite, one or more per declared operation."""


def declared_names() -> set[str]:
    """The backend contract as case names: ``np.<f>``, ``tfd.<D>``, ``linalg.<f>``, ``op.<method>``."""
    return (
        {f"np.{n}" for n in NUMPY_FUNCTIONS}
        | {f"tfd.{n}" for n in DISTRIBUTIONS}
        | {f"linalg.{n}" for n in LINALG_FUNCTIONS}
        | {f"op.{n}" for n in OPERATIONS}
    )


def covered_names() -> set[str]:
    """The names the suite exercises."""
    return {case.name for case in CASES}


def _leaves(out: Mapping[str, Any]) -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for key, value in out.items():
        if isinstance(value, Mapping):
            flat.update({f"{key}.{k}": v for k, v in _leaves(value).items()})
        else:
            flat[key] = np.asarray(value)
    return flat


def _run(case: Case, backend: Backend) -> dict[str, np.ndarray]:
    with using_backend(backend):
        return _leaves(case.run(backend))


def check_case(case: Case, backend: Backend, reference: Backend | None = None) -> str | None:
    """What is wrong with ``backend`` on ``case`` (compared with NumPy), or None."""
    try:
        got = _run(case, backend)
    except Exception as err:
        return f"{case.name} on {backend.name}: {type(err).__name__}: {err}"
    want = _run(case, reference if reference is not None else numpy_backend())
    problems = []
    for key, expected in want.items():
        actual = got.get(key)
        where = f"{case.name}[{key}] on {backend.name}"
        if actual is None:
            problems.append(f"{where}: missing")
            continue
        if actual.shape != expected.shape:
            problems.append(f"{where}: shape {actual.shape}, NumPy gives {expected.shape}")
            continue
        kinds_match = actual.dtype.kind == expected.dtype.kind
        if not kinds_match or (expected.dtype.kind in "fb" and actual.dtype != expected.dtype):
            problems.append(f"{where}: dtype {actual.dtype}, NumPy gives {expected.dtype}")
            continue
        if key in case.random:
            if expected.dtype.kind == "f" and not np.all(np.isfinite(actual)):
                problems.append(f"{where}: the draw has non-finite values")
            continue
        if not np.allclose(actual, expected, rtol=case.rtol, atol=case.atol, equal_nan=True):
            problems.append(f"{where}: {actual.tolist()} where NumPy gives {expected.tolist()}")
    return "; ".join(problems) or None


def check_backend(backend: Backend) -> list[str]:
    """Every problem of ``backend`` with the declared contract (empty when it conforms)."""
    return [p for p in (check_case(case, backend) for case in CASES) if p is not None]
