"""The CAV synthetic model: users who rate items and tag them with soft attributes (``recosim run cav-synthetic``)."""

from recosim.usecases.cav.analysis import CavFit, fit_cavs
from recosim.usecases.cav.model import CavConfig, CavUsers, SoftAttributeCorpus, cav_variables, tag_attribute_index

__all__ = [
    "CavConfig",
    "CavFit",
    "CavUsers",
    "SoftAttributeCorpus",
    "cav_variables",
    "fit_cavs",
    "tag_attribute_index",
]
