"""`Story`: the top-level code that creates entities and binds variables.

A story is any callable returning the model's variables. Subclass `Story` when
the story has configuration worth naming, or use a plain function.

>>> class Counting(Story):
...     def __init__(self, start: int = 0):
...         self.start = start
...     def variables(self):
...         from recosim.core.value import Value
...         from recosim.core.variable import Variable, value
...         from recosim.core.value import FieldSpec, ValueSpec
...         n = Variable("count", ValueSpec(n=FieldSpec()))
...         n.initial_value = value(lambda: Value(n=self.start))
...         n.value = value(lambda p: Value(n=p.get("n") + 1), (n.previous,))
...         return [n]
>>> Counting(start=5).network().names
('count',)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from recosim.core.entity import Entity
from recosim.core.network import Network
from recosim.core.variable import Variable

__all__ = ["Story", "network_from_story"]


class Story(ABC):
    """A parametrised family of simulations: configuration in, variables out."""

    @abstractmethod
    def variables(self) -> Sequence[Variable]:
        """Create the entities and return the fully bound variables."""

    def network(self) -> Network:
        """The `Network` of this story's variables."""
        return Network(self.variables())

    def entities(self) -> list[Entity]:
        """Entities held by the story as attributes (set them in ``__init__`` or ``variables``)."""
        return [e for e in vars(self).values() if isinstance(e, Entity)]

    def __call__(self) -> Sequence[Variable]:
        return self.variables()


def network_from_story(story: Story | Callable[[], Sequence[Variable]] | Sequence[Variable] | Network) -> Network:
    """Accept a Network, a list of Variables, a Story, or a zero-argument story function."""
    if isinstance(story, Network):
        return story
    if isinstance(story, Story):
        return story.network()
    if callable(story):
        return Network(story())
    return Network(story)
