"""Edward2 carries the random-variable primitive on the TF runtime.

Under :class:`edward2_random_variables` (which every `TFRuntime` step and every
log-probability computed here runs under), each draw of
:func:`recosim.core.random.rv` with a TensorFlow Probability distribution becomes
an ``edward2.RandomVariable`` created through an Edward2 *traceable* call named
after the draw (``"user response/choice"``). Edward2's tracers therefore see the
draws of a recosim model:

>>> from functools import partial
>>> from recosim.core.evaluation import initial_step
>>> from recosim.core.examples import random_walk_variables
>>> from recosim.core.network import Network
>>> ed = edward2()
>>> net = Network(random_walk_variables(2))
>>> with ed.tape() as tape:
...     step0 = run_step(partial(initial_step, net), seed=0)
>>> list(tape), tape["walk/position"].distribution.name
(['walk/position'], 'Normal')

Sampling, substitution and scoring stay with recosim's handler stack
(`recosim.core.random`), so a model has the same semantics on every runtime. An
Edward2 tracer that changes the ``value`` of a draw (``ed.condition``) changes
the value the model sees as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import ModuleType
from typing import Any, TypeVar

import tensorflow as tf
import tensorflow_probability as tfp

from recosim.core.backend import using_backend
from recosim.core.random import Handler, Site
from recosim.core.random import seed as seed_handler
from recosim.tf._edward2_compat import import_edward2
from recosim.tf.backend import enable_numpy_behavior, tf_backend

__all__ = ["edward2", "edward2_random_variables", "step_handlers", "run_step"]

T = TypeVar("T")

_ED: ModuleType | None = None
_TRACEABLE: Callable[..., Any] | None = None


def edward2() -> ModuleType:
    """The ``edward2`` module (imported once, with the SciPy compatibility fix)."""
    global _ED
    if _ED is None:
        _ED = import_edward2()
    return _ED


def _traceable() -> Callable[..., Any]:
    global _TRACEABLE
    if _TRACEABLE is None:
        ed = edward2()

        def random_variable(distribution: Any, sample_shape: Any = (), value: Any = None, name: str = "") -> Any:
            """One recosim draw as an Edward2 random variable (``name`` is the draw's full name)."""
            return ed.RandomVariable(distribution, sample_shape=sample_shape, value=value)

        _TRACEABLE = ed.traceable(random_variable)
    return _TRACEABLE


class edward2_random_variables(Handler):  # noqa: N801 - handlers read as verbs
    """Make every valued draw an ``edward2.RandomVariable`` visible to Edward2 tracers.

    Draws whose distribution is not a TensorFlow Probability distribution (a
    library's own distribution class), and substituted values that only broadcast
    against their distribution's shape, are left as they are (and still scored).
    """

    def __init__(self) -> None:
        self.random_variables: dict[str, Any] = {}

    def postprocess(self, site: Site) -> None:
        if not isinstance(site.distribution, tfp.distributions.Distribution):
            return
        value = site.value
        if not (tf.is_tensor(value) or isinstance(value, tf.Variable)):
            value = tf.convert_to_tensor(value)
        try:
            random_variable = _traceable()(
                site.distribution, sample_shape=site.sample_shape, value=value, name=site.name
            )
        except ValueError:
            # a value that only broadcasts against the distribution (allowed when scoring
            # substituted data) cannot be an Edward2 random variable; score it all the same
            return
        self.random_variables[site.name] = random_variable
        # Edward2 casts a value to the distribution's dtype; a logged value keeps its own, so
        # that an index 1.99 is scored as impossible rather than truncated to class 1
        recast = random_variable.value.dtype != value.dtype
        if random_variable.value is not value and not (site.observed and recast):
            site.value = random_variable.value


@contextmanager
def step_handlers(key: Any) -> Iterator[edward2_random_variables]:
    """The TF backend, Edward2 random variables and a seed handler keyed by ``key``."""
    B = tf_backend()
    enable_numpy_behavior()
    with ExitStack() as stack:
        stack.enter_context(using_backend(B))
        recorder = stack.enter_context(edward2_random_variables())
        stack.enter_context(seed_handler(key, B))
        yield recorder


def run_step(fn: Callable[[], T], *, seed: int | Any) -> T:
    """Call ``fn`` (e.g. ``partial(evaluation.initial_step, network)``) under :func:`step_handlers` with ``seed``."""
    B = tf_backend()
    key = B.make_seed(seed) if isinstance(seed, int) else seed
    with step_handlers(key):
        return fn()
