"""Static state models: a state drawn at the start and kept unchanged.

Each model has ``initial_state()`` returning ``Value(state=...)`` (plus documented
extra fields) and ``next_state(previous_state, inputs=None)`` returning the previous
value unchanged. Random states are returned as distributions (drawn by the network
under the field's name) so that logged trajectories can be scored.

>>> import numpy as np
>>> StaticTensor(np.ones((2, 3), np.float32)).initial_state().get("state").shape
(2, 3)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from recosim.core import Entity, Value, get_backend
from recosim.library.params import as_float_param, ndim, static_shape, static_size
from recosim.library.state._common import FieldDraws, batch_shape_tuple

__all__ = ["StaticStateModel", "StaticTensor", "GMMVector", "HierarchicalClusteredTensor", "MixtureSameFamily"]


class StaticStateModel(Entity, ABC):
    """Base of static models: ``next_state`` returns the previous state unchanged."""

    @abstractmethod
    def initial_state(self) -> Value:
        """The state at t=0 (kept unchanged afterwards)."""

    def next_state(self, previous_state: Value, inputs: Value | None = None) -> Value:
        """The previous state, unchanged (fields are copied as they are)."""
        return Value(previous_state)


class StaticTensor(StaticStateModel):
    """A fixed array given at construction: ``Value(state=tensor)`` forever."""

    block_name = "static_tensor"
    block_kind = "state"

    def __init__(self, tensor: Any, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if tensor is None:
            raise ValueError("StaticTensor needs a tensor")
        if isinstance(tensor, (list, tuple, int, float)):
            tensor = np.asarray(tensor)
            if tensor.dtype == np.float64:
                tensor = tensor.astype(np.float32)
            elif tensor.dtype == np.int64:
                tensor = tensor.astype(np.int32)
        self.tensor = tensor

    def initial_state(self) -> Value:
        return Value(state=get_backend().asarray(self.tensor))


def _check_mixture(logits: Any, means: Any, scales: Any) -> tuple[int | None, int | None]:
    if ndim(logits) < 1:
        raise ValueError("mixture_logits must have a component axis (shape [..., K]), got a scalar")
    k = static_shape(logits)[-1]
    if ndim(means) < 2:
        raise ValueError(f"component_means must have shape [..., K, d], got shape {static_shape(means)}")
    km, d = static_shape(means)[-2:]
    if k is not None and km is not None and k != km:
        raise ValueError(
            f"mixture_logits has {k} components but component_means has {km} (shapes "
            f"{static_shape(logits)} and {static_shape(means)})"
        )
    if ndim(scales) > 0:
        sshape = static_shape(scales)
        if sshape[-1] not in (1, d, None):
            raise ValueError(f"component_scales has shape {sshape}; expected a scalar, [d], or [..., K, d] (d={d})")
    return k, d


class GMMVector(StaticStateModel, FieldDraws):
    """Vectors drawn from a Gaussian mixture with diagonal component scales.

    Args:
      batch_shape: the population shape (e.g. ``num_users``); draws have shape
        ``batch_shape + [d]``.
      mixture_logits: ``[K]`` (or ``[*batch, K]``) component log-weights.
      component_means: ``[K, d]`` (or ``[*batch, K, d]``).
      component_scales: standard deviations, a scalar, ``[d]`` or ``[K, d]``.
      return_component_id: also return ``component_id`` (int32, ``batch_shape``): the
        component each vector came from. It is then drawn inside the behaviour, so
        pass ``field_prefix`` if you file the output under a prefix.

    >>> import numpy as np
    >>> g = GMMVector(4, np.zeros(2, np.float32), np.eye(2, dtype=np.float32), 0.1)
    >>> g.initial_state().get("state").batch_shape
    TensorShape([4])
    """

    block_name = "gmm_vector"
    block_kind = "state"

    def __init__(
        self,
        batch_shape: int | Sequence[int] | None,
        mixture_logits: Any,
        component_means: Any,
        component_scales: Any,
        *,
        return_component_id: bool = False,
        field_prefix: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self._set_prefix(field_prefix)
        self.batch_shape = batch_shape_tuple(batch_shape)
        self.mixture_logits = as_float_param(mixture_logits, "mixture_logits")
        self.component_means = as_float_param(component_means, "component_means")
        self.component_scales = as_float_param(component_scales, "component_scales")
        if isinstance(self.component_scales, np.ndarray) and np.any(self.component_scales <= 0):
            raise ValueError("component_scales must be positive")
        self.num_components, self.dim = _check_mixture(self.mixture_logits, self.component_means, self.component_scales)
        self.return_component_id = bool(return_component_id)

    def _params(self) -> tuple[Any, Any, Any]:
        B = get_backend()
        np_ = B.np
        k, d = self.num_components, self.dim
        logits = B.asarray(self.mixture_logits)
        means = B.asarray(self.component_means)
        scales = np_.zeros_like(means) + B.asarray(self.component_scales)
        if self.batch_shape:
            logits = np_.broadcast_to(logits, (*self.batch_shape, k))
            means = np_.broadcast_to(means, (*self.batch_shape, k, d))
            scales = np_.broadcast_to(scales, (*self.batch_shape, k, d))
        return logits, means, scales

    def distribution(self) -> Any:
        """The mixture as one TFP distribution with batch shape ``batch_shape``."""
        B = get_backend()
        logits, means, scales = self._params()
        return B.tfd.MixtureSameFamily(
            mixture_distribution=B.tfd.Categorical(logits=logits),
            components_distribution=B.tfd.MultivariateNormalDiag(loc=means, scale_diag=scales),
        )

    def initial_state(self) -> Value:
        """``Value(state=...)``, plus ``component_id`` when ``return_component_id``."""
        if not self.return_component_id:
            return Value(state=self.distribution())
        B = get_backend()
        np_ = B.np
        logits, means, scales = self._params()
        component = self._draw("component_id", B.tfd.Categorical(logits=logits))
        num_components = static_size(self.mixture_logits, -1, "mixture_logits")
        pick = np_.expand_dims(B.one_hot(component, num_components, dtype="float32"), -1)  # [..., K, 1]
        loc = np_.sum(pick * means, axis=-2)
        scale = np_.sum(pick * scales, axis=-2)
        return Value(state=B.tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale), component_id=component)


class HierarchicalClusteredTensor(StaticStateModel, FieldDraws):
    """Points in hard clusters: cluster centres first, then each member around its centre.

    Centres are drawn from ``N(centre_loc, centre_scale^2 I)`` (``[K, d]``); each of the
    ``batch_shape`` members picks a cluster from ``cluster_logits`` and is drawn from
    ``N(centre, member_scale^2 I)``. Returns ``Value(state [*batch, d], cluster_id
    [*batch] int32, cluster_centers [K, d])``. Centres and ids are drawn inside the
    behaviour; pass ``field_prefix`` when filing the output under a prefix.

    >>> import numpy as np
    >>> from recosim.core.random import seed
    >>> h = HierarchicalClusteredTensor(10, num_clusters=3, dim=2)
    >>> with seed(0):
    ...     out = h.initial_state()
    >>> out.get("cluster_centers").shape, out.get("cluster_id").shape
    ((3, 2), (10,))
    """

    block_name = "hierarchical_clustered_tensor"
    block_kind = "state"

    def __init__(
        self,
        batch_shape: int | Sequence[int],
        *,
        num_clusters: int,
        dim: int,
        cluster_logits: Any = None,
        centre_loc: Any = 0.0,
        centre_scale: Any = 1.0,
        member_scale: Any = 0.1,
        field_prefix: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self._set_prefix(field_prefix)
        self.batch_shape = batch_shape_tuple(batch_shape)
        if not self.batch_shape:
            raise ValueError("HierarchicalClusteredTensor needs a batch_shape (the number of members)")
        if int(num_clusters) != num_clusters or num_clusters < 1:
            raise ValueError(f"num_clusters must be a positive integer, got {num_clusters!r}")
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.num_clusters, self.dim = int(num_clusters), int(dim)
        logits = np.zeros(self.num_clusters, np.float32) if cluster_logits is None else cluster_logits
        self.cluster_logits = as_float_param(logits, "cluster_logits")
        if ndim(self.cluster_logits) != 1 or static_shape(self.cluster_logits)[0] not in (None, self.num_clusters):
            raise ValueError(f"cluster_logits must have shape [{self.num_clusters}], got {static_shape(logits)}")
        self.centre_loc = as_float_param(centre_loc, "centre_loc")
        self.centre_scale = as_float_param(centre_scale, "centre_scale")
        self.member_scale = as_float_param(member_scale, "member_scale")

    def initial_state(self) -> Value:
        """``Value(state, cluster_id, cluster_centers)``."""
        B = get_backend()
        np_ = B.np
        k, d = self.num_clusters, self.dim
        centre_loc = np_.zeros((k, d), dtype="float32") + B.asarray(self.centre_loc)
        centre_scale = np_.zeros((k, d), dtype="float32") + B.asarray(self.centre_scale)
        centres = self._draw(
            "cluster_centers", B.tfd.Independent(B.tfd.Normal(centre_loc, centre_scale), reinterpreted_batch_ndims=2)
        )
        logits = np_.broadcast_to(B.asarray(self.cluster_logits), (*self.batch_shape, k))
        cluster = self._draw("cluster_id", B.tfd.Categorical(logits=logits))
        pick = B.one_hot(cluster, k, dtype="float32")  # [*batch, K]
        loc = np_.einsum("...k,kd->...d", pick, centres)
        scale = np_.zeros_like(loc) + B.asarray(self.member_scale)
        return Value(
            state=B.tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale), cluster_id=cluster, cluster_centers=centres
        )


class MixtureSameFamily(StaticStateModel):
    """A state drawn from any TFP ``MixtureSameFamily``, broadcast over a population.

    Args:
      batch_shape: population shape (prepended to the mixture's own batch shape).
      mixture_logits: ``[..., K]`` component log-weights.
      component: either the name of a ``tfd`` distribution (``"Normal"``,
        ``"MultivariateNormalDiag"``, ``"Poisson"``, ...) together with
        ``component_params`` (arrays with a ``K`` axis where TFP expects the batch),
        or a callable ``component(tfd) -> distribution`` (for anything else).

    >>> import numpy as np
    >>> m = MixtureSameFamily(3, np.zeros(2, np.float32), "Normal", loc=[-1.0, 1.0], scale=[0.1, 0.1])
    >>> m.initial_state().get("state").batch_shape
    TensorShape([3])
    """

    block_name = "mixture_same_family"
    block_kind = "state"

    def __init__(
        self,
        batch_shape: int | Sequence[int] | None,
        mixture_logits: Any,
        component: str | Callable[[Any], Any],
        *,
        name: str | None = None,
        **component_params: Any,
    ) -> None:
        super().__init__(name=name)
        self.batch_shape = batch_shape_tuple(batch_shape)
        self.mixture_logits = as_float_param(mixture_logits, "mixture_logits")
        if not (isinstance(component, str) or callable(component)):
            raise TypeError(f"component must be a tfd distribution name or a callable, got {type(component).__name__}")
        if callable(component) and component_params:
            raise ValueError("component_params are only used with a distribution name, not with a callable component")
        self.component = component
        self.component_params: Mapping[str, Any] = {k: as_float_param(v, k) for k, v in component_params.items()}

    def distribution(self) -> Any:
        B = get_backend()
        if isinstance(self.component, str):
            family = getattr(B.tfd, self.component, None)
            if family is None:
                raise ValueError(f"component {self.component!r} is not a distribution in tfd")
            comp = family(**{k: B.asarray(v) for k, v in self.component_params.items()})
        else:
            comp = self.component(B.tfd)
        mix = B.tfd.MixtureSameFamily(
            mixture_distribution=B.tfd.Categorical(logits=B.asarray(self.mixture_logits)),
            components_distribution=comp,
        )
        if self.batch_shape:
            mix = B.tfd.BatchBroadcast(mix, with_shape=tuple(self.batch_shape) + tuple(mix.batch_shape))
        return mix

    def initial_state(self) -> Value:
        return Value(state=self.distribution())
