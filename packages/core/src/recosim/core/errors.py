"""Exceptions raised by recosim.

Every error names the thing at fault (variable, field, plugin, random variable) so
that a model author can find it without reading a framework traceback.
"""

from __future__ import annotations

__all__ = [
    "RecosimError",
    "ValueStructureError",
    "SpecError",
    "NetworkError",
    "PluginError",
    "DuplicateRegistrationError",
    "UnknownPluginError",
    "RandomVariableError",
    "BehaviourError",
    "ValidationError",
    "UsageError",
    "Interrupted",
    "TRACED_VALUE_ERRORS",
    "traced_value_advice",
]


class RecosimError(Exception):
    """Base class of every error raised by recosim."""


class ValueStructureError(RecosimError, ValueError):
    """A `Value` operation was given bad keys (overlap in a union, a missing key)."""


class SpecError(RecosimError, ValueError):
    """A value does not match its `FieldSpec`/`ValueSpec` (shape, dtype, missing or extra fields)."""


class NetworkError(RecosimError, ValueError):
    """A network of variables is malformed: duplicates, dangling dependencies, cycles, unbound variables."""


class PluginError(RecosimError):
    """A plugin could not be loaded, or a lookup in the plugin registries failed."""


class DuplicateRegistrationError(PluginError):
    """Two plugins registered the same name in the same family."""


class UnknownPluginError(PluginError, KeyError):
    """A name was looked up that no installed plugin registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class RandomVariableError(RecosimError):
    """A random variable could not be sampled or scored (no seed, unobserved in a log-probability)."""


class BehaviourError(RecosimError):
    """A variable's behaviour raised; the message names the variable (and step where known).

    The behaviour's own exception is chained as ``__cause__`` and kept as
    :attr:`original` (TensorFlow's traceback filtering drops the chain of errors
    raised while it traces a function). Built with
    :meth:`wrapping`, the error is also an instance of the original exception's
    class, so ``except ValueError`` around a run still catches a behaviour's
    ``ValueError``.
    """

    def __str__(self) -> str:  # a KeyError base would quote the message
        return str(self.args[0]) if self.args else ""

    @classmethod
    def wrapping(cls, err: Exception, message: str) -> BehaviourError:
        """A `BehaviourError` that is also of ``type(err)`` where that class allows it (chain it yourself).

        Where the original's class cannot be built from a message (a constructor that
        takes a traced array, or other arguments, or raises), the plain class is used,
        so any exception can be wrapped. When ``err`` says that a traced
        value was used as a concrete Python value (a compiled runtime's tracer in an
        ``if``, ``int()`` or ``len()``), the message says what to write instead.
        """
        kind = _BEHAVIOUR_ERRORS.get(type(err))
        if kind is None:
            try:
                kind = type(f"BehaviourError[{type(err).__name__}]", (cls, type(err)), {"__module__": __name__})
                kind(message)
            except Exception:  # incompatible layouts or constructors: the plain class
                kind = cls
            _BEHAVIOUR_ERRORS[type(err)] = kind
        advice = traced_value_advice(err)
        if advice:  # on the first line, before the framework's own explanation
            first, newline, rest = message.partition("\n")
            message = f"{first.rstrip()} -- {advice}{newline}{rest}"
        wrapped = kind(message)
        wrapped.original = err
        return wrapped

    original: BaseException | None = None
    """The exception the behaviour raised."""


_BEHAVIOUR_ERRORS: dict[type, type[BehaviourError]] = {}


TRACED_VALUE_ERRORS = frozenset({
    "ConcretizationTypeError", "TracerBoolConversionError", "TracerIntegerConversionError",
    "TracerArrayConversionError", "NonConcreteBooleanIndexError", "OperatorNotAllowedInGraphError",
})  # fmt: skip
"""Class names of the frameworks' errors for a traced value used as a Python value (JAX, TensorFlow)."""


def traced_value_advice(err: BaseException) -> str:
    """What to write instead, when ``err`` says a compiled runtime's traced value was used as a Python value.

    >>> class TracerBoolConversionError(TypeError): ...
    >>> traced_value_advice(TracerBoolConversionError("x"))[:40]
    'the runtime compiles the step, so its ar'
    >>> traced_value_advice(ValueError("x"))
    ''
    """
    if not any(k.__name__ in TRACED_VALUE_ERRORS for k in type(err).__mro__):
        return ""
    return (
        "the runtime compiles the step, so its arrays have no Python value while it is traced: instead of "
        "`if`, `while`, `bool()`, `int()` or `len()` on one, choose elementwise with "
        "B.np.where(condition, a, b), pass what decides the branch as a setting, or use a static Python "
        "value fixed when the model is built"
    )


class ValidationError(RecosimError, ValueError):
    """A checked run (``validate=True``) found a bad number: invalid distribution arguments,
    a non-finite value, or logged data outside its distribution's support.

    ``variable``, ``field`` and ``step`` say where (``None`` where unknown).
    """

    def __init__(self, message: str, *, variable: str | None = None, field: str | None = None,
                 step: int | None = None) -> None:
        super().__init__(message)
        self.variable = variable
        self.field = field
        self.step = step
class UsageError(RecosimError, ValueError):
    """An option or input file given to a command or use case is invalid.

    Raised before any work starts; the ``recosim`` command prints it as one
    ``recosim: error: ...`` line and exits with status 2.
    """


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a job whose finished work is saved in ``out``; running it again resumes.

    ``done`` of ``total`` (in ``unit``, such as ``"runs"``) were finished, when known.
    The ``recosim`` command prints one line saying how to resume and exits with 130.
    """

    def __init__(self, out: object, done: int | None = None, total: int | None = None, unit: str = "") -> None:
        progress = f" with {done} of {total}{' ' + unit if unit else ''} finished" if done is not None else ""
        super().__init__(f"interrupted{progress}; results so far in {out}")
        self.out, self.done, self.total, self.unit = out, done, total, unit
