"""The options every inference method shares, as frozen dataclasses.

* `SamplerOptions`: HMC or NUTS, chains, warm-up and draws, step size and trajectory length;
* `OptimizerOptions`: the optimiser, its learning rate and parameter bounds;
* `RunOptions`: checkpoints, resume, progress bar and a callback per chunk;
* `RolloutOptions`: the rollouts of a policy-gradient update (groups, population, discount).

Each method takes them whole (``sampler=SamplerOptions(num_chains=2)``) or field by
field as keywords (``num_chains=2``), which override the method's defaults (and a
dataclass passed whole). A field is checked when the dataclass is made, so a bad
value is refused before any work, with an error naming the field.

>>> SamplerOptions(method="hmc", num_chains=2).num_leapfrog_steps
10
>>> resolve("fit_vi", {"run": RunOptions()}, {"quiet": True})["run"].quiet
True
>>> SamplerOptions(num_chains=0)
Traceback (most recent call last):
...
recosim.inference.problem.InferenceError: num_chains must be an integer >= 1, got 0
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.inference.problem import InferenceError

__all__ = ["SamplerOptions", "OptimizerOptions", "RunOptions", "RolloutOptions", "resolve", "SAMPLERS"]

SAMPLERS = ("hmc", "nuts")


def count(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an ``int >= minimum``, or an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InferenceError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def positive(name: str, value: Any) -> float:
    """``value`` as a finite ``float > 0``, or an error naming ``name``."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InferenceError(f"{name} must be a positive number, got {value!r}") from None
    if not np.isfinite(out) or out <= 0:
        raise InferenceError(f"{name} must be a positive number, got {value!r}")
    return out


@dataclass(frozen=True)
class SamplerOptions:
    """HMC or NUTS over the latents, vectorised over ``num_chains`` chains.

    ``num_warmup`` steps adapt the step size (on JAX also a diagonal mass matrix),
    then ``num_samples`` draws per chain are kept. HMC takes a jittered number of
    leapfrog steps (mean ``num_leapfrog_steps``); NUTS doubles its trajectory at
    most ``max_tree_depth`` times. Chains start at the initial values plus
    ``N(0, init_spread)`` noise.
    """

    method: str = "nuts"
    num_chains: int = 4
    num_warmup: int = 500
    num_samples: int = 1000
    step_size: float = 0.1
    num_leapfrog_steps: int = 10
    target_accept: float = 0.8
    max_tree_depth: int = 10
    init_spread: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in SAMPLERS:
            raise InferenceError(f"unknown sampling method {self.method!r}; choose one of {list(SAMPLERS)}")
        _set(self, "num_chains", count("num_chains", self.num_chains))
        _set(self, "num_warmup", count("num_warmup", self.num_warmup, 0))
        _set(self, "num_samples", count("num_samples", self.num_samples))
        _set(self, "step_size", positive("step_size", self.step_size))
        _set(self, "num_leapfrog_steps", count("num_leapfrog_steps", self.num_leapfrog_steps))
        try:
            target = float(self.target_accept)
        except (TypeError, ValueError):
            target = float("nan")
        if not 0.0 < target < 1.0:
            raise InferenceError(f"target_accept must be in (0, 1), got {self.target_accept!r}")
        _set(self, "target_accept", target)
        _set(self, "max_tree_depth", count("max_tree_depth", self.max_tree_depth))
        try:
            spread = float(self.init_spread)
        except (TypeError, ValueError):
            spread = float("nan")
        if not np.isfinite(spread) or spread < 0:
            raise InferenceError(f"init_spread must be a non-negative number, got {self.init_spread!r}")
        _set(self, "init_spread", spread)


@dataclass(frozen=True)
class OptimizerOptions:
    """Gradient steps on parameters: ``optimizer`` is ``"adam"``, ``"sgd"`` or the runtime's own optimiser.

    The runtime's own optimiser is an optax ``GradientTransformation`` on JAX or a
    Keras optimiser on TF. ``bounds={"alpha": (0, 1)}`` clips parameters after each step.
    """

    learning_rate: float = 0.05
    optimizer: Any = None
    bounds: Mapping[str, tuple[float, float]] | None = None

    def __post_init__(self) -> None:
        _set(self, "learning_rate", positive("learning_rate", self.learning_rate))
        if isinstance(self.optimizer, str) and self.optimizer not in ("adam", "sgd"):
            raise InferenceError(f"optimizer must be 'adam', 'sgd' or the runtime's optimiser, got {self.optimizer!r}")

    @property
    def optimizer_name(self) -> str | None:
        """``"adam"``, ``"sgd"``, ``None`` or the optimiser object's class name (for checkpoints)."""
        opt = self.optimizer
        return opt if isinstance(opt, str) or opt is None else type(opt).__name__


@dataclass(frozen=True)
class RunOptions:
    """How a long run is driven: checkpoints every ``checkpoint_every`` units, resume, progress, callback.

    ``callback(done, records)`` runs after every chunk with the units done so far
    and the chunk's records.
    """

    checkpoint: str | os.PathLike[str] | None = None
    checkpoint_every: int = 100
    resume: bool = False
    quiet: bool = False
    callback: Callable[[int, dict[str, np.ndarray]], Any] | None = None

    def __post_init__(self) -> None:
        _set(self, "checkpoint_every", count("checkpoint_every", self.checkpoint_every))
        if self.resume and self.checkpoint is None:
            raise InferenceError("resume=True needs checkpoint= (the directory the earlier run wrote)")
        if self.callback is not None and not callable(self.callback):
            raise InferenceError(f"callback must be callable, got {type(self.callback).__name__}")


@dataclass(frozen=True)
class RolloutOptions:
    """The rollouts each policy-gradient update simulates with the current parameters.

    ``num_rollouts`` rollouts (by default one group of ``group_size``); with the
    group baseline they come in groups of ``group_size`` that share the initial
    draws of the ``population`` variables (by default every variable but the
    policy's). ``discount`` in ``(0, 1]`` weights the reward-to-go.
    ``group_size`` is checked by the methods that form groups.
    """

    group_size: int = 8
    num_rollouts: int | None = None
    population: Sequence[str] | None = None
    discount: float = 1.0

    def __post_init__(self) -> None:
        if self.num_rollouts is not None:
            _set(self, "num_rollouts", count("num_rollouts", self.num_rollouts))
        if self.population is not None:
            if isinstance(self.population, str) or not all(isinstance(n, str) for n in self.population):
                raise InferenceError(f"population must be a list of variable names, got {self.population!r}")
            _set(self, "population", tuple(self.population))
        try:
            discount = float(self.discount)
        except (TypeError, ValueError):
            discount = float("nan")
        if not 0.0 < discount <= 1.0:
            raise InferenceError(f"discount must be in (0, 1], got {self.discount!r}")
        _set(self, "discount", discount)


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


_GROUPS = {"sampler": SamplerOptions, "optim": OptimizerOptions, "run": RunOptions, "rollout": RolloutOptions}


def resolve(method: str, given: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The method's option dataclasses, with ``overrides`` (field name -> value) applied.

    ``given`` maps each group the method takes (``"sampler"``, ``"optim"``, ``"run"``, ``"rollout"``)
    to its dataclass (the caller's, or the method's defaults). A field name that no
    group of the method has is an error listing the ones it has.
    """
    out = dict(given)
    for group, value in out.items():
        cls = _GROUPS[group]
        if not isinstance(value, cls):
            raise InferenceError(f"{method}: {group}= must be a {cls.__name__}, got {type(value).__name__}")
    pending: dict[str, dict[str, Any]] = {}
    fields = {g: {f.name for f in dataclasses.fields(_GROUPS[g])} for g in out}
    for name, value in overrides.items():
        owner = next((g for g in out if name in fields[g]), None)
        if owner is None:
            known = sorted(f for g in out for f in fields[g])
            raise InferenceError(f"{method} got an unknown option {name!r}; its options are {known}")
        pending.setdefault(owner, {})[name] = value
    for group, changes in pending.items():
        out[group] = dataclasses.replace(out[group], **changes)
    return out


def as_config(*options: Any) -> dict[str, Any]:
    """The fields that decide a run's numbers, for a checkpoint's configuration."""
    config: dict[str, Any] = {}
    for o in options:
        for f in dataclasses.fields(o):
            if f.name in ("checkpoint", "checkpoint_every", "resume", "quiet", "callback"):
                continue
            config[f.name] = getattr(o, f.name)
        if isinstance(o, OptimizerOptions):
            config["optimizer"] = o.optimizer_name
            config["bounds"] = dict(o.bounds or {})
    return config
