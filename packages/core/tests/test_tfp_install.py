"""Which distribution provides tensorflow_probability, and the warning when two do."""

import warnings

import pytest

from recosim.core._tfp_install import tfp_distributions, warn_if_two_tfp_distributions


def _fake_distribution(site, name, version):
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_the_installed_provider_is_found():
    found = tfp_distributions()
    assert len(found) == 1, found  # recosim's environments hold exactly one
    assert set(found) <= {"tensorflow-probability", "tfp-nightly"}


def test_one_provider_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(warn_if_two_tfp_distributions.__wrapped__()) == 1


def test_two_providers_are_named_in_a_warning(tmp_path, monkeypatch):
    held = tfp_distributions()
    other = "tfp-nightly" if "tensorflow-probability" in held else "tensorflow-probability"
    _fake_distribution(tmp_path, other, "0.26.0.dev20990101")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.warns(RuntimeWarning, match="both .*tensorflow-probability.*tfp-nightly.* are installed") as record:
        found = warn_if_two_tfp_distributions.__wrapped__()
    assert found[other] == "0.26.0.dev20990101"
    assert "pip uninstall -y tensorflow-probability tfp-nightly" in str(record[0].message)
