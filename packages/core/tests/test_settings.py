"""Settings in core: declaring, resolving a call's overrides, reading them with setting(), on the NumPy runtime."""

import numpy as np
import pytest

from recosim.core import (
    FieldSpec,
    NumpyRuntime,
    SettingError,
    Settings,
    Value,
    ValueSpec,
    Variable,
    make_runtime,
    setting,
    using_settings,
    value,
)
from recosim.core.settings import active_settings


def test_values_are_carried_in_32_bits_whatever_python_or_numpy_gives():
    s = Settings({"cap": 1.2, "k": 3, "on": True, "w": np.array([0.5, 1.5]), "h": np.float16(2)})
    assert {n: v.dtype.name for n, v in s.items()} == {
        "cap": "float32", "k": "int32", "on": "bool", "w": "float32", "h": "float16"
    }
    assert s["cap"] == np.float32(1.2) and s["w"].shape == (2,)


def test_resolve_applies_overrides_and_keeps_the_declared_dtype():
    s = Settings({"cap": 1.2, "w": [1.0, 2.0]})
    out = s.resolve({"cap": 2, "w": np.array([3.0, 4.0], np.float64)})
    assert out["cap"].dtype == np.float32 and float(out["cap"]) == 2.0
    assert out["w"].dtype == np.float32 and out["w"].tolist() == [3.0, 4.0]
    assert float(s.resolve()["cap"]) == pytest.approx(1.2)  # defaults untouched


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cab": 1.0}, r"unknown setting 'cab'; this runtime declares \['cap', 'k'\]"),
        ({"cap": [1.0, 2.0]}, r"setting 'cap': expected float32\[\] \(as declared\), got float32\[2\]"),
        ({"k": 1.5}, r"setting 'k': expected int32\[\] \(as declared\), got float32\[\]"),
        ({"cap": np.nan}, "setting 'cap': every value must be finite"),
        ({"cap": "high"}, "setting 'cap': expected a number or numeric array, got dtype str"),
        ([("cap", 1.0)], "settings must be a mapping"),
    ],
)
def test_bad_overrides_are_refused_with_the_setting_named(overrides, message):
    with pytest.raises(SettingError, match=message):
        Settings({"cap": 1.2, "k": 3}).resolve(overrides)


def test_bad_declarations_are_refused():
    with pytest.raises(SettingError, match="every value must be finite"):
        Settings({"cap": float("-inf")})
    with pytest.raises(SettingError, match="non-empty strings"):
        Settings({"": 1.0})
    with pytest.raises(SettingError, match=r"declares \[\] \(declare settings with settings="):
        Settings().resolve({"cap": 1.0})


def test_setting_outside_a_run_gives_the_default_or_a_clear_error():
    assert active_settings() is None
    got = setting("cap", default=1.2)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and float(got) == pytest.approx(1.2)
    with pytest.raises(SettingError, match="setting 'cap' has no value and no default: no run is active"):
        setting("cap")
    with using_settings({"cap": np.float32(0.5)}):
        with using_settings({"other": np.int32(1)}):  # the innermost block wins
            assert float(setting("cap", default=9.0)) == 9.0
            with pytest.raises(SettingError, match=r"the runtime declares \['other'\]"):
                setting("cap")
        assert float(setting("cap")) == 0.5
    assert active_settings() is None


def capped_walk() -> list[Variable]:
    x = Variable("x", ValueSpec(p=FieldSpec((3,), "float32")))
    x.initial_value = value(lambda: Value(p=np.zeros(3, np.float32)))
    x.value = value(
        lambda prev: Value(p=np.clip(prev.get("p") + np.float32(1.0), -setting("cap", 0.5), setting("cap", 0.5))),
        (x.previous,),
    )
    return [x]


def test_the_numpy_runtime_runs_with_its_settings_and_each_calls_overrides():
    rt = make_runtime(capped_walk(), "numpy", seed=0, settings={"cap": 2.0})
    assert rt.settings["cap"] == np.float32(2.0)
    assert rt.execute(4)["x"].get("p").tolist() == [2.0] * 3
    assert rt.execute(4, settings={"cap": 3})["x"].get("p").tolist() == [3.0] * 3
    assert rt.trajectory(3, settings={"cap": 1.5})["x"].get("p")[:, 0].tolist() == [0.0, 1.0, 1.5]
    assert NumpyRuntime(capped_walk()).execute(4)["x"].get("p").dtype == np.float32  # the default keeps float32
    assert NumpyRuntime(capped_walk()).execute(4)["x"].get("p").tolist() == [0.5] * 3
    assert active_settings() is None  # nothing leaks out of a call


def test_a_failed_override_uses_no_call_key():
    rt = NumpyRuntime(capped_walk(), seed=3, settings={"cap": 2.0})
    with pytest.raises(SettingError):
        rt.trajectory(2, settings={"cap": [1.0]})
    assert rt._calls == 0
