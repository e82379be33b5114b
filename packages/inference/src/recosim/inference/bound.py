"""The inference methods with their runtime fixed, as the plugin registers them.

``get_plugins().get_inference_method("nuts", runtime="tf")`` returns ``tf_nuts``:
the framework-free front of `recosim.inference.api` with ``runtime="tf"`` bound,
so a method looked up for a runtime always runs on that runtime. Importing this
module imports no framework.

>>> tf_nuts.keywords
{'runtime': 'tf'}
"""

from __future__ import annotations

from functools import partial

from recosim.inference import api

RUNTIMES = ("jax", "tf")
# registered name -> function of `recosim.inference.api`
METHODS = {
    "hmc": "hmc",
    "nuts": "nuts",
    "mcem": "mcem",
    "vi": "vi",
    "mle": "mle",
    "map": "map_fit",
    "reinforce": "reinforce",
}


def attribute(runtime: str, name: str) -> str:
    """The attribute of this module holding method ``name`` bound to ``runtime``."""
    return f"{runtime}_{name}"


for _runtime in RUNTIMES:
    for _name, _attr in METHODS.items():
        globals()[attribute(_runtime, _name)] = partial(getattr(api, _attr), runtime=_runtime)
del _runtime, _name, _attr
