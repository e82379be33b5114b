"""TensorFlow Probability's JAX substrate on every JAX from 0.6 to the newest.

When its JAX substrate is imported, tensorflow-probability 0.25 (its last release)
registers its variable type with JAX by writing into three JAX tables through their
public aliases: ``jax.interpreters.xla.pytype_aval_mappings``,
``jax.core.pytype_aval_mappings`` and ``jax.interpreters.xla.canonicalize_dtype_handlers``.
JAX 0.7 removed the first alias (the table itself lives on in ``jax._src.core``), so
the import fails with ``AttributeError`` although nothing else in the substrate
needs a change. :func:`restore_jax_aliases` puts back whichever of these aliases the
installed JAX lacks, bound to the very table JAX consults, so TFP's registration
lands where JAX looks for it. Aliases that JAX still has are left alone, and
nothing is touched on a JAX that has them all (0.6) or with ``tfp-nightly``,
which checks for the first alias itself.

:func:`import_substrate_without_tensorflow` is core's helper of the same name with
the aliases restored first; the JAX backend imports TFP's JAX substrate through it.

>>> tfp_jax = import_substrate_without_tensorflow("jax")
>>> import jax
>>> float(jax.jit(lambda: tfp_jax.distributions.Normal(0.0, 1.0).log_prob(0.0))()) < 0
True
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["JAX_ALIASES", "restore_jax_aliases", "import_substrate_without_tensorflow"]

JAX_ALIASES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "jax.interpreters.xla",
        "pytype_aval_mappings",
        (("jax._src.core", "pytype_aval_mappings"),),
    ),
    (
        "jax.core",
        "pytype_aval_mappings",
        (("jax._src.core", "pytype_aval_mappings"),),
    ),
    (
        "jax.interpreters.xla",
        "canonicalize_dtype_handlers",
        (
            ("jax._src.dtypes", "canonicalize_value_handlers"),
            ("jax._src.interpreters.xla", "canonicalize_dtype_handlers"),
        ),
    ),
)
"""(public module, attribute, where the table lives: (module, attribute) candidates in order)."""


def _lookup(module_name: str, attribute: str) -> Any:
    """``module.attribute`` without triggering JAX's deprecation warnings, or ``None``."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    value = module.__dict__.get(attribute)
    if value is not None:
        return value
    # Deprecated names that JAX still serves through a module ``__getattr__``.
    deprecations = module.__dict__.get("_deprecations", {})
    entry = deprecations.get(attribute)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[1] is not None:
        return entry[1]
    return None


def restore_jax_aliases() -> list[str]:
    """Put back the JAX aliases TFP's JAX substrate writes through; return the ones restored.

    Raises ``ImportError`` naming the alias and the installed JAX when neither the
    alias nor any known home of its table exists (a JAX newer than this module knows).
    """
    import jax

    restored = []
    for module_name, attribute, homes in JAX_ALIASES:
        if _lookup(module_name, attribute) is not None:
            continue
        table = next((t for t in (_lookup(m, a) for m, a in homes) if t is not None), None)
        if table is None:
            raise ImportError(
                f"recosim-runtime-jax cannot prepare jax {jax.__version__} for TensorFlow Probability's "
                f"JAX substrate: {module_name}.{attribute} is gone and none of "
                f"{', '.join(m + '.' + a for m, a in homes)} exists; "
                "install the newest tensorflow-probability or a jax that recosim's CI tests (see its README)"
            )
        setattr(importlib.import_module(module_name), attribute, table)
        restored.append(f"{module_name}.{attribute}")
    return restored


def import_substrate_without_tensorflow(substrate: str) -> ModuleType:
    """Core's ``import_substrate_without_tensorflow`` with the JAX aliases restored first."""
    from recosim.core.backend import import_substrate_without_tensorflow as core_import

    if substrate == "jax":
        restore_jax_aliases()
    return core_import(substrate)
