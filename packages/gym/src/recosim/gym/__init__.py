"""recosim.gym: Gymnasium environments over recosim recommendation stories.

Importing the package registers the reference use cases as Gymnasium ids
(``recosim/InterestEvolution-v0``, ``recosim/Ecosystem-v0``; see
`recosim.gym.envs`):

>>> import gymnasium
>>> import recosim.gym
>>> env = gymnasium.make("recosim/InterestEvolution-v0", num_docs=10, horizon=2, runtime="numpy")
>>> env.action_space
SlateSpace(num_docs=10, slate_size=2)

`RecommendationEnv` and `RecommendationVectorEnv` wrap any recommendation story;
`PolicySimulator` is the stepping engine beneath both, over the runtime's step
API; `recosim.gym.functional` offers the same environments as pure functions
(``reset(key, params)``, ``step(key, state, action, params)``).
"""

from recosim.gym.env import RecommendationEnv, RecommendationVectorEnv, SlateSpace, observation_space
from recosim.gym.envs import ENVIRONMENTS, register_environments
from recosim.gym.simulator import ObservedField, PolicySimulator, SimulatorState, check_slates

register_environments()

__all__ = [
    "ENVIRONMENTS",
    "ObservedField",
    "PolicySimulator",
    "RecommendationEnv",
    "RecommendationVectorEnv",
    "SimulatorState",
    "SlateSpace",
    "check_slates",
    "observation_space",
    "register_environments",
]
