import keras
import numpy as np
import pytest
import tensorflow as tf
from tf_models import Chain, chain_variables

from recosim.core import Entity, FieldSpec, Story, Value, ValueSpec, Variable, get_backend, value
from recosim.core.errors import RecosimError
from recosim.core.examples import random_walk_variables
from recosim.tf.distribute import run_distributed
from recosim.tf.runtime import TFRuntime
from recosim.tf.trainable import story_with_trainable_variables, trainable_variables_of


class Scorer(Entity):
    """An entity holding a Keras layer, a trainable and a frozen variable, and a child entity."""

    def __init__(self, build=True):
        super().__init__(name="scorer")
        self.net = keras.layers.Dense(1, name="affinity")
        if build:
            self.net.build((None, 2))
        self.bias = tf.Variable(0.5, name="bias")
        self.frozen = tf.Variable(1.0, trainable=False, name="frozen")
        self.chain = Chain()

    def initial(self):
        B = get_backend()
        out = self.net(B.np.ones((3, 2), dtype="float32"))[:, 0] + self.bias * self.frozen
        return Value(score=out)


def _story(build=True):
    scorer = Scorer(build)
    score = Variable("score", ValueSpec(score=FieldSpec(shape=(3,), dtype="float32")))
    score.initial_value = value(scorer.initial)
    return [score, *chain_variables(scorer.chain)]


def test_story_with_trainable_variables_finds_variables_and_keras_weights():
    variables, trainables = story_with_trainable_variables(_story)
    assert [v.name for v in variables] == ["score", "x", "y"]
    names = sorted(v.name.split(":")[0] for v in trainables)
    assert names == ["affinity/bias", "affinity/kernel", "bias", "mu"]  # layer weights, our bias, chain's mu
    assert all(isinstance(v, tf.Variable) and v.trainable for v in trainables)
    # gradients reach every one of them through a compiled simulation
    runtime = TFRuntime(variables, seed=0)
    with tf.GradientTape() as tape:
        traj = runtime.trajectory(2)
        loss = tf.reduce_sum(traj["score"].get("score")) + runtime.log_probability(traj)
    grads = tape.gradient(loss, trainables)
    assert all(g is not None for g in grads)


def test_trainables_of_entities_by_path_and_story_objects():
    scorer = Scorer()
    found = trainable_variables_of(scorer)
    assert set(found) == {"scorer/net/affinity/kernel", "scorer/net/affinity/bias", "scorer/bias", "chain/mu"}

    class Counting(Story):
        def __init__(self):
            self.scorer = Scorer()

        def variables(self):
            return _story()[1:]  # not bound to self.scorer: found through the story's entities

    _, trainables = story_with_trainable_variables(Counting())
    assert sum(v.name.startswith("mu") for v in trainables) == 2


def test_unbuilt_keras_layer_is_named():
    with pytest.raises(RecosimError, match=r"'scorer/net'.*build it in the story"):
        trainable_variables_of(Scorer(build=False))


@pytest.fixture(scope="module")
def single_runs():
    """The first four runs of one runtime seeded 5: what every strategy must reproduce (compiled once)."""
    single = TFRuntime(random_walk_variables(2), seed=5)
    return np.stack([single.execute(3)["walk"].get("position").numpy() for _ in range(4)])


@pytest.mark.parametrize(
    "strategy",
    [
        tf.distribute.get_strategy(),
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        tf.distribute.MirroredStrategy(["/cpu:0"]),
    ],
    ids=["default", "one-device", "mirrored"],
)
def test_distributed_runs_reproduce_single_runs_and_reduce(strategy, single_runs):
    walk = random_walk_variables(2)
    result = run_distributed(strategy, walk, num_runs=4, num_steps=3, seed=5)
    assert result.num_runs == 4 and result.num_replicas == 1
    runs = result.values["walk"].get("position").numpy()
    assert np.array_equal(runs, single_runs)
    assert np.allclose(result.mean["walk"].get("position"), runs.mean(0))
    assert np.allclose(result.stderr["walk"].get("position"), runs.std(0, ddof=1) / 2.0)


def test_distributed_statistic_and_integer_fields():
    from recosim.core.examples import counting_variables

    runtime = TFRuntime(counting_variables(), seed=0)
    result = run_distributed(
        tf.distribute.get_strategy(),
        runtime,
        num_runs=3,
        num_steps=4,
        statistic=lambda v: {"twice": Value(n=v["count"].get("n") * 2)},
    )
    assert result.values["twice"].get("n").numpy().tolist() == [8, 8, 8]
    assert float(result.mean["twice"].get("n")) == 8.0 and float(result.stderr["twice"].get("n")) == 0.0
