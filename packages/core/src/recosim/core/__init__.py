"""recosim.core: the backend-agnostic core of recosim.

Values and specs, variables, networks, entities, stories, the runtime contract with
the NumPy runtime, the random-variable primitive, settings, and the plugin system. Importing
it never imports TensorFlow or JAX.

>>> from recosim.core import Variable, Value, ValueSpec, FieldSpec, value, NumpyRuntime
>>> count = Variable(name="count", spec=ValueSpec(n=FieldSpec()))
>>> count.initial_value = value(lambda: Value(n=0))
>>> count.value = value(lambda prev: Value(n=prev.get("n") + 1), (count.previous,))
>>> int(NumpyRuntime([count], seed=0).execute(3)["count"].get("n"))
3
"""

from recosim.core.backend import Backend, backend_for, get_backend, numpy_backend, using_backend
from recosim.core.data import (
    ConstantSlice,
    DataSequence,
    SlicedValue,
    TimeSteps,
    data_variable,
    remove_data_index,
)
from recosim.core.entity import Entity, EntityMap
from recosim.core.errors import (
    DuplicateRegistrationError,
    NetworkError,
    PluginError,
    RandomVariableError,
    RecosimError,
    SpecError,
    UnknownPluginError,
)
from recosim.core.find import find_field, find_unique_field
from recosim.core.log_probability import (
    LogProbabilityFn,
    log_probability_by_variable,
    log_probability_from_value_trajectory,
    make_log_probability_fn,
)
from recosim.core.network import Network, NetworkValue
from recosim.core.plugins import get_plugins, hookimpl
from recosim.core.random import realize, rv
from recosim.core.runtime import NumpyRuntime, Runtime
from recosim.core.settings import SettingError, Settings, setting, using_settings
from recosim.core.story import Story
from recosim.core.summary import RunSummary, summarize
from recosim.core.usecase import Parameter, UseCase
from recosim.core.value import FieldSpec, Value, ValueSpec
from recosim.core.variable import Variable, value

__version__ = "0.1.0"


class ActiveNamespace:
    """A namespace of the backend active when it is used: ``tfd`` (distributions) or ``xp`` (arrays).

    Model code that imports ``tfd`` and ``xp`` once runs on every runtime: each
    attribute is looked up on the runtime's backend when the behaviour runs.

    >>> round(float(tfd.Normal(0.0, 1.0).log_prob(0.0)), 4), xp.zeros((2, 3)).shape
    (-0.9189, (2, 3))
    """

    def __init__(self, attribute: str, label: str) -> None:
        self._attribute = attribute
        self._label = label

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        B = get_backend()
        try:
            return getattr(getattr(B, self._attribute), name)
        except AttributeError:
            raise AttributeError(
                f"{self._label}.{name}: the {B.name} backend's {self._label} has no {name!r} "
                "(array functions take NumPy's names: sum, not reduce_sum)"
            ) from None

    def __repr__(self) -> str:
        return f"<{self._label}: the active backend's {'distributions' if self._label == 'tfd' else 'arrays'}>"


tfd = ActiveNamespace("tfd", "tfd")
"""TensorFlow Probability's distributions on the active backend (``tfd.Normal(...)``)."""

xp = ActiveNamespace("np", "xp")
"""The active backend's NumPy-like array functions (``xp.zeros(...)``, ``xp.sum(...)``)."""


def make_runtime(model: object, runtime: str = "numpy", **kwargs: object) -> Runtime:
    """Build the runtime registered as ``runtime`` for ``model`` (a Network, Story or variables).

    >>> from recosim.core.examples import counting_variables
    >>> int(make_runtime(counting_variables(), "numpy", seed=1).execute(2)["count"].get("n"))
    2
    """
    return get_plugins().make_runtime(runtime, model, **kwargs)


__all__ = [
    "ActiveNamespace",
    "Backend",
    "ConstantSlice",
    "DataSequence",
    "DuplicateRegistrationError",
    "Entity",
    "EntityMap",
    "FieldSpec",
    "LogProbabilityFn",
    "Network",
    "NetworkError",
    "NetworkValue",
    "NumpyRuntime",
    "Parameter",
    "PluginError",
    "RandomVariableError",
    "RecosimError",
    "RunSummary",
    "Runtime",
    "SettingError",
    "SlicedValue",
    "Settings",
    "SpecError",
    "Story",
    "TimeSteps",
    "UnknownPluginError",
    "UseCase",
    "Value",
    "ValueSpec",
    "Variable",
    "backend_for",
    "data_variable",
    "find_field",
    "find_unique_field",
    "get_backend",
    "get_plugins",
    "hookimpl",
    "log_probability_by_variable",
    "log_probability_from_value_trajectory",
    "make_log_probability_fn",
    "make_runtime",
    "numpy_backend",
    "realize",
    "remove_data_index",
    "rv",
    "setting",
    "summarize",
    "tfd",
    "using_backend",
    "using_settings",
    "value",
    "xp",
]
