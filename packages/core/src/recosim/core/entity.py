"""`Entity`: the parameters and behaviours of a whole population of agents.

An entity is a plain Python object whose methods are behaviours (functions from
Values to a Value). Entities own child entities simply by holding them as
attributes, which is how library blocks compose into user or recommender models.

>>> class Counter(Entity):
...     def initial_state(self):
...         return Value(n=0)
>>> class Model(Entity):
...     def __init__(self):
...         super().__init__(name="model")
...         self.counter = Counter(name="counter")
>>> [e.name for e in Model().walk()]
['model', 'counter']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from recosim.core.value import Value

__all__ = ["Entity", "EntityMap"]


class Entity:
    """Base class for agents, populations and behaviour blocks.

    ``name`` identifies the entity in error messages and in the names of trainable
    parameters a runtime discovers on it.
    """

    def __init__(self, name: str | None = None) -> None:
        self._name = name or type(self).__name__

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r})"

    def children(self) -> list[Entity]:
        """Entities held directly as attributes (also inside lists, tuples and dicts)."""
        found: list[Entity] = []
        for attr in vars(self).values():
            for leaf in _leaves(attr):
                if isinstance(leaf, Entity) and leaf is not self and all(leaf is not f for f in found):
                    found.append(leaf)
        return found

    def walk(self) -> Iterator[Entity]:
        """This entity and every descendant, depth first, each once."""
        seen: set[int] = set()
        todo = [self]
        while todo:
            ent = todo.pop(0)
            if id(ent) in seen:
                continue
            seen.add(id(ent))
            yield ent
            todo[0:0] = ent.children()

    def find(self, predicate: Callable[[Any], bool]) -> list[tuple[str, Any]]:
        """Attributes of this entity and its descendants for which ``predicate`` holds.

        Returns ``(path, object)`` pairs such as ``("user/_interest_model/scale", obj)``;
        runtimes use it to discover trainable parameters.
        """
        found: list[tuple[str, Any]] = []
        seen: set[int] = set()
        for ent in self.walk():
            for key, attr in vars(ent).items():
                for leaf in _leaves(attr):
                    if not isinstance(leaf, Entity) and id(leaf) not in seen and _safe(predicate, leaf):
                        seen.add(id(leaf))
                        found.append((f"{ent.name}/{key}", leaf))
        return found


class EntityMap(Mapping[str, Entity]):
    """Every entity of a model by name: the given entities and all their descendants, each once.

    Names are the entities' own; when two entities share a name, the later ones
    are keyed ``"name#2"``, ``"name#3"``, ... in the order of a depth-first walk.
    :meth:`find` gathers attributes (trainable parameters, say) entity by entity.

    >>> class Counter(Entity):
    ...     pass
    >>> class Model(Entity):
    ...     def __init__(self):
    ...         super().__init__(name="model")
    ...         self.a, self.b = Counter(name="counter"), Counter(name="counter")
    >>> list(EntityMap([Model()]))
    ['model', 'counter', 'counter#2']
    """

    def __init__(self, entities: Iterable[Entity] | Entity) -> None:
        roots = [entities] if isinstance(entities, Entity) else list(entities)
        found: dict[str, Entity] = {}
        seen: set[int] = set()
        for root in roots:
            if not isinstance(root, Entity):
                raise TypeError(f"EntityMap takes Entities, got {type(root).__name__} ({root!r})")
            for ent in root.walk():
                if id(ent) in seen:
                    continue
                seen.add(id(ent))
                key, n = ent.name, 1
                while key in found:
                    n += 1
                    key = f"{ent.name}#{n}"
                found[key] = ent
        self._entities = found

    @classmethod
    def of_story(cls, story: Any) -> EntityMap:
        """The entities a story holds as attributes (see ``Story.entities``), with their descendants."""
        entities = getattr(story, "entities", None)
        if not callable(entities):
            raise TypeError(f"EntityMap.of_story takes a Story, got {type(story).__name__}")
        return cls(entities())

    def __getitem__(self, name: str) -> Entity:
        try:
            return self._entities[name]
        except KeyError:
            raise KeyError(f"no entity {name!r}; the entities are {list(self._entities)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entities)

    def __len__(self) -> int:
        return len(self._entities)

    def __repr__(self) -> str:
        return f"EntityMap({list(self._entities)})"

    def find(self, predicate: Callable[[Any], bool]) -> dict[str, list[tuple[str, Any]]]:
        """Entity name -> ``(attribute, object)`` pairs of that entity's own attributes where ``predicate`` holds.

        Entities with none are left out; an object held by several entities is
        listed under the first.
        """
        out: dict[str, list[tuple[str, Any]]] = {}
        seen: set[int] = set()
        for key, ent in self._entities.items():
            hits = []
            for attr, held in vars(ent).items():
                for leaf in _leaves(held):
                    if not isinstance(leaf, Entity) and id(leaf) not in seen and _safe(predicate, leaf):
                        seen.add(id(leaf))
                        hits.append((attr, leaf))
            if hits:
                out[key] = hits
        return out


def _leaves(obj: Any, depth: int = 0) -> Iterator[Any]:
    if depth > 4:
        return
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _leaves(item, depth + 1)
    elif isinstance(obj, Mapping) and not isinstance(obj, Value):
        for item in obj.values():
            yield from _leaves(item, depth + 1)
    else:
        yield obj


def _safe(predicate: Callable[[Any], bool], obj: Any) -> bool:
    try:
        return bool(predicate(obj))
    except Exception:
        return False
