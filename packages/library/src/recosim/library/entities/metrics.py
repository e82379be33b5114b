"""Running metrics of recommendation stories.

>>> import numpy as np
>>> from recosim.core import Value
>>> m = CumulativeRewardMetrics(num_users=2)
>>> r = Value(choice=np.array([0, 1], np.int32), reward=np.array([0.5, -1.0], np.float32))
>>> s = m.next_state(m.next_state(m.initial_state(), r, Value()), r, Value())
>>> s.get("cumulative_reward").tolist(), int(s.get("num_steps"))
([1.0, -2.0], 2)
"""

from __future__ import annotations

from recosim.core import FieldSpec, Value, ValueSpec, get_backend
from recosim.library.entities._util import positive_int
from recosim.library.entities.base import Metrics

__all__ = ["CumulativeRewardMetrics"]


class CumulativeRewardMetrics(Metrics):
    """Per-user sum of the response field ``reward_field`` (default ``reward``), and the step count."""

    block_name = "cumulative_reward"
    block_kind = "metric"

    def __init__(self, num_users: int, reward_field: str = "reward", name: str | None = None) -> None:
        super().__init__(name=name)
        self.num_users = positive_int(num_users, "num_users")
        self.reward_field = reward_field

    def specs(self) -> ValueSpec:
        return ValueSpec(
            state=ValueSpec(cumulative_reward=FieldSpec((self.num_users,), "float32"), num_steps=FieldSpec((), "int32"))
        )

    def initial_state(self) -> Value:
        B = get_backend()
        return Value(cumulative_reward=B.np.zeros((self.num_users,), dtype="float32"), num_steps=B.asarray(0, "int32"))

    def next_state(self, previous_state: Value, response: Value, slate: Value) -> Value:
        if self.reward_field not in response:
            raise KeyError(
                f"CumulativeRewardMetrics sums the response field {self.reward_field!r}; "
                f"the response has {sorted(response.keys())}"
            )
        B = get_backend()
        reward = B.cast(response.get(self.reward_field), "float32")
        return Value(
            cumulative_reward=previous_state.get("cumulative_reward") + reward,
            num_steps=previous_state.get("num_steps") + 1,
        )
