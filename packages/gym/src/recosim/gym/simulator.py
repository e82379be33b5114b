"""`PolicySimulator`: a recommendation story stepped with its slates given from outside.

A recommendation story is a dynamic Bayesian network in which one variable, the
*policy* (``"slate"`` in the library's stories), holds the slates a recommender
serves. The simulator replaces the policy's behaviour by one that serves an
**action** (document indices ``[num_users, slate_size]``, with every document
field gathered from the documents variable) and steps the story through the
runtime's own step API (``initial_step`` / ``transition``), so the draws of step
``t`` are the runtime's: a story stepped here with the slates a runtime drew,
under the runtime's key, reproduces that runtime's trajectory.

The **observation** is the value of the policy's inputs (the user observation,
the documents on offer, the recommender's state, ...) at the step about to be
served. It is computed before the action is known by a second network of the same
story in which only the policy's intra-slice ancestors move and every other
variable keeps its value; its draws are the same (same key, same names), so the
observation equals what the full step then computes.

Every function here is a pure function of keys, steps, network values and
actions (`reset_fn`, `step_fn`), so a compiling runtime can compile them; the
stateful `reset` / `step` pair wraps them for the Gymnasium classes, compiled
where the runtime offers ``compile``.

>>> from recosim.usecases import interest_evolution as ie
>>> cfg = ie.InterestEvolutionConfig(num_users=2, num_docs=5, history_length=3)
>>> sim = PolicySimulator(ie.make_model(ie.init_params(0, cfg), cfg), policy=ie.POLICY, reward=ie.REWARD,
...                       runtime="numpy")
>>> state = sim.reset(sim.key(0))
>>> state, reward = sim.step(state, [[0, 1], [2, 3]])
>>> reward.shape, state.t
((2,), 1)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.core import Value, ValueSpec, Variable, get_plugins, using_backend
from recosim.core.errors import NetworkError
from recosim.core.network import Network
from recosim.core.plugins import COMPILES
from recosim.core.settings import setting, using_settings
from recosim.core.story import network_from_story
from recosim.core.variable import Binding, Previous

__all__ = ["PolicySimulator", "ObservedField", "SimulatorState", "ACTION_SETTING", "check_slates"]

ACTION_SETTING = "recosim.gym.action"
"""The setting through which an action reaches the policy's replaced behaviour."""

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


def check_slates(actions: Any, num_docs: int) -> np.ndarray:
    """``actions`` (``[users, slate_size]``) as int32 document indices, or a one-line ValueError naming the slate.

    Indices must lie in ``[0, num_docs)`` and a slate must not repeat a document.

    >>> check_slates([[0, 3], [2, 1]], 4).dtype
    dtype('int32')
    >>> check_slates([[0, 1], [3, 3]], 4)
    Traceback (most recent call last):
    ...
    ValueError: slate 1 [3, 3] repeats document 3; a slate's documents must be distinct
    """
    arr = np.asarray(actions)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"action must hold integer document indices, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= num_docs):
        raise ValueError(f"action holds document indices outside [0, {num_docs}): min {arr.min()}, max {arr.max()}")
    arr = arr.astype(np.int32)
    if arr.ndim == 2 and arr.shape[1] > 1:
        ordered = np.sort(arr, axis=1)
        repeats = ordered[:, 1:] == ordered[:, :-1]
        if repeats.any():
            user = int(np.flatnonzero(repeats.any(axis=1))[0])
            doc = int(ordered[user, 1:][repeats[user]][0])
            raise ValueError(
                f"slate {user} {arr[user].tolist()} repeats document {doc}; a slate's documents must be distinct"
            )
    return arr


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
      runtime: the name of a registered runtime; it steps the story.
      settings: the story's settings (name -> default) for the runtime.
    """

    def __init__(
        self,
        model: Any,
        *,
        policy: str = "slate",
        reward: str = "user response/reward",
        observe: Sequence[str] | None = None,
        documents: str | None = None,
        runtime: str = "numpy",
        settings: Mapping[str, Any] | None = None,
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
        known_runtimes = get_plugins().runtime_names()
        if runtime not in known_runtimes:
            raise ValueError(f"runtime must be one of {list(known_runtimes)}, got {runtime!r}")
        self.runtime = runtime
        runtime_cls = get_plugins().get_runtime(runtime)
        declared = {**dict(settings or {}), ACTION_SETTING: np.zeros((self.num_users, self.slate_size), np.int32)}
        moving = _ancestors(self.network.intra_slice_edges("value"), self.policy.name)
        # the story with the action served in place of the policy's behaviour, and the same story in which
        # only the policy's ancestors move (the observation of the next step, before its action is known)
        self.rt = runtime_cls(Network(self._rebuilt(moving=None)), seed=0, settings=declared)
        self.observe_rt = runtime_cls(Network(self._rebuilt(moving=moving)), seed=0, settings=declared)
        self.backend = self.rt.backend
        self._declared = self.rt.backend_settings()
        compile_fn = getattr(self.rt, "compile", None)
        if COMPILES in self.rt.capabilities and callable(compile_fn):
            self._reset = compile_fn(self.reset_fn)
            self._first = compile_fn(self._first_fn)
            self._advance = compile_fn(self._advance_fn)
        else:
            self._reset = self.reset_fn
            self._first = self._first_fn
            self._advance = self._advance_fn

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
        for phase, binding in (("initial value", self.policy.initial_value), ("transition", self.policy.value)):
            if name not in self._input_names(binding):
                raise NetworkError(f"the policy's {phase} does not read the documents variable {name!r}")
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

    # -- the two networks ------------------------------------------------------------------------------------
    def _rebuilt(self, moving: set[str] | None) -> list[Variable]:
        """The story's variables afresh, the policy serving the action; with ``moving``, only the variables
        named there have a transition and every other one keeps its previous value."""
        new = {v.name: Variable(v.name, v.spec) for v in self.network.variables}

        def deps(binding: Binding) -> tuple[Any, ...]:
            return tuple(new[d.name].previous if isinstance(d, Previous) else new[d.name] for d in binding.dependencies)

        for old in self.network.variables:
            var = new[old.name]
            initial, transition = old.initial_value, old.value
            if old is self.policy:
                var.initial_value = Binding(self._server(initial), deps(initial))
            else:
                var.initial_value = Binding(initial.fn, deps(initial))
            if transition is None:
                continue
            if moving is not None and old.name not in moving:
                var.value = Binding(_keep, (var.previous,))
            elif old is self.policy:
                var.value = Binding(self._server(transition), deps(transition))
            else:
                var.value = Binding(transition.fn, deps(transition))
        return list(new.values())

    def _server(self, binding: Binding) -> Callable[..., Value]:
        """The policy's replaced behaviour: the slate of the action in force, gathered from the documents."""
        where = self._input_names(binding).index(self.documents)
        keys = [k for k in self.policy.spec.keys() if k != "doc_index"]

        def serve(*args: Any) -> Value:
            B = self.backend
            docs = args[where]
            index = B.cast(setting(ACTION_SETTING), "int32")
            fields = {k: B.np.take(B.asarray(docs.get(k)), index, axis=0) for k in keys}
            return Value(fields).union(Value(doc_index=index))

        serve.__qualname__ = f"serve_action[{self.policy.name}]"
        return serve

    # -- pure step functions -----------------------------------------------------------------------------------
    def _settings(self, action: Any) -> Any:
        values = dict(self._declared)
        values[ACTION_SETTING] = self.backend.cast(self.backend.asarray(action), "int32")
        return using_settings(values)

    def _observation(self, binding: Binding, current: StepValue, previous: StepValue | None) -> dict[str, Any]:
        B = self.backend
        found: dict[str, Value | None] = {}
        for dep in binding.dependencies:
            if isinstance(dep, Previous):
                found.setdefault(dep.name, None if previous is None else previous[dep.name])
            else:
                found[dep.name] = current[dep.name]
        obs = {}
        for f in self.observed:
            value = found.get(f.variable)
            if value is None:
                shape = f.shape if f.shared else (self.num_users, *f.shape)
                obs[f.name] = B.np.zeros(shape, dtype=f.dtype)
            else:
                obs[f.name] = B.asarray(value.get(f.field))
        return obs

    def _reward(self, step: StepValue) -> Any:
        var, field = self.reward
        return step[var].get(field)

    def initial_fn(self, key: Any, action: Any) -> StepValue:
        """Step 0 under ``key`` with ``action`` served (pure)."""
        with using_backend(self.backend), self._settings(action):
            return self.rt.initial_step(key)

    def transition_fn(self, key: Any, t: Any, previous: StepValue, action: Any) -> StepValue:
        """Step ``t >= 1`` from ``previous`` with ``action`` served (pure)."""
        with using_backend(self.backend), self._settings(action):
            return self.rt.transition(key, t, previous)

    def observe_fn(self, key: Any, t: Any, previous: StepValue) -> dict[str, Any]:
        """The observation of step ``t >= 1`` (the policy's inputs), before its action is known (pure)."""
        with using_backend(self.backend), self._settings(self._no_action()):
            ahead = self.observe_rt.transition(key, t, previous)
        binding = self.policy.value
        assert binding is not None
        return self._observation(binding, ahead, previous)

    def reset_fn(self, key: Any) -> tuple[StepValue, dict[str, Any]]:
        """Step 0 with no slate chosen yet (every slate [0, 1, ...]) and its observation (pure).

        The observation reads only the policy's inputs, which do not depend on the action.
        """
        first = self.initial_fn(key, self._no_action())
        return first, self._observation(self.policy.initial_value, first, None)

    def step_fn(self, key: Any, t: Any, previous: StepValue, action: Any, *, first: bool) -> tuple[Any, ...]:
        """Step ``t`` with ``action``: ``(its network value, the next observation, the reward)`` (pure).

        ``first``: step 0 (``previous`` is then ignored).
        """
        full = self.initial_fn(key, action) if first else self.transition_fn(key, t, previous, action)
        return full, self.observe_fn(key, t + 1, full), self._reward(full)

    def _first_fn(self, key: Any, action: Any) -> tuple[Any, ...]:
        return self.step_fn(key, 0, {}, action, first=True)

    def _advance_fn(self, key: Any, t: Any, previous: StepValue, action: Any) -> tuple[Any, ...]:
        return self.step_fn(key, t, previous, action, first=False)

    def _no_action(self) -> Any:
        row = self.backend.np.arange(self.slate_size, dtype="int32") % self.num_docs
        return self.backend.np.broadcast_to(row, (self.num_users, self.slate_size))

    # -- the stateful stepping API ------------------------------------------------------------------------------
    def key(self, seed: int, episode: int = 0) -> Any:
        """The key of an episode: ``make_seed(seed)`` for episode 0 (as ``runtime.trajectory(seed=seed)``),
        ``fold_in(make_seed(seed), episode)`` for later ones."""
        B = self.backend
        key = B.make_seed(int(seed))
        return key if episode == 0 else B.fold_in(key, int(episode))

    def reset(self, key: Any) -> SimulatorState:
        """Start an episode under ``key``: the state before the first action, and its observation."""
        _, obs = self._reset(key)
        return SimulatorState(key, 0, None, obs)

    def step(self, state: SimulatorState, action: Any) -> tuple[SimulatorState, Any]:
        """Apply ``action`` (``[num_users, slate_size]`` document indices) at ``state``'s step.

        Returns the state of the next step (with its observation) and the reward
        ``[num_users]`` of this step; ``state.values`` of the result holds this step's
        full network value. The action is checked first (indices in range, no
        document twice in a slate).
        """
        action = self.backend.asarray(check_slates(action, self.num_docs))
        if state.previous is None:
            full, obs, reward = self._first(state.key, action)
        else:
            t = self.backend.asarray(np.int32(state.t))
            full, obs, reward = self._advance(state.key, t, state.previous, action)
        return SimulatorState(state.key, state.t + 1, full, obs), reward

    def to_numpy(self, tree: Any) -> Any:
        """Arrays of the simulator's backend (in dicts) as NumPy arrays."""
        if isinstance(tree, Mapping):
            return {k: self.to_numpy(v) for k, v in tree.items()}
        return np.asarray(tree)


def _keep(previous: Value) -> Value:
    """A variable that does not move in the observation network keeps its value."""
    return previous


@dataclass(frozen=True)
class SimulatorState:
    """Where an episode stands: its key, the step ``t`` about to be taken, the previous
    step's full value (``None`` before the first action) and the observation of step ``t``."""

    key: Any
    t: int
    previous: StepValue | None
    observation: dict[str, Any]

    @property
    def values(self) -> StepValue | None:
        """The full network value of the last completed step (``None`` before the first action)."""
        return self.previous
