"""Logged-slates replay: users respond to the slates a logged recommender served.

``"slate"`` replays the logged slates (`recosim.core.replay.replay_variable`); the
users are simulated (``"user state"``, ``"user response"``, as in the paper's
pattern), or their logged states are replayed too, which is what scoring logged
responses needs: with slates and states given, the only random draws left are the
responses, and the log-probability of a trajectory is theirs.

>>> import numpy as np
>>> from recosim.core import NumpyRuntime
>>> from recosim.library.entities.users import StaticInterestUser
>>> user = StaticInterestUser(num_users=2, num_topics=3, slate_size=2)
>>> slates = {"features": np.zeros((4, 2, 2, 3), np.float32)}     # [time, users, slate, topics]
>>> traj = NumpyRuntime(LoggedSlatesStory(user, slates), seed=0).trajectory(4)
>>> traj["user response"].get("choice").shape
(4, 2)
>>> lp = logged_response_log_probability(user, slates, traj["user state"], traj["user response"])
>>> round(float(lp), 4) == round(8 * float(np.log(0.5)), 4)     # equal features: each choice has p = 1/2
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from recosim.core import Story, Value, Variable, value
from recosim.core.plugins import declare_block
from recosim.core.replay import STEP_FIELD, replay_variable
from recosim.core.value import shape_of
from recosim.library.entities.base import User

__all__ = ["LoggedSlatesStory", "logged_slates_story", "logged_response_log_probability"]


def _length(logged: Mapping[str, Any], what: str) -> int:
    fields = Value(logged)
    if not len(fields):
        raise ValueError(f"{what} has no fields")
    lengths = {k: shape_of(f)[0] if shape_of(f) else None for k, f in fields.items()}
    if len(set(lengths.values())) != 1 or None in lengths.values():
        raise ValueError(f"{what}: every field needs the same leading time axis; got lengths {lengths}")
    length = next(iter(lengths.values()))
    assert length is not None
    return int(length)


def _strip_step(logged: Mapping[str, Any]) -> Value:
    return Value({k: f for k, f in Value(logged).items() if k != STEP_FIELD})


@declare_block("logged_slates_story", kind="story")
def logged_slates_story(
    user: User, logged_slates: Mapping[str, Any], user_states: Mapping[str, Any] | None = None
) -> list[Variable]:
    """Variables ``"slate"`` (replayed), ``"user state"`` (simulated as
    ``user.next_state(user state.previous, user response, slate)``, or replayed from
    ``user_states``) and ``"user response"`` (``user.response(user state.previous, slate)``).

    ``logged_slates`` maps slate fields to arrays with a leading time axis
    (``[T, num_users, slate_size, ...]``); it must hold the fields the user's
    ``response`` reads (e.g. ``features``).
    """
    if not isinstance(user, User):
        raise TypeError(f"user must be a User (recosim.library.entities), got {type(user).__name__}")
    slates = _strip_step(logged_slates)
    steps = _length(slates, "logged_slates")
    (slate,) = replay_variable("slate", slates)
    response = Variable("user response", user.spec("response"))
    if user_states is None:
        state = Variable("user state", user.spec("state"))
        state.initial_value = value(user.initial_state)
        state.value = value(user.next_state, (state.previous, response, slate))
    else:
        states = _strip_step(user_states)
        if _length(states, "user_states") != steps:
            raise ValueError(f"user_states has {_length(states, 'user_states')} steps but logged_slates has {steps}")
        (state,) = replay_variable("user state", states)
    response.initial_value = value(user.response, (state, slate))
    response.value = value(user.response, (state.previous, slate))
    return [slate, state, response]


class LoggedSlatesStory(Story):
    """`logged_slates_story` as a `Story` object; `value_trajectory` assembles data to score."""

    def __init__(
        self, user: User, logged_slates: Mapping[str, Any], user_states: Mapping[str, Any] | None = None
    ) -> None:
        self.user = user
        self.logged_slates = logged_slates
        self.user_states = user_states

    def variables(self) -> list[Variable]:
        return logged_slates_story(self.user, self.logged_slates, self.user_states)

    def value_trajectory(
        self, responses: Mapping[str, Any], user_states: Mapping[str, Any] | None = None
    ) -> dict[str, Value]:
        """The trajectory ``runtime.log_probability`` scores: logged slates, states and ``responses``."""
        states = user_states if user_states is not None else self.user_states
        if states is None:
            raise ValueError("scoring needs the user states: pass user_states here or to the story")
        slates = _strip_step(self.logged_slates)
        steps = _length(slates, "logged_slates")
        counter = {STEP_FIELD: np.arange(steps, dtype=np.int32)}
        resp = Value(responses)
        if _length(resp, "responses") != steps:
            raise ValueError(f"responses have {_length(resp, 'responses')} steps but logged_slates has {steps}")
        state_value = _strip_step(states)
        if self.user_states is not None:
            state_value = state_value.union(Value(counter))
        return {"slate": slates.union(Value(counter)), "user state": state_value, "user response": resp}


def logged_response_log_probability(
    user: User,
    logged_slates: Mapping[str, Any],
    user_states: Mapping[str, Any],
    responses: Mapping[str, Any],
    runtime: str = "numpy",
) -> Any:
    """Log-probability of logged ``responses`` to ``logged_slates`` by users in ``user_states``.

    All three map fields to arrays with the same leading time axis. The slates and
    the states are replayed, so the result is the sum over steps and users of the
    log-probabilities of the responses alone, computed on ``runtime``.
    """
    from recosim.core import make_runtime

    story = LoggedSlatesStory(user, logged_slates, user_states)
    rt = make_runtime(story, runtime, seed=0)
    return rt.log_probability(story.value_trajectory(responses))
