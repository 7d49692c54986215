"""The config file: defaults, round trips, and errors that name the key and the fix."""

from __future__ import annotations

import pytest

from growthmap.config import Config, load_config
from growthmap.errors import ConfigError


def test_defaults_round_trip_through_json():
    cfg = Config()
    assert Config.model_validate_json(cfg.model_dump_json()) == cfg


def test_explicit_default_tier_shares_are_valid():
    cfg = Config.from_dict({"value": {"tier_cumulative_shares": [0.5, 0.8, 0.95]}})
    assert cfg.value.tier_cumulative_shares == [0.5, 0.8, 0.95]


@pytest.mark.parametrize(("data", "needle"), [
    ({"value": {"measure": "profit"}}, "value.measure"),
    ({"value": {"tier_cumulative_shares": [0.5, 0.4, 0.9]}}, "increasing"),
    ({"value": {"tier_bands": [10, 100, 1000]}}, "decreasing"),
    ({"valu": {}}, "valu: unknown key"),
    ({"run": {"engine": "flink"}}, "run.engine"),
])
def test_bad_values_name_the_key(data, needle):
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data, source="growthmap.toml")
    assert needle in str(info.value)
    assert "growthmap.toml" in str(info.value)


def test_load_config_file_errors(tmp_path):
    bad = tmp_path / "growthmap.toml"
    bad.write_text("[value\nmeasure = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    good = tmp_path / "ok.toml"
    good.write_text('[value]\nmeasure = "gross_margin"\n', encoding="utf-8")
    assert load_config(good).value.measure == "gross_margin"
