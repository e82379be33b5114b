"""Dynamic state models: states that evolve by a (controllable) transition kernel.

Each model has ``initial_state()`` and ``next_state(previous_state, inputs)``, both
returning ``Value(state=...)``. ``previous_state`` is what the model returned one
step earlier (after the network drew it); ``inputs`` carries controls, by default
in the field ``input``. Stochastic transitions are returned as distributions, so
trajectories have log-probabilities.

>>> import numpy as np
>>> m = ControlledLinearScaledGaussian(batch_shape=3, dim=2, control_scale=0.5, noise_scale=0.1)
>>> nxt = m.next_state(Value(state=np.zeros((3, 2), np.float32)), Value(input=np.ones((3, 2), np.float32)))
>>> nxt.get("state").mean().tolist()[0]
[0.5, 0.5]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from recosim.core import Entity, Value, get_backend
from recosim.library.params import as_float_param, ndim, static_shape, static_size
from recosim.library.state._common import batch_shape_tuple, mvn, select_values

__all__ = [
    "LinearGaussian",
    "ControlledLinearGaussian",
    "ControlledLinearScaledGaussian",
    "FiniteStateMarkovChain",
    "SwitchingDynamics",
    "ResetOrContinue",
    "NoOpOrContinue",
    "RecurrentCellState",
]


def _input(inputs: Value | None, field: str, model: str) -> Any:
    if inputs is None or field not in inputs:
        have = [] if inputs is None else sorted(inputs.keys())
        raise ValueError(f"{model}.next_state needs the input field {field!r}; the inputs have {have}")
    return get_backend().asarray(inputs.get(field))


def _positive(x: Any, name: str) -> None:
    if isinstance(x, np.ndarray) and np.any(x <= 0):
        raise ValueError(f"{name} must be positive")


class _LinearGaussianBase(Entity, ABC):
    """x_0 ~ N(initial_loc, diag(initial_scale^2)); x_t ~ N(mean(x_{t-1}, u_t), noise)."""

    def __init__(
        self,
        batch_shape: int | Sequence[int] | None,
        dim: int,
        *,
        initial_loc: Any,
        initial_scale: Any,
        noise_scale: Any,
        noise_scale_tril: Any,
        name: str | None,
        custom_noise: bool = False,
    ) -> None:
        super().__init__(name=name)
        self.batch_shape = batch_shape_tuple(batch_shape)
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.dim = int(dim)
        self.initial_loc = as_float_param(initial_loc, "initial_loc")
        self.initial_scale = as_float_param(initial_scale, "initial_scale")
        _positive(self.initial_scale, "initial_scale")
        self.noise_scale = self.noise_scale_tril = None
        if custom_noise:
            return
        if (noise_scale is None) == (noise_scale_tril is None):
            raise ValueError("give exactly one of noise_scale (scalar or [d] standard deviations) and noise_scale_tril")
        if noise_scale_tril is not None:
            self.noise_scale_tril = as_float_param(noise_scale_tril, "noise_scale_tril")
            if static_shape(self.noise_scale_tril)[-2:] != (self.dim, self.dim):
                raise ValueError(
                    f"noise_scale_tril must have shape [..., {self.dim}, {self.dim}], "
                    f"got {static_shape(self.noise_scale_tril)}"
                )
            self.noise_scale = None
        else:
            self.noise_scale = as_float_param(noise_scale, "noise_scale")
            _positive(self.noise_scale, "noise_scale")
            self.noise_scale_tril = None

    def initial_state(self) -> Value:
        B = get_backend()
        np_ = B.np
        loc = np_.zeros((*self.batch_shape, self.dim), dtype="float32") + B.asarray(self.initial_loc)
        return Value(state=mvn(loc, self.initial_scale, scale_is_tril=False))

    @abstractmethod
    def _mean(self, x: Any, inputs: Value | None) -> Any:
        """The mean of the next state given the previous state ``x`` and the inputs."""

    def next_state(self, previous_state: Value, inputs: Value | None = None) -> Value:
        x = get_backend().asarray(previous_state.get("state"))
        loc = self._mean(x, inputs)
        if self.noise_scale_tril is not None:
            return Value(state=mvn(loc, self.noise_scale_tril, scale_is_tril=True))
        return Value(state=mvn(loc, self.noise_scale, scale_is_tril=False))


def _matvec(a: Any, x: Any) -> Any:
    return get_backend().np.einsum("...ij,...j->...i", get_backend().asarray(a), x)


class LinearGaussian(_LinearGaussianBase):
    """``x_t = A x_{t-1} + noise``, noise ``N(0, diag(noise_scale^2))`` or ``N(0, L L^T)``.

    Args:
      transition_matrix: ``A``, ``[d, d]`` or ``[*batch, d, d]``.
      noise_scale / noise_scale_tril: standard deviations (scalar, ``[d]`` or ``[*batch, d]``) or a
        lower-triangular Cholesky factor ``[..., d, d]``; give exactly one.
      initial_loc, initial_scale: mean and standard deviations of ``x_0``.
    """

    block_name = "linear_gaussian"
    block_kind = "state"

    def __init__(
        self,
        batch_shape: int | Sequence[int] | None,
        transition_matrix: Any,
        *,
        noise_scale: Any = None,
        noise_scale_tril: Any = None,
        initial_loc: Any = 0.0,
        initial_scale: Any = 1.0,
        name: str | None = None,
    ) -> None:
        a = as_float_param(transition_matrix, "transition_matrix")
        shape = static_shape(a)
        if len(shape) < 2 or shape[-1] != shape[-2]:
            raise ValueError(f"transition_matrix must have shape [..., d, d], got {shape}")
        super().__init__(
            batch_shape,
            static_size(a, -1, "transition_matrix"),
            initial_loc=initial_loc,
            initial_scale=initial_scale,
            noise_scale=noise_scale,
            noise_scale_tril=noise_scale_tril,
            name=name,
        )
        self.transition_matrix = a

    def _mean(self, x: Any, inputs: Value | None) -> Any:
        return _matvec(self.transition_matrix, x)


class ControlledLinearGaussian(LinearGaussian):
    """``x_t = A x_{t-1} + B u_t + noise``; the control ``u_t`` is the input field ``input`` (``[..., m]``).

    ``control_matrix`` is ``B``: ``[d, m]`` or ``[*batch, d, m]``.
    """

    block_name = "controlled_linear_gaussian"
    block_kind = "state"

    def __init__(
        self,
        batch_shape: int | Sequence[int] | None,
        transition_matrix: Any,
        control_matrix: Any,
        *,
        noise_scale: Any = None,
        noise_scale_tril: Any = None,
        initial_loc: Any = 0.0,
        initial_scale: Any = 1.0,
        input_field: str = "input",
        name: str | None = None,
    ) -> None:
        super().__init__(
            batch_shape,
            transition_matrix,
            noise_scale=noise_scale,
            noise_scale_tril=noise_scale_tril,
            initial_loc=initial_loc,
            initial_scale=initial_scale,
            name=name,
        )
        self.control_matrix = as_float_param(control_matrix, "control_matrix")
        cshape = static_shape(self.control_matrix)
        if len(cshape) < 2 or cshape[-2] != self.dim:
            raise ValueError(f"control_matrix must have shape [..., {self.dim}, m], got {cshape}")
        self.input_field = input_field

    def _mean(self, x: Any, inputs: Value | None) -> Any:
        u = _input(inputs, self.input_field, type(self).__name__)
        return _matvec(self.transition_matrix, x) + _matvec(self.control_matrix, u)


class ControlledLinearScaledGaussian(_LinearGaussianBase):
    """``x_t = a x_{t-1} + b u_t + s * eps``: scaled-identity transition, control and noise.

    ``transition_scale`` (a), ``control_scale`` (b) and ``noise_scale`` (s) are scalars
    or one value per batch element (``[*batch]``); ``eps ~ N(0, I)``. With ``a = 1``
    and ``b = lambda`` this is the interest dynamics of the paper's example.
    """

    block_name = "controlled_linear_scaled_gaussian"
    block_kind = "state"

    def __init__(
        self,
        batch_shape: int | Sequence[int] | None,
        dim: int,
        *,
        transition_scale: Any = 1.0,
        control_scale: Any = 1.0,
        noise_scale: Any = 1.0,
        initial_loc: Any = 0.0,
        initial_scale: Any = 1.0,
        input_field: str = "input",
        name: str | None = None,
    ) -> None:
        super().__init__(
            batch_shape,
            dim,
            initial_loc=initial_loc,
            initial_scale=initial_scale,
            noise_scale=None,
            noise_scale_tril=None,
            name=name,
            custom_noise=True,
        )
        self.transition_scale = as_float_param(transition_scale, "transition_scale")
        self.control_scale = as_float_param(control_scale, "control_scale")
        self.scalar_noise = as_float_param(noise_scale, "noise_scale")
        _positive(self.scalar_noise, "noise_scale")
        self.input_field = input_field

    @staticmethod
    def _per_batch(x: Any) -> Any:
        B = get_backend()
        x = B.asarray(x)
        return B.np.expand_dims(x, -1) if ndim(x) > 0 else x

    def _mean(self, x: Any, inputs: Value | None) -> Any:
        u = _input(inputs, self.input_field, type(self).__name__)
        return self._per_batch(self.transition_scale) * x + self._per_batch(self.control_scale) * u

    def next_state(self, previous_state: Value, inputs: Value | None = None) -> Value:
        x = get_backend().asarray(previous_state.get("state"))
        return Value(state=mvn(self._mean(x, inputs), self._per_batch(self.scalar_noise), scale_is_tril=False))


def _safe_log(p: Any) -> Any:
    """``log(p)`` with ``-inf`` for zeros and a zero (not NaN) gradient there."""
    np_ = get_backend().np
    positive = p > 0
    return np_.where(positive, np_.log(np_.where(positive, p, np_.ones_like(p))), np_.full_like(p, -np.inf))


class FiniteStateMarkovChain(Entity):
    """A (controlled) Markov chain on states ``0..S-1``.

    Args:
      initial_probs: ``[S]`` (or ``[*batch, S]``) distribution of the first state.
      transition_probs: ``[S, S]`` (row ``i``: next-state distribution from ``i``), or
        ``[C, S, S]`` for a chain controlled by an integer input ``input`` in ``0..C-1``
        (one matrix per control); a leading ``[*batch]`` is allowed in both.
      controlled: whether ``transition_probs`` has the control axis.

    ``state`` is int32 with shape ``batch_shape``.
    """

    block_name = "finite_state_markov_chain"
    block_kind = "state"

    def __init__(
        self,
        batch_shape: int | Sequence[int] | None,
        initial_probs: Any,
        transition_probs: Any,
        *,
        controlled: bool = False,
        input_field: str = "input",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.batch_shape = batch_shape_tuple(batch_shape)
        self.initial_probs = as_float_param(initial_probs, "initial_probs")
        self.transition_probs = as_float_param(transition_probs, "transition_probs")
        self.controlled = bool(controlled)
        self.input_field = input_field
        tshape = static_shape(self.transition_probs)
        need = 3 if self.controlled else 2
        if len(tshape) < need or tshape[-1] != tshape[-2]:
            kind = "[C, S, S]" if self.controlled else "[S, S]"
            raise ValueError(f"transition_probs must have shape {kind} (controlled={self.controlled}), got {tshape}")
        self.num_states = tshape[-1]
        self.num_controls = tshape[-3] if self.controlled else None
        if static_shape(self.initial_probs)[-1:] != (self.num_states,):
            raise ValueError(
                f"initial_probs must have shape [..., {self.num_states}], got {static_shape(self.initial_probs)}"
            )
        for label, p in (("initial_probs", self.initial_probs), ("transition_probs", self.transition_probs)):
            if isinstance(p, np.ndarray) and (np.any(p < 0) or not np.allclose(p.sum(-1), 1.0, atol=1e-5)):
                raise ValueError(f"{label} must be non-negative and sum to 1 along the last axis")

    def initial_state(self) -> Value:
        B = get_backend()
        probs = B.np.broadcast_to(B.asarray(self.initial_probs), (*self.batch_shape, self.num_states))
        return Value(state=B.tfd.Categorical(logits=_safe_log(probs)))

    def transition_row(self, state: Any, control: Any = None) -> Any:
        """Next-state probabilities ``[*batch, S]`` from ``state`` (and ``control``)."""
        B = get_backend()
        np_ = B.np
        t = B.asarray(self.transition_probs)
        num_states = static_size(t, -1, "transition_probs")
        if self.controlled:
            num_controls = static_size(t, -3, "transition_probs")
            t = np_.einsum("...c,...cst->...st", B.one_hot(control, num_controls, dtype="float32"), t)
        return np_.einsum("...s,...st->...t", B.one_hot(state, num_states, dtype="float32"), t)

    def next_state(self, previous_state: Value, inputs: Value | None = None) -> Value:
        control = _input(inputs, self.input_field, type(self).__name__) if self.controlled else None
        row = self.transition_row(previous_state.get("state"), control)
        return Value(state=get_backend().tfd.Categorical(logits=_safe_log(row)))


class SwitchingDynamics(Entity):
    """Per batch element, the transition of one of several models, picked by the input ``mode``.

    ``inputs.get(mode_field)`` (int, ``[*batch]``) indexes ``models``; every model sees
    the same previous state and inputs and must return the same fields. The first
    model (or ``initial_model``) gives the initial state. Draws of the models that are
    not selected are discarded; the log-probability is the selected model's. Options
    must return their random fields as distributions (as every model here does);
    a model that draws inside its behaviour (``GMMVector(return_component_id=True)``)
    cannot be an option.
    """

    block_name = "switching_dynamics"
    block_kind = "state"

    def __init__(
        self,
        models: Sequence[Any],
        *,
        initial_model: Any = None,
        mode_field: str = "mode",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.models = list(models)
        if not self.models:
            raise ValueError("SwitchingDynamics needs at least one model")
        self.initial_model = initial_model if initial_model is not None else self.models[0]
        self.mode_field = mode_field

    def initial_state(self) -> Value:
        return self.initial_model.initial_state()

    def next_state(self, previous_state: Value, inputs: Value | None = None) -> Value:
        mode = _input(inputs, self.mode_field, type(self).__name__)
        options = [m.next_state(previous_state, inputs) for m in self.models]
        return select_values(mode, options)


class ResetOrContinue(Entity):
    """Restart from ``initial_model.initial_state()`` where the input ``reset`` is true; else continue.

    ``reset`` is a boolean ``[*batch]``; ``continue_model.next_state`` gives the
    transition elsewhere (and the initial state comes from ``initial_model``).
    """

    block_name = "reset_or_continue"
    block_kind = "state"

    def __init__(
        self, initial_model: Any, continue_model: Any, *, reset_field: str = "reset", name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.initial_model = initial_model
        self.continue_model = continue_model
        self.reset_field = reset_field

    def initial_state(self) -> Value:
        return self.initial_model.initial_state()

    def next_state(self, previous_state: Value, inputs: Value | None = None) -> Value:
        B = get_backend()
        reset = B.cast(_input(inputs, self.reset_field, type(self).__name__), "int32")
        options = [self.continue_model.next_state(previous_state, inputs), self.initial_model.initial_state()]
        return select_values(reset, options)


class NoOpOrContinue(Entity):
    """Keep the previous state where the input ``no_op`` is true; elsewhere apply ``continue_model``."""

    block_name = "no_op_or_continue"
    block_kind = "state"

    def __init__(self, continue_model: Any, *, no_op_field: str = "no_op", name: str | None = None) -> None:
        super().__init__(name=name)
        self.continue_model = continue_model
        self.no_op_field = no_op_field

    def initial_state(self) -> Value:
        return self.continue_model.initial_state()

    def next_state(self, previous_state: Value, inputs: Value | None = None) -> Value:
        B = get_backend()
        no_op = B.cast(_input(inputs, self.no_op_field, type(self).__name__), "int32")
        moved = self.continue_model.next_state(previous_state, inputs)
        kept = Value({k: previous_state.get(k) for k in moved.keys()})
        return select_values(no_op, [moved, kept])


class RecurrentCellState(Entity):
    """A gated recurrent cell (GRU equations) as a state model; weights are plain arrays.

    ``h_t = (1 - z) * n + z * h_{t-1}`` with ``z = sigmoid(x Wz + h Uz + bz)``, ``r =
    sigmoid(x Wr + h Ur + br)``, ``n = tanh(x Wn + (r * h) Un + bn)``; ``x`` is the input
    field ``input`` (``[*batch, input_dim]``). Weights are drawn once from ``seed``
    (or given as ``kernel [input_dim, 3 units]``, ``recurrent_kernel [units, 3 units]``,
    ``bias [3 units]``, gate order z, r, n). With ``noise_scale`` the next state is
    ``N(h_t, noise_scale^2 I)``; otherwise it is deterministic. The initial state is 0.

    >>> import numpy as np
    >>> cell = RecurrentCellState(2, input_dim=3, units=4)
    >>> h = cell.next_state(cell.initial_state(), Value(input=np.ones((2, 3), np.float32)))
    >>> h.get("state").shape
    (2, 4)
    """

    block_name = "recurrent_cell_state"
    block_kind = "state"

    def __init__(
        self,
        batch_shape: int | Sequence[int] | None,
        *,
        input_dim: int,
        units: int,
        seed: int = 0,
        kernel: Any = None,
        recurrent_kernel: Any = None,
        bias: Any = None,
        noise_scale: Any = None,
        input_field: str = "input",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.batch_shape = batch_shape_tuple(batch_shape)
        self.input_dim, self.units = int(input_dim), int(units)
        if self.input_dim < 1 or self.units < 1:
            raise ValueError(f"input_dim and units must be positive, got {input_dim!r} and {units!r}")
        rng = np.random.default_rng(seed)
        lim_in = np.sqrt(6.0 / (self.input_dim + self.units))
        lim_rec = np.sqrt(6.0 / (2 * self.units))
        h3 = 3 * self.units
        if kernel is None:
            kernel = rng.uniform(-lim_in, lim_in, (self.input_dim, h3))
        if recurrent_kernel is None:
            recurrent_kernel = rng.uniform(-lim_rec, lim_rec, (self.units, h3))
        if bias is None:
            bias = np.zeros(h3)
        self.kernel = as_float_param(kernel, "kernel")
        self.recurrent_kernel = as_float_param(recurrent_kernel, "recurrent_kernel")
        self.bias = as_float_param(bias, "bias")
        for label, arr, want in (
            ("kernel", self.kernel, (self.input_dim, h3)),
            ("recurrent_kernel", self.recurrent_kernel, (self.units, h3)),
            ("bias", self.bias, (h3,)),
        ):
            if static_shape(arr) != want:
                raise ValueError(f"{label} must have shape {want}, got {static_shape(arr)}")
        self.noise_scale = None if noise_scale is None else as_float_param(noise_scale, "noise_scale")
        self.input_field = input_field

    def initial_state(self) -> Value:
        return Value(state=get_backend().np.zeros((*self.batch_shape, self.units), dtype="float32"))

    def cell(self, x: Any, h: Any) -> Any:
        """One deterministic step of the cell: ``h_t`` from input ``x`` and state ``h``."""
        B = get_backend()
        np_ = B.np
        u = self.units
        kernel, rec, bias = B.asarray(self.kernel), B.asarray(self.recurrent_kernel), B.asarray(self.bias)
        xw = np_.matmul(x, kernel) + bias
        hu = np_.matmul(h, rec[:, : 2 * u])
        z = B.sigmoid(xw[..., :u] + hu[..., :u])
        r = B.sigmoid(xw[..., u : 2 * u] + hu[..., u:])
        n = np_.tanh(xw[..., 2 * u :] + np_.matmul(r * h, rec[:, 2 * u :]))
        return (1.0 - z) * n + z * h

    def next_state(self, previous_state: Value, inputs: Value | None = None) -> Value:
        B = get_backend()
        x = B.cast(_input(inputs, self.input_field, type(self).__name__), "float32")
        if static_shape(x)[-1:] != (self.input_dim,):
            raise ValueError(
                f"input field {self.input_field!r} must have shape [..., {self.input_dim}], got {static_shape(x)}"
            )
        h = self.cell(x, B.asarray(previous_state.get("state")))
        if self.noise_scale is None:
            return Value(state=h)
        return Value(state=mvn(h, self.noise_scale, scale_is_tril=False))
