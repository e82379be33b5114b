"""A sparse, undirected social graph held as fixed-capacity neighbour arrays.

Account ``i``'s contacts are ``neighbours[i, :degree[i]]``; the remaining slots
hold ``-1``. Memory is ``num_accounts x capacity``, never ``num_accounts^2``, and
every query is a gather over rows: whether two accounts are contacts, how many
contacts they share, a uniformly drawn contact (`UniformIndex`), sums over
contacts. Edges are added in batches by :meth:`SparseSocialGraph.add_edges`,
which drops self-loops, edges that exist already, repeats within the batch
(``a-b`` twice, or ``a-b`` and ``b-a``) and edges that would overflow either
endpoint's capacity, and reports which edges it added; and removed in batches by
:meth:`SparseSocialGraph.remove_edges`.

>>> import numpy as np
>>> g = SparseSocialGraph(num_accounts=4, capacity=2)
>>> s, added, _ = g.add_edges(g.empty_state(), np.array([0, 1, 0, 1]), np.array([1, 0, 2, 2]))
>>> added.tolist()  # 1-0 repeats 0-1
[True, False, True, True]
>>> s.get("neighbours").tolist(), s.get("degree").tolist()
([[1, 2], [0, 2], [0, 1], [-1, -1]], [2, 2, 2, 0])
>>> int(g.mutual_contacts(s, np.array(0), np.array(1)))
1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recosim.core import Entity, FieldSpec, Value, ValueSpec, get_backend
from recosim.library.params import known_shape, positive_int, static_shape
from recosim.library.social._ops import exclusive_cumsum, flatten, int32, inverse_permutation, stable_argsort, take_rows

__all__ = ["SparseSocialGraph", "UniformIndex"]

_INT32_MAX = 2**31 - 1


class UniformIndex:
    """A uniformly drawn integer in ``[0, high)``, elementwise over the batch shape of ``high``.

    Where ``high`` is 0 (an account without contacts, say) the draw is 0 with
    probability one, so such draws are scored as certain rather than impossible.
    Sampling scales a TFP ``Uniform`` draw of the backend, so it is stateless and
    seeded like every other draw.

    >>> d = UniformIndex(np.array([4, 0], np.int32))
    >>> [round(float(x), 4) for x in d.log_prob(np.array([3, 0], np.int32))]
    [-1.3863, 0.0]
    """

    def __init__(self, high: Any) -> None:
        self.high = int32(high)
        self.dtype = "int32"

    @property
    def batch_shape(self) -> tuple[int | None, ...]:
        return static_shape(self.high)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return ()

    def sample(self, sample_shape: Sequence[int] | int = (), seed: Any = None) -> Any:
        B = get_backend()
        np_ = B.np
        shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
        high = B.cast(self.high, "float32")
        u = B.tfd.Uniform(low=np_.zeros_like(high), high=np_.ones_like(high)).sample(shape, seed=seed)
        x = int32(np_.floor(u * high))
        return np_.clip(x, 0, np_.maximum(self.high - 1, 0))

    def log_prob(self, x: Any) -> Any:
        B = get_backend()
        np_ = B.np
        x = int32(x)
        high = self.high
        inside = (x >= 0) & (x < high)
        uniform = np_.where(inside, -np_.log(B.cast(np_.maximum(high, 1), "float32")), -np.inf)
        certain = np_.where(x == 0, np_.zeros_like(uniform), np.full((), -np.inf, np.float32))
        return np_.where(high > 0, uniform, certain)

    def __repr__(self) -> str:
        return f"UniformIndex(batch_shape={self.batch_shape})"


class SparseSocialGraph(Entity):
    """An undirected graph of ``num_accounts`` accounts, each with at most ``capacity`` contacts.

    The state is ``Value(neighbours=int32[N, capacity], degree=int32[N])``.

    Args:
      num_accounts: ``N``.
      capacity: contacts an account can hold; an edge that would exceed either
        endpoint's capacity is not added (``add_edges`` reports it).
      max_new_edges: optional bound on the edges one ``add_edges`` call considers.
        Requests are compacted into a buffer of this size before the sort that
        places them, which keeps a call cheap when few of many candidate edges
        are valid; valid requests beyond it are not added and are counted as
        ``overflow`` (choose it so that this does not happen).
    """

    block_name = "sparse_social_graph"
    block_kind = "state"

    def __init__(
        self, num_accounts: int, capacity: int, *, max_new_edges: int | None = None, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.num_accounts = positive_int(num_accounts, "num_accounts")
        self.capacity = positive_int(capacity, "capacity")
        self.max_new_edges = None if max_new_edges is None else positive_int(max_new_edges, "max_new_edges")

    def specs(self) -> ValueSpec:
        """The state's fields: ``neighbours`` and ``degree``."""
        n, k = self.num_accounts, self.capacity
        return ValueSpec(neighbours=FieldSpec((n, k), "int32"), degree=FieldSpec((n,), "int32"))

    def empty_state(self) -> Value:
        """No edges."""
        np_ = get_backend().np
        return Value(
            neighbours=-np_.ones((self.num_accounts, self.capacity), dtype="int32"),
            degree=np_.zeros((self.num_accounts,), dtype="int32"),
        )

    def initial_state(self, a: Any = None, b: Any = None, valid: Any = None) -> Value:
        """The graph of the edge list ``a[i] - b[i]`` (where ``valid``), or no edges."""
        state = self.empty_state()
        if a is None:
            return state
        return self.add_edges(state, a, b, valid)[0]

    def _check(self, state: Value) -> tuple[Any, Any]:
        B = get_backend()
        nbr, deg = int32(state.get("neighbours")), int32(state.get("degree"))
        want = (self.num_accounts, self.capacity)
        if static_shape(nbr) != want:
            raise ValueError(f"{self.name}: neighbours has shape {static_shape(nbr)}, expected {want}")
        return nbr, B.np.reshape(deg, (self.num_accounts,))

    # -- queries --------------------------------------------------------------------
    def contacts_of(self, state: Value, accounts: Any) -> Any:
        """``neighbours[accounts]`` (``[..., capacity]``, ``-1`` in empty slots and for ``accounts < 0``)."""
        nbr, _ = self._check(state)
        return take_rows(nbr, accounts)

    def degree_of(self, state: Value, accounts: Any) -> Any:
        """The number of contacts of ``accounts`` (0 for ``accounts < 0``)."""
        np_ = get_backend().np
        _, deg = self._check(state)
        accounts = int32(accounts)
        d = np_.take(deg, np_.clip(accounts, 0, self.num_accounts - 1), axis=0)
        return np_.where(accounts >= 0, d, np_.zeros_like(d))

    def are_contacts(self, state: Value, a: Any, b: Any) -> Any:
        """Whether ``a`` and ``b`` (broadcast against each other) are contacts (bool)."""
        np_ = get_backend().np
        rows = self.contacts_of(state, a)
        b = int32(b)
        return np_.any((rows == np_.expand_dims(b, -1)) & np_.expand_dims(b >= 0, -1), axis=-1)

    def mutual_contacts(self, state: Value, a: Any, b: Any) -> Any:
        """The number of contacts ``a`` and ``b`` share (int32; 0 where either is negative)."""
        np_ = get_backend().np
        rows_a = self.contacts_of(state, a)
        rows_b = self.contacts_of(state, b)
        same = (np_.expand_dims(rows_a, -1) == np_.expand_dims(rows_b, -2)) & np_.expand_dims(rows_a >= 0, -1)
        return int32(np_.sum(int32(same), axis=(-1, -2)))

    def contact_at(self, state: Value, accounts: Any, slots: Any) -> Any:
        """``neighbours[accounts, slots]``; ``-1`` where the slot is empty or an index is negative."""
        np_ = get_backend().np
        rows = self.contacts_of(state, accounts)
        slots = int32(slots)
        picked = np_.take_along_axis(rows, np_.expand_dims(np_.clip(slots, 0, self.capacity - 1), -1), axis=-1)
        picked = picked[..., 0]
        return np_.where((slots >= 0) & (slots < self.capacity), picked, -np_.ones_like(picked))

    def slot_distribution(self, state: Value, accounts: Any) -> UniformIndex:
        """A uniform draw over the filled slots of each of ``accounts`` (0 for one without contacts).

        Draw it with ``rv(field, ...)`` and map the slot to a contact with :meth:`contact_at`.
        """
        return UniformIndex(self.degree_of(state, accounts))

    def neighbour_sum(self, state: Value, x: Any) -> Any:
        """``sum_j x[neighbours[i, j]]`` over each account's contacts (``x`` has one entry per account)."""
        B = get_backend()
        np_ = B.np
        nbr, _ = self._check(state)
        x = B.asarray(x)
        vals = np_.take(x, np_.clip(nbr, 0, self.num_accounts - 1), axis=0)
        return np_.sum(np_.where(nbr >= 0, vals, np_.zeros_like(vals)), axis=-1)

    # -- growth ---------------------------------------------------------------------------
    def _pairs(self, a: Any, b: Any, valid: Any) -> tuple[Any, Any, Any, tuple[int, ...]]:
        """``a`` and ``b`` broadcast together and flattened, which pairs are usable, and their common shape.

        A pair is usable when both ids are accounts, they differ, and ``valid`` (if given) holds.
        """
        B = get_backend()
        np_ = B.np
        n = self.num_accounts
        a, b = int32(a), int32(b)
        shape = tuple(np.broadcast_shapes(known_shape(a, f"{self.name}: ids a"), known_shape(b, f"{self.name}: ids b")))
        a = flatten(np_.broadcast_to(a, shape))
        b = flatten(np_.broadcast_to(b, shape))
        ok = (a != b) & (a >= 0) & (a < n) & (b >= 0) & (b < n)
        if valid is not None:
            ok = ok & flatten(np_.broadcast_to(B.asarray(valid) != 0, shape))
        return a, b, ok, shape

    def add_edges(self, state: Value, a: Any, b: Any, valid: Any = None) -> tuple[Value, Any, Any]:
        """Add the edges ``a[i] - b[i]`` where ``valid`` (any shapes that broadcast; flattened).

        Returns ``(new_state, added, overflow)``: ``added`` (bool, the shape of ``a``)
        says which requests became new edges; ``overflow`` (int32) counts valid
        requests beyond ``max_new_edges``. Of repeated requests for one pair, the
        first (in flattened order) is the one added. Each account's new contacts
        follow its old ones in increasing order of id; when more new edges reach
        an account than it has free slots, those to the lowest ids are kept (so
        give accounts ids that do not encode their type).
        """
        B = get_backend()
        np_ = B.np
        nbr, deg = self._check(state)
        n, k = self.num_accounts, self.capacity
        a, b, ok, shape = self._pairs(a, b, valid)
        total = int(np.prod(shape, dtype=np.int64))
        size = total if self.max_new_edges is None else min(total, self.max_new_edges)

        # Compact the valid requests into a buffer of `size` entries (their order kept).
        if size < total:
            position = exclusive_cumsum(ok)
            kept = ok & (position < size)
            pos = np_.where(kept, position, size)
            zero = np_.zeros_like(a)
            buf_a = B.scatter_add(np_.zeros((size + 1,), dtype="int32"), pos, np_.where(kept, a + 1, zero))
            buf_b = B.scatter_add(np_.zeros((size + 1,), dtype="int32"), pos, np_.where(kept, b + 1, zero))
            buf_a, buf_b = buf_a[:size] - 1, buf_b[:size] - 1
            buf_ok = buf_a >= 0
            overflow = np_.maximum(int32(np_.sum(int32(ok))) - size, 0)
        else:
            kept, pos = ok, np_.arange(total, dtype="int32")
            buf_a, buf_b, buf_ok = a, b, ok
            overflow = np_.zeros((), dtype="int32")
        buf_ok = buf_ok & ~self.are_contacts(Value(neighbours=nbr, degree=deg), buf_a, buf_b)

        # Each edge has two endpoint entries, (a, b) at 2i and (b, a) at 2i + 1.
        owner = flatten(np_.stack([buf_a, buf_b], axis=1))
        other = flatten(np_.stack([buf_b, buf_a], axis=1))
        entry_ok = flatten(np_.stack([buf_ok, buf_ok], axis=1))
        order, first = self._group_by_owner(owner, other, entry_ok)
        s_owner = np_.take(owner, order)
        s_other = np_.take(other, order)
        s_ok = np_.take(entry_ok, order)
        safe_owner = np_.where(s_ok, s_owner, 0)
        counts = B.scatter_add(np_.zeros((n,), dtype="int32"), safe_owner, int32(s_ok))
        start = np_.take(exclusive_cumsum(counts), safe_owner)  # where each owner's entries begin
        s_deg = np_.take(deg, safe_owner)

        # Pass 1: rank of each first-of-its-pair entry among its owner's; does it fit?
        fresh = s_ok & first
        before = exclusive_cumsum(fresh)
        fits = fresh & (s_deg + before - np_.take(before, start) < k)
        fits_entry = np_.take(fits, inverse_permutation(order))
        edge_ok = np_.all(np_.reshape(fits_entry, (size, 2)), axis=1)

        # Pass 2: ranks among the edges kept; ranks only fall, so every kept edge still fits.
        s_keep = np_.take(flatten(np_.stack([edge_ok, edge_ok], axis=1)), order)
        before = exclusive_cumsum(s_keep)
        slot = s_deg + before - np_.take(before, start)
        index = np_.where(s_keep, safe_owner * k + slot, 0)
        flat = B.scatter_add(flatten(nbr), index, np_.where(s_keep, s_other + 1, np_.zeros_like(s_other)))
        new_deg = deg + B.scatter_add(np_.zeros((n,), dtype="int32"), safe_owner, int32(s_keep))
        new_state = Value(neighbours=np_.reshape(flat, (n, k)), degree=new_deg)

        added = np_.take(edge_ok, np_.clip(pos, 0, size - 1)) & kept
        return new_state, np_.reshape(added, shape), overflow

    def remove_edges(self, state: Value, a: Any, b: Any, valid: Any = None) -> tuple[Value, Any]:
        """Remove the edges ``a[i] - b[i]`` where ``valid`` (pairs that are not edges are ignored).

        Returns ``(new_state, removed)``: ``removed`` (bool, the shape of ``a``) says
        which valid pairs were edges. Each row keeps its remaining contacts in their
        order, packed at the front.
        """
        B = get_backend()
        np_ = B.np
        nbr, _ = self._check(state)
        n, k = self.num_accounts, self.capacity
        a, b, ok, shape = self._pairs(a, b, valid)
        drop = np_.zeros((n * k,), dtype="int32")
        found = None
        for owner, other in ((a, b), (b, a)):
            row = take_rows(nbr, np_.where(ok, owner, -1))  # [R, K]
            hit = (row == np_.expand_dims(other, -1)) & np_.expand_dims(ok, -1)
            index = np_.expand_dims(np_.clip(owner, 0, n - 1) * k, -1) + np_.arange(k, dtype="int32")
            drop = B.scatter_add(drop, flatten(np_.where(hit, index, 0)), flatten(int32(hit)))
            found = np_.any(hit, axis=-1) if found is None else found
        keep = np_.reshape((drop == 0) & (flatten(nbr) >= 0), (n, k))
        position = exclusive_cumsum(keep, axis=-1)
        index = np_.arange(n, dtype="int32")[:, None] * k + position
        flat = B.scatter_add(
            -np_.ones((n * k,), dtype="int32"),
            flatten(np_.where(keep, index, 0)),
            flatten(np_.where(keep, nbr + 1, np_.zeros_like(nbr))),
        )
        new_deg = int32(np_.sum(int32(keep), axis=-1))
        removed = np_.reshape(found, shape)
        return Value(neighbours=np_.reshape(flat, (n, k)), degree=new_deg), removed

    def _group_by_owner(self, owner: Any, other: Any, entry_ok: Any) -> tuple[Any, Any]:
        """A stable order with valid entries grouped by owner (then other), invalid ones last;
        and, in that order, whether each entry is the first of its (owner, other) pair."""
        np_ = get_backend().np
        n = self.num_accounts
        if n * n < _INT32_MAX:
            key = np_.where(entry_ok, owner * n + other, n * n)
            order = stable_argsort(key)
            s_key = np_.take(key, order)
            repeat = s_key[1:] == s_key[:-1]
        else:
            by_other = stable_argsort(np_.where(entry_ok, other, n))
            order = np_.take(by_other, stable_argsort(np_.take(np_.where(entry_ok, owner, n), by_other)))
            s_owner, s_other = np_.take(owner, order), np_.take(other, order)
            repeat = (s_owner[1:] == s_owner[:-1]) & (s_other[1:] == s_other[:-1])
        first = np_.concatenate([np_.ones((1,), dtype="bool"), ~repeat])
        return order, first
