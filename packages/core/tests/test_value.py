"""Value, FieldSpec and ValueSpec: unit tests and properties of the Value algebra."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recosim.core import FieldSpec, SpecError, Value, ValueSpec
from recosim.core.errors import ValueStructureError

ident = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)
dotted = st.lists(ident, min_size=1, max_size=3).map(".".join)


def _no_prefix_clash(keys: list[str]) -> bool:
    return not any(a != b and b.startswith(a + ".") for a in keys for b in keys)


flat_values = st.dictionaries(dotted, st.integers(), max_size=6).filter(lambda d: _no_prefix_clash(list(d)))


def test_nested_values_flatten_and_get_returns_subvalues():
    v = Value(interest=Value(state=1, scale=2), satisfaction=3)
    assert sorted(v) == ["interest.scale", "interest.state", "satisfaction"]
    assert v.get("interest") == Value(state=1, scale=2)
    assert v["interest.state"] == 1
    assert "interest" in v and "interest.state" in v and "nope" not in v


def test_get_missing_key_names_key_and_fields():
    with pytest.raises(KeyError, match=r"no field 'x'.*\['a'\]"):
        Value(a=1).get("x")
    assert Value(a=1).get("x", None) is None


def test_union_overlap_names_the_keys():
    with pytest.raises(ValueStructureError, match=r"\['a', 'b'\]"):
        Value(a=1, b=2, c=3).union(Value(a=0, b=0))
    with pytest.raises(ValueStructureError, match="user"):
        Value(user=1).union(Value({"user.x": 2}))


def test_value_is_immutable_and_keys_are_checked():
    v = Value(a=1)
    with pytest.raises(AttributeError):
        v.a = 2
    with pytest.raises(ValueStructureError):
        Value({"a..b": 1})
    with pytest.raises(ValueStructureError):
        Value({"": 1})


def test_paper_prefix_composition():
    interest, satisfaction = Value(state=np.zeros(2)), Value(state=np.ones(2))
    result = interest.prefixed_with("interest").union(satisfaction.prefixed_with("satisfaction"))
    assert sorted(result) == ["interest.state", "satisfaction.state"]


def test_as_dict_and_map():
    v = Value(a=1, b=2)
    assert v.as_dict == {"a": 1, "b": 2}
    assert v.map(lambda x: x * 10) == Value(a=10, b=20)
    assert v.map_with_key(lambda k, x: k) == Value(a="a", b="b")


@given(flat_values)
def test_roundtrip_through_dict(d):
    v = Value(d)
    assert Value(v.as_dict) == v
    assert Value(v) == v
    assert len(v) == len(d)


@given(flat_values, ident)
def test_prefix_then_get_is_identity(d, prefix):
    v = Value(d)
    p = v.prefixed_with(prefix)
    assert all(k.startswith(prefix + ".") for k in p)
    if d:
        assert p.get(prefix) == v


@given(flat_values, flat_values)
def test_union_of_disjoint_values_is_commutative_and_keeps_fields(a, b):
    va, vb = Value(a), Value(b)
    keys = list(a) + list(b)
    if set(a) & set(b) or not _no_prefix_clash(keys):
        with pytest.raises(ValueStructureError):
            va.union(vb)
        return
    u = va.union(vb)
    assert u == vb.union(va)
    assert u.as_dict == {**a, **b}


@given(flat_values)
def test_map_composes(d):
    v = Value(d)
    assert v.map(lambda x: x + 1).map(lambda x: x * 2) == v.map(lambda x: (x + 1) * 2)


def test_fieldspec_reports_shape_and_dtype():
    spec = FieldSpec(shape=(3, None), dtype="float32")
    assert spec.mismatch(np.zeros((3, 7), np.float32)) is None
    msg = spec.mismatch(np.zeros((2, 7), np.float64))
    assert "shape (2, 7)" in msg and "(3, None)" in msg and "float64" in msg
    assert FieldSpec().mismatch("anything") is None


def test_valuespec_check_names_missing_extra_and_bad_fields():
    spec = ValueSpec(a=FieldSpec(shape=(2,)), b=FieldSpec())
    spec.check(Value(a=np.zeros(2), b=1), where="variable 'v'")
    with pytest.raises(SpecError, match=r"variable 'v' omits the declared field\(s\) \['b'\].*undeclared field\(s\) \['c'\]"):
        spec.check(Value(a=np.zeros(2), c=1), where="variable 'v'")
    with pytest.raises(SpecError, match=r"variable 'v', field 'a', has shape \(3,\)"):
        spec.check(Value(a=np.zeros(3), b=1), where="variable 'v'")
    with pytest.raises(SpecError, match="must be a FieldSpec"):
        ValueSpec(a=3)


def test_valuespec_repr_and_get_keep_the_spec_type():
    spec = ValueSpec(state=ValueSpec(x=FieldSpec((2,), "float32")), n=FieldSpec())
    assert repr(spec).startswith("ValueSpec(") and "FieldSpec(shape=(2,)" in repr(spec)
    assert isinstance(spec.get("state"), ValueSpec) and spec.get("state.x") == FieldSpec((2,), "float32")
