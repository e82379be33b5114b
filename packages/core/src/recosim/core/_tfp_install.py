"""Which distribution provides ``tensorflow_probability`` here, and a warning when two do.

``tensorflow-probability`` (the releases, which recosim requires) and ``tfp-nightly``
install the same package directory. Installing recosim into an environment that
holds ``tfp-nightly`` therefore puts the released files over the nightly's without
a word from pip, and uninstalling either one later deletes files the other needs.
:func:`warn_if_two_tfp_distributions` says so, once per process, the first time a
TFP substrate is imported.

>>> import warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("error")
...     _ = warn_if_two_tfp_distributions.__wrapped__()  # one distribution here: silent
"""

from __future__ import annotations

import functools
import warnings
from importlib import metadata

__all__ = ["TFP_DISTRIBUTIONS", "tfp_distributions", "warn_if_two_tfp_distributions"]

TFP_DISTRIBUTIONS: tuple[str, ...] = ("tensorflow-probability", "tfp-nightly")
"""The distributions that install the ``tensorflow_probability`` package."""


def tfp_distributions() -> dict[str, str]:
    """``{distribution: version}`` for each of `TFP_DISTRIBUTIONS` that is installed."""
    found = {}
    for name in TFP_DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


@functools.cache
def warn_if_two_tfp_distributions() -> dict[str, str]:
    """Warn (``RuntimeWarning``) when more than one TFP distribution is installed; return them all."""
    found = tfp_distributions()
    if len(found) > 1:
        held = ", ".join(f"{name} {version}" for name, version in found.items())
        warnings.warn(
            f"both {held} are installed; they share the tensorflow_probability package, so its files are "
            "a mixture of the two. Keep one: `pip uninstall -y tensorflow-probability tfp-nightly` and then "
            "`pip install tensorflow-probability` (what recosim requires), or reinstall tfp-nightly alone "
            "and install recosim with --no-deps",
            RuntimeWarning,
            stacklevel=3,
        )
    return found
