"""As-of features: checked against pandas, and immune to every row dated after the as-of.

Also home of :func:`make_world`, a small synthetic market with a known latent propensity
that the propensity, risk and ICP tests share.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from growthmap.config import Config
from growthmap.errors import ConfigError
from growthmap.scores.buying_centre import (
    STATUS_NO_CONTACTS,
    STATUS_NO_TABLE,
    STATUS_SCORED,
    buying_centre,
)
from growthmap.scores.features import FeatureInputs, account_features, describe, encode, vocabulary
from growthmap.workspace import Workspace

AS_OF = dt.date(2025, 12, 31)
START = dt.date(2022, 1, 1)
FAMILIES = ("Tools", "Parts", "Service")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def make_world(seed: int = 7, n: int = 500, years: int = 5) -> dict[str, pd.DataFrame]:
    """Accounts buying monthly over ``years`` calendar years from START; the last is truth.

    A latent propensity ``z`` drives yearly growth, adopting families, prospects turning
    into customers, and signals; a latent fit ``f`` drives industry and size, and the best
    customers are big because wallet = employees x industry intensity.  Returns the input
    tables (rows up to AS_OF) and ``truth_*`` tables for the year after.
    """
    rng = np.random.default_rng(seed)
    ids = np.array([f"A{i:04d}" for i in range(n)])
    z = rng.standard_normal(n)
    industry = rng.choice(["steel", "food", "pharma"], n)
    emp = np.round(np.exp(rng.normal(4, 1.2, n) + 0.5 * (industry == "pharma"))).astype(int) + 1
    fit = 0.5 * (industry == "pharma") + 0.4 * (np.log(emp) - 4) / 1.2 + rng.normal(0, .5, n)
    intensity = {"steel": 300.0, "food": 150.0, "pharma": 600.0}
    wallet = np.array([intensity[i] for i in industry]) * emp
    active = np.zeros((n, len(FAMILIES)), bool)
    active[:, 0] = rng.random(n) < _sigmoid(0.3 + 0.8 * fit)
    share = rng.beta(2, 3, (n, len(FAMILIES)))
    g = 0.25 * z + rng.normal(0, 0.08, n)
    rows = []
    for year in range(years):
        adopt = rng.random(active.shape) < _sigmoid(-2.6 + 1.4 * z)[:, None]
        active |= adopt & (active.any(axis=1, keepdims=True) | (rng.random(active.shape) < .3))
        level = share * wallet[:, None] / 12 * np.exp(g * year)[:, None] * active
        for month in range(12):
            lam = np.where(active, 0.9, 0)
            k = rng.poisson(lam)
            a_idx, f_idx = np.nonzero(k)
            for a, f in zip(a_idx, f_idx, strict=True):
                rows.append((ids[a], dt.date(START.year + year, month + 1, 1 + rng.integers(27)),
                             f"p{f}{rng.integers(2)}", level[a, f] / k[a, f] * rng.gamma(4, .25)))
        churn = rng.random(n) < _sigmoid(-3.5 - 1.0 * z)
        active[churn] = False
    tx = pd.DataFrame(rows, columns=["account_id", "date", "product_id", "amount"])
    tx["amount"] = tx.amount.round(2)
    tx.insert(0, "line_id", [f"L{i}" for i in range(len(tx))])
    future = tx.date > AS_OF
    nxt = (tx[future].assign(family=lambda d: d.product_id.str[1].astype(int).map(
        dict(enumerate(FAMILIES)))).groupby(["account_id", "family"], as_index=False)
        .amount.sum())
    products = pd.DataFrame({"product_id": [f"p{f}{j}" for f in range(3) for j in range(2)],
                             "family": [FAMILIES[f] for f in range(3) for _ in range(2)]})
    accounts = pd.DataFrame({"account_id": ids, "name": ids, "industry": industry,
                             "region": rng.choice(["north", "south"], n), "employees": emp})
    m = int(n * 6)
    sig_acc = rng.choice(n, m, p=np.exp(0.8 * z) / np.exp(0.8 * z).sum())
    days = (AS_OF - START).days
    signals = pd.DataFrame({
        "account_id": ids[sig_acc],
        "date": [START + dt.timedelta(days=int(d)) for d in rng.integers(0, days, m)],
        "kind": rng.choice(["web_visit", "intent", "webinar"], m), "value": 1.0})
    o = rng.choice(n, n // 2)
    created = [START + dt.timedelta(days=int(d)) for d in rng.integers(300, days, len(o))]
    closed = [c + dt.timedelta(days=int(d)) if rng.random() < 0.7 else None
              for c, d in zip(created, rng.integers(10, 200, len(o)), strict=True)]
    closed = [c if c is None or c <= AS_OF else None for c in closed]
    opps = pd.DataFrame({"opportunity_id": [f"O{i}" for i in range(len(o))],
                         "account_id": ids[o], "created": created, "closed": closed,
                         "amount": rng.gamma(2, 5000, len(o)).round(0),
                         "won": [None if c is None else bool(rng.random() < .5) for c in closed]})
    c_acc = rng.choice(n, int(n * 1.5))
    contacts = pd.DataFrame({
        "contact_id": [f"C{i}" for i in range(len(c_acc))], "account_id": ids[c_acc],
        "role": rng.choice(["decision_maker", "influencer", "user", "procurement"], len(c_acc)),
        "last_engagement": [None if rng.random() < .2 else
                            AS_OF - dt.timedelta(days=int(d))
                            for d in rng.integers(0, 900, len(c_acc))]})
    truth_acc = pd.DataFrame({"account_id": ids, "latent_propensity": z, "latent_fit": fit,
                              "wallet_total": wallet})
    return {"accounts": accounts, "transactions": tx[~future].reset_index(drop=True),
            "products": products, "signals": signals, "opportunities": opps,
            "contacts": contacts, "truth_accounts": truth_acc, "truth_next_year": nxt}


_DATES = {"transactions": ["date"], "signals": ["date"], "opportunities": ["created", "closed"],
          "contacts": ["last_engagement"]}


def make_workspace(path, world: dict[str, pd.DataFrame], *, truth: bool = False) -> Workspace:
    """A real workspace file holding the world's input tables (and truth when asked)."""
    ws = Workspace.create(path, overwrite=True)
    for name, df in world.items():
        schema = "main"
        if name.startswith("truth_"):
            if not truth:
                continue
            schema, name = "truth", name.removeprefix("truth_")
            ws.con.execute("CREATE SCHEMA IF NOT EXISTS truth")
        df = df.copy()
        for c in _DATES.get(name, []):
            df[c] = pd.to_datetime(df[c])
        if "won" in df.columns:
            df["won"] = df["won"].astype("boolean")
        ws.con.register("df", df)
        casts = ", ".join(f"CAST({c} AS DATE) AS {c}" for c in _DATES.get(name, []))
        sel = f"* EXCLUDE ({', '.join(_DATES[name])}), {casts}" if casts else "*"
        ws.con.execute(f"CREATE TABLE {schema}.{name} AS SELECT {sel} FROM df")
        ws.con.unregister("df")
    return ws


@pytest.fixture(scope="module")
def world() -> dict[str, pd.DataFrame]:
    return make_world(n=200, years=4)


T = dt.date(2024, 6, 30)


def _features(ws: Workspace, at: dt.date, vocab=None) -> pd.DataFrame:
    inputs = FeatureInputs.from_source(ws)
    vocab = vocab or vocabulary(inputs, at)
    return account_features(inputs, at, vocab).to_pandas().set_index("account_id")


def test_features_ignore_every_row_after_the_as_of_date(tmp_path, world):
    base = {k: v for k, v in world.items() if not k.startswith("truth")}
    # only what was known at T: rows after T removed, opportunities closed after T still open
    known = dict(base)
    known["transactions"] = base["transactions"][base["transactions"].date <= T]
    known["signals"] = base["signals"][base["signals"].date <= T]
    o = base["opportunities"][base["opportunities"].created <= T].copy()
    after = o.closed.notna() & (o.closed > T)
    o.loc[after, "closed"] = None
    o.loc[after, "won"] = None
    known["opportunities"] = o
    c = base["contacts"]
    known["contacts"] = c[c.last_engagement.isna() | (c.last_engagement <= T)]
    assert after.any() and len(known["transactions"]) < len(base["transactions"])
    # ... and the full history, plus contacts engaged after T that did not exist before
    full = dict(base)
    extra = pd.DataFrame({"contact_id": ["CX1", "CX2"], "account_id": ["A0001", "A0002"],
                          "role": ["decision_maker", "user"],
                          "last_engagement": [T + dt.timedelta(days=3), AS_OF]})
    full["contacts"] = pd.concat([known["contacts"], extra], ignore_index=True)
    with make_workspace(tmp_path / "known.duckdb", known) as ws_k, \
            make_workspace(tmp_path / "full.duckdb", full) as ws_f:
        vocab = vocabulary(FeatureInputs.from_source(ws_k), T)
        assert vocab == vocabulary(FeatureInputs.from_source(ws_f), T)
        a, b = _features(ws_k, T, vocab), _features(ws_f, T, vocab)
    assert list(a.columns) == list(b.columns)
    assert {"sig_90d", "opp_open", "bc_contacts", "f_tools_rev_12m"} <= set(a.columns)
    pd.testing.assert_frame_equal(a, b)


def test_transaction_features_match_pandas(tmp_path, world):
    with make_workspace(tmp_path / "ws.duckdb", world) as ws:
        f = _features(ws, T)
    tx = world["transactions"].merge(world["products"], on="product_id")
    tx = tx[tx.date <= T]
    start = T - pd.DateOffset(months=12)
    win = tx[pd.to_datetime(tx.date) > start]
    exp_rev = win.groupby("account_id").amount.sum()
    got = f["rev_12m"]
    assert np.allclose(got.reindex(exp_rev.index), exp_rev)
    assert (got.drop(exp_rev.index) == 0).all()
    exp_lines = win[win.amount > 0].groupby("account_id").size()
    assert (f["lines_12m"].reindex(exp_lines.index) == exp_lines).all()
    last = tx[tx.amount > 0].groupby("account_id").date.max()
    exp_rec = last.map(lambda d: (T - d).days)
    assert (f["recency_days"].reindex(exp_rec.index) == exp_rec).all()
    assert f["recency_days"].drop(exp_rec.index).isna().all()
    parts = win[win.family == "Parts"].groupby("account_id").amount.sum()
    assert np.allclose(f["f_parts_rev_12m"].reindex(parts.index), parts)
    _check_counts(f, tx, win)


def _check_counts(f: pd.DataFrame, tx: pd.DataFrame, win: pd.DataFrame) -> None:
    """Distinct families (12 months, ever) and months with a purchase, as pandas counts."""
    bought = win[win.amount > 0]
    fam12 = bought.groupby("account_id").family.nunique()
    assert (f["families_12m"].reindex(fam12.index) == fam12).all()
    assert (f["families_12m"].drop(fam12.index) == 0).all()
    ever = tx[tx.amount > 0].groupby("account_id").family.nunique()
    assert (f["families_ever"].reindex(ever.index) == ever).all()
    months = bought.assign(m=pd.to_datetime(bought.date).dt.to_period("M")).groupby(
        "account_id").m.nunique()
    assert months.max() > 1
    assert (f["active_months_12m"].reindex(months.index) == months).all()
    assert (f["active_months_12m"].drop(months.index) == 0).all()


def test_counts_over_the_lines_when_the_vocabulary_leaves_families_out(tmp_path, world,
                                                                        monkeypatch):
    """With more families than the vocabulary keeps, the families bought are counted over
    the lines, not from the per-family columns (which miss the ones left out)."""
    from growthmap.scores import features

    monkeypatch.setattr(features, "_MAX_FAMILIES", 1)
    with make_workspace(tmp_path / "ws.duckdb", world) as ws:
        f = _features(ws, T)
    assert len([c for c in f.columns if c.endswith("_lines_12m") and c.startswith("f_")]) == 1
    tx = world["transactions"].merge(world["products"], on="product_id")
    tx = tx[tx.date <= T]
    win = tx[pd.to_datetime(tx.date) > T - pd.DateOffset(months=12)]
    assert win.family.nunique() > 1
    _check_counts(f, tx, win)


def test_signal_and_opportunity_features_match_pandas(tmp_path, world):
    with make_workspace(tmp_path / "ws.duckdb", world) as ws:
        f = _features(ws, T)
    s = world["signals"]
    s = s[(s.date <= T) & (s.date > T - dt.timedelta(days=90))]
    exp = s.groupby("account_id").size()
    assert (f["sig_90d"].reindex(exp.index) == exp).all()
    assert (f["sig_90d"].drop(exp.index) == 0).all()
    o = world["opportunities"]
    o = o[o.created <= T]
    is_open = o.closed.isna() | o.closed.map(lambda c: c is not None and c > T)
    exp_open = o[is_open].groupby("account_id").size()
    assert (f["opp_open"].reindex(exp_open.index) == exp_open).all()
    assert f["opp_open"].sum() == is_open.sum()


def test_buying_centre_scores_roles_with_engagement_credit(tmp_path):
    acc = pd.DataFrame({"account_id": ["A", "B", "C"]})
    contacts = pd.DataFrame({
        "contact_id": ["1", "2", "3", "4", "5"], "account_id": ["A", "A", "A", "B", "B"],
        "role": ["decision_maker", "influencer", "influencer", "user", "user"],
        "last_engagement": [AS_OF - dt.timedelta(days=30), AS_OF - dt.timedelta(days=500),
                            None, AS_OF + dt.timedelta(days=5), None]})
    world = {"accounts": acc, "contacts": contacts}
    with make_workspace(tmp_path / "ws.duckdb", world) as ws:
        got = buying_centre(ws.table("accounts"), ws.table("contacts"), AS_OF,
                            engagement_months=12).to_pandas().set_index("account_id")
        none = buying_centre(ws.table("accounts"), None, AS_OF).to_pandas()
    # A: decision maker engaged a month ago (1.0 x 0.4) + best influencer half credit (0.5 x .25)
    assert got.loc["A", "buying_centre_coverage"] == pytest.approx(0.4 + 0.5 * 0.25)
    assert got.loc["A", "bc_roles_covered"] == 2 and got.loc["A", "bc_engaged"] == 1
    # B: the contact engaged after the as-of date is unknown then; the other is cold (0.25)
    assert got.loc["B", "bc_contacts"] == 1
    assert got.loc["B", "buying_centre_coverage"] == pytest.approx(0.25 * 0.15)
    # C: no contacts -> unknown, flagged; never a silent zero
    assert pd.isna(got.loc["C", "buying_centre_coverage"])
    assert got.loc["C", "buying_centre_status"] == STATUS_NO_CONTACTS
    assert got.loc["A", "buying_centre_status"] == STATUS_SCORED
    assert none.buying_centre_coverage.isna().all()
    assert (none.buying_centre_status == STATUS_NO_TABLE).all()


def test_encode_keeps_category_codes_stable_across_frames(tmp_path, world):
    with make_workspace(tmp_path / "ws.duckdb", world) as ws:
        inputs = FeatureInputs.from_source(ws)
        vocab = vocabulary(inputs, T)
        a = account_features(inputs, T, vocab).to_pandas()
    x = encode(a, vocab)
    assert "account_id" not in x.columns and (x.dtypes == "float64").all()
    levels = vocab.levels["industry"]
    assert set(x["industry"].dropna()) <= set(range(len(levels)))
    x2 = encode(a.iloc[::-1].assign(industry=lambda d: d.industry.where(d.index != 0, "new")),
                vocab)
    assert np.isnan(x2.loc[0, "industry"])
    assert describe("f_parts_rev_12m", vocab) == "Parts: revenue in the last 12 months"
    assert describe("recency_days") == "days since the last purchase"


@pytest.mark.parametrize("scores, key", [
    ({"icp_best_tiers": ["A", "E"]}, "scores.icp_best_tiers"),
    ({"buying_role_weights": {"ceo": 1.0}}, "scores.buying_role_weights"),
    ({"buying_role_weights": {"user": 0.0}}, "scores.buying_role_weights"),
    ({"icp_features": []}, "scores.icp_features"),
    ({"horizon_months": 0}, "scores.horizon_months"),
    ({"calibration": "platt"}, "scores.calibration"),
    ({"train_cutoffs": 12, "cutoff_step_months": 12}, "scores"),
    ({"horizon": 12}, "scores.horizon"),
])
def test_scores_config_errors_name_the_key_and_the_fix(scores, key):
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"scores": scores}, source="growthmap.toml")
    text = str(e.value)
    assert "growthmap.toml" in text and key in text


@pytest.mark.spark
def test_features_on_spark_match_duckdb(tmp_path, world):
    """The same Ibis expressions on Spark give the same features (skips without Java)."""
    import shutil

    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")
    from growthmap.config._run import SparkConfig
    from growthmap.runner.spark_run import SparkSource, spark_session

    with make_workspace(tmp_path / "ws.duckdb", world) as ws:
        inputs = FeatureInputs.from_source(ws)
        vocab = vocabulary(inputs, T)
        expected = account_features(inputs, T, vocab).to_pandas().set_index("account_id")
        for name in ("accounts", "transactions", "products", "signals", "opportunities",
                     "contacts"):
            ws.con.execute(f"COPY main.{name} TO '{tmp_path / name}.parquet' (FORMAT parquet)")
    source = SparkSource.from_parquet(spark_session(SparkConfig(master="local[1]")), tmp_path)
    spark_inputs = FeatureInputs.from_source(source)
    assert vocabulary(spark_inputs, T) == vocab
    got = account_features(spark_inputs, T, vocab).to_pandas().set_index("account_id")
    got = got.loc[expected.index, expected.columns]
    for c in expected.columns:
        if pd.api.types.is_numeric_dtype(expected[c]):
            assert np.allclose(expected[c].astype(float), got[c].astype(float),
                               equal_nan=True), c
        else:
            assert (expected[c].fillna("") == got[c].fillna("")).all(), c
