"""Social-platform integrity: scammers against a platform's rate limit and detector.

The use case's parts, one module each:

* `recosim.usecases.integrity.model`: the model (`IntegrityConfig`, `integrity_variables`,
  its parameters as settings);
* `recosim.usecases.integrity.grid`: runs of the model over a grid of mechanisms and
  policies through the runtime's batched execution (`GridRunner`, `Job`, `METRICS`);
* `recosim.usecases.integrity.statistics`: per-setting means, paired differences, trends,
  the designer's choice;
* `recosim.usecases.integrity.plots`: the figures;
* `recosim.usecases.integrity.learning`: scammers that learn (policy gradients);
* `recosim.usecases.integrity.runner`: ``recosim run integrity`` (`IntegrityUseCase`).

The model's names are re-exported here:

>>> from recosim.usecases.integrity import IntegrityConfig
>>> IntegrityConfig(num_accounts=200, scammer_fraction=0.05).num_scammers
10
"""

from recosim.usecases.integrity.model import (
    FIXED_RULE_POLICY,
    MODEL_VERSION,
    PARAMETER_SETTINGS,
    POLICY_SHAPES,
    IntegrityConfig,
    check_params,
    default_params,
    integrity_variables,
    parameter_settings,
    summarise_final,
)

__all__ = [
    "FIXED_RULE_POLICY",
    "MODEL_VERSION",
    "PARAMETER_SETTINGS",
    "POLICY_SHAPES",
    "IntegrityConfig",
    "check_params",
    "default_params",
    "integrity_variables",
    "parameter_settings",
    "summarise_final",
]
