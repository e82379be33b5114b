"""Estimation models: belief states that summarise a stream of observations.

* `FiniteHistory`: the last ``k`` observations in a shifting window;
* `KalmanFilter`: the Gaussian posterior of a linear-Gaussian latent state;
* `FinitePosterior`: the exact posterior over a finite set of latent values.

All are deterministic functions of the observations (no draws), batched over
leading dimensions, with ``initial_state()`` and ``next_state(previous_state, inputs)``.

>>> import numpy as np
>>> h = FiniteHistory(history_length=3, observation_shape=(), batch_shape=1)
>>> s = h.initial_state()
>>> for t in range(1, 5):
...     s = h.next_state(s, Value(input=np.array([t], np.float32)))
>>> s.get("state").tolist(), s.get("count").tolist()
([[2.0, 3.0, 4.0]], [3])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recosim.core import Entity, Value, get_backend
from recosim.library.params import as_float_param, static_shape, static_size
from recosim.library.state._common import batch_shape_tuple

__all__ = ["FiniteHistory", "KalmanFilter", "FinitePosterior"]


def _field(inputs: Value | None, field: str, model: str) -> Any:
    if inputs is None or field not in inputs:
        have = [] if inputs is None else sorted(inputs.keys())
        raise ValueError(f"{model}.next_state needs the input field {field!r}; the inputs have {have}")
    return get_backend().asarray(inputs.get(field))


class FiniteHistory(Entity):
    """The last ``history_length`` observations, oldest first.

    ``state`` has shape ``[*batch, history_length, *observation_shape]`` and starts as
    ``fill`` (0); each step drops the oldest entry and appends the input field
    ``input``. ``count`` (int32, ``[*batch]``) is how many entries are real
    observations (capped at ``history_length``).
    """

    block_name = "finite_history"
    block_kind = "state"

    def __init__(
        self,
        history_length: int,
        observation_shape: Sequence[int] = (),
        batch_shape: int | Sequence[int] | None = None,
        *,
        dtype: str = "float32",
        fill: float = 0.0,
        input_field: str = "input",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if int(history_length) != history_length or history_length < 1:
            raise ValueError(f"history_length must be a positive integer, got {history_length!r}")
        self.history_length = int(history_length)
        self.observation_shape = tuple(int(d) for d in observation_shape)
        self.batch_shape = batch_shape_tuple(batch_shape)
        self.dtype = np.dtype(dtype).name
        self.fill = fill
        self.input_field = input_field

    def initial_state(self) -> Value:
        np_ = get_backend().np
        shape = (*self.batch_shape, self.history_length, *self.observation_shape)
        return Value(
            state=np_.zeros(shape, dtype=self.dtype) + np_.asarray(self.fill, dtype=self.dtype),
            count=np_.zeros(self.batch_shape, dtype="int32"),
        )

    def next_state(self, previous_state: Value, inputs: Value | None = None) -> Value:
        B = get_backend()
        np_ = B.np
        obs = B.cast(_field(inputs, self.input_field, "FiniteHistory"), self.dtype)
        obs_rank = len(self.observation_shape)
        if self.observation_shape and static_shape(obs)[-obs_rank:] != self.observation_shape:
            raise ValueError(
                f"input field {self.input_field!r} must end with the observation shape "
                f"{self.observation_shape}, got {static_shape(obs)}"
            )
        axis = -(obs_rank + 1)
        window = B.asarray(previous_state.get("state"))
        if obs_rank:
            shifted = (
                window[..., 1:, :]
                if obs_rank == 1
                else np_.take(window, np_.arange(1, self.history_length, dtype="int32"), axis=axis)
            )
        else:
            shifted = window[..., 1:]
        new = np_.concatenate([shifted, np_.expand_dims(obs, axis)], axis=axis)
        count = np_.minimum(B.asarray(previous_state.get("count")) + 1, self.history_length)
        return Value(state=new, count=B.cast(count, "int32"))


def _t(x: Any) -> Any:
    return get_backend().np.swapaxes(x, -1, -2)


class KalmanFilter(Entity):
    """Kalman filter for ``x_t = F x_{t-1} + G u_t + w``, ``y_t = H x_t + v``.

    ``w ~ N(0, Q)`` and ``v ~ N(0, R)``; all matrices may carry leading batch axes.
    The belief state is ``Value(mean [*batch, d], covariance [*batch, d, d])``.
    ``next_state`` predicts then updates with the input field ``observation``
    (``[*batch, m]``); the optional boolean ``observed`` (``[*batch]``) skips the update
    where false, and the optional field ``control`` is ``u_t`` (needs ``control_matrix``).

    >>> import numpy as np
    >>> kf = KalmanFilter(
    ...     np.eye(1), np.eye(1), np.zeros((1, 1)), np.eye(1), initial_mean=[0.0], initial_covariance=np.eye(1)
    ... )
    >>> b = kf.next_state(kf.initial_state(), Value(observation=np.array([2.0], np.float32)))
    >>> b.get("mean").tolist(), b.get("covariance").tolist()
    ([1.0], [[0.5]])
    """

    block_name = "kalman_filter"
    block_kind = "state"

    def __init__(
        self,
        transition_matrix: Any,
        observation_matrix: Any,
        process_noise_covariance: Any,
        observation_noise_covariance: Any,
        *,
        initial_mean: Any,
        initial_covariance: Any,
        control_matrix: Any = None,
        batch_shape: int | Sequence[int] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.F = as_float_param(transition_matrix, "transition_matrix")
        self.H = as_float_param(observation_matrix, "observation_matrix")
        self.Q = as_float_param(process_noise_covariance, "process_noise_covariance")
        self.R = as_float_param(observation_noise_covariance, "observation_noise_covariance")
        self.G = None if control_matrix is None else as_float_param(control_matrix, "control_matrix")
        self.initial_mean = as_float_param(initial_mean, "initial_mean")
        self.initial_covariance = as_float_param(initial_covariance, "initial_covariance")
        self.batch_shape = batch_shape_tuple(batch_shape)
        fs, hs = static_shape(self.F), static_shape(self.H)
        if len(fs) < 2 or fs[-1] != fs[-2]:
            raise ValueError(f"transition_matrix must have shape [..., d, d], got {fs}")
        d = fs[-1]
        if len(hs) < 2 or hs[-1] != d:
            raise ValueError(f"observation_matrix must have shape [..., m, {d}], got {hs}")
        m = hs[-2]
        for label, arr, size in (
            ("process_noise_covariance", self.Q, d),
            ("observation_noise_covariance", self.R, m),
            ("initial_covariance", self.initial_covariance, d),
        ):
            if static_shape(arr)[-2:] != (size, size):
                raise ValueError(f"{label} must have shape [..., {size}, {size}], got {static_shape(arr)}")
        if static_shape(self.initial_mean)[-1:] != (d,):
            raise ValueError(f"initial_mean must have shape [..., {d}], got {static_shape(self.initial_mean)}")
        if self.G is not None and static_shape(self.G)[-2:-1] != (d,):
            raise ValueError(f"control_matrix must have shape [..., {d}, c], got {static_shape(self.G)}")
        self.dim, self.obs_dim = d, m

    def initial_state(self) -> Value:
        B = get_backend()
        np_ = B.np
        d = self.dim
        mean = np_.zeros((*self.batch_shape, d), dtype="float32") + B.asarray(self.initial_mean)
        cov = np_.zeros((*self.batch_shape, d, d), dtype="float32") + B.asarray(self.initial_covariance)
        return Value(mean=mean, covariance=cov)

    def predict(self, belief: Value, control: Any = None) -> Value:
        """The prior belief one step ahead: ``(F m + G u, F P F^T + Q)``."""
        B = get_backend()
        np_ = B.np
        f = B.asarray(self.F)
        mean = np_.einsum("...ij,...j->...i", f, B.asarray(belief.get("mean")))
        if control is not None:
            if self.G is None:
                raise ValueError("a control was given but the KalmanFilter has no control_matrix")
            mean = mean + np_.einsum("...ij,...j->...i", B.asarray(self.G), B.asarray(control))
        cov = np_.matmul(np_.matmul(f, B.asarray(belief.get("covariance"))), _t(f)) + B.asarray(self.Q)
        return Value(mean=mean, covariance=cov)

    def update(self, belief: Value, observation: Any, observed: Any = None) -> Value:
        """Condition ``belief`` on ``observation`` (skipped where ``observed`` is false)."""
        B = get_backend()
        np_ = B.np
        h = B.asarray(self.H)
        mean, cov = B.asarray(belief.get("mean")), B.asarray(belief.get("covariance"))
        y = B.cast(observation, "float32")
        ph_t = np_.matmul(cov, _t(h))  # [..., d, m]
        s = np_.matmul(h, ph_t) + B.asarray(self.R)  # innovation covariance [..., m, m]
        gain = _t(B.linalg.solve(s, _t(ph_t)))  # P H^T S^-1, S symmetric
        innovation = y - np_.einsum("...ij,...j->...i", h, mean)
        new_mean = mean + np_.einsum("...ij,...j->...i", gain, innovation)
        new_cov = cov - np_.matmul(gain, _t(ph_t))
        new_cov = 0.5 * (new_cov + _t(new_cov))
        if observed is not None:
            keep = B.asarray(observed)
            new_mean = np_.where(keep[..., None], new_mean, mean + np_.zeros_like(new_mean))
            new_cov = np_.where(keep[..., None, None], new_cov, cov + np_.zeros_like(new_cov))
        return Value(mean=new_mean, covariance=new_cov)

    def next_state(self, previous_state: Value, inputs: Value | None = None) -> Value:
        control = inputs.get("control") if inputs is not None and "control" in inputs else None
        prior = self.predict(previous_state, control)
        observed = inputs.get("observed") if inputs is not None and "observed" in inputs else None
        return self.update(prior, _field(inputs, "observation", "KalmanFilter"), observed)


class FinitePosterior(Entity):
    """Exact Bayes over latent values ``0..S-1`` from a likelihood table.

    ``likelihood[s, o] = P(observation o | latent s)`` (``[S, O]`` or
    ``[*batch, S, O]``). The belief ``state`` holds posterior probabilities
    ``[*batch, S]``, starting at ``prior``; each step multiplies by the column of the
    observed ``observation`` (int, ``[*batch]``) and renormalises.
    ``log_evidence`` accumulates ``log P(observations so far)``.
    """

    block_name = "finite_posterior"
    block_kind = "state"

    def __init__(
        self,
        prior: Any,
        likelihood: Any,
        *,
        batch_shape: int | Sequence[int] | None = None,
        observation_field: str = "observation",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.prior = as_float_param(prior, "prior")
        self.likelihood = as_float_param(likelihood, "likelihood")
        self.batch_shape = batch_shape_tuple(batch_shape)
        self.observation_field = observation_field
        ls = static_shape(self.likelihood)
        if len(ls) < 2:
            raise ValueError(f"likelihood must have shape [..., S, O], got {ls}")
        self.num_latent, self.num_observations = ls[-2], ls[-1]
        if static_shape(self.prior)[-1:] != (self.num_latent,):
            raise ValueError(f"prior must have shape [..., {self.num_latent}], got {static_shape(self.prior)}")
        if isinstance(self.likelihood, np.ndarray) and (
            np.any(self.likelihood < 0) or not np.allclose(self.likelihood.sum(-1), 1.0, atol=1e-5)
        ):
            raise ValueError("likelihood rows must be non-negative and sum to 1 (P(o | s) over o)")
        if isinstance(self.prior, np.ndarray) and (
            np.any(self.prior < 0) or not np.allclose(self.prior.sum(-1), 1.0, atol=1e-5)
        ):
            raise ValueError("prior must be non-negative and sum to 1")

    def initial_state(self) -> Value:
        np_ = get_backend().np
        probs = np_.zeros((*self.batch_shape, self.num_latent), dtype="float32") + get_backend().asarray(self.prior)
        return Value(state=probs, log_evidence=np_.zeros(self.batch_shape, dtype="float32"))

    def next_state(self, previous_state: Value, inputs: Value | None = None) -> Value:
        B = get_backend()
        np_ = B.np
        obs = _field(inputs, self.observation_field, "FinitePosterior")
        pick = B.one_hot(obs, static_size(self.likelihood, -1, "likelihood"), dtype="float32") > 0.0  # [*batch, O]
        lik = B.asarray(self.likelihood)
        column = np_.sum(np_.where(pick[..., None, :], lik, np_.zeros_like(lik)), axis=-1)  # [*batch, S]
        prev = B.asarray(previous_state.get("state"))
        joint = prev * column
        evidence = np_.sum(joint, axis=-1)
        safe = np_.where(evidence > 0, evidence, np_.ones_like(evidence))
        post = joint / safe[..., None]
        log_ev = (
            B.asarray(previous_state.get("log_evidence"))
            + np_.log(safe)
            + np_.where(evidence > 0, np_.zeros_like(evidence), np_.full_like(evidence, -np.inf))
        )
        return Value(state=post, log_evidence=log_ev)
