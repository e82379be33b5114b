"""Network ordering and validation, with properties over random DAGs."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recosim.core import FieldSpec, Network, NetworkError, NumpyRuntime, SpecError, Value, ValueSpec, Variable, value


def var(name: str) -> Variable:
    return Variable(name, ValueSpec(x=FieldSpec()))


def const(x):
    return lambda *args: Value(x=x)


def test_duplicate_names_rejected():
    a, b = var("a"), var("a")
    for v in (a, b):
        v.initial_value = value(const(0))
    with pytest.raises(NetworkError, match="duplicate variable name 'a': the network was given two variables"):
        Network([a, b])
    with pytest.raises(NetworkError, match="the same variable twice"):
        Network([a, a])


def test_dependency_outside_network_rejected():
    a, b = var("a"), var("b")
    b.initial_value = value(const(0))
    a.initial_value = value(lambda bv: bv, (b,))
    with pytest.raises(NetworkError, match=r"variable 'a': its initial_value depends on Variable\('b'\), which is not in the network"):
        Network([a])
    a2 = var("a2")
    a2.initial_value = value(const(0))
    a2.value = value(lambda p: p, (b.previous,))
    with pytest.raises(NetworkError, match=r"its value depends on 'b'.previous"):
        Network([a2])


def test_unbound_initial_value_rejected():
    with pytest.raises(NetworkError, match="variable 'lonely' has no initial_value"):
        Network([var("lonely")])


def test_initial_value_cannot_use_previous():
    a = var("a")
    with pytest.raises(NetworkError, match="no previous step at t=0"):
        a.initial_value = value(const(0), (a.previous,))


def test_cycle_is_named():
    a, b, c = var("a"), var("b"), var("c")
    for v in (a, b, c):
        v.initial_value = value(const(0))
    a.value = value(lambda x: x, (c,))
    b.value = value(lambda x: x, (a,))
    c.value = value(lambda x: x, (b,))
    with pytest.raises(NetworkError, match=r"transition has a cycle of intra-slice dependencies: 'a' -> 'b' -> 'c' -> 'a'|'b' -> 'c' -> 'a' -> 'b'|'c' -> 'a' -> 'b' -> 'c'"):
        Network([a, b, c])


def test_previous_dependencies_do_not_make_cycles():
    a, b = var("a"), var("b")
    a.initial_value = value(const(1))
    b.initial_value = value(lambda av: Value(x=av.get("x") + 1), (a,))
    a.value = value(lambda bp: Value(x=bp.get("x") * 10), (b.previous,))
    b.value = value(lambda av: Value(x=av.get("x") + 1), (a,))
    traj = NumpyRuntime([b, a], seed=0).trajectory(3)
    assert traj["a"].get("x").tolist() == [1, 20, 210]
    assert traj["b"].get("x").tolist() == [2, 21, 211]


def test_behaviour_fields_are_checked_against_spec():
    a = Variable("user", ValueSpec(interest=FieldSpec(shape=(2,)), n=FieldSpec()))
    a.initial_value = value(lambda: Value(interest=[0.0, 0.0], extra=1))
    with pytest.raises(SpecError, match=r"variable 'user' \(behaviour .*\) omits the declared field\(s\) \['n'\] and returns the undeclared field\(s\) \['extra'\]"):
        NumpyRuntime([a], seed=0).execute(0)
    a.initial_value = value(lambda: Value(interest=[0.0, 0.0, 0.0], n=1))
    with pytest.raises(SpecError, match=r"variable 'user'.*field 'interest', has shape \(3,\) where the spec says \(2,\)"):
        NumpyRuntime([a], seed=0).execute(0)


def test_behaviour_must_return_a_value_and_take_its_dependencies():
    a = var("a")
    a.initial_value = value(lambda: 3)
    with pytest.raises(NetworkError, match="variable 'a': behaviour .* returned int, not a Value"):
        NumpyRuntime([a], seed=0).execute(0)
    b = var("b")
    b.initial_value = value(lambda: Value(x=0))
    b.value = value(lambda: Value(x=0), (b.previous,))
    with pytest.raises(NetworkError, match=r"variable 'b': behaviour .* was bound to 1 dependencies"):
        NumpyRuntime([b], seed=0).execute(1)


@st.composite
def dags(draw):
    n = draw(st.integers(1, 8))
    names = [f"v{i}" for i in range(n)]
    perm = draw(st.permutations(names))
    edges = {
        name: [p for p in perm[: perm.index(name)] if draw(st.booleans())]
        for name in names
    }
    return names, edges


def _build(names, edges):
    vs = {n: var(n) for n in names}
    for n in names:
        deps = tuple(vs[p] for p in edges[n])
        vs[n].initial_value = value(lambda *args, n=n: Value(x=1 + sum(a.get("x") for a in args)), deps)
        vs[n].value = value(lambda prev, *args: Value(x=prev.get("x") + sum(a.get("x") for a in args)), (vs[n].previous, *deps))
    return vs


def _reference(names, edges, steps):
    cur = {}
    def init(n):
        if n not in cur:
            cur[n] = 1 + sum(init(p) for p in edges[n])
        return cur[n]
    for n in names:
        init(n)
    for _ in range(steps):
        prev, nxt = cur, {}
        def tr(n):
            if n not in nxt:
                nxt[n] = prev[n] + sum(tr(p) for p in edges[n])
            return nxt[n]
        for n in names:
            tr(n)
        cur = nxt
    return cur


@settings(max_examples=60, deadline=None)
@given(dags(), st.integers(0, 3))
def test_random_dags_are_ordered_and_evaluated_correctly(dag, steps):
    names, edges = dag
    vs = _build(names, edges)
    net = Network([vs[n] for n in names])
    for order in (net.initial_order, net.transition_order):
        position = {v.name: i for i, v in enumerate(order)}
        assert sorted(position) == sorted(names)
        assert all(position[p] < position[n] for n in names for p in edges[n])
    result = NumpyRuntime(net, seed=0).execute(steps)
    assert {n: int(result[n].get("x")) for n in names} == _reference(names, edges, steps)


@settings(max_examples=40, deadline=None)
@given(dags())
def test_adding_a_back_edge_is_reported_as_a_cycle(dag):
    names, edges = dag
    pairs = [(n, p) for n in names for p in edges[n]]
    if not pairs:
        return
    child, parent = pairs[0]
    edges = {**edges, parent: [*edges[parent], child]}
    vs = _build(names, edges)
    with pytest.raises(NetworkError, match="cycle") as err:
        Network([vs[n] for n in names])
    assert repr(child) in str(err.value) and repr(parent) in str(err.value)
