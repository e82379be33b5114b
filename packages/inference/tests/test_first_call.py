"""Every inference method works as the first thing a fresh process does (TFP's JAX substrate imported on demand)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from recosim.core.testing import runtime_names

SETUP = """
import numpy as np
from recosim.inference.examples import conjugate_gaussian, persistent_satisfaction
from recosim.inference import fit_map, fit_mcem, fit_mle, fit_vi, sample_posterior, train_reinforce
x = np.zeros((3, 2), np.float32)
logged = {"user": {}, "obs": {"x": x}}
mm = persistent_satisfaction(num_users=2)
z = np.zeros((3, 2), np.float32)
sat = {"match": {"value": z}, "response": {"satisfaction": z}}
few = {"user": {"intent": np.stack([z, z])}, "match": {"value": np.stack([z, z])},
       "response": {"satisfaction": np.stack([z, z])}}
alpha = {"alpha": np.float32(0.5)}
common = dict(runtime="jax", quiet=True)
"""

# each call is as small as it can be (no warm-up for the samplers: one compiled sampling program): what is checked
# is that a fresh process gets through each method's whole first call, not its numbers
CALLS = {
    "hmc": "sample_posterior(conjugate_gaussian(2), logged, 'user/intent', method='hmc', num_chains=1, "
    "num_warmup=0, num_samples=2, **common)",
    "nuts": "sample_posterior(conjugate_gaussian(2), logged, 'user/intent', num_chains=1, num_warmup=0, "
    "num_samples=2, **common)",
    "mcem": "fit_mcem(mm, alpha, {'user': {}, **sat}, 'user/intent', num_iterations=1, num_chains=1, num_warmup=2, "
    "num_samples=2, **common)",
    "vi": "fit_vi(conjugate_gaussian(2), logged, 'user/intent', num_steps=4, **common).surrogate",
    "mle": "fit_mle(mm, alpha, few, num_steps=2, **common)",
    "map": "fit_map(mm, alpha, few, lambda p: -p['alpha'] ** 2, num_steps=2, **common)",
    "reinforce": "train_reinforce(mm, alpha, policy='match', reward='response/satisfaction', horizon=2, "
    "num_steps=1, baseline=None, num_rollouts=1, **common)",
}


@pytest.mark.skipif("jax" not in runtime_names(), reason="the JAX runtime is not among the runtimes tested")
@pytest.mark.parametrize("method", sorted(CALLS))
def test_each_method_works_as_the_first_call_of_a_process(method):
    code = textwrap.dedent(SETUP) + f"\nout = {CALLS[method]}\nprint('ok', type(out).__name__)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok"), done.stdout
