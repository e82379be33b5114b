"""`PolicySimulator`: a recommendation story stepped with its slates given from outside.

A recommendation story is a dynamic Bayesian network in which one variable, the
*policy* (``"slate"`` in the library's stories), holds the slates a recommender
serves. The simulator evaluates every step in two parts, under the same random
key as a runtime uses for that step:

1. the policy's intra-slice ancestors (the user observation, the documents on
   offer, the recommender's state, ...), whose values are what the policy sees:
   the **observation**;
2. given an **action** (document indices ``[num_users, slate_size]``), the policy's
   value (the action, with every document field gathered from the documents
   variable) and then every other variable of the step, including the **reward**
   field.

Draws are named and keyed exactly as in the runtimes (step ``t`` under
``seed(fold_in(key, t))``), so a story stepped here with the slates a runtime
drew, under the runtime's key, reproduces that runtime's trajectory.

The steps run eagerly on the NumPy backend (``runtime="numpy"``) or as three
``jax.jit``-compiled functions on JAX (``runtime="jax"``): one call per step for
the whole population.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.core import Value, ValueSpec, Variable, get_plugins, using_backend
from recosim.core.errors import NetworkError
from recosim.core.evaluation import evaluate
from recosim.core.network import Network
from recosim.core.random import seed as seed_handler
from recosim.core.story import network_from_story
from recosim.core.variable import Binding, Previous

__all__ = ["PolicySimulator", "ObservedField", "RUNTIMES"]

RUNTIMES = ("jax", "numpy")
"""The runtimes the simulator steps on."""

StepValue = dict[str, Value]


@dataclass(frozen=True)
class ObservedField:
    """One observed field: its ``"variable/field"`` name, per-user shape, dtype, and whether users share it."""

    name: str
    variable: str
    field: str
    shape: tuple[int, ...]
    dtype: str
    shared: bool


def _ancestors(edges: Mapping[str, Sequence[str]], name: str) -> set[str]:
    found: set[str] = set()
    todo = list(edges.get(name, ()))
    while todo:
        parent = todo.pop()
        if parent not in found:
            found.add(parent)
            todo.extend(edges.get(parent, ()))
    return found


def _static_shape(spec: Any, where: str) -> tuple[int, ...]:
    if spec.shape is None or any(d is None for d in spec.shape):
        raise NetworkError(f"{where} has no static shape in its spec ({spec}); declare every axis to step it here")
    if spec.dtype is None:
        raise NetworkError(f"{where} declares no dtype in its spec; declare one to step it here")
    return tuple(int(d) for d in spec.shape)


class PolicySimulator:
    """Steps ``model`` with the policy variable's slates given as actions.

    Args:
      model: a Story, Network, list of variables or story function.
      policy: the variable whose value is the slate; its spec needs an int32
        ``doc_index [num_users, slate_size]`` field, and every other field must be a
        field of the documents variable (gathered at the chosen indices).
      reward: the ``"variable/field"`` of the per-step reward, ``[num_users]``.
      observe: ``"variable"`` or ``"variable/field"`` names among the policy's inputs
        (default: all of them with fields, except the documents). A variable the first step's
        policy does not read is observed as zeros there. A field whose leading axis
        is the user axis (``num_users`` long) is per user; the documents' fields and
        any other field are shared by all users.
      documents: the policy's input holding the documents (found from the slate's
        fields when omitted).
      runtime: ``"jax"`` (compiled) or ``"numpy"``.
    """

    def __init__(
        self,
        model: Any,
        *,
        policy: str = "slate",
        reward: str = "user response/reward",
        observe: Sequence[str] | None = None,
        documents: str | None = None,
        runtime: str = "jax",
    ) -> None:
        self.network: Network = network_from_story(model)
        if policy not in self.network:
            known = sorted(self.network.names)
            raise NetworkError(f"policy {policy!r} is not a variable of the model; it has {known}")
        self.policy: Variable = self.network[policy]
        if self.policy.value is None:
            raise NetworkError(f"policy {policy!r} is static (it has no transition), so actions cannot replace it")
        self._check_policy_spec()
        self.documents = self._find_documents(documents)
        self.num_docs = self._documents_size()
        self.reward = self._check_reward(reward)
        self.observed = self._observed_fields(observe)
        self.runtime = runtime
        self._engine = _engine(runtime)
        net = self.network
        self._split = {
            "initial_value": self._phase_split("initial_value", net.initial_order),
            "value": self._phase_split("value", net.transition_order),
        }
        self._begin = self._engine.compile(self._begin_fn)
        self._first = self._engine.compile(self._first_fn)
        self._advance = self._engine.compile(self._advance_fn)

    # -- checks at construction ---------------------------------------------------------------------------
    def _check_policy_spec(self) -> None:
        spec = self.policy.spec
        name = self.policy.name
        if "doc_index" not in spec or not hasattr(spec.get("doc_index"), "shape"):
            raise NetworkError(
                f"policy {name!r} needs a field 'doc_index' (int32 [num_users, slate_size]); its fields are "
                f"{sorted(spec.keys())}"
            )
        index = spec.get("doc_index")
        shape = _static_shape(index, f"policy {name!r}, field 'doc_index',")
        if len(shape) != 2 or index.dtype != "int32":
            raise NetworkError(
                f"policy {name!r}, field 'doc_index': expected int32 [num_users, slate_size], got {index}"
            )
        self.num_users, self.slate_size = shape

    def _input_names(self, binding: Binding | None) -> list[str]:
        return [] if binding is None else [d.name for d in binding.dependencies]

    def _find_documents(self, documents: str | None) -> str:
        inputs = self._input_names(self.policy.value)
        wanted = sorted(k for k in self.policy.spec.keys() if k != "doc_index")
        if documents is not None:
            if documents not in inputs:
                raise NetworkError(
                    f"documents {documents!r} is not an input of the policy {self.policy.name!r}; its inputs are "
                    f"{inputs}"
                )
            candidates = [documents]
        else:
            candidates = [n for n in inputs if set(wanted) <= set(self.network[n].spec.keys())]
            if not candidates:
                raise NetworkError(
                    f"no input of the policy {self.policy.name!r} ({inputs}) has all the slate's document fields "
                    f"{wanted}; name the documents variable with documents="
                )
        name = candidates[0]
        missing = sorted(set(wanted) - set(self.network[name].spec.keys()))
        if missing:
            raise NetworkError(
                f"the slate's fields {missing} are not fields of the documents variable {name!r} "
                f"({sorted(self.network[name].spec.keys())}), so an action's slate cannot be gathered"
            )
        if name not in self._input_names(self.policy.initial_value):
            raise NetworkError(f"the policy's initial value does not read the documents variable {name!r}")
        return name

    def _documents_size(self) -> int:
        spec = self.network[self.documents].spec
        sizes = {key: _static_shape(f, f"documents {self.documents!r}, field {key!r},")[:1] for key, f in spec.items()}
        if len(set(sizes.values())) != 1 or () in sizes.values():
            raise NetworkError(f"the documents variable {self.documents!r} needs one leading document axis: {sizes}")
        return int(next(iter(sizes.values()))[0])

    def _check_reward(self, reward: str) -> tuple[str, str]:
        var, sep, field = reward.partition("/")
        if not sep or var not in self.network or field not in self.network[var].spec:
            known = {n: sorted(self.network[n].spec.keys()) for n in self.network.names}
            raise NetworkError(f"reward {reward!r} is not a 'variable/field' of the model; its fields are {known}")
        spec = self.network[var].spec.get(field)
        shape = _static_shape(spec, f"reward {reward!r}")
        if shape != (self.num_users,):
            raise NetworkError(
                f"reward {reward!r} has shape {shape}; it must be one value per user ({self.num_users},)"
            )
        return var, field

    def _observed_fields(self, observe: Sequence[str] | None) -> list[ObservedField]:
        inputs = self._input_names(self.policy.value)
        if observe is None:
            observe = [n for n in inputs if n != self.documents and len(self.network[n].spec)]
        if isinstance(observe, str):
            observe = [observe]
        out: list[ObservedField] = []
        for name in observe:
            var, _, field = name.partition("/")
            if var not in inputs:
                raise NetworkError(
                    f"observed {name!r}: {var!r} is not an input of the policy {self.policy.name!r}; the policy "
                    f"sees {inputs}"
                )
            spec: ValueSpec = self.network[var].spec
            keys = sorted(k for k in spec.keys() if not field or k == field or k.startswith(field + "."))
            if not keys:
                raise NetworkError(
                    f"observed {name!r}: variable {var!r} has no field {field!r}; its fields are {sorted(spec)}"
                )
            for key in keys:
                full = f"{var}/{key}"
                shape = _static_shape(spec.get(key), f"observed field {full!r}")
                shared = var == self.documents or not shape or shape[0] != self.num_users
                out.append(ObservedField(full, var, key, shape if shared else shape[1:], spec.get(key).dtype, shared))
        return out

    def _phase_split(self, phase: str, order: Sequence[Variable]) -> tuple[list[Variable], list[Variable]]:
        before = _ancestors(self.network.intra_slice_edges(phase), self.policy.name)
        first = [v for v in order if v.name in before]
        rest = [v for v in order if v.name not in before]
        return first, rest

    # -- evaluation ---------------------------------------------------------------------------------------
    def _evaluate(
        self,
        variables: Sequence[Variable],
        phase: str,
        current: StepValue,
        previous: StepValue | None,
        action: Any = None,
    ) -> StepValue:
        out = dict(current)
        for var in variables:
            binding = var.initial_value if phase == "initial_value" else var.value
            if var is self.policy:
                out[var.name] = self._serve(action, out, previous, binding)
                continue
            if binding is None:
                assert previous is not None
                out[var.name] = previous[var.name]
                continue
            args = [previous[d.name] if isinstance(d, Previous) else out[d.name] for d in binding.dependencies]
            out[var.name] = evaluate(self.network, var, binding, args)
        return out

    def _input(self, binding: Binding, name: str, current: StepValue, previous: StepValue | None) -> Value | None:
        for dep in binding.dependencies:
            if dep.name == name:
                if isinstance(dep, Previous):
                    return None if previous is None else previous[name]
                return current[name]
        return None

    def _serve(self, action: Any, current: StepValue, previous: StepValue | None, binding: Binding) -> Value:
        B = self._engine.backend
        docs = self._input(binding, self.documents, current, previous)
        assert docs is not None
        index = B.cast(action, "int32")
        keys = [k for k in self.policy.spec.keys() if k != "doc_index"]
        fields = {k: B.np.take(B.asarray(docs.get(k)), index, axis=0) for k in keys}
        out = Value(fields).union(Value(doc_index=index))
        self.policy.spec.check(out, where=f"the slate served from an action (policy {self.policy.name!r})")
        return out

    def _observation(self, phase: str, current: StepValue, previous: StepValue | None) -> dict[str, Any]:
        B = self._engine.backend
        binding = self.policy.initial_value if phase == "initial_value" else self.policy.value
        assert binding is not None
        obs = {}
        for f in self.observed:
            value = self._input(binding, f.variable, current, previous)
            if value is None:
                shape = f.shape if f.shared else (self.num_users, *f.shape)
                obs[f.name] = B.np.zeros(shape, dtype=f.dtype)
            else:
                obs[f.name] = B.asarray(value.get(f.field))
        return obs

    def _reward(self, step: StepValue) -> Any:
        var, field = self.reward
        return step[var].get(field)

    def _prepare(self, key: Any, t: Any, previous: StepValue | None) -> tuple[StepValue, dict[str, Any]]:
        """Part 1 of step ``t``: the policy's ancestors and the observation."""
        B = self._engine.backend
        phase = "initial_value" if previous is None else "value"
        with using_backend(B), seed_handler(B.fold_in(key, t), B):
            partial = self._evaluate(self._split[phase][0], phase, {}, previous)
            obs = self._observation(phase, partial, previous)
        return partial, obs

    def _finish(self, key: Any, t: Any, previous: StepValue | None, partial: StepValue, action: Any) -> StepValue:
        """Part 2 of step ``t``: the slate from ``action``, then every other variable."""
        B = self._engine.backend
        phase = "initial_value" if previous is None else "value"
        with using_backend(B), seed_handler(B.fold_in(key, t), B):
            return self._evaluate(self._split[phase][1], phase, partial, previous, action)

    def _begin_fn(self, key: Any) -> tuple[StepValue, dict[str, Any]]:
        partial, obs = self._prepare(key, 0, None)
        return self._engine.carry(partial), obs

    def _first_fn(self, key: Any, partial: StepValue, action: Any) -> tuple[Any, ...]:
        full = self._finish(key, 0, None, partial, action)
        nxt, obs = self._prepare(key, 1, full)
        return self._engine.carry(full), self._engine.carry(nxt), obs, self._reward(full)

    def _advance_fn(self, key: Any, t: Any, previous: StepValue, partial: StepValue, action: Any) -> tuple[Any, ...]:
        full = self._finish(key, t, previous, partial, action)
        nxt, obs = self._prepare(key, t + 1, full)
        return self._engine.carry(full), self._engine.carry(nxt), obs, self._reward(full)

    # -- the public stepping API ----------------------------------------------------------------------------
    def key(self, seed: int, episode: int = 0) -> Any:
        """The key of an episode: ``make_seed(seed)`` for episode 0 (as ``runtime.trajectory(seed=seed)``),
        ``fold_in(make_seed(seed), episode)`` for later ones."""
        B = self._engine.backend
        key = B.make_seed(int(seed))
        return key if episode == 0 else B.fold_in(key, int(episode))

    def reset(self, key: Any) -> SimulatorState:
        """Start an episode under ``key``: the state before the first action, and its observation."""
        partial, obs = self._begin(key)
        return SimulatorState(key, 0, None, partial, obs)

    def step(self, state: SimulatorState, action: Any) -> tuple[SimulatorState, Any]:
        """Apply ``action`` (``[num_users, slate_size]`` document indices) at ``state``'s step.

        Returns the state of the next step (with its observation) and the reward
        ``[num_users]`` of this step; ``state.values`` of the result holds this step's
        full network value.
        """
        action = self._engine.action(action)
        if state.previous is None:
            full, nxt, obs, reward = self._first(state.key, state.partial, action)
        else:
            t = self._engine.step_index(state.t)
            full, nxt, obs, reward = self._advance(state.key, t, state.previous, state.partial, action)
        return SimulatorState(state.key, state.t + 1, full, nxt, obs), reward

    def to_numpy(self, tree: Any) -> Any:
        """Arrays of the simulator's backend (in dicts) as NumPy arrays."""
        if isinstance(tree, Mapping):
            return {k: self.to_numpy(v) for k, v in tree.items()}
        return np.asarray(tree)


@dataclass(frozen=True)
class SimulatorState:
    """Where an episode stands: its key, the step ``t`` about to be taken, the previous
    step's full value, this step's first part and its observation."""

    key: Any
    t: int
    previous: StepValue | None
    partial: StepValue
    observation: dict[str, Any]

    @property
    def values(self) -> StepValue | None:
        """The full network value of the last completed step (``None`` before the first action)."""
        return self.previous


class _Engine:
    """How a runtime's backend evaluates the step functions (eagerly, or compiled)."""

    def __init__(self, runtime: str) -> None:
        self.backend = get_plugins().get_backend(runtime)

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    def carry(self, value: StepValue) -> StepValue:
        return value

    def action(self, action: Any) -> Any:
        return np.asarray(action, dtype=np.int32)

    def step_index(self, t: int) -> Any:
        return int(t)


class _JaxEngine(_Engine):
    def __init__(self) -> None:
        super().__init__("jax")
        import jax
        import jax.numpy as jnp

        from recosim.jax.backend import strong

        self._jax, self._jnp, self._strong = jax, jnp, strong

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self._jax.jit(fn)

    def carry(self, value: StepValue) -> StepValue:
        strong = self._strong
        return {n: Value({k: strong(x) for k, x in Value(v).items()}) for n, v in value.items()}

    def action(self, action: Any) -> Any:
        return self._jnp.asarray(action, dtype=self._jnp.int32)

    def step_index(self, t: int) -> Any:
        return self._jnp.asarray(t, dtype=self._jnp.int32)


def _engine(runtime: str) -> _Engine:
    if runtime == "jax":
        get_plugins().get_runtime("jax")  # registers Value as a pytree, or says why JAX is unavailable
        return _JaxEngine()
    if runtime == "numpy":
        return _Engine("numpy")
    raise ValueError(f"runtime must be one of {list(RUNTIMES)}, got {runtime!r}")
