"""Checking what the inference methods are given, before any sampling or training starts.

Everything here is framework-free: models are checked through their variables'
specs and logged trajectories as NumPy arrays, so a wrong latent name, a missing
field or a wrong shape is reported with the variable and field at fault, never as
a traceback from deep inside TensorFlow or JAX.

>>> from recosim.inference.examples import conjugate_gaussian
>>> import numpy as np
>>> logged = {"user": {}, "obs": {"x": np.zeros((5, 2), np.float32)}}
>>> problem = latent_problem(conjugate_gaussian(num_users=2), logged, ["user/intent"])
>>> [(s.name, s.static, s.shape) for s in problem.slots]
[('user/intent', True, (2,))]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recosim.core.errors import RecosimError
from recosim.core.network import Network
from recosim.core.story import network_from_story
from recosim.core.value import Value

__all__ = [
    "InferenceError",
    "LatentSlot",
    "LatentProblem",
    "latent_problem",
    "check_trajectory",
    "check_params",
    "check_bounds",
    "check_field_name",
    "flatten_params",
    "unflatten_params",
    "stack_trajectories",
    "RUNTIMES",
    "explain_non_finite",
]

RUNTIMES = ("jax", "tf")


class InferenceError(RecosimError, ValueError):
    """Bad input to an inference method (the message names the culprit)."""


@dataclass(frozen=True)
class LatentSlot:
    """One held-out field: ``name`` is ``"variable/field"`` with the field's full (flat) key.

    ``static`` latents belong to a variable without a transition: the sampler
    draws one value (``shape`` without a time axis), repeated at every step of the
    trajectory. Other latents have a value per step (``shape`` starts with the time axis).
    """

    name: str
    variable: str
    key: str
    static: bool
    shape: tuple[int, ...]
    dtype: str

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class LatentProblem:
    """A model, its logged trajectory (NumPy, latent fields filled in) and the latent slots."""

    network: Network
    logged: dict[str, dict[str, np.ndarray]]
    length: int
    slots: list[LatentSlot]
    init: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.slots]

    @property
    def dimension(self) -> int:
        return sum(s.size for s in self.slots)

    def per_step(self, slot: LatentSlot, x: Any, broadcast_to: Callable[[Any, tuple[int, ...]], Any]) -> Any:
        """``x`` with the trajectory's time axis: static latents repeated at every step."""
        if not slot.static:
            return x
        return broadcast_to(x[None], (self.length, *slot.shape))

    def trajectory_with(self, positions: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        """The logged trajectory (NumPy) with the latent fields set to ``positions``."""
        out = {n: dict(f) for n, f in self.logged.items()}
        for slot in self.slots:
            x = np.asarray(positions[slot.name], dtype=slot.dtype)
            out[slot.variable][slot.key] = self.per_step(slot, x, np.broadcast_to)
        return out

    def chain_inits(self, num_chains: int, spread: float, seed: int) -> dict[str, np.ndarray]:
        """Starting points ``[chains, ...]``: the initial values plus ``N(0, spread)`` noise per chain."""
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x1A17])
        out = {}
        for slot in self.slots:
            base = self.init[slot.name]
            noise = rng.normal(size=(num_chains, *slot.shape)) * float(spread)
            out[slot.name] = (base[None] + noise).astype(slot.dtype)
        return out


def check_field_name(network: Network, name: str, what: str) -> tuple[str, str | None, list[str]]:
    """Split ``"variable/field"`` (or ``"variable"``) and list the spec keys it covers.

    A dotted field (``"user/interest"``) covers every ``interest.*`` key.
    """
    if not isinstance(name, str) or not name:
        raise InferenceError(f"{what} must be a 'variable' or 'variable/field' name, got {name!r}")
    var_name, sep, fld = name.partition("/")
    if var_name not in network:
        raise InferenceError(f"{what} {name!r}: the model has no variable {var_name!r}; it has {sorted(network.names)}")
    keys = list(network[var_name].spec.keys())
    if not sep:
        return var_name, None, keys
    covered = [k for k in keys if k == fld or k.startswith(fld + ".")]
    if not covered:
        raise InferenceError(
            f"{what} {name!r}: variable {var_name!r} declares no field {fld!r}; its fields are {sorted(keys)}"
        )
    return var_name, fld, covered


def _as_numpy_fields(name: str, v: Any, what: str) -> dict[str, np.ndarray]:
    if not isinstance(v, Mapping):
        raise InferenceError(f"{what}: variable {name!r} must be a Value or mapping of fields, got {type(v).__name__}")
    out = {}
    for key, x in Value(v).items():
        try:
            out[key] = np.asarray(x)
        except Exception as err:
            raise InferenceError(f"{what}: field {key!r} of variable {name!r} is not an array ({err})") from None
    return out


def _cast(arr: np.ndarray, dtype: str | None, where: str) -> np.ndarray:
    if dtype is None or arr.dtype.name == dtype:
        return arr
    want = np.dtype(dtype)
    same_kind = (np.issubdtype(arr.dtype, np.floating) and np.issubdtype(want, np.floating)) or (
        np.issubdtype(arr.dtype, np.integer) and np.issubdtype(want, np.integer)
    )
    if not same_kind and not (np.issubdtype(want, np.floating) and np.issubdtype(arr.dtype, np.integer)):
        raise InferenceError(f"{where} has dtype {arr.dtype.name} where the model declares {dtype}")
    return arr.astype(want)


def check_trajectory(
    network: Network,
    logged: Mapping[str, Any],
    *,
    held_out: Mapping[str, Sequence[str]] | None = None,
    batched: bool = False,
    what: str = "the logged trajectory",
) -> tuple[dict[str, dict[str, np.ndarray]], int]:
    """Check a logged trajectory against the model's specs; return it as NumPy and its length.

    Every variable and declared field must be there (except ``held_out``: variable
    -> keys that may be missing), with a leading time axis (after a leading
    trajectory axis when ``batched``) of one length, per-step shapes as declared,
    and dtypes of the declared kind (cast to the declared dtype).
    """
    if not isinstance(logged, Mapping):
        raise InferenceError(f"{what} must map variable names to Values, got {type(logged).__name__}")
    held_out = held_out or {}
    unknown = sorted(set(logged) - set(network.names))
    if unknown:
        raise InferenceError(f"{what} has variable(s) {unknown} that the model lacks; it has {sorted(network.names)}")
    lead = 2 if batched else 1
    axes = "[trajectories, steps, ...]" if batched else "[steps, ...]"
    out: dict[str, dict[str, np.ndarray]] = {}
    length: int | None = None
    first = ""
    count: int | None = None
    for var in network.variables:
        allowed = set(held_out.get(var.name, ()))
        if var.name not in logged:
            if set(var.spec.keys()) <= allowed:
                out[var.name] = {}
                continue
            raise InferenceError(f"{what} lacks the variable {var.name!r} (fields {sorted(var.spec.keys())})")
        fields = _as_numpy_fields(var.name, logged[var.name], what)
        extra = sorted(set(fields) - set(var.spec.keys()))
        if extra:
            raise InferenceError(
                f"{what}: variable {var.name!r} has field(s) {extra} that its spec does not declare "
                f"(it declares {sorted(var.spec.keys())})"
            )
        missing = sorted(k for k in var.spec.keys() if k not in fields and k not in allowed)
        if missing:
            raise InferenceError(f"{what} lacks the field(s) {missing} of variable {var.name!r}")
        for key, arr in fields.items():
            where = f"{what}: field {key!r} of variable {var.name!r}"
            spec = var.spec.as_dict[key]
            if arr.ndim < lead:
                raise InferenceError(f"{where} has shape {arr.shape}; it needs the leading axes {axes}")
            if batched:
                if count is None:
                    count = arr.shape[0]
                elif arr.shape[0] != count:
                    raise InferenceError(f"{where} holds {arr.shape[0]} trajectories but others hold {count}")
            steps = arr.shape[lead - 1]
            if length is None:
                length, first = steps, f"{var.name}/{key}"
            elif steps != length:
                raise InferenceError(f"{where} holds {steps} steps but {first!r} holds {length}")
            per_step = arr.shape[lead:]
            if spec.shape is not None and (
                len(spec.shape) != len(per_step) or any(w is not None and w != g for w, g in zip(spec.shape, per_step))
            ):
                raise InferenceError(f"{where} has per-step shape {per_step} where the model declares {spec.shape}")
            fields[key] = _cast(arr, spec.dtype, where)
        out[var.name] = fields
    if length is None:
        raise InferenceError(f"{what} holds no fields, so it has no steps")
    return out, length


def latent_problem(
    model: Any,
    logged: Mapping[str, Any],
    latent: Sequence[str] | str,
    *,
    init: Mapping[str, Any] | None = None,
    static: Sequence[str] | str = (),
) -> LatentProblem:
    """Check ``latent`` names and ``logged`` against ``model`` and build the `LatentProblem`.

    A latent of a variable without a transition is static (one value for the
    whole trajectory); ``static`` names further latents (among ``latent``) that
    the model's transition carries over unchanged, such as a user's intent kept
    in a state that also holds an evolving field: they too are sampled once and
    repeated at every step. Latent fields may be missing from ``logged``. Their starting values come from
    ``init`` (keyed by latent name or ``"variable/field"``), else from ``logged``,
    else zeros of the declared shape; a latent whose shape is neither declared nor
    logged nor given is an error.
    """
    network = network_from_story(model)
    if isinstance(latent, str):
        latent = [latent]
    latent = list(latent)
    if not latent:
        raise InferenceError("latent must name at least one 'variable' or 'variable/field' to hold out")
    static_names = [static] if isinstance(static, str) else list(static)
    for name in static_names:
        if name not in latent:
            raise InferenceError(f"static names {name!r}, which is not among the latents {latent}")
    constant: set[tuple[str, str]] = set()
    for name in static_names:
        var_name, _, keys = check_field_name(network, name, "static latent")
        constant.update((var_name, k) for k in keys)
    held: dict[str, list[str]] = {}
    named: list[tuple[str, str]] = []
    for name in latent:
        var_name, _, keys = check_field_name(network, name, "latent")
        for key in keys:
            if (var_name, key) in named:
                raise InferenceError(f"latent {name!r} repeats the field '{var_name}/{key}'")
            named.append((var_name, key))
            held.setdefault(var_name, []).append(key)
    traj, length = check_trajectory(network, logged, held_out=held)
    init = dict(init or {})
    slots: list[LatentSlot] = []
    starts: dict[str, np.ndarray] = {}
    for var_name, key in named:
        var = network[var_name]
        spec = var.spec.as_dict[key]
        full = f"{var_name}/{key}"
        is_static = var.value is None or (var_name, key) in constant
        given = _init_value(init, var_name, key, latent)
        if given is not None:
            start = np.asarray(given)
        elif key in traj[var_name]:
            start = traj[var_name][key][0] if is_static else traj[var_name][key]
        elif spec.shape is not None and None not in spec.shape:
            start = np.zeros(tuple(spec.shape) if is_static else (length, *spec.shape))
        else:
            raise InferenceError(
                f"latent {full!r}: its shape is not fully declared ({spec.shape}) and it is neither logged "
                "nor given in init=; pass init={" + repr(full) + ": array}"
            )
        dtype = spec.dtype or (start.dtype.name if np.issubdtype(start.dtype, np.floating) else "float32")
        if not np.issubdtype(np.dtype(dtype), np.floating):
            raise InferenceError(
                f"latent {full!r} has dtype {dtype}; gradient-based samplers and VI need continuous (float) latents"
            )
        want = None if spec.shape is None else tuple(spec.shape)
        per_step = start.shape if is_static else start.shape[1:]
        if (not is_static and (start.ndim == 0 or start.shape[0] != length)) or (
            want is not None and (len(want) != len(per_step) or any(w not in (None, g) for w, g in zip(want, per_step)))
        ):
            expected = want if is_static else (length, *(want or ()))
            raise InferenceError(f"init for latent {full!r} has shape {start.shape}; expected {expected}")
        start = start.astype(dtype)
        slots.append(LatentSlot(full, var_name, key, is_static, tuple(start.shape), dtype))
        starts[full] = start
    unused = sorted(set(init) - {s.name for s in slots} - set(latent))
    if unused:
        raise InferenceError(f"init names {unused}, which are not latent; the latents are {[s.name for s in slots]}")
    problem = LatentProblem(network, traj, length, slots, starts)
    problem.logged = problem.trajectory_with(starts)
    return problem


def _init_value(init: Mapping[str, Any], var_name: str, key: str, latent: Sequence[str]) -> Any:
    full = f"{var_name}/{key}"
    if full in init:
        return init[full]
    for name in latent:
        if name in init:
            v = init[name]
            if isinstance(v, Mapping):
                prefix = name.partition("/")[2]
                sub = key[len(prefix) + 1 :] if prefix else key
                return Value(v).get(sub, None)
    return None


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": x}}`` -> ``{"a/b": x}`` (leaves kept as they are)."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if not isinstance(k, str) or not k or "/" in k:
            raise InferenceError(f"parameter names must be non-empty strings without '/', got {prefix + str(k)!r}")
        if isinstance(v, Mapping):
            out.update(flatten_params(v, f"{prefix}{k}/"))
        else:
            out[prefix + k] = v
    return out


def unflatten_params(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flatten_params`."""
    out: dict[str, Any] = {}
    for name, v in flat.items():
        parts = name.split("/")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return out


def check_params(params: Any) -> dict[str, np.ndarray]:
    """Initial parameters as a flat dict of float32 NumPy arrays, or an error naming the bad leaf."""
    if not isinstance(params, Mapping) or not params:
        raise InferenceError(
            f"init_params must be a non-empty (possibly nested) dict of arrays, got {type(params).__name__}"
        )
    out = {}
    for name, v in flatten_params(params).items():
        try:
            arr = np.asarray(v)
        except Exception as err:
            raise InferenceError(f"parameter {name!r} is not an array ({err})") from None
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise InferenceError(f"parameter {name!r} has dtype {arr.dtype}; parameters are trained as floats")
        if not np.all(np.isfinite(arr)):
            raise InferenceError(f"parameter {name!r} has non-finite initial values")
        out[name] = arr.astype(np.float32)
    return out


def check_bounds(bounds: Mapping[str, Any] | None, params: Mapping[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """``{"alpha": (0.0, 1.0)}``: parameters clipped into ``[low, high]`` after every update."""
    out = {}
    for name, pair in dict(bounds or {}).items():
        if name not in params:
            raise InferenceError(
                f"bounds names the parameter {name!r}, which init_params lacks; it has {sorted(params)}"
            )
        try:
            low, high = (float(pair[0]), float(pair[1]))
        except Exception:
            raise InferenceError(f"bounds[{name!r}] must be a (low, high) pair, got {pair!r}") from None
        if not low <= high:
            raise InferenceError(f"bounds[{name!r}] = {pair!r} has low > high")
        out[name] = (low, high)
    return out


def stack_trajectories(trajectories: Any) -> Mapping[str, Any]:
    """A batch of trajectories: one mapping with a leading trajectory axis, or a list of trajectories."""
    if isinstance(trajectories, Mapping):
        return trajectories
    items = list(trajectories)
    if not items:
        raise InferenceError("no trajectories given")
    for i, t in enumerate(items):
        if not isinstance(t, Mapping):
            raise InferenceError(f"trajectory {i} must map variable names to Values, got {type(t).__name__}")
    names = set(items[0])
    for i, t in enumerate(items[1:], 1):
        if set(t) != names:
            raise InferenceError(f"trajectory {i} has the variables {sorted(t)} but trajectory 0 has {sorted(names)}")
    out = {}
    for name in items[0]:
        keys = list(Value(items[0][name]).keys())
        fields = {}
        for key in keys:
            try:
                fields[key] = np.stack([np.asarray(Value(t[name])[key]) for t in items])
            except Exception as err:
                raise InferenceError(
                    f"cannot stack field {key!r} of variable {name!r} across trajectories: {err}"
                ) from None
        out[name] = fields
    return out


def explain_non_finite(network: Network, trajectory: Mapping[str, Mapping[str, Any]], backend: Any) -> str:
    """Name the first variable and step whose log-probability is not finite (scored step by step)."""
    from recosim.core.backend import using_backend
    from recosim.core.log_probability import step_log_probabilities

    traj = {n: {k: np.asarray(x) for k, x in Value(f).items()} for n, f in trajectory.items()}
    length = next(x.shape[0] for f in traj.values() for x in f.values())
    previous = None
    with using_backend(backend):
        for t in range(length):
            current = {n: Value({k: x[t] for k, x in f.items()}) for n, f in traj.items()}
            for name, lp in step_log_probabilities(network, current, previous, backend=backend).items():
                lp_np = np.asarray(lp)
                if not np.all(np.isfinite(lp_np)):
                    return (
                        f"variable {name!r} has log-probability {float(np.sum(lp_np))} at step {t} "
                        "(a value outside its distribution's support?)"
                    )
            previous = current
    return "each step's log-probability is finite when scored alone; check the values for overflow"
