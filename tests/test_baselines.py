"""Baselines beside the models: ranks, paired bootstrap, what gets published and flagged."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from growthmap.scores.baselines import RFM, baseline_frame, bootstrap_auc, compare, pct_rank
from growthmap.scores.compare import PTB_SEGMENTS, Comparison
from growthmap.scores.publish import Published, informative, near_constant

CUT = dt.date(2024, 12, 31)


def test_weighted_auc_is_the_auc_of_the_rows_repeated():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    s = np.round(rng.normal(size=300) + y, 1)  # ties on purpose
    # one replicate by hand: each row repeated as often as its weight
    got = bootstrap_auc(y, {"s": s}, replicates=1, seed=5)["s"][0]
    w5 = np.random.default_rng(5).poisson(1.0, size=(1, 300))[0]
    rep = np.repeat(np.arange(300), w5)
    assert got == pytest.approx(roc_auc_score(y[rep], s[rep]))


def test_compare_gives_paired_intervals_around_the_point_estimates():
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.3).astype(int)
    good, weak = rng.normal(size=2000) + 1.5 * y, rng.normal(size=2000) + 0.3 * y
    res = compare(y, {"model": good, "rfm": weak})
    m, b = res["auc"]["model"], res["auc"]["rfm"]
    assert m["auc"] == pytest.approx(roc_auc_score(y, good), abs=1e-4)
    assert m["lo"] < m["auc"] < m["hi"] and b["lo"] < b["auc"] < b["hi"]
    d = res["vs"]["rfm"]
    assert d["diff"] == pytest.approx(m["auc"] - b["auc"], abs=1e-4) and d["lo"] > 0
    # one class only: no AUC, never a made-up figure
    assert compare(np.zeros(10, int), {"model": good[:10]})["auc"]["model"]["auc"] is None


def test_rfm_ranks_recent_frequent_big_buyers_first_and_never_bought_last():
    x = pd.DataFrame({"recency_days": [5, 400, np.nan, 30],
                      "lines_12m": [12, 1, 0, 6], "rev_12m": [9e4, 1e2, 0, 2e4],
                      "engagement": [1, 9, np.nan, 5]})
    b = baseline_frame(x, ["engagement"])
    assert list(b[RFM].rank(ascending=False).astype(int)) == [1, 3, 4, 2]
    assert b["engagement"].tolist() == pytest.approx([1 / 3, 1.0, 0.5, 2 / 3])
    assert pct_rank([np.nan, 1.0]).tolist() == [0.0, 1.0]


def _world(n: int, seed: int, model_quality: float, rfm_quality: float,
           prospects_convert: bool = True) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows of one cut-off: customers (families_ever > 0) and prospects, an own label,
    and a model score of the given strength; RFM of the given strength on customers."""
    rng = np.random.default_rng(seed)
    ever = (rng.random(n) < 0.6).astype(float)
    y = (rng.random(n) < 0.35).astype(int)
    if not prospects_convert:
        y[ever == 0] = 0
    rfm = np.where(ever > 0, rng.normal(size=n) + rfm_quality * y, np.nan)
    x = pd.DataFrame({"families_ever": ever, "recency_days": -rfm, "lines_12m": rfm,
                      "rev_12m": rfm, "engagement": rng.normal(size=n) + 1.0 * y})
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + model_quality * y)))
    return x, y, p


def _labels(c, ids, x, own):
    ever = x["families_ever"].to_numpy() > 0
    pro, cus = np.flatnonzero(~ever), np.flatnonzero(ever)
    return {"first_purchase": ("first purchase", pro, own[pro]),
            "expansion": ("expansion", cus, own[cus]),
            "buys_again": ("buys again", cus, own[cus])}


def _comparison(x, y, p, columns=()):
    c = Comparison("own", tuple(columns), _labels, segments=PTB_SEGMENTS)
    c.add(CUT, x, y, x, y, np.arange(len(y)).astype(str), p)
    return c


def test_the_model_is_published_where_it_beats_the_baseline():
    x, y, p = _world(3000, 2, model_quality=2.0, rfm_quality=0.3)
    pub = _comparison(x, y, p).choose()
    assert pub.score == "model"
    out, _ = pub.apply(p, x)
    assert np.array_equal(out, p)


def test_the_baseline_is_published_where_the_model_does_not_beat_it():
    x, y, p = _world(3000, 3, model_quality=0.2, rfm_quality=2.0)
    comp = _comparison(x, y, p)
    pub = comp.choose()
    cust = pub.segments["customers"]
    assert cust.score in ("baseline", "blend") and cust.baseline == RFM
    assert "model's AUC" in cust.why
    res = comp.result(pub)
    # what is published ranks the customers' labels at least as well as RFM there
    exp = res["labels"]["expansion"]["auc"]
    assert exp["published"]["auc"] >= exp["rfm"]["auc"] - 1e-9
    out, rank = pub.apply(p, x)
    ever = x["families_ever"].to_numpy() > 0
    assert roc_auc_score(y[ever], out[ever]) >= roc_auc_score(y[ever], x["rev_12m"][ever]) - 0.01
    assert ((out > 0) & (out < 1)).all() and not near_constant(rank)
    assert "recency / frequency / monetary rank for customers" in pub.describe("PtB")
    # the choice survives the snapshot's JSON
    again = Published.from_json({"published": pub.to_json()})
    assert np.allclose(again.apply(p, x)[0], out)


def test_prospects_without_first_purchases_are_ranked_by_the_users_score():
    x, y, p = _world(3000, 4, model_quality=1.0, rfm_quality=1.0, prospects_convert=False)
    pub = _comparison(x, y, p, ["engagement"]).choose()
    pro = pub.segments["prospects"]
    assert (pro.score, pro.baseline) == ("baseline", "engagement")
    assert "no first purchases to learn from" in pro.why
    out, _ = pub.apply(p, x)
    never = x["families_ever"].to_numpy() == 0
    eng = x["engagement"].to_numpy()[never]
    assert pd.Series(out[never]).corr(pd.Series(eng), method="spearman") > 0.99
    assert (out[never] > 0).all() and out[never].max() > 2 * out[never].min()
    # without a score of the user's, the model stays (and the flags say the rest)
    assert _comparison(x, y, p).choose().segments["prospects"].score == "model"


def test_constant_or_chance_scores_are_flagged_with_the_reason():
    ev = {"final_training": {"positives": 3},
          "comparison": {"labels": {"own": {"auc": {"model": {"auc": 0.52, "lo": 0.44,
                                                             "hi": 0.6}}}}}}
    reasons = informative(ev, np.full(100, 0.848))
    assert any("only 3 positive labels" in r for r in reasons)
    assert any("same score" in r for r in reasons)
    assert any("includes 0.5" in r for r in reasons)
    ok = {"final_training": {"positives": 300},
          "comparison": {"labels": {"own": {"auc": {"model": {"auc": 0.8, "lo": 0.75,
                                                             "hi": 0.85}}}}}}
    assert informative(ok, np.linspace(0, 1, 100)) == []
    assert "no backtest" in informative({"final_training": {"positives": 300}},
                                        np.linspace(0, 1, 100))[0]


def test_a_users_score_column_is_a_feature_and_a_baseline_in_the_run(tmp_path):
    from growthmap.config import Config
    from growthmap.errors import ConfigError
    from growthmap.runner.duckdb_run import run
    from tests.test_features import AS_OF, make_workspace, make_world

    world = make_world(seed=5, n=300, years=4)
    z = world["truth_accounts"]["latent_propensity"].to_numpy()
    rng = np.random.default_rng(5)
    acc = world["accounts"]
    # a CRM engagement score, loaded as text like every extra account column
    acc["engagement"] = [f"{v:.1f}" for v in np.clip(5 + 2 * z + rng.normal(0, 2, len(z)),
                                                     0, 10)]
    acc["tier_label"] = rng.choice(["gold", "silver"], len(z))
    cfg = Config.from_dict({"scores": {"n_estimators": 30, "per_family": False,
                                       "features": ["tier_label"],
                                       "baseline_columns": ["engagement"]}})
    with make_workspace(tmp_path / "ws.duckdb", world, truth=True) as ws:
        res = run(ws, cfg, as_of=AS_OF, only=["value", "models"])
        ev = res.evaluations["propensity"]
        assert {"engagement", "tier_label"} <= set(ev["features"])
        own = ev["comparison"]["labels"]["own"]
        assert {"model", "rfm", "engagement"} <= set(own["auc"]) and "engagement" in own["vs"]
        assert "engagement" in res.evaluations["risk"]["comparison"]["labels"]["own"]["auc"]
        for bad, words in ((["nope"], "does not have"), (["tier_label"], "not numeric")):
            with pytest.raises(ConfigError, match=words):
                run(ws, Config.from_dict({"scores": {"baseline_columns": bad}}),
                    as_of=AS_OF, only=["value", "models"])


@pytest.mark.slow
def test_a_hundred_customer_world_runs_and_flags_what_knows_nothing(tmp_path):
    from growthmap.config import Config
    from growthmap.demo import DEMO_AS_OF, build_demo_workspace
    from growthmap.read.card import account_card
    from growthmap.read.summary import headline
    from growthmap.runner.duckdb_run import run

    ws = build_demo_workspace(tmp_path / "tiny.duckdb", regime="tiny")
    try:
        res = run(ws, Config(), as_of=DEMO_AS_OF)  # every stage
        customers = ws.con.execute(f"SELECT count(*) FILTER (is_customer) FROM "
                                   f"snap_{res.snapshot_id}.account_value").fetchone()[0]
        assert 60 <= customers <= 140
        flagged = {m: ev.get("not_informative") for m, ev in res.evaluations.items()
                   if m in ("propensity", "risk")}
        for model, reasons in flagged.items():
            if not reasons:
                continue
            # a score that knows nothing is not shown as a figure anywhere
            info = ws.snapshot_info(res.snapshot_id)
            assert any("not informative" in n for n in json_list(info["notes"]))
            assert any("not informative" in s for s in headline(ws).sentences)
            some = ws.con.execute(f"SELECT account_id FROM snap_{res.snapshot_id}.{model} "
                                  f"WHERE {'ptb' if model == 'propensity' else 'risk'} "
                                  "IS NOT NULL LIMIT 1").fetchone()[0]
            card = account_card(ws, some)
            assert (card.ptb if model == "propensity" else card.risk) is None
            assert any("not informative" in n for n in card.score_notes)
        assert any(flagged.values()), "the tiny world's risk has too few declines to learn"
    finally:
        ws.close()


def json_list(text: str | None) -> list[str]:
    import json

    return json.loads(text or "[]")
