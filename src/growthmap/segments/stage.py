"""The ``segments`` stage: tiers 1a/1b/2/3, risk/readiness, care model, next best offer.

One row per account brings together what the earlier stages decided (value tier,
potential band, matrix cell, ROAD, PtB, risk) and what this stage adds:

* **tier** — accounts ranked by *priority* (value and need together); the top
  ``tier1_share`` are Tier 1, split into 1a (behaviour above the threshold: easy to
  work with) and 1b (needs work); the rest of the top ``tier2_share`` and any account
  matching a ``tier2_rules`` condition are Tier 2; everyone else Tier 3;
* **risk_readiness** — the 2x2 of risk (the ``risk`` output) and readiness (PtB);
* **care model** — the first ``care_models`` rule whose ``when`` matches, else the default;
* **next best offer** — the family with the largest whitespace x PtB;
* **reasons** — the above in plain words, ``;``-separated.

Every input from another stage is optional: when one is absent its fields are null
(or neutral for scores), the run notes it, and nothing crashes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from growthmap.config._segments import Between, CareModel, SegmentsConfig, When
from growthmap.contract.outputs import output
from growthmap.errors import ConfigError
from growthmap.runner.pipeline import RunContext, register_stage
from growthmap.segments.criteria import (
    Columns,
    CriteriaResult,
    column_names,
    family_stages,
    floats,
    latest_assessments,
    score_criteria,
    stage_mix,
)
from growthmap.segments.reasons import segment_reasons, top_count

__all__ = [
    "QUADRANTS",
    "SEGMENT_COLUMNS",
    "TIER_ORDER",
    "assign_care",
    "assign_tiers",
    "build_segments",
    "gather_figures",
    "match_rule",
    "next_best_offer",
    "risk_readiness",
]

TIER_ORDER = ("1a", "1b", "2", "3")
#: (at risk?, ready?) -> quadrant name.
QUADRANTS = {(False, True): "Grow", (True, True): "Defend",
             (False, False): "Nurture", (True, False): "Rescue"}
#: Columns of the ``segments`` output, in order: as the output contract declares them.
SEGMENT_COLUMNS = output("segments").names
_TEXT = [c.name for c in output("segments").columns if c.kind == "str" and c.name != "account_id"]
# Fields a rule may name even when the stage that makes them did not run (they are null).
_FROM_OTHERS = {"potential_account": ["value_band", "potential_band", "matrix_cell", "road",
                                      "potential", "whitespace", "share_of_wallet",
                                      "low_confidence"],
                "propensity": ["ptb", "ptb_decile"], "icp": ["icp_fit", "is_best"],
                "risk": ["risk"]}


# -- inputs ------------------------------------------------------------------------
# The frame is assembled in Arrow: each earlier output is lined up with the accounts by
# one hash lookup of its account_id column (``index_in``) and only the columns used are
# taken.  Merging pandas frames instead converted every column of every output (a 6M-row
# potential table with its driver texts included) and hashed the million account ids
# once per merge; this is the same left join on a unique key, in the accounts' order.
def _output(ctx: RunContext, name: str, cols: list[str]) -> pa.Table | None:
    """An earlier output restricted to account_id and the wanted columns it has."""
    if not ctx.has(name):
        return None
    t = ctx.arrow(name)
    if "account_id" not in t.column_names:
        ctx.note(f"output {name!r} has no account_id column: segments ignore it")
        return None
    return t.select(["account_id", *[c for c in cols if c in t.column_names]])


def _ids(values: pa.ChunkedArray | pa.Array | pd.Series) -> pa.Array:
    """Account ids as one Arrow string array (the type both sides of a lookup share)."""
    if isinstance(values, pd.Series):
        values = pa.array(values.astype("string"))
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values if values.type == pa.large_string() else values.cast(pa.large_string())


def align(ids: pa.Array, table: pa.Table) -> pa.Table:
    """``table``'s other columns lined up with ``ids``: its first row per account, nulls
    where it has none (a left join on account_id that keeps the order of ``ids``)."""
    key = _ids(table["account_id"])
    rest = table.drop_columns(["account_id"])
    if key.equals(ids):  # outputs come in account order: usually nothing to look up
        return rest
    return rest.take(pc.index_in(ids, value_set=key))


def gather_figures(ctx: RunContext
                   ) -> tuple[pd.DataFrame, pa.Table | None, np.ndarray | None]:
    """One row per account: account columns, figures and others' segment fields.

    Returns the frame, the per-family ``potential`` output (Arrow, or ``None``) and, for each
    potential row, the frame row of its account (-1 when not in the frame): looked up
    once here and reused by the stage mix and the next best offer.
    """
    av = ctx.arrow("account_value")
    ids = _ids(av["account_id"])
    cols: dict[str, pa.ChunkedArray | pa.Array] = dict(zip(av.column_names, av.columns,
                                                           strict=True))
    acc = ctx.input("accounts")
    if acc is not None:
        extra = [c for c in acc.columns if c not in av.column_names]
        if extra:
            a = ctx.source.backend.to_pyarrow(acc.select("account_id", *extra))
            cols.update(zip(extra, align(ids, a).columns, strict=True))
    cols["current"] = av["value"]
    for out, wanted in _FROM_OTHERS.items():
        t = _output(ctx, out, wanted)
        if t is None:
            ctx.note(f"no {out!r} output in this run: segments use neutral values for "
                     f"{', '.join(wanted)}")
        else:
            got = align(ids, t)
            for c in got.column_names:  # an earlier column of that name is replaced
                cols.pop(c, None)
            cols.update(zip(got.column_names, got.columns, strict=True))
    frame = pa.table(cols).to_pandas()
    for c in (c for cs in _FROM_OTHERS.values() for c in cs):
        if c not in frame:
            frame[c] = np.nan
    pot = _output(ctx, "potential", ["family", "whitespace", "whitespace_open"])
    potential = rows = None
    if pot is not None:
        potential = pot  # stays Arrow: only its columns' codes and numbers are used
        rows = pc.index_in(_ids(pot["account_id"]), value_set=ids)
        rows = rows.fill_null(-1).to_numpy().astype("int64")
        if "whitespace_open" in pot.column_names:
            frame["whitespace_open"] = _sum_by_account(
                rows, len(frame), floats(pot, "whitespace_open"))
    bc = _buying_centre(ctx)
    if bc is not None:
        frame["buying_centre"] = align(ids, bc)["buying_centre"].to_numpy(
            zero_copy_only=False)
    return frame, potential, rows


def _sum_by_account(rows: np.ndarray, n: int, values: np.ndarray) -> np.ndarray:
    """Per frame row, the sum of ``values`` over the rows pointing at it (NaN when none).

    Summed by pandas' grouped sum (as a groupby of the output by account_id did before),
    keyed by the frame row so no account id is hashed again.
    """
    found = rows >= 0
    sums = pd.Series(values[found]).groupby(rows[found], sort=True).sum()
    out = np.full(n, np.nan)
    out[sums.index.to_numpy()] = sums.to_numpy()
    return out


def _buying_centre(ctx: RunContext) -> pa.Table | None:
    """Buying-centre coverage (0-1) per account: the models stage's, else from contacts.

    Accounts without contacts get a null coverage (scored neutral and flagged).
    Returns account_id and buying_centre.
    """
    if ctx.has("buying_centre"):
        t = ctx.arrow("buying_centre")
        col = next((c for c in ("buying_centre_coverage", "coverage") if c in t.column_names),
                   None)
        if col is not None and "account_id" in t.column_names:
            return t.select(["account_id", col]).rename_columns(["account_id",
                                                                 "buying_centre"])
    contacts = ctx.input("contacts")
    if contacts is None:
        return None
    from growthmap.scores.buying_centre import buying_centre

    sc = ctx.config.scores
    bc = buying_centre(ctx.require("accounts", "buying-centre coverage"), contacts, ctx.as_of,
                       weights=getattr(sc, "buying_role_weights", None),
                       engagement_months=getattr(sc, "engagement_months", 12))
    t = ctx.source.backend.to_pyarrow(bc.select("account_id", "buying_centre_coverage"))
    return t.rename_columns(["account_id", "buying_centre"])


# -- tiers ---------------------------------------------------------------------------
def _sort_rank(values: pd.Series) -> np.ndarray:
    """Each value's position in ascending (byte-wise) order, computed by Arrow: the tie
    order of string ids without pandas factorising a million of them."""
    order = pc.sort_indices(_ids(values)).to_numpy()
    rank = np.empty(len(order), dtype="int64")
    rank[order] = np.arange(len(order))
    return rank


def assign_tiers(frame: pd.DataFrame, cfg: SegmentsConfig) -> pd.DataFrame:
    """Tier per account from need, value_score, behaviour (and tier2_rules fields).

    Priority = mean (or min) of value and need; ranked descending, ties by account_id.
    Returns account_id, priority, priority_rank (null outside the ranked universe),
    ranked (size of the universe), tier, tier_rule (index of the tier2 rule that
    matched, else null).
    """
    f = frame.reset_index(drop=True)
    pair = f[["value_score", "need"]].astype("float64")
    priority = pair.mean(axis=1) if cfg.tier_combine == "mean" else pair.min(axis=1)
    ranked = ((f["status"] == "customer").fillna(False).to_numpy(dtype=bool)
              if cfg.tier_universe == "customers" else np.ones(len(f), dtype=bool))
    # descending priority (NaN last), then ascending account_id; a stable sort
    p = priority.to_numpy()
    idx = np.flatnonzero(ranked)
    order = idx[np.lexsort((_sort_rank(f["account_id"])[idx], -p[idx]))]
    rank_np = np.zeros(len(f), dtype="int64")
    rank_np[order] = np.arange(1, len(order) + 1)
    rank = pd.array(np.where(ranked, rank_np, 0), dtype="Int64")
    rank[~ranked] = pd.NA
    n = len(order)
    n1, n2 = top_count(cfg.tier1_share, n), top_count(cfg.tier2_share, n)
    tier1 = ranked & (rank_np <= n1)
    in_top2 = ranked & (rank_np <= n2)
    rule = np.full(len(f), -1)
    for i, when in reversed(list(enumerate(cfg.tier2_rules))):
        rule[match_rule(f, when, f"segments.tier2_rules[{i}]").to_numpy()] = i
    behaviour_ok = (f["behaviour"].astype("float64") > cfg.behaviour_threshold).to_numpy()
    tier = np.select([tier1 & behaviour_ok, tier1, in_top2 | (rule >= 0)],
                     ["1a", "1b", "2"], default="3")
    tier_rule = pd.array(rule, dtype="Int64")
    tier_rule[(rule < 0) | (tier != "2")] = pd.NA
    return pd.DataFrame({"account_id": f["account_id"], "priority": p,
                         "priority_rank": rank, "ranked": n, "tier": tier,
                         "tier_rule": tier_rule})


def _threshold(values: pd.Series, setting: float | str) -> float | None:
    if setting != "median":
        return float(setting)
    v = values.dropna()
    return float(v.median()) if len(v) else None


def risk_readiness(frame: pd.DataFrame, cfg: SegmentsConfig) -> tuple[pd.Series, float | None,
                                                                       float | None]:
    """The quadrant per account and the thresholds used (``None`` when no data).

    Unknown risk (prospects, or no risk model) counts as not at risk; unknown
    readiness as not ready: a quadrant claims only what the data shows.
    """
    risk = frame["risk"].astype("float64")
    ptb = frame["ptb"].astype("float64")
    cust = (frame["status"] == "customer").fillna(False).astype(bool)
    r_t = _threshold(risk[cust], cfg.risk_threshold)
    p_t = _threshold(ptb, cfg.readiness_threshold)
    at_risk = (cust.to_numpy() & (risk >= r_t).to_numpy()) if r_t is not None else \
        np.zeros(len(frame), dtype=bool)
    ready = (ptb >= p_t).to_numpy() if p_t is not None else np.zeros(len(frame), dtype=bool)
    names = np.array([QUADRANTS[(a, b)] for a in (False, True) for b in (False, True)])
    quad = names[at_risk.astype("int64") * 2 + ready.astype("int64")]
    return pd.Series(quad, index=frame.index, dtype="string"), r_t, p_t


# -- rules ---------------------------------------------------------------------------
def _condition(col: pd.Series, cond: object) -> pd.Series:
    if isinstance(cond, Between):
        x = pd.to_numeric(col, errors="coerce")
        ok = x.notna()
        if cond.min is not None:
            ok &= x >= cond.min
        if cond.max is not None:
            ok &= x <= cond.max
        return ok.fillna(False).astype(bool)
    values = cond if isinstance(cond, list) else [cond]
    hit = pd.Series(False, index=col.index)
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    for v in values:
        if isinstance(v, bool):
            hit |= col.astype("boolean").eq(v).fillna(False).astype(bool)
        elif isinstance(v, int | float) and numeric:
            hit |= col.astype("float64").eq(float(v)).fillna(False).astype(bool)
        else:
            hit |= col.astype("string").eq(str(v)).fillna(False).astype(bool)
    return hit


def match_rule(frame: pd.DataFrame, when: When, where: str) -> pd.Series:
    """Accounts for which every condition of ``when`` holds; an unknown field is an error."""
    ok = pd.Series(True, index=frame.index)
    for key, cond in when.items():
        if key not in frame.columns:
            fields = sorted(c for c in frame.columns if not c.startswith(("_", "c_")))
            raise ConfigError(f"{where}.when names {key!r}, which is not a segment field or "
                              "account column", hint="use one of: " + ", ".join(fields))
        ok &= _condition(frame[key], cond)
    return ok


def assign_care(frame: pd.DataFrame, rules: list, default: CareModel) -> pd.DataFrame:
    """care_model, coverage_role, touches_per_year, hours_per_touch, care_rule per account.

    The first matching rule wins; ``care_rule`` is its index (null for the default).
    """
    chosen = np.full(len(frame), -1)
    for i, r in enumerate(rules):
        m = match_rule(frame, r.when, f"segments.care_models[{i}]").to_numpy()
        chosen = np.where((chosen < 0) & m, i, chosen)
    models = [*rules, default]  # -1 picks the default (last)

    def field(name: str, dtype: str) -> np.ndarray:
        return np.array([getattr(m, name) for m in models], dtype=dtype)[chosen]

    care_rule = pd.array(chosen, dtype="Int64")
    care_rule[chosen < 0] = pd.NA
    return pd.DataFrame({
        "care_model": pd.array(field("care_model", "object"), dtype="string"),
        "coverage_role": pd.array(field("role", "object"), dtype="string"),
        "touches_per_year": field("touches_per_year", "float64"),
        "hours_per_touch": field("hours_per_touch", "float64"),
        "care_rule": care_rule,
    }, index=frame.index)


def size_care_to_value(care: pd.DataFrame, stake: np.ndarray, hourly_cost: float,
                       max_share: float) -> pd.DataFrame:
    """Cut each account's touches (then hours per touch) so coverage fits its stake.

    A rule such as "tier 1a: 24 touches x 3 h" is written for the accounts a team
    expects in tier 1a; in a book of small buyers the top tier may spend a few
    thousand a year, and 72 selling hours on each would cost more than they buy.  The
    yearly hours are capped at ``max_share x stake / hourly_cost``: touches first
    (at least one a year), then hours per touch (at least a quarter hour).
    """
    if not (hourly_cost > 0) or max_share is None:
        return care
    touches = care["touches_per_year"].to_numpy(dtype="float64", na_value=np.nan)
    hours = care["hours_per_touch"].to_numpy(dtype="float64", na_value=np.nan)
    cap = np.nan_to_num(np.asarray(stake, dtype="float64"), nan=0.0).clip(min=0) \
        * max_share / hourly_cost
    over = touches * hours > cap
    if not over.any():
        return care
    with np.errstate(divide="ignore", invalid="ignore"):
        fewer = np.clip(np.floor(cap / hours), 1.0, touches)
        shorter = np.clip(np.floor(cap / fewer * 4) / 4, 0.25, hours)
    out = care.copy()
    out["touches_per_year"] = np.where(over, fewer, touches)
    out["hours_per_touch"] = np.where(over, shorter, hours)
    return out


# -- next best offer -------------------------------------------------------------------
def _codes(values: pd.Series | pa.ChunkedArray, universe: pa.Array) -> np.ndarray:
    """Position of each value in ``universe`` (-1 where absent), by one Arrow hash lookup."""
    pos = pc.index_in(_ids(values), value_set=universe)
    return pos.fill_null(-1).to_numpy().astype("int64")


def _sorted_codes(values: pd.Series | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Codes of a column with few distinct values (families), numbered in sorted order."""
    enc = pc.dictionary_encode(_ids(values))
    order = pc.sort_indices(enc.dictionary).to_numpy()
    rank = np.empty(len(order), dtype="int64")
    rank[order] = np.arange(len(order))
    idx = enc.indices.to_numpy(zero_copy_only=False)
    codes = np.where(np.isnan(idx), -1, rank[np.nan_to_num(idx).astype("int64")]) \
        if enc.indices.null_count else rank[idx.astype("int64")]
    return codes.astype("int64"), enc.dictionary.take(pa.array(order))


class _FirstRows:
    """Row of the first occurrence of each integer key in ``[0, size)``: a dense table
    when that is small (it is: accounts x families), a hash index otherwise."""

    def __init__(self, keys: np.ndarray, size: int) -> None:
        self.dense = size <= 64_000_000
        if self.dense:
            self.table = np.full(size, len(keys), dtype="int64")
            np.minimum.at(self.table, keys, np.arange(len(keys)))
            self.table[self.table == len(keys)] = -1
        else:
            uniq = pd.Series(keys)
            uniq = uniq[~uniq.duplicated()]
            self.index, self.rows = pd.Index(uniq.to_numpy()), uniq.index.to_numpy()

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The first row of each key, -1 where the key never occurs."""
        if self.dense:
            return self.table[keys]
        at = self.index.get_indexer(keys)
        return np.where(at >= 0, self.rows[at], -1)


def _best_offers(potential: Columns, rows: np.ndarray, n: int,
                 family_ptb: Columns | None, family_ptb_rows: np.ndarray | None,
                 account_ptb: np.ndarray, min_whitespace: float) -> pd.DataFrame:
    """The next best offer for each of ``n`` accounts (NaN / NA where it has none).

    ``rows`` gives each potential row's account as a position in 0..n-1 (-1: ignore);
    ``family_ptb_rows`` the same for ``family_ptb``; ``account_ptb`` is per position.
    Accounts and families are integers here, so the per-family PtB is found and the best
    family picked with array operations over the six million rows a million accounts
    have, rather than merges and a sort of strings.
    """
    ws = floats(potential, "whitespace")
    fam_all, families = _sorted_codes(potential["family"])
    keep = np.flatnonzero((ws > min_whitespace) & (rows >= 0) & (fam_all >= 0))
    acc, fam, ws = rows[keep], fam_all[keep], ws[keep]
    nf = len(families)
    ptb = np.full(len(keep), np.nan)
    if family_ptb is not None and family_ptb_rows is not None and len(family_ptb):
        ff = _codes(family_ptb["family"], families)
        ok = np.flatnonzero((family_ptb_rows >= 0) & (ff >= 0))
        fp = floats(family_ptb, "ptb")
        first = _FirstRows(family_ptb_rows[ok] * nf + ff[ok], n * nf)
        at = first.get(acc * nf + fam)
        ptb[at >= 0] = fp[ok[at[at >= 0]]]
    ptb = np.where(np.isnan(ptb), account_ptb[acc], ptb)
    ptb = np.where(np.isnan(ptb), 0.5, ptb)
    score = ws * ptb
    # per account: the highest score (NaN last), then the first family by name, then the
    # first row - what a stable sort by (account, score desc, family) puts first; found
    # with three grouped reductions (a sort of six million rows took seconds)
    s = np.where(np.isnan(score), -np.inf, score)
    best = np.full(n, -np.inf)
    np.maximum.at(best, acc, s)
    cand = np.flatnonzero(s == best[acc])
    top_fam = np.full(n, nf)
    np.minimum.at(top_fam, acc[cand], fam[cand])
    cand = cand[fam[cand] == top_fam[acc[cand]]]
    pick = np.full(n, len(acc))
    np.minimum.at(pick, acc[cand], cand)
    first = pick[pick < len(acc)]
    at_acc = acc[first]
    offer = np.full(n, -1)
    offer[at_acc] = fam[first]
    out = pd.DataFrame({"next_best_offer": families.take(pa.array(offer, mask=offer < 0))
                        .to_pandas().astype("string")})
    for col, val in (("nbo_score", score), ("nbo_whitespace", ws), ("nbo_ptb", ptb)):
        v = np.full(n, np.nan)
        v[at_acc] = val[first]
        out[col] = v
    return out


def next_best_offer(potential: Columns | None, family_ptb: Columns | None,
                    account_ptb: pd.Series, min_whitespace: float = 0.0) -> pd.DataFrame:
    """Per account the family with the largest whitespace x PtB (ties: family name).

    PtB per family from ``propensity_family`` when present, else the account's PtB,
    else neutral 0.5 (the offer is then simply the largest whitespace).  Returns
    account_id, next_best_offer, nbo_score, nbo_whitespace, nbo_ptb, one row per
    account with an offer, in account_id order.
    """
    cols = ["account_id", "next_best_offer", "nbo_score", "nbo_whitespace", "nbo_ptb"]
    if potential is None or not {"family", "whitespace"} <= set(column_names(potential)):
        return pd.DataFrame(columns=cols)
    accounts = pc.unique(_ids(potential["account_id"]))
    accounts = accounts.take(pc.sort_indices(accounts))
    acc_ptb = np.full(len(accounts), np.nan)
    ap = _codes(pd.Series(account_ptb.index), accounts)
    acc_ptb[ap[ap >= 0]] = account_ptb.to_numpy(dtype="float64", na_value=np.nan)[ap >= 0]
    fam_rows = None if family_ptb is None else _codes(family_ptb["account_id"], accounts)
    best = _best_offers(potential, _codes(potential["account_id"], accounts), len(accounts),
                        family_ptb, fam_rows, acc_ptb, min_whitespace)
    best.insert(0, "account_id", accounts.to_pandas())
    return best[best["next_best_offer"].notna()].reset_index(drop=True)[cols]


# -- the stage -----------------------------------------------------------------------
def _missing_words(crit: CriteriaResult, cfg: SegmentsConfig, ids: pd.Series) -> np.ndarray:
    """Per account, the behaviour criteria it had no data for, as words ("" if none).

    Worded once per pattern of missing criteria (a bit mask), not once per account.
    """
    beh = [c.name for c in cfg.criteria if c.group == "behaviour"]
    miss = crit.missing.reindex(columns=beh, fill_value=False)
    if not len(miss) or not beh:
        return np.full(len(ids), "", dtype=object)
    bits = miss.to_numpy(dtype=bool) @ (1 << np.arange(len(beh), dtype="int64"))
    if not _ids(pd.Series(miss.index)).equals(_ids(ids)):
        bits = pd.Series(bits, index=miss.index).reindex(ids).fillna(0).to_numpy("int64")
    masks, codes = np.unique(bits, return_inverse=True)
    words = [", ".join(b for j, b in enumerate(beh) if int(m) >> j & 1) for m in masks]
    return np.array(words, dtype=object)[codes]


def build_segments(frame: pd.DataFrame, crit: CriteriaResult, cfg: SegmentsConfig, *,
                   potential: Columns | None = None,
                   family_ptb: Columns | None = None,
                   rows: np.ndarray | None = None,
                   hourly_cost: float | None = None) -> pd.DataFrame:
    """The ``segments`` table from the gathered frame and the criteria scores.

    ``rows`` (optional) gives each potential row's account as a row of ``frame``;
    ``hourly_cost`` (a rep's cost per selling hour) sizes care models to value.
    """
    sc = crit.scores[["account_id", "need", "value_score", "behaviour"]]
    f = frame.reset_index(drop=True)
    if len(sc) == len(f) and sc["account_id"].reset_index(drop=True).equals(f["account_id"]):
        # the scores are in the frame's order (score_criteria keeps it): no join needed
        f = f.drop(columns=[c for c in sc.columns[1:] if c in f.columns])
        f = f.assign(**{c: sc[c].to_numpy() for c in sc.columns[1:]})
    else:
        f = f.merge(sc, on="account_id", how="left").reset_index(drop=True)
    tiers = assign_tiers(f, cfg)
    f = f.assign(**{c: tiers[c].array for c in tiers.columns if c != "account_id"})
    quad, r_t, p_t = risk_readiness(f, cfg)
    f["risk_readiness"] = quad.to_numpy()
    care = assign_care(f, cfg.care_models, cfg.care_default)
    if hourly_cost and cfg.care_max_cost_share is not None:
        stake = np.fmax(f["value"].to_numpy(dtype="float64", na_value=np.nan),
                        f["potential"].to_numpy(dtype="float64", na_value=np.nan))
        care = size_care_to_value(care, stake, hourly_cost, cfg.care_max_cost_share)
    f = pd.concat([f, care], axis=1)
    if potential is not None and {"family", "whitespace"} <= set(column_names(potential)):
        ids = _ids(f["account_id"])
        if rows is None:
            rows = _codes(potential["account_id"], ids)
        fam_rows = None if family_ptb is None else _codes(family_ptb["account_id"], ids)
        nbo = _best_offers(potential, rows, len(f), family_ptb, fam_rows,
                           f["ptb"].to_numpy(dtype="float64", na_value=np.nan),
                           cfg.nbo_min_whitespace)
        f = pd.concat([f, nbo], axis=1)
    else:
        f = f.assign(next_best_offer=pd.array([pd.NA] * len(f), dtype="string"),
                     nbo_score=np.nan, nbo_whitespace=np.nan, nbo_ptb=np.nan)
    f["reasons"] = segment_reasons(f, cfg, _missing_words(crit, cfg, f["account_id"]),
                                   r_t, p_t).to_pandas()
    for c in SEGMENT_COLUMNS:
        if c not in f:
            f[c] = np.nan
    out = f[SEGMENT_COLUMNS]  # copy-on-write: the columns replaced below are new ones
    del f
    for c in _TEXT:
        out[c] = out[c].astype("string")
    for c in ("value", "potential", "whitespace", "priority", "need", "value_score",
              "behaviour", "ptb", "risk", "nbo_score", "touches_per_year", "hours_per_touch"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    out["priority_rank"] = out["priority_rank"].astype("Int64")
    out["care_rule"] = out["care_rule"].astype("Int64")
    ids = _ids(out["account_id"])
    if len(ids) > 1 and not pc.all(pc.less(ids[:-1], ids[1:])).as_py():
        out = out.sort_values("account_id")
    return out.reset_index(drop=True)


@register_stage("segments", needs=("account_value",),
                optional=("potential_account", "potential", "propensity", "propensity_family",
                          "risk", "icp", "buying_centre", "accounts", "contacts", "products",
                          "assessments"),
                provides=("criteria_scores", "segments"))
def stage(ctx: RunContext) -> None:
    """Need/value/behaviour scores, tiers, risk/readiness, care models, next best offer."""
    cfg = ctx.config.segments
    frame, potential, rows = gather_figures(ctx)
    products = ctx.input("products")
    prod = ctx.source.backend.to_pandas(products) if products is not None else None
    stages = family_stages(prod)
    if cfg.lifecycle_mix != "none" and stages.empty:
        ctx.note("no life-cycle stages in the products table: criterion stage weights are "
                 "not applied")
    mix = stage_mix(pd.Index(frame["account_id"]), potential=potential, stages=stages,
                    mode=cfg.lifecycle_mix, focus_family=cfg.focus_family, rows=rows)
    a = ctx.input("assessments")
    answers = latest_assessments(ctx.source.backend.to_pandas(a) if a is not None else None,
                                 ctx.as_of)
    crit = score_criteria(frame, cfg, assessments=answers, mix=mix)
    for n in crit.notes:
        ctx.note(n)
    ctx.put("criteria_scores", crit.scores)
    fam_ptb = _output(ctx, "propensity_family", ["family", "ptb"])  # Arrow, as potential
    plan = ctx.config.plan
    seg = build_segments(frame, crit, cfg, potential=potential, family_ptb=fam_ptb, rows=rows,
                         hourly_cost=plan.loaded_cost / plan.productive_hours)
    if potential is None:
        ctx.note("no 'potential' output in this run: no next best offer")
    # the inputs go before the output is copied to Arrow: at a million accounts they are
    # a gigabyte of frames (six million potential rows among them)
    del frame, potential, rows, crit, mix, fam_ptb
    ctx.put("segments", seg)
