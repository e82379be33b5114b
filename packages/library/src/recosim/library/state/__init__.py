"""State models (paper section 3.3): static, dynamic and estimation (belief) models."""

from recosim.library.state import dynamic, estimation, static
from recosim.library.state._common import SelectDistribution
from recosim.library.state.dynamic import (
    ControlledLinearGaussian,
    ControlledLinearScaledGaussian,
    FiniteStateMarkovChain,
    LinearGaussian,
    NoOpOrContinue,
    RecurrentCellState,
    ResetOrContinue,
    SwitchingDynamics,
)
from recosim.library.state.estimation import FiniteHistory, FinitePosterior, KalmanFilter
from recosim.library.state.static import GMMVector, HierarchicalClusteredTensor, MixtureSameFamily, StaticTensor

__all__ = [
    "static",
    "dynamic",
    "estimation",
    "SelectDistribution",
    "StaticTensor",
    "GMMVector",
    "HierarchicalClusteredTensor",
    "MixtureSameFamily",
    "LinearGaussian",
    "ControlledLinearGaussian",
    "ControlledLinearScaledGaussian",
    "FiniteStateMarkovChain",
    "SwitchingDynamics",
    "ResetOrContinue",
    "NoOpOrContinue",
    "RecurrentCellState",
    "FiniteHistory",
    "KalmanFilter",
    "FinitePosterior",
]
