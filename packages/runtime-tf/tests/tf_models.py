"""Small models with closed-form log-probabilities, shared by the tests."""

import numpy as np
import tensorflow as tf
from scipy.stats import norm

from recosim.core import Entity, FieldSpec, Value, ValueSpec, Variable, get_backend, rv, value

N = 3  # population size


class Chain(Entity):
    """x_0 ~ N(mu, 1), x_t ~ N(a x_{t-1}, s), y_t ~ N(x_t, 0.5) (y depends on x within the step)."""

    def __init__(self, mu=0.3, a=0.8, s=0.7):
        super().__init__(name="chain")
        self.mu = tf.Variable(mu, dtype=tf.float32, name="mu")
        self.a = a
        self.s = s

    def initial_state(self):
        B = get_backend()
        return Value(state=B.tfd.Normal(self.mu * B.np.ones(N, dtype="float32"), 1.0))

    def next_state(self, prev):
        B = get_backend()
        return Value(state=B.tfd.Normal(self.a * prev.get("state"), self.s))

    def observe(self, x):
        B = get_backend()
        return Value(y=B.tfd.Normal(x.get("state"), 0.5))

    def closed_form(self, xs, ys, mu=None):
        mu = float(self.mu.numpy()) if mu is None else mu
        lp = norm.logpdf(xs[0], mu, 1.0).sum()
        lp += norm.logpdf(xs[1:], self.a * xs[:-1], self.s).sum()
        return lp + norm.logpdf(ys, xs, 0.5).sum()


def chain_variables(chain):
    spec = FieldSpec(shape=(N,), dtype="float32")
    x = Variable("x", ValueSpec(state=spec))
    y = Variable("y", ValueSpec(y=spec))
    x.initial_value = value(chain.initial_state)
    x.value = value(chain.next_state, (x.previous,))
    y.initial_value = value(chain.observe, (x,))
    y.value = value(chain.observe, (x,))
    return [x, y]


FEATURES = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.5]], np.float32)  # 4 documents on a slate
INTEREST = np.array([[1.0, 0.5], [-0.5, 1.0], [0.2, -0.3]], np.float32)  # one row per user


class Chooser(Entity):
    """Each user picks one slate item: Categorical(logits = temperature * <interest, features>)."""

    def __init__(self, temperature=1.5):
        super().__init__(name="chooser")
        self.temperature = tf.Variable(temperature, dtype=tf.float32, name="temperature")

    def slate(self):
        return Value(features=get_backend().asarray(FEATURES))

    def user(self):
        return Value(interest=get_backend().asarray(INTEREST))

    def respond(self, user, slate):
        B = get_backend()
        scores = B.np.einsum("nd,kd->nk", user.get("interest"), slate.get("features"))
        return Value(choice=rv("choice", B.tfd.Categorical(logits=self.temperature * scores)))

    def closed_form(self, choices, temperature=None):
        t = float(self.temperature.numpy()) if temperature is None else temperature
        logits = t * INTEREST @ FEATURES.T
        logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        return sum(logp[np.arange(len(INTEREST)), c].sum() for c in np.asarray(choices))

    def score_gradient(self, choices):
        """d/d temperature of the closed form."""
        scores = INTEREST @ FEATURES.T
        logits = float(self.temperature.numpy()) * scores
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        return sum((scores[np.arange(len(INTEREST)), c] - (p * scores).sum(-1)).sum() for c in np.asarray(choices))


def choice_variables(chooser):
    slate = Variable("slate", ValueSpec(features=FieldSpec(shape=FEATURES.shape, dtype="float32")))
    user = Variable("user", ValueSpec(interest=FieldSpec(shape=INTEREST.shape, dtype="float32")))
    response = Variable("response", ValueSpec(choice=FieldSpec(shape=(len(INTEREST),), dtype="int32")))
    slate.initial_value = value(chooser.slate)
    user.initial_value = value(chooser.user)
    response.initial_value = value(chooser.respond, (user, slate))
    response.value = value(chooser.respond, (user, slate))
    return [slate, user, response]
