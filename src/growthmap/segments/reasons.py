"""The plain-word ``reasons`` of the segments output, built a column at a time.

A reason reads, for one account, ``Tier 1b: top 10% on value and need (value 0.91,
need 0.88, rank 12 of 900), but behaviour 0.40 not above 0.5; Develop: ...; Grow: ...;
Care: ...; Next best offer: ...``.  At a million accounts a Python loop over the rows
(a dict and a dozen f-strings each) took most of the segments stage, so the text is
assembled here with Arrow string kernels, and the words that depend on a handful of
values (quadrant, ROAD, care model, missing criteria) are written once per value.
The text is exactly what row-by-row f-strings give: :func:`fmt_2f` looks numbers up
by cut points found with Python's own formatter, so it rounds as ``f"{x:.2f}"`` does.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from growthmap.config._segments import Between, SegmentsConfig

__all__ = [
    "QUADRANT_WORDS",
    "ROAD_WORDS",
    "ROLE_WORDS",
    "cond_words",
    "fmt_2f",
    "fmt_money",
    "segment_reasons",
    "top_count",
]

QUADRANT_WORDS = {"Grow": "ready to buy and low risk", "Defend": "ready to buy but at risk",
                  "Nurture": "not ready yet, low risk", "Rescue": "not ready and at risk"}
ROAD_WORDS = {"Retain": "high value now, little headroom",
              "Develop": "high value now, much headroom",
              "Acquire": "low value now, much headroom",
              "Opportunistic": "low value now, little headroom"}
ROLE_WORDS = {"account_director": "account director", "key_account_manager": "key account manager",
              "field_rep": "field rep", "inside_sales": "inside sales",
              "digital": "digital / self-service"}


# -- number formatting ------------------------------------------------------------------
@cache
def _cuts_2f() -> np.ndarray:
    """The smallest double that ``.2f`` prints as ``k/100``, for k = 1..100.

    Found by stepping from an estimate with ``nextafter`` and asking Python's formatter,
    so a lookup by these cuts rounds exactly as it does (the binary value, ties to even).
    """
    cuts = np.empty(100)
    for k in range(1, 101):
        want = f"{k / 100:.2f}"
        x = (k - 0.5) / 100
        while f"{x:.2f}" == want:
            x = float(np.nextafter(x, -np.inf))
        while f"{x:.2f}" != want:
            x = float(np.nextafter(x, np.inf))
        cuts[k - 1] = x
    return cuts


_TABLE_2F = [f"{k / 100:.2f}" for k in range(101)]


def fmt_2f(x: np.ndarray) -> pa.Array:
    """``f"{v:.2f}"`` of every value, as Arrow strings (NaN gives ``"nan"``).

    Values in [0, 1] (scores, PtB, risk: nearly all) are looked up among 101 strings;
    any other value (and -0.0, which prints with its sign) is formatted one by one.
    """
    x = np.asarray(x, dtype="float64")
    inside = (x >= 0) & (x <= 1) & ~np.signbit(x)
    idx = np.searchsorted(_cuts_2f(), np.where(inside, x, 0.0), side="right")
    out = _strings(_TABLE_2F).take(pa.array(idx))
    if not inside.all():
        out = pc.replace_with_mask(out, pa.array(~inside),
                                   _strings([f"{v:.2f}" for v in x[~inside].tolist()]))
    return out


def fmt_money(x: np.ndarray) -> pa.Array:
    """``f"{v:,.0f}"`` of every value, as Arrow strings.

    ``rint`` rounds the binary value half to even, as the formatter does; the digits
    are then cut into thousands arithmetically.  Values from a quadrillion up (and
    NaN or infinities) are formatted one by one.
    """
    x = np.asarray(x, dtype="float64")
    r = np.rint(x)
    ok = np.isfinite(r) & (np.abs(r) < 1e15)
    q = np.abs(np.where(ok, r, 0.0)).astype("int64")
    groups = [q // 10**12, q // 10**9 % 1000, q // 10**6 % 1000, q // 1000 % 1000, q % 1000]
    n_groups = 1 + sum((q >= 10**k).astype("int64") for k in (3, 6, 9, 12))
    sign = np.where(np.signbit(r), "-", "").astype(object)
    pieces = []
    for k in range(1, 6):
        m = n_groups == k
        if not m.any():
            continue
        lead = groups[5 - k][m]
        parts: list[pa.Array | str] = [_strings(sign[m]),
                                       pc.cast(pa.array(lead), pa.large_string())]
        for g in groups[6 - k:]:
            parts += [",", pc.utf8_lpad(pc.cast(pa.array(g[m]), pa.large_string()), 3, "0")]
        pieces.append((m, _join(*parts)))
    out = _scatter(len(x), pieces)
    if not ok.all():
        out = pc.replace_with_mask(out, pa.array(~ok),
                                   _strings([f"{v:,.0f}" for v in x[~ok].tolist()]))
    return out


def _strings(values: np.ndarray | list) -> pa.Array:
    return pa.array(values, type=pa.large_string())


def _arrow(col: pd.Series) -> pa.Array:
    """A text column as one Arrow array (zero-copy for Arrow-backed pandas strings)."""
    a = pa.array(col.astype("string"))
    a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
    return a.cast(pa.large_string())


def _is(col: pd.Series | pa.Array, value: str) -> np.ndarray:
    """Where a text column equals ``value`` (False for nulls), as a numpy mask."""
    a = col if isinstance(col, pa.Array) else _arrow(col)
    return pc.equal(a, _lit(value)).fill_null(False).to_numpy(zero_copy_only=False)


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, type=pa.large_string())


def _join(*parts: pa.Array | str) -> pa.Array:
    """Concatenate string columns and literals row-wise (null where a column is null)."""
    return pc.binary_join_element_wise(
        *[_lit(p) if isinstance(p, str) else p for p in parts], _lit(""))


def _pct(share: float) -> str:
    return f"{share:.0%}"


def top_count(share: float, n: int) -> int:
    """How many accounts the top ``share`` of ``n`` holds."""
    return min(n, math.ceil(share * n - 1e-9)) if n else 0


def cond_words(v: object) -> str:
    """A rule condition in words: ``at least 0.5``, ``is one of a, b``, ``is x``."""
    if isinstance(v, Between):
        parts = [f"at least {v.min:g}" if v.min is not None else "",
                 f"at most {v.max:g}" if v.max is not None else ""]
        return " and ".join(p for p in parts if p)
    if isinstance(v, list):
        return "is one of " + ", ".join(map(str, v))
    return f"is {v}"


def _by_value(col: pd.Series, word: dict | None = None, fmt: str = "{}") -> pa.Array:
    """``fmt`` of each distinct value of a text column (nulls stay null), per row."""
    codes, uniq = pd.factorize(col)  # a null gets code -1
    table = _strings([fmt.format(u, (word or {}).get(u, u)) for u in uniq])
    return table.take(pa.array(np.maximum(codes, 0), mask=codes < 0)) if len(uniq) else \
        pa.nulls(len(col), pa.large_string())


# -- the parts of a reason ----------------------------------------------------------------
def _scatter(n: int, pieces: list[tuple[np.ndarray, pa.Array]]) -> pa.Array:
    """One column from pieces that each fill the rows of their (disjoint) mask."""
    pos = np.zeros(n, dtype="int64")
    arrays, offset = [], 0
    for mask, text in pieces:
        k = int(mask.sum())
        if k:
            pos[mask] = np.arange(offset, offset + k)
            arrays.append(text)
            offset += k
    return pa.concat_arrays(arrays).take(pa.array(pos)) if arrays else _strings([])


def _tier_part(seg: pd.DataFrame, cfg: SegmentsConfig, missing_words: np.ndarray) -> pa.Array:
    """``Tier <t>: <why> (value v, need n, rank r of N)<behaviour>`` per row.

    Three pieces per row: a head chosen among a handful (the tier, and for Tier 2 the
    share or the rule that put it there), the scores every row has, and the behaviour
    words of Tier 1.
    """
    n = len(seg)
    rank = seg["priority_rank"].to_numpy(dtype="float64", na_value=np.nan)
    has_rank = ~np.isnan(rank)
    ranked = int(seg["ranked"].iloc[0])
    where = pc.if_else(
        pa.array(has_rank),
        _join("rank ", pc.cast(pa.array(np.where(has_rank, rank, 0).astype("int64")),
                               pa.large_string()), f" of {ranked}"),
        _lit("prospects are not ranked (tier_universe = customers)"))
    scores = _join(" (value ", fmt_2f(seg["value_score"].to_numpy(float)),
                   ", need ", fmt_2f(seg["need"].to_numpy(float)), ", ", where, ")")
    tier = _arrow(seg["tier"])
    is_1a, is_1b, two = _is(tier, "1a"), _is(tier, "1b"), _is(tier, "2")
    by_share = two & has_rank & (rank <= top_count(cfg.tier2_share, ranked))
    pct1, pct2 = _pct(cfg.tier1_share), _pct(cfg.tier2_share)
    heads = [f"Tier 3: outside the top {pct2} on value and need",
             f"Tier 1a: top {pct1} on value and need", f"Tier 1b: top {pct1} on value and need",
             f"Tier 2: within the top {pct2} on value and need"]
    head = np.select([is_1a, is_1b, by_share], [1, 2, 3], 0)
    by_rule = two & ~by_share
    if by_rule.any():
        heads += ["Tier 2 by rule: " + ", ".join(f"{k} {cond_words(v)}" for k, v in r.items())
                  for r in cfg.tier2_rules]
        rule = seg["tier_rule"].to_numpy(dtype="float64", na_value=np.nan)
        head[by_rule] = 4 + rule[by_rule].astype("int64")
    thr = f"{cfg.behaviour_threshold:g}"
    beh = fmt_2f(seg["behaviour"].to_numpy(float))
    codes, uniq = pd.factorize(missing_words)
    gap = _strings([f" (no data for {u}: neutral used)" if u else "" for u in uniq]) \
        .take(pa.array(codes)) if n else _strings([])
    tail = pc.if_else(pa.array(is_1a), _join(" and behaviour ", beh, f" above {thr}"),
                      pc.if_else(pa.array(is_1b),
                                 _join(", but behaviour ", beh, f" not above {thr}", gap),
                                 _lit("")))
    return _join(_strings(heads).take(pa.array(head)), scores, tail)


def _judged(x: np.ndarray, t: float | None, unknown: str, label: str) -> pa.Array:
    """``<label><x> at or above|below <t>``; ``unknown`` without a value or a threshold."""
    ok = ~np.isnan(x)
    if t is None or not ok.any():
        return pa.repeat(_lit(unknown), len(x))
    side = pc.if_else(pa.array(x >= t), _lit(" at or above "), _lit(" below "))
    known = _join(label, fmt_2f(np.where(ok, x, 0.0)), side, f"{t:.2f}")
    return pc.if_else(pa.array(ok), known, _lit(unknown))


def _quadrant_part(seg: pd.DataFrame, r_t: float | None, p_t: float | None) -> pa.Array:
    """``Grow: ready to buy and low risk (readiness ..., risk ...)`` per row."""
    risk = _judged(seg["risk"].to_numpy(float), r_t, "risk unknown", "risk ")
    ready = _judged(seg["ptb"].to_numpy(float), p_t, "readiness unknown", "readiness (PtB) ")
    heads = _by_value(seg["risk_readiness"].astype("string"), QUADRANT_WORDS, "{}: {} (")
    return _join(heads, ready, ", ", risk, ")")


def _care_part(seg: pd.DataFrame) -> pa.Array:
    """``Care: <model> by <role>, N touches a year x H h (rule k)`` per row.

    Accounts share a handful of care models, so each distinct combination of the care
    fields is worded once.
    """
    cols = ["care_rule", "care_model", "coverage_role", "touches_per_year", "hours_per_touch"]
    key = np.zeros(len(seg), dtype="int64")
    for c in cols:  # one integer key from each column's codes (nulls: code -1)
        codes, uniq = pd.factorize(seg[c], use_na_sentinel=True)
        key = key * (len(uniq) + 1) + (codes + 1)
    _, first, codes = np.unique(key, return_index=True, return_inverse=True)
    firsts = seg[cols].iloc[first]
    uniq = list(firsts.itertuples(index=False, name=None))
    texts = []
    for rule_i, model, role, touches, hours in uniq:
        rule = "default" if pd.isna(rule_i) else f"rule {int(rule_i) + 1}"
        role_w = ROLE_WORDS.get(role, role)
        by = "" if role_w == model else f" by {role_w}"
        texts.append(f"Care: {model}{by}, {touches:g} touches a year x {hours:g} h ({rule})")
    return _strings(np.asarray(texts, dtype=object)[codes])


def _nbo_part(seg: pd.DataFrame) -> pa.Array:
    """``Next best offer: F (whitespace 1,234 x PtB 0.42)``; null where there is none."""
    offer = _arrow(seg["next_best_offer"])
    has = pc.is_valid(offer).to_numpy(zero_copy_only=False)
    ws = np.where(has, seg["nbo_whitespace"].to_numpy(float), 0.0)  # no offer: no text
    ptb = np.where(has, seg["nbo_ptb"].to_numpy(float), 0.0)
    return _join("Next best offer: ", offer, " (whitespace ", fmt_money(ws), " x PtB ",
                 fmt_2f(ptb), ")")


def segment_reasons(seg: pd.DataFrame, cfg: SegmentsConfig, missing_behaviour: np.ndarray,
                    r_t: float | None, p_t: float | None) -> pa.Array:
    """The ``reasons`` column: tier; ROAD; risk/readiness; care; next best offer.

    ``missing_behaviour`` holds per row the behaviour criteria without data, in words
    (``""`` when none).  Parts that do not apply (no ROAD, no offer) are left out.
    """
    if not len(seg):
        return _strings([])
    return pc.binary_join_element_wise(
        _tier_part(seg, cfg, missing_behaviour),
        _by_value(seg["road"].astype("string"), ROAD_WORDS, "{}: {}"),
        _quadrant_part(seg, r_t, p_t), _care_part(seg), _nbo_part(seg), _lit("; "),
        null_handling="skip")
