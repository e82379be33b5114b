"""The example plugin's block and use case, written against recosim.core only."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core import Entity, FieldSpec, Value, ValueSpec, Variable, get_backend, get_plugins, rv, value
from recosim.core.usecase import Parameter, Progress, UseCase, write_summary


class TemperatureMNL(Entity):
    """Multinomial-logit choice with a temperature: ``P(i)`` proportional to ``exp(affinity_i / temperature)``."""

    block_name = "temperature_mnl"
    block_kind = "choice"

    def __init__(self, temperature: float = 1.0, name: str = "temperature_mnl") -> None:
        super().__init__(name=name)
        if temperature <= 0:
            raise ValueError(f"TemperatureMNL: temperature must be positive, got {temperature}")
        self.temperature = float(temperature)

    def choice(self, affinities: Any) -> Value:
        B = get_backend()
        return Value(choice=B.tfd.Categorical(logits=affinities / self.temperature, dtype="int32"))


class CoinFlips(UseCase):
    name = "coin-flips"
    summary = "a population flipping coins with probability p of heads"
    parameters = (Parameter("num_agents", int, 100, "population"), Parameter("p", float, 0.3, "P(heads)"),
                  Parameter("steps", int, 20, "flips per agent"))

    def run(self, *, runtime: str, seed: int, out: Path | None, progress: Progress | None = None,
            **params: Any) -> Mapping[str, Any]:
        p = self.validate(params)
        heads = Variable("heads", ValueSpec(count=FieldSpec(shape=(p["num_agents"],))))

        def flip() -> Any:
            B = get_backend()
            return B.tfd.Bernoulli(probs=p["p"] * B.np.ones(p["num_agents"], dtype="float32"), dtype="int32")

        heads.initial_value = value(lambda: Value(count=rv("flip", flip())))
        heads.value = value(lambda prev: Value(count=prev.get("count") + rv("flip", flip())), (heads.previous,))
        final = get_plugins().get_runtime(runtime)([heads], seed=seed).execute(p["steps"] - 1)
        summary = {"usecase": self.name, "runtime": runtime, **p,
                   "mean_heads": float(np.mean(np.asarray(final["heads"].get("count"))))}
        write_summary(out, summary)
        return summary
