"""Need/value/behaviour criteria: hand-worked scores, life-cycle weights, config errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from growthmap.config import Config, load_config
from growthmap.config._segments import Criterion
from growthmap.errors import ConfigError
from growthmap.segments.criteria import (
    family_stages,
    latest_assessments,
    scale_values,
    score_criteria,
    stage_mix,
)

AS_OF = dt.date(2025, 6, 30)


def _cfg(criteria: list[dict], **kw) -> Config:
    return Config.from_dict({"segments": {"criteria": criteria, **kw}})


def test_scales_and_direction():
    x = pd.Series([10.0, 20.0, 20.0, 40.0, None])
    pct = scale_values(x, Criterion(name="c", group="value", kind="column", source="v"))
    assert pct.tolist()[:4] == [0.0, 0.5, 0.5, 1.0] and np.isnan(pct.iloc[4])
    mm = scale_values(x, Criterion(name="c", group="value", kind="column", source="v",
                                   scale="minmax", direction="lower"))
    assert mm.tolist()[:4] == pytest.approx([1.0, 2 / 3, 2 / 3, 0.0])
    rg = scale_values(pd.Series([-5.0, 2.0, 9.0]),
                      Criterion(name="c", group="behaviour", kind="assessment", source="q",
                                scale="range"))
    assert rg.tolist() == [0.0, 0.25, 1.0]  # assessments default to a 1-5 scale, clipped
    same = scale_values(pd.Series([3.0, 3.0]), Criterion(name="c", group="need", kind="column",
                                                         source="v"))
    assert same.tolist() == [0.5, 0.5]


def _hand_frame() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.DataFrame({
        "account_id": ["a", "b", "c", "d"],
        "whitespace": [0.0, 10.0, 20.0, 30.0],
        "icp_fit": [100.0, 50.0, 0.0, None],
        "current": [10.0, 20.0, 20.0, 40.0],
        "growth": [0.0, 0.5, 1.0, None],
    })
    answers = pd.DataFrame({
        "account_id": ["a", "b", "d", "d"],
        "criterion": ["buyer_empowerment"] * 4,
        "score": [5.0, 3.0, 1.0, 5.0],
        "date": [dt.date(2025, 1, 1), None, dt.date(2025, 3, 1), dt.date(2025, 9, 1)],
    })
    return frame, answers


HAND_CRITERIA = [
    {"name": "ws", "group": "need", "source": "whitespace"},
    {"name": "fit", "group": "need", "source": "icp_fit", "scale": "range", "weight": 3},
    {"name": "cur", "group": "value", "source": "current"},
    {"name": "be", "group": "behaviour", "kind": "assessment", "source": "buyer_empowerment",
     "scale": "range"},
    {"name": "gr", "group": "behaviour", "kind": "column", "source": "growth",
     "scale": "minmax", "direction": "lower"},
]


def test_hand_worked_scores_and_missing_flags():
    frame, answers = _hand_frame()
    cfg = _cfg(HAND_CRITERIA).segments
    res = score_criteria(frame, cfg, assessments=latest_assessments(answers, AS_OF))
    s = res.scores.set_index("account_id")
    # need = (1*ws_pct + 3*fit) / 4; d has no icp_fit -> neutral 0.5
    assert s.need.tolist() == pytest.approx([0.75, (1 / 3 + 1.5) / 4, (2 / 3) / 4, 2.5 / 4])
    assert s.value_score.tolist() == pytest.approx([0.0, 0.5, 0.5, 1.0])
    # behaviour: be (a 5 -> 1, b 3 -> .5, c none -> .5, d 1 -> 0: the later 5 is after
    # as-of) and gr (growth reversed: 1, .5, 0, none -> .5)
    assert s.behaviour.tolist() == pytest.approx([1.0, 0.5, 0.25, 0.25])
    assert s.n_missing.tolist() == [0, 0, 1, 2]
    assert s.loc["a", "flags"] == "" and s.loc["b", "flags"] == ""
    assert s.loc["c", "flags"] == "be: no assessment (neutral 0.5 used)"
    assert s.loc["d", "flags"] == ("fit: no value (neutral 0.5 used); "
                                   "gr: no value (neutral 0.5 used)")
    assert res.missing.loc["c", "be"] and not res.missing.loc["d", "be"]


def test_missing_score_policy_and_absent_sources_are_flagged():
    frame, _ = _hand_frame()
    crit = [{"name": "fit", "group": "need", "source": "icp_fit", "scale": "range",
             "missing": "low"},
            {"name": "ptb", "group": "need", "source": "ptb", "scale": "range"},
            {"name": "se", "group": "behaviour", "kind": "assessment", "source": "sales_ease"}]
    res = score_criteria(frame, _cfg(crit).segments, assessments=None)
    s = res.scores.set_index("account_id")
    assert s.loc["d", "c_fit"] == 0.0  # missing = low
    assert (s.c_ptb == 0.5).all() and (s.c_se == 0.5).all()
    assert all("ptb: no value (neutral 0.5 used)" in f for f in s["flags"])
    assert all("se: no assessment (neutral 0.5 used)" in f for f in s["flags"])
    assert any("figure 'ptb' is not available" in n for n in res.notes)
    assert any("no assessment answers for 'sales_ease'" in n for n in res.notes)
    assert any("no value criterion" in n for n in res.notes)
    assert (s.value_score == 0.5).all()


def test_latest_assessment_before_as_of_wins():
    a = pd.DataFrame({"account_id": ["x", "x", "x", "y"],
                      "criterion": ["q", "q", "q", "q"],
                      "score": [2.0, 4.0, 1.0, 3.0],
                      "date": [dt.date(2024, 1, 1), dt.date(2025, 1, 1), dt.date(2026, 1, 1),
                               None]})
    wide = latest_assessments(a, AS_OF)
    assert wide.loc["x", "q"] == 4.0 and wide.loc["y", "q"] == 3.0


def test_lifecycle_stage_weights_hand_worked():
    frame = pd.DataFrame({"account_id": ["x", "y", "z"], "whitespace": [100.0, 100.0, 100.0],
                          "ptb": [0.0, 0.0, 0.5]})
    crit = [{"name": "ws", "group": "need", "source": "whitespace", "scale": "range",
             "range": [0, 100], "stage_weights": {"maturity": 3}},
            {"name": "ptb", "group": "need", "source": "ptb", "scale": "range",
             "stage_weights": {"introduction": 3}}]
    mix = pd.DataFrame({"introduction": [0.0, 0.5, 0.0], "growth": 0.0,
                        "maturity": [1.0, 0.5, 0.0], "decline": 0.0}, index=["x", "y", "z"])
    s = score_criteria(frame, _cfg(crit).segments, mix=mix).scores.set_index("account_id")
    # x: weights 3 (ws) and 1 (ptb) -> .75; y: 2 and 2 -> .5; z: no mix -> 1 and 1 -> .75
    assert s.need.tolist() == pytest.approx([0.75, 0.5, 0.75])


def test_stage_mix_from_whitespace_and_focus_family():
    products = pd.DataFrame({
        "product_id": ["p1", "p2", "p3", "p4", "p5"],
        "family": ["F1", "F2", "F2", "F2", "F3"],
        "lifecycle_stage": ["maturity", "introduction", "introduction", "growth", None]})
    stages = family_stages(products)
    assert stages.to_dict() == {"F1": "maturity", "F2": "introduction"}
    potential = pd.DataFrame({"account_id": ["x", "x", "x", "y"],
                              "family": ["F1", "F2", "F3", "F3"],
                              "whitespace": [30.0, 10.0, 100.0, 50.0]})
    idx = pd.Index(["x", "y", "z"])
    mix = stage_mix(idx, potential=potential, stages=stages, mode="whitespace",
                    focus_family=None)
    assert mix.loc["x"].to_dict() == {"introduction": 0.25, "growth": 0.0, "maturity": 0.75,
                                      "decline": 0.0}
    assert mix.loc["y"].sum() == 0 and mix.loc["z"].sum() == 0
    focus = stage_mix(idx, potential=None, stages=stages, mode="focus_family",
                      focus_family="F2")
    assert (focus["introduction"] == 1.0).all() and focus.to_numpy().sum() == 3
    with pytest.raises(ConfigError, match="focus_family = 'F9'") as e:
        stage_mix(idx, potential=None, stages=stages, mode="focus_family", focus_family="F9")
    assert "F1" in (e.value.hint or "")
    assert stage_mix(idx, potential=potential, stages=stages, mode="none",
                     focus_family=None) is None


def test_defaults_work_without_any_config():
    cfg = Config().segments
    groups = {c.group for c in cfg.criteria}
    assert groups == {"need", "value", "behaviour"}
    frame = pd.DataFrame({"account_id": ["a", "b"], "current": [1.0, 2.0],
                          "growth": [0.1, None]})
    s = score_criteria(frame, cfg).scores
    assert s.value_score.between(0, 1).all() and s.need.eq(0.5).all()


# -- config errors: each names the key and the fix ---------------------------------------
@pytest.mark.parametrize("criterion, key, fix", [
    ({"name": "x", "group": "need", "source": "whitespace", "weight": 0},
     "segments.criteria.0.weight", "give a number > 0"),
    ({"name": "x", "group": "need", "source": "whitespace", "weight": -2},
     "segments.criteria.0.weight", "give a number > 0"),
    ({"name": "x", "group": "need", "source": "whitespace", "stage_weights": {"growth": 0}},
     "segments.criteria.0.stage_weights", "give a number > 0"),
    ({"name": "x", "group": "need", "source": "whitespace", "stage_weights": {"mature": 2}},
     "segments.criteria.0.stage_weights", "use one of: introduction, growth"),
    ({"name": "x", "group": "need", "source": "whitspace"},
     "segments.criteria.0", "did you mean 'whitespace'"),
    ({"name": "x", "group": "need", "source": "whitespace", "wieght": 2},
     "segments.criteria.0", "did you mean 'weight'"),
    ({"name": "x", "group": "need", "kind": "column", "source": "employees", "scale": "range"},
     "segments.criteria.0", "needs range = [low, high]"),
])
def test_criterion_config_errors_name_key_and_fix(criterion, key, fix):
    with pytest.raises(ConfigError) as e:
        _cfg([criterion])
    assert key in str(e.value) and fix in str(e.value)


def test_config_errors_from_a_real_toml_file(tmp_path):
    p = tmp_path / "growthmap.toml"
    p.write_text('[[segments.criteria]]\nname = "fit"\ngroup = "need"\nsource = "icp_fit"\n'
                 'weight = 0\n', encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(p) in str(e.value) and "segments.criteria.0.weight" in str(e.value)
    p.write_text('[segments]\ntier1_share = 0.3\ntier2_share = 0.2\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="tier2_share"):
        load_config(p)
    p.write_text('[segments]\nlifecycle_mix = "focus_family"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="focus_family = '<a product family>'"):
        load_config(p)
    p.write_text('[[segments.criteria]]\nname = "a"\ngroup = "need"\nsource = "ptb"\n'
                 '[[segments.criteria]]\nname = "a"\ngroup = "value"\nsource = "current"\n',
                 encoding="utf-8")
    with pytest.raises(ConfigError, match="rename a"):
        load_config(p)


def test_bad_criterion_column_is_a_config_error_naming_it():
    frame, _ = _hand_frame()
    cfg = _cfg([{"name": "size", "group": "value", "kind": "column", "source": "employes"}])
    with pytest.raises(ConfigError) as e:
        score_criteria(frame, cfg.segments)
    assert "segments.criteria[0]" in e.value.message and "'employes'" in e.value.message
    assert "use one of:" in e.value.hint and "growth" in e.value.hint
