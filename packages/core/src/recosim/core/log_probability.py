"""Log-probabilities of value trajectories under a model.

Given a logged trajectory (every variable's value at every step), each
behaviour is re-run with its inputs taken from the data and every draw replaced
by the logged field of the same name; the log-probabilities of those draws are
summed. Deterministic fields contribute nothing.

To score a trajectory with some entries held out (latent), as an MCMC sampler
does, :func:`make_log_probability_fn` returns the log-probability as a function
of their values. A latent name is ``"variable/field"`` (one field; a dotted field
such as ``"user/interest"`` covers every ``interest.*`` field, and takes a Value)
or ``"variable"`` (the variable's whole Value): the same meaning on every
runtime, whose ``Runtime.log_probability_fn`` builds its own compiled version.

>>> from recosim.core.variable import Variable, value
>>> from recosim.core.value import Value, ValueSpec, FieldSpec
>>> from recosim.core.backend import get_backend
>>> import numpy as np
>>> B = get_backend()
>>> x = Variable("x", ValueSpec(s=FieldSpec()))
>>> x.initial_value = value(lambda: Value(s=B.tfd.Normal(0.0, 1.0)))
>>> lp = log_probability_from_value_trajectory([x], {"x": Value(s=np.array([0.0]))})
>>> round(float(lp), 4)
-0.9189
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import Any

from recosim.core.backend import Backend, backend_for, get_backend, using_backend
from recosim.core.checks import checked
from recosim.core.errors import NetworkError
from recosim.core.evaluation import evaluate
from recosim.core.network import Network
from recosim.core.random import block_unobserved, name_scope, realize, substitute, trace
from recosim.core.random import seed as seed_handler
from recosim.core.seeds import fold
from recosim.core.story import network_from_story
from recosim.core.trajectory import check_num_steps, slice_step, trajectory_length
from recosim.core.value import FieldSpec, Value, ValueSpec, shape_of
from recosim.core.variable import Binding, Previous, Variable
from recosim.core.variable import value as bind

__all__ = [
    "LogProbabilityFn",
    "make_log_probability_fn",
    "replace_fields",
    "resolve_latent",
    "log_probability_from_value_trajectory",
    "log_probability_by_variable",
    "check_variable_names",
    "log_probability_accumulator_variables",
    "step_log_probabilities",
    "observed_sites",
]


def observed_sites(step_value: Mapping[str, Value]) -> dict[str, Any]:
    """The substitution map of one step: ``"variable/field"`` -> logged value."""
    return {f"{name}/{key}": field for name, v in step_value.items() for key, field in Value(v).items()}


def step_log_probabilities(
    network: Network,
    current: Mapping[str, Value],
    previous: Mapping[str, Value] | None,
    *,
    seed: Any = None,
    backend: Backend,
    step: Any = None,
    validate: bool = False,
    only: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Per-variable log-probabilities of one logged step (``previous=None`` for step 0).

    Logged values outside their distribution's support score ``-inf``; with
    ``validate=True`` they are refused instead (a `ValidationError` naming the
    variable, field and ``step``), and distribution arguments are validated.
    ``only`` scores just the variables of those names (each given the logged
    values of its parents); the others are not evaluated.
    """
    data = observed_sites(current)
    out: dict[str, Any] = {}
    order = network.initial_order if previous is None else network.transition_order
    for var in order:
        if only is not None and var.name not in only:
            continue
        binding = var.initial_value if previous is None else var.value
        if binding is None:  # static variable: a deterministic copy
            continue
        args = [_arg(d, current, previous) for d in binding.dependencies]
        outer = (
            seed_handler(seed, backend)
            if seed is not None
            else block_unobserved("; pass seed= to sample unobserved draws, or log them as fields")
        )
        with outer, substitute(data), trace() as tr, (checked(step) if validate else nullcontext()):
            evaluate(network, var, binding, args, step=step)
        out[var.name] = tr.log_prob(observed_only=True)
    return out


def _arg(dep: Variable | Previous, current: Mapping[str, Value], previous: Mapping[str, Value] | None) -> Value:
    if isinstance(dep, Previous):
        assert previous is not None
        return Value(previous[dep.name])
    return Value(current[dep.name])


def log_probability_from_value_trajectory(
    variables: Network | Sequence[Variable],
    value_trajectory: Mapping[str, Value],
    num_steps: int | None = None,
    *,
    backend: Backend | None = None,
    seed: Any = None,
    validate: bool = False,
    only: Sequence[str] | str | None = None,
) -> Any:
    """Sum of the log-probabilities of steps ``0..num_steps`` of ``value_trajectory``.

    ``value_trajectory`` maps every variable name to a Value whose fields have a
    leading time axis (what ``runtime.trajectory`` returns). ``num_steps`` counts
    transitions (default: all that the data holds). The backend is taken from the
    data's arrays unless given, so gradients flow with TensorFlow or JAX arrays.
    Data outside its distribution's support scores ``-inf``; ``validate=True``
    refuses it instead, naming the variable, field and step (checked mode).
    ``only`` (variable names) sums just those variables' terms: the
    log-probability of their logged values given the logged values of everything
    else (for example ``only=["user response"]``: the likelihood of the responses).
    """
    per_var = log_probability_by_variable(
        variables, value_trajectory, num_steps, backend=backend, seed=seed, validate=validate, only=only
    )
    total: Any = 0.0
    for lp in per_var.values():
        total = total + lp
    return total


def check_variable_names(
    network: Network, names: Sequence[str] | str | None, what: str = "only"
) -> tuple[str, ...] | None:
    """``names`` as a tuple, each checked to name a variable of ``network`` (None stays None)."""
    if names is None:
        return None
    chosen = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in chosen if n not in network]
    if unknown or not chosen:
        raise NetworkError(
            f"{what}={list(chosen)}: {'no variable(s) ' + str(unknown) if unknown else 'no variable named'} "
            f"in the network; it has {sorted(network.names)}"
        )
    return chosen


def log_probability_by_variable(
    variables: Network | Sequence[Variable],
    value_trajectory: Mapping[str, Value],
    num_steps: int | None = None,
    *,
    backend: Backend | None = None,
    seed: Any = None,
    validate: bool = False,
    only: Sequence[str] | str | None = None,
) -> dict[str, Any]:
    """Variable name -> the log-probability of its logged values over steps ``0..num_steps``.

    The terms of :func:`log_probability_from_value_trajectory`, one per variable
    (or per variable of ``only``), in the network's order; a variable with no
    draws scores 0. Each term conditions on the logged values of its parents.

    >>> import numpy as np
    >>> from recosim.core.examples import random_walk_variables
    >>> traj = {"walk": Value(position=np.zeros((3, 1), np.float32))}
    >>> {k: round(float(v), 4) for k, v in log_probability_by_variable(random_walk_variables(1), traj).items()}
    {'walk': -2.7568}
    """
    network = network_from_story(variables)
    chosen = check_variable_names(network, only)
    steps = check_num_steps(num_steps, trajectory_length(network.names, value_trajectory))
    B = backend if backend is not None else backend_for(*[Value(v) for v in value_trajectory.values()])
    totals: dict[str, Any] = {n: 0.0 for n in network.names if chosen is None or n in chosen}
    with using_backend(B):
        previous = None
        for t in range(steps + 1):
            current = slice_step(value_trajectory, t)
            key = None if seed is None else fold(B, B.make_seed(seed) if isinstance(seed, int) else seed, t)
            per_var = step_log_probabilities(
                network, current, previous, seed=key, backend=B, step=t, validate=validate, only=chosen
            )
            for name, lp in per_var.items():
                totals[name] = totals[name] + lp
            previous = current
    return {name: (lp if not isinstance(lp, float) else B.asarray(lp, "float32")) for name, lp in totals.items()}


def resolve_latent(network: Network, name: str) -> tuple[str, str | None]:
    """Split a latent name into ``(variable, field)`` (``field`` None for a whole variable), checked.

    >>> from recosim.core.examples import random_walk_variables
    >>> resolve_latent(Network(random_walk_variables()), "walk/position")
    ('walk', 'position')
    """
    var_name, sep, field = name.partition("/")
    if var_name not in network:
        raise NetworkError(f"latent {name!r}: no variable {var_name!r} in the network; it has {sorted(network.names)}")
    if sep and (not field or field not in network[var_name].spec):
        raise NetworkError(
            f"latent {name!r}: variable {var_name!r} declares no field {field!r}; "
            f"its fields are {sorted(network[var_name].spec.keys())}"
        )
    return var_name, (field if sep else None)


def replace_fields(value_trajectory: Mapping[str, Any], replacements: Mapping[str, Any]) -> dict[str, Value]:
    """``value_trajectory`` with some entries replaced (or added).

    Keys of ``replacements`` are latent names: ``"variable/field"`` (one field; a
    dotted field such as ``"user/interest"`` replaces every ``interest.*`` field
    when given a Value) or ``"variable"`` (the variable's whole Value).

    >>> t = replace_fields({"user": Value(a=1, b=2)}, {"user/b": 5})
    >>> t["user"]["b"]
    5
    """
    out = {name: Value(v) for name, v in value_trajectory.items()}
    for name, new in replacements.items():
        var_name, _, field = name.partition("/")
        if not field:
            out[var_name] = Value(new)
            continue
        old = out.get(var_name, Value())
        prefix = field + "."
        kept = {k: f for k, f in old.items() if k != field and not k.startswith(prefix)}
        out[var_name] = Value(kept).union(Value({field: new}))
    return out


class LogProbabilityFn:
    """The log-probability of a trajectory as a function of its held-out (latent) entries.

    Call it with one value per entry of ``latent``, in order (as TFP's MCMC kernels
    call ``target_log_prob_fn(*state)``); a whole variable, or a dotted field
    covering several, takes a Value. The trajectory may omit the latent entries
    (give an empty Value for a variable whose fields are all latent) or hold
    placeholders; when it holds them, :attr:`initial_state` returns them (a
    starting point for a Markov chain).

    This implementation scores step by step on any backend (NumPy by default);
    the TF and JAX runtimes subclass it with compiled versions. Build one with
    :func:`make_log_probability_fn` or ``runtime.log_probability_fn(...)``.
    """

    def __init__(
        self,
        variables: Network | Sequence[Variable],
        value_trajectory: Mapping[str, Any],
        latent: Sequence[str] | str,
        num_steps: int | None = None,
        *,
        seed: Any = None,
        backend: Backend | None = None,
        validate: bool = False,
    ) -> None:
        self.network = network_from_story(variables)
        self.validate = bool(validate)
        self.latent: tuple[str, ...] = (latent,) if isinstance(latent, str) else tuple(latent)
        if not self.latent:
            raise ValueError("make_log_probability_fn needs at least one latent name ('variable' or 'variable/field')")
        self.slots = [resolve_latent(self.network, name) for name in self.latent]
        whole = {var for var, field in self.slots if field is None}
        missing = [n for n in self.network.names if n not in value_trajectory and n not in whole]
        if missing:
            raise NetworkError(
                f"the value trajectory lacks the variable(s) {missing}; give them (an empty Value "
                "when all their fields are latent) or name them whole in latent"
            )
        self.num_steps = num_steps
        self.seed = seed
        self.backend = backend
        self.base = {n: Value(v) for n, v in value_trajectory.items() if n in self.network}

    def trajectory_with(self, *values: Any) -> dict[str, Value]:
        """The trajectory with the latent entries set to ``values``."""
        if len(values) != len(self.latent):
            raise TypeError(
                f"this log-probability function takes {len(self.latent)} value(s), one per latent "
                f"{list(self.latent)}, got {len(values)}"
            )
        return replace_fields(self.base, dict(zip(self.latent, values)))

    def __call__(self, *values: Any) -> Any:
        traj = self.trajectory_with(*values)
        return log_probability_from_value_trajectory(
            self.network, traj, self.num_steps, backend=self.backend, seed=self.seed, validate=self.validate
        )

    def latent_values(self, value_trajectory: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
        """The latent entries' values in ``value_trajectory`` (default: the one given at construction)."""
        source = self.base if value_trajectory is None else value_trajectory
        out = []
        for name, (var_name, field) in zip(self.latent, self.slots):
            v = Value(source.get(var_name, Value()))
            if (field is None and not v) or (field is not None and field not in v):
                raise NetworkError(f"latent {name!r}: the trajectory holds no value for it")
            out.append(v if field is None else v.get(field))
        return tuple(out)

    @property
    def initial_state(self) -> list[Any]:
        """The latent entries' values in the trajectory given at construction (a chain's starting point)."""
        return list(self.latent_values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(latent={list(self.latent)}, variables={list(self.network.names)})"


def make_log_probability_fn(
    variables: Network | Sequence[Variable],
    value_trajectory: Mapping[str, Any],
    latent: Sequence[str] | str,
    num_steps: int | None = None,
    *,
    seed: Any = None,
    backend: Backend | None = None,
    validate: bool = False,
) -> LogProbabilityFn:
    """The log-probability of ``value_trajectory`` as a function of its ``latent`` entries' values.

    >>> import numpy as np
    >>> from recosim.core.examples import random_walk_variables
    >>> fn = make_log_probability_fn(random_walk_variables(1), {"walk": Value()}, latent=["walk/position"])
    >>> round(float(fn(np.zeros((2, 1), np.float32))), 4)  # two steps at 0: 2 log N(0; 0, 1)
    -1.8379
    """
    return LogProbabilityFn(
        variables, value_trajectory, latent, num_steps, seed=seed, backend=backend, validate=validate
    )


def log_probability_accumulator_variables(
    variables: Sequence[Variable],
    *,
    suffix: str = " log prob",
    cumulative: bool = True,
    names: Sequence[str] | str | None = None,
) -> list[Variable]:
    """For each stochastic variable X, a variable ``"X log prob"`` holding the log-probability
    of X's draws at each step (``cumulative=True``: summed over steps so far).

    ``names`` keeps only the variables of those names (an error names any that
    ``variables`` lacks): the log-probabilities of a network's direct output,
    chosen by name, to add to the network next to it.

    The accumulator re-evaluates X's behaviour on the same inputs with X's sampled
    fields substituted, so its value is differentiable with respect to the
    parameters of X's behaviour on the TF and JAX runtimes. The field ``log_prob``
    keeps X's batch shape when all of X's draws share it, and is a scalar otherwise.

    >>> from recosim.core.examples import random_walk_variables
    >>> from recosim.core.runtime import NumpyRuntime
    >>> walk = random_walk_variables(2)
    >>> traj = NumpyRuntime(walk + log_probability_accumulator_variables(walk), seed=0).trajectory(3)
    >>> traj["walk log prob"].get("log_prob").shape
    (3, 2)
    """
    if names is not None:
        chosen = (names,) if isinstance(names, str) else tuple(names)
        by_name = {v.name: v for v in variables}
        unknown = [n for n in chosen if n not in by_name]
        if unknown or not chosen:
            raise NetworkError(f"names={list(chosen)}: no variable(s) {unknown} among {sorted(by_name)}")
        variables = [by_name[n] for n in chosen]
    out = []
    for var in variables:
        acc = Variable(var.name + suffix, ValueSpec(log_prob=FieldSpec()))

        def scorer(phase: str, binding: Binding, var: Variable = var) -> Any:
            def score(observed: Value, *args: Value) -> Value:
                n = len(binding.dependencies)
                data = {f"{var.name}/{k}": f for k, f in Value(observed).items()}
                B = get_backend()
                with (
                    block_unobserved(" (log-probability accumulators score only a variable's own fields)"),
                    substitute(data),
                    trace() as tr,
                ):
                    # a private network evaluation: no spec check, names as in the model
                    with name_scope(var.name, absolute=True):
                        realize(var.invoke(binding, list(args[:n])))
                lp = _site_log_prob(tr, B)
                if phase == "value" and cumulative:
                    lp = lp + args[n].get("log_prob")
                return Value(log_prob=lp)

            return score

        acc.initial_value = bind(scorer("initial_value", var.initial_value), (var, *var.initial_value.dependencies))
        if var.value is not None:
            deps: tuple[Any, ...] = (var, *var.value.dependencies)
            acc.value = bind(scorer("value", var.value), (*deps, acc.previous) if cumulative else deps)
        out.append(acc)
    return out


def _site_log_prob(tr: trace, B: Backend) -> Any:
    lps = [site.log_prob for site in tr.sites.values()]
    if not lps:
        return B.np.zeros((), dtype="float32")
    shapes = {shape_of(lp) for lp in lps}
    if len(shapes) == 1:
        total = lps[0]
        for lp in lps[1:]:
            total = total + lp
        return total
    total = B.np.sum(lps[0])
    for lp in lps[1:]:
        total = total + B.np.sum(lp)
    return total
