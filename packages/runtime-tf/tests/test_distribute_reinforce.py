"""A fresh interpreter's checks: what importing the plugin loads, and distributed REINFORCE on two CPU replicas.

Logical CPU devices must be configured before TensorFlow starts, and the plugin's
imports are only seen before anything imports TensorFlow, so both run in one fresh
interpreter (a start of TensorFlow costs seconds): first the plugin is found with
TensorFlow, TFP and Edward2 left out, and NumPy's TFP substrate is loaded; then
`recosim.tf.distribute` brings TensorFlow up with two logical CPUs, TFP on
TensorFlow must still score, and `make_reinforce_step` must follow on two replicas
the learning curve of one.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = r"""
import json
import sys
import recosim.tf.plugin, recosim.tf
from recosim.core.plugins import get_plugins
from recosim.core.backend import numpy_backend
plugin = {"found": "tf" in get_plugins().runtime_names(),
          "imported": [m for m in ("tensorflow", "tensorflow_probability", "edward2") if m in sys.modules]}
numpy_backend().tfd.Normal  # NumPy's TFP substrate first; TFP on TensorFlow must work afterwards
from recosim.tf.distribute import initialize_platform, make_reinforce_step
two_replicas, n = initialize_platform("CPU", 2)
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
plugin["normal_log_prob"] = float(tfp.distributions.Normal(0.0, 1.0).log_prob(0.0))
from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, rv, value

MEANS = np.array([0.0, 0.5, 1.0], np.float32)


def bandit(logits, users=4):
    # every user pulls an arm by softmax(logits); the reward is N(MEANS[arm], 0.1)
    arm = Variable("arm", ValueSpec(choice=FieldSpec((users,), "int32")))
    response = Variable("user response", ValueSpec(reward=FieldSpec((users,), "float32")))

    def pick():
        B = get_backend()
        return Value(choice=rv("choice", B.tfd.Categorical(logits=B.np.broadcast_to(B.asarray(logits), (users, 3)))))

    def pay(a):
        B = get_backend()
        return Value(reward=rv("reward", B.tfd.Normal(B.np.take(B.asarray(MEANS), a.get("choice"), axis=0), 0.1)))

    arm.initial_value = value(pick)
    arm.value = value(pick)
    response.initial_value = value(pay, (arm,))
    response.value = value(pay, (arm,))
    return [arm, response]


def curve(strategy, updates=6):
    logits = tf.Variable(tf.zeros(3))
    step = make_reinforce_step(
        strategy, bandit(logits), [logits], tf.keras.optimizers.SGD(0.5),
        policy="arm", reward="user response/reward", horizon=3, num_rollouts=4, seed=1,
    )
    rows = [step(u) for u in range(updates)]
    return {"returns": [r["mean_return"] for r in rows], "losses": [r["loss"] for r in rows],
            "logits": logits.numpy().tolist(), "replicas": step.num_replicas}


out = {"one": curve(tf.distribute.OneDeviceStrategy("/cpu:0")), "two": curve(two_replicas), "devices": n,
       "plugin": plugin}
try:
    initialize_platform("CPU", 3)
except RuntimeError as err:
    out["late"] = str(err)
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def result():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


def test_plugin_module_imports_no_tensorflow(result):
    assert result["plugin"]["found"], "the tf runtime is not among the plugins"
    assert result["plugin"]["imported"] == [], f"importing the plugin loaded {result['plugin']['imported']}"


def test_numpy_substrate_does_not_break_tfp_on_tensorflow_later(result):
    assert result["plugin"]["normal_log_prob"] == pytest.approx(-0.9189385, abs=1e-6)


def test_two_replicas_follow_the_one_replica_learning_curve(result):
    one, two = result["one"], result["two"]
    assert (one["replicas"], two["replicas"], result["devices"]) == (1, 2, 2)
    # the same rollouts, the same gradients up to the order of sums: equal within 1e-5
    np.testing.assert_allclose(two["returns"], one["returns"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(two["logits"], one["logits"], rtol=0, atol=1e-5)


def test_the_policy_learns_the_best_arm(result):
    logits = np.asarray(result["one"]["logits"])
    assert np.argmax(logits) == 2 and logits[2] - logits[0] > 1.0   # six steps move towards the arm paying 1.0


def test_logical_devices_after_start_up_are_refused_with_a_reason(result):
    assert "already set up 2 logical CPU device(s)" in result["late"]


def test_arguments_are_checked():
    tf = pytest.importorskip("tensorflow")
    from recosim.core.examples import random_walk_variables
    from recosim.tf.distribute import make_reinforce_step

    strategy = tf.distribute.get_strategy()
    v = tf.Variable(0.0)
    opt = tf.keras.optimizers.SGD(0.1)
    with pytest.raises(ValueError, match=r"policy='slate' is not a variable of the model; it has \['walk'\]"):
        make_reinforce_step(strategy, random_walk_variables(2), [v], opt, policy="slate", reward="walk/position",
                            horizon=2, num_rollouts=2)
    with pytest.raises(ValueError, match="reward='walk/reward' must name a field"):
        make_reinforce_step(strategy, random_walk_variables(2), [v], opt, policy="walk", reward="walk/reward",
                            horizon=2, num_rollouts=2)
    with pytest.raises(TypeError, match="list of tf.Variables"):
        make_reinforce_step(strategy, random_walk_variables(2), [], opt, policy="walk", reward="walk/position",
                            horizon=2, num_rollouts=2)
