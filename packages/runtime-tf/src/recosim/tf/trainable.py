"""Trainable entities: find the ``tf.Variable`` s a story creates or its entities hold.

>>> import tensorflow as tf
>>> from recosim.core import Entity, FieldSpec, Value, ValueSpec, Variable, value
>>> class Drift(Entity):
...     def __init__(self):
...         super().__init__(name="drift")
...         self.rate = tf.Variable(0.5, name="rate")
...     def initial(self):
...         return Value(x=self.rate * 1.0)
>>> def story():
...     d = Drift()
...     x = Variable("x", ValueSpec(x=FieldSpec()))
...     x.initial_value = value(d.initial)
...     return [x]
>>> variables, trainables = story_with_trainable_variables(story)
>>> [v.name for v in trainables]
['rate:0']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import tensorflow as tf

from recosim.core.entity import Entity
from recosim.core.errors import RecosimError
from recosim.core.network import Network
from recosim.core.story import Story
from recosim.core.variable import Variable

__all__ = ["story_with_trainable_variables", "trainable_variables_of", "entities_of"]


def _is_keras_layer(x: Any) -> bool:
    return any(c.__module__.startswith("keras") and c.__name__ == "Layer" for c in type(x).__mro__)


def _tf_variable(x: Any) -> tf.Variable | None:
    """The ``tf.Variable`` behind ``x`` (itself, or a Keras 3 variable's value), else None."""
    if isinstance(x, tf.Variable):
        return x
    inner = getattr(x, "value", None) if type(x).__module__.startswith("keras") else None
    return inner if isinstance(inner, tf.Variable) else None


def _of_object(path: str, obj: Any) -> list[tuple[str, tf.Variable]]:
    var = _tf_variable(obj)
    if var is not None:
        return [(path, var)]
    if _is_keras_layer(obj):
        if not getattr(obj, "built", True):
            raise RecosimError(
                f"the Keras layer at {path!r} ({type(obj).__name__}) has no weights yet; build it in the story "
                "(layer.build(input_shape)) so its weights exist before the simulation is compiled"
            )
        found = []
        for i, w in enumerate(obj.trainable_weights):
            inner = _tf_variable(w)
            if inner is not None:
                found.append((f"{path}/{getattr(w, 'path', None) or i}", inner))
        return found
    if isinstance(obj, tf.Module):
        return [(f"{path}/{v.name}", v) for v in obj.trainable_variables]
    return []


def _tracked(x: Any) -> bool:
    return _tf_variable(x) is not None or _is_keras_layer(x) or isinstance(x, tf.Module)


def trainable_variables_of(*entities: Entity) -> dict[str, tf.Variable]:
    """The trainable ``tf.Variable`` s held by ``entities`` and their descendants, by path.

    Finds plain ``tf.Variable`` attributes, ``tf.Module`` s and built Keras 3
    layers (their ``trainable_weights``). Paths read ``"entity/attribute"``. An
    unbuilt Keras layer is an error naming its path.
    """
    out: dict[str, tf.Variable] = {}
    seen: set[int] = set()
    for entity in entities:
        for path, obj in entity.find(_tracked):
            for name, var in _of_object(path, obj):
                if var.trainable and id(var) not in seen:
                    seen.add(id(var))
                    out[name] = var
    return out


def entities_of(variables: Iterable[Variable]) -> list[Entity]:
    """Entities whose bound methods are the behaviours of ``variables``, in binding order."""
    found: list[Entity] = []
    for var in variables:
        for binding in (var.initial_value if var.has_initial_value else None, var.value):
            owner = getattr(getattr(binding, "fn", None), "__self__", None)
            if isinstance(owner, Entity) and all(owner is not e for e in found):
                found.append(owner)
    return found


def story_with_trainable_variables(
    story: Callable[[], Sequence[Variable]] | Story,
) -> tuple[list[Variable], list[tf.Variable]]:
    """Run ``story`` and return ``(variables, trainable_variables)``.

    ``trainable_variables`` holds every trainable ``tf.Variable`` created while the
    story ran (including Keras 3 layer weights built there) and every one held by
    the entities whose methods the variables are bound to (and by a `Story`
    object's entities), each once, in discovery order.
    """
    created: list[tf.Variable] = []

    def record(next_creator: Callable[..., Any], **kwargs: Any) -> Any:
        var = next_creator(**kwargs)
        created.append(var)
        return var

    with tf.variable_creator_scope(record):
        result = story()
    variables = list(result.variables) if isinstance(result, Network) else list(result)
    entities = entities_of(variables)
    if isinstance(story, Story):
        entities += [e for e in story.entities() if all(e is not f for f in entities)]
    found: list[tf.Variable] = []
    seen: set[int] = set()
    for var in [*created, *trainable_variables_of(*entities).values()]:
        inner = _tf_variable(var)
        if inner is not None and inner.trainable and id(inner) not in seen:
            seen.add(id(inner))
            found.append(inner)
    return variables, found
