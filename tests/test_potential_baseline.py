"""Potential beside its baseline, the level assumption, graded relevance, enough history.

The arithmetic is checked against independent computations (pandas, brute-force
simulation); the behaviour of the stage on small demo worlds of the regimes that break
the default world's comforts.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, spearmanr

from growthmap.cli._common import console
from growthmap.cli._potential import print_potential_evaluation
from growthmap.config import Config
from growthmap.demo import DEMO_AS_OF, build_demo_workspace
from growthmap.models.potential._baseline import (
    need_share,
    peer_percentile,
    rank_spearman_diff,
)
from growthmap.models.potential._level import account_log_bounds, level_sd, mixture_bounds
from growthmap.potential.backtest import evaluate_snapshot
from growthmap.runner.duckdb_run import run


# -- the arithmetic -----------------------------------------------------------------------
def test_peer_percentile_matches_a_pandas_spreadsheet() -> None:
    rng = np.random.default_rng(3)
    n = 400
    emp = np.exp(rng.normal(4, 1, n)).round()
    emp[:5] = np.nan
    ind = rng.choice(["a", "b", "c"], n).astype(object)
    ind[5:8] = None
    cur = np.where(rng.random((n, 2)) < 0.5, rng.gamma(2, 500, (n, 2)), 0.0)
    got = peer_percentile(emp, ind, cur, 0.8)
    df = pd.DataFrame({"emp": emp, "ind": ind, "spend": cur[:, 0]})
    buyers = df[(df.spend > 0) & df.emp.notna()]
    per = (buyers.spend / buyers.emp**0.85).groupby(buyers.ind).quantile(0.8)
    for i in range(8, 60):
        want = per[ind[i]] * emp[i] ** 0.85
        assert got[i, 0] == pytest.approx(max(want, cur[i, 0]))
    # no size: the group's 80th percentile of spend itself, floored at the account's
    flat = df[df.spend > 0].groupby("ind").spend.quantile(0.8)
    assert got[0, 0] == pytest.approx(max(flat[ind[0]], cur[0, 0]))


def test_rank_spearman_diff_sees_a_better_ranking_and_a_tie() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=3000)
    good, poor = y + rng.normal(0, 0.5, 3000), y + rng.normal(0, 1.5, 3000)
    d = rank_spearman_diff(good, poor, y, seed=1)
    assert d["model"] == pytest.approx(spearmanr(good, y).statistic, abs=1e-3)
    assert d["baseline"] == pytest.approx(spearmanr(poor, y).statistic, abs=1e-3)
    assert 0 < d["low"] < d["difference"] < d["high"]
    twin = y + rng.normal(0, 0.5, 3000)
    tie = rank_spearman_diff(good, twin, y, seed=1)
    assert tie["low"] < 0 < tie["high"]


def test_rank_spearman_diff_bootstrap_is_the_plain_resampling() -> None:
    """The batched bootstrap (counts x weighted sums) gives the replicates a plain loop
    gives: resample the rows, correlate the full sample's ranks, take the difference."""
    rng = np.random.default_rng(4)
    n, n_boot, seed = 700, 60, 3
    y = np.where(rng.random(n) < 0.4, 0.0, rng.gamma(2.0, 100.0, n))
    a, b = y + rng.normal(0, 60, n), y + rng.normal(0, 90, n)
    got = rank_spearman_diff(a, b, y, n_boot=n_boot, seed=seed)
    ra, rb, ry = (pd.Series(v).rank().to_numpy() for v in (a, b, y))
    draw = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        i = draw.integers(0, n, n)
        diffs.append(np.corrcoef(ra[i], ry[i])[0, 1] - np.corrcoef(rb[i], ry[i])[0, 1])
    lo, hi = np.quantile(diffs, [0.05, 0.95])
    assert got["low"] == pytest.approx(lo, abs=1e-4)
    assert got["high"] == pytest.approx(hi, abs=1e-4)
    assert got["difference"] == pytest.approx(
        spearmanr(a, y).statistic - spearmanr(b, y).statistic, abs=1e-4)


def test_mixture_bounds_cover_their_level_by_simulation() -> None:
    rng = np.random.default_rng(5)
    wallet, sd = 1000.0, 0.4
    for need in (1.0, 0.95, 0.7, 0.3):
        low, pot, high = (float(x[0]) for x in mixture_bounds(
            np.array([wallet]), np.array([sd]), np.array([sd]), np.array([need]), 0.8))
        draws = np.where(rng.random(200_000) < need,
                         wallet * np.exp(sd * rng.standard_normal(200_000)), 0.0)
        inside = np.mean((draws >= low) & (draws <= high))
        assert pot == pytest.approx(need * wallet)
        assert inside == pytest.approx(0.8, abs=0.02) or (low == 0 and inside >= 0.8)
    assert level_sd([0.33, 0.75], 0.8) == pytest.approx(np.log(0.75 / 0.33) / 2 / norm.ppf(0.9))


@pytest.mark.parametrize(("least_need", "lowest"), [(1.0, 0.78), (0.6, 0.74)])
def test_account_bounds_cover_a_simulated_sum(least_need: float, lowest: float) -> None:
    """Correlated model cells, a common level error and cells needed by chance.

    With every cell needed the moment-matched log-normal is right on 80%; the more
    cells may be empty, the more the sum's lower tail runs past it (a documented limit).
    """
    rng = np.random.default_rng(9)
    n, f, rho, common = 20_000, 4, 0.3, 0.3
    wallet = np.exp(rng.normal(8, 1, (n, f)))
    own = np.full((n, f), 0.4)
    sd = np.sqrt(own**2 + common**2)
    need = rng.uniform(least_need, 1.0, (n, f))
    pot = need * wallet
    lo, hi = account_log_bounds(pot, sd, sd, need, np.ones((n, f), bool), rho, common, 0.8)
    z_acc = rng.standard_normal((n, 1))
    eta = (np.sqrt(rho) * z_acc + np.sqrt(1 - rho) * rng.standard_normal((n, f))) * own
    level = common * rng.standard_normal((n, 1))  # the level error, as the formula sees it
    truth = ((rng.random((n, f)) < need) * wallet * np.exp(eta + level)).sum(axis=1)
    total = pot.sum(axis=1)
    inside = np.mean((truth >= total * np.exp(lo)) & (truth <= total * np.exp(hi)))
    assert lowest <= inside <= 0.82


def test_need_share_reads_need_off_similar_accounts() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    group = rng.integers(0, 3, n)  # group 0 needs family 0, group 2 never does
    need = np.array([1.0, 0.5, 0.0])[group]
    customer = rng.random(n) < 0.7
    buys = np.zeros((n, 2), bool)
    buys[:, 0] = customer & (rng.random(n) < need * 0.6)
    buys[:, 1] = customer & (rng.random(n) < 0.6)  # everyone needs family 1
    got = need_share(group, buys, customer)
    assert (got[buys] == 1).all()
    prospects = ~customer
    for g, want in ((0, 1.0), (1, 0.5)):
        assert got[prospects & (group == g), 0].mean() == pytest.approx(want, abs=0.08)
    assert got[prospects & (group == 2), 0].mean() < 0.05
    # a customer that does not buy a family its group always needs: less likely to need it
    not_buying = customer & ~buys[:, 0] & (group == 1)
    assert got[not_buying, 0].mean() < got[prospects & (group == 1), 0].mean()
    assert got[prospects, 1].mean() > 0.9


# -- the stage on small worlds ---------------------------------------------------------------
def _run(ws, **potential):
    cfg = Config.from_dict({"potential": {"backtest": True, **potential}})
    return run(ws, cfg, as_of=DEMO_AS_OF, only=["value", "potential"])


@pytest.fixture(scope="module")
def static_ws(tmp_path_factory):
    ws = build_demo_workspace(tmp_path_factory.mktemp("static") / "s.duckdb",
                              n_accounts=2000, seed=7, regime="static+no-vendor")
    yield ws
    ws.close()


def test_model_is_shown_beside_the_baseline_on_the_same_rows(static_ws) -> None:
    res = _run(static_ws)
    ev = res.evaluations["potential"]
    bt = ev["backtest"]["baseline"]
    for level in ("account", "account_family", "whitespace_vs_growth"):
        m = bt[level]
        assert m["n"] == (2000 if level != "account_family" else 12000)
        assert m["low"] <= m["difference"] <= m["high"]
    # what is published follows from the comparison
    not_worse = bt["account"]["high"] >= 0  # a tie keeps the model
    assert (ev["published"]["what"] == "model") == not_worse
    verdict = ev["published"]["model_vs_baseline"]
    assert verdict == ("beats" if bt["account"]["low"] > 0 else "ties" if not_worse
                       else "worse")
    # against the truth too, per account and per account x family
    truth = ev["truth"]
    assert truth["account"]["all"]["spearman"] > truth["baseline"]["all"]["account"]
    assert truth["account_family"]["all"]["spearman"] > \
        truth["baseline"]["all"]["account_family"] + 0.05


def test_without_vendor_figures_the_level_is_a_stated_setting_and_intervals_hold(
        static_ws) -> None:
    res = _run(static_ws, backtest=False)
    ev = res.evaluations["potential"]
    assert ev["level"]["best_share"] == 0.5
    assert any("assumes the best-penetrated buyers give us 50% of theirs" in n
               for n in res.notes)
    assert 0.75 <= ev["truth"]["account"]["all"]["coverage"] <= 0.86
    half = _run(static_ws, backtest=False, best_share=0.25)
    pot = res.evaluations["potential"]["summary"]["potential"]
    assert half.evaluations["potential"]["summary"]["potential"] > 1.6 * pot


def test_graded_relevance_ranks_cells_an_account_will_never_buy_lower(static_ws) -> None:
    graded = _run(static_ws, backtest=False)
    flat = _run(static_ws, backtest=False, graded_relevance=False)
    rho = graded.evaluations["potential"]["truth"]["account_family"]["all"]["spearman"]
    rho_flat = flat.evaluations["potential"]["truth"]["account_family"]["all"]["spearman"]
    assert rho > rho_flat + 0.03


def test_a_model_that_does_not_beat_the_baseline_is_not_published(static_ws) -> None:
    """A starved model (two leaves per tree, no graded relevance) against a spreadsheet."""
    res = _run(static_ws, n_estimators=10, num_leaves=2, learning_rate=0.01,
               graded_relevance=False)
    ev = res.evaluations["potential"]
    assert ev["backtest"]["baseline"]["account"]["high"] < 0
    assert ev["published"]["model_vs_baseline"] == "worse"
    assert ev["published"]["what"] in ("baseline", "blend")
    assert any("did not beat the naive peer percentile" in n and "publishes" in n
               for n in res.notes)
    # growthmap evaluate potential prints model vs baseline and what was published
    with console.capture() as cap:
        print_potential_evaluation(evaluate_snapshot(static_ws, res.snapshot_id))
    text = " ".join(cap.get().split())
    assert "published potential vs peer percentile" in text
    assert "Spearman with spend in the 12" in text
    assert f"published: the {ev['published']['what']}" in text
    assert "wallets assume the best-penetrated buyers give us 50%" in text


def test_backtest_with_too_little_history_is_skipped_and_says_why(static_ws) -> None:
    cfg = Config.from_dict({"potential": {"backtest": True}})
    res = run(static_ws, cfg, as_of=dt.date(2024, 1, 9), only=["value", "potential"])
    skipped = res.evaluations["potential"]["backtest"]["skipped"]
    assert "8 days" in skipped and "at least 6 months" in skipped
    assert any("potential backtest skipped" in n and "8 days" in n for n in res.notes)
