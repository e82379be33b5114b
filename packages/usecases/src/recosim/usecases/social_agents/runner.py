"""``recosim run social-agents``: strategic agents on the social platform, one command, one part per kind of agent.

Each part is a module of this package (`PARTS`) with ``PARAMETERS`` (its own
options, prefixed with its name), ``check(params)`` (its cross-option checks) and
``simulate(setup, progress)`` (it writes under ``<out>/<part>/`` and returns its
section of ``summary.json``). ``--parts`` selects the parts to run (default: every
available part). The options shared by the parts are declared here: the horizon,
the training seeds, updates and evaluation runs, and the trainer; each part sizes
its own population (``--influencer-accounts``, ``--influencer-count``; ``--bot-count``,
``--bot-users``). Training needs gradients: the use case asks the registry for a
differentiable runtime (its default) and refuses others before any work.

>>> sorted(PARTS)
['influencers', 'socialbots']
>>> SocialAgentsUseCase().validate({"parts": "socialbots"})["parts"]
('socialbots',)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from recosim.core.errors import UsageError
from recosim.core.plugins import DIFFERENTIABLE, get_plugins
from recosim.core.usecase import HORIZON, Parameter, Progress, RunSetup, UseCase
from recosim.usecases.social_agents import influencers, socialbots

__all__ = ["KNOWN_PARTS", "PARTS", "SHARED_PARAMETERS", "SocialAgentsUseCase"]

PARTS: dict[str, ModuleType] = {"influencers": influencers, "socialbots": socialbots}
"""The parts this command runs, by name (each a module with PARAMETERS, check and simulate)."""
KNOWN_PARTS = ("influencers", "socialbots")
"""Every part ``--parts`` may name."""


def _parts(value: Any) -> tuple[str, ...]:
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v).strip() for v in value]
    if not items or any(not v for v in items):
        raise ValueError(f"give a comma-separated list of {', '.join(KNOWN_PARTS)}, got {value!r}")
    for item in items:
        if item not in KNOWN_PARTS:
            raise ValueError(f"unknown part {item!r}; the parts are {', '.join(KNOWN_PARTS)}")
    if len(set(items)) != len(items):
        raise ValueError(f"a part repeats in {value!r}")
    return tuple(items)


_parts.choices = KNOWN_PARTS  # type: ignore[attr-defined]  # listed by the command line's help


def _trainer(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("grpo", "reinforce", "both"):
        raise ValueError(f"choose one of grpo, reinforce, both, got {value!r}")
    return text


_trainer.choices = ("grpo", "reinforce", "both")  # type: ignore[attr-defined]

SHARED_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("parts", _parts, tuple(p for p in KNOWN_PARTS if p in PARTS),
              "comma-separated parts to run: influencers, socialbots (default: every available part)"),
    HORIZON.with_default(30, "steps of every simulated episode"),
    Parameter("training_seeds", int, 3, "independent training runs per learner", minimum=1),
    Parameter("updates", int, 20, "training updates per run", minimum=1),
    Parameter("eval_runs", int, 16, "evaluation runs per policy in the comparison tables (paired: run i shares "
              "its seed across policies)", minimum=2),
    Parameter("trainer", _trainer, "both", "grpo, reinforce or both (influencers compare both; socialbots "
              "trains with GRPO unless reinforce is named)"),
)


def _all_parameters() -> tuple[Parameter, ...]:
    seen = {p.name for p in SHARED_PARAMETERS}
    out = list(SHARED_PARAMETERS)
    for name, module in PARTS.items():
        for p in module.PARAMETERS:
            if p.name in seen:
                raise RuntimeError(f"part {name!r} declares the option {p.flag}, which another part or the command has")
            seen.add(p.name)
            out.append(p)
    return tuple(out)


class SocialAgentsUseCase(UseCase):
    name = "social-agents"
    summary = "strategic agents on the social platform: influencers and socialbots against the platform's defences"
    summary_metadata = ("parts", "files", "seconds")
    needs = (DIFFERENTIABLE,)
    parameters = _all_parameters()

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        for part in params["parts"]:
            if part not in PARTS:
                raise UsageError(f"--parts: part {part!r} is not available in this installation; "
                                 f"available: {', '.join(PARTS)}")
        for part in params["parts"]:
            PARTS[part].check(params)
        return params

    def setup(
        self, *, runtime: str, seed: Any, out: Path | str | None, validate: bool = False, **params: Any
    ) -> RunSetup:
        """As `UseCase.setup`, refusing a runtime that cannot differentiate and a missing trainer first."""
        plugins = get_plugins()
        able = plugins.runtimes_with(DIFFERENTIABLE)
        if runtime in plugins.runtime_names() and runtime not in able:
            raise UsageError(
                f"--runtime {runtime}: social-agents trains its agents by gradient, which needs a runtime that "
                "differentiates: " + (" or ".join(able) or "none is installed (pip install 'recosim[jax]')")
            )
        try:
            import recosim.inference  # noqa: F401
        except ImportError:
            raise UsageError("social-agents trains with recosim-inference, which is not installed "
                             "(pip install 'recosim-usecases[jax]')") from None
        return super().setup(runtime=runtime, seed=seed, out=out, validate=validate, **params)

    def simulate(self, setup: RunSetup, progress: Progress | None = None) -> Mapping[str, Any]:
        out: dict[str, Any] = {}
        for part in setup.params["parts"]:
            out[part] = PARTS[part].simulate(setup, progress)
        return out
