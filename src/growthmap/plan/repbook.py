"""A rep's book of accounts and the short list of accounts to look at this week.

The book is every account the rep owns with the segment facts a rep acts on.  The review
list is two ranked shortlists with a reason in plain words for each line:

* *develop* — customers ranked by whitespace x propensity to buy (the expected extra
  revenue if the rep works the account now);
* *prospects* — prospects ranked by expected opportunity (PtB x potential) x ICP fit
  (how much they look like the best customers).

When propensity or ICP fit is missing the ranking falls back to whitespace or expected
opportunity alone and the reason says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from growthmap.errors import NotFoundError
from growthmap.plan.rollups import PlanSource

__all__ = ["BOOK_COLUMNS", "rep_book", "rep_ids", "review_list"]

BOOK_COLUMNS = ["account_id", "name", "status", "value_tier", "tier", "road", "care_model",
                "current", "potential", "whitespace", "share_of_wallet", "ptb", "icp_fit",
                "risk", "expected_opportunity", "workload_hours", "next_best_offer",
                "territory_id", "region", "industry"]


def rep_ids(src: PlanSource) -> list[str]:
    """Every rep known: the reps table, plus owners found on accounts."""
    known = set(src.frame().owner_rep_id.dropna().astype(str))
    reps = src.input_frame("reps")
    if reps is not None:
        known |= set(reps.rep_id.dropna().astype(str))
    return sorted(known)


def _owned(src: PlanSource, rep_id: str) -> pd.DataFrame:
    frame = src.frame()
    ids = rep_ids(src)
    if rep_id not in ids:
        shown = ", ".join(ids[:8]) + (" ..." if len(ids) > 8 else "")
        raise NotFoundError(f"no rep {rep_id!r} in the reps table or as an account owner",
                            hint=f"use one of: {shown or '(no reps yet: load reps)'}")
    return frame[frame.owner_rep_id == rep_id]


def rep_book(src: PlanSource, rep_id: str) -> pd.DataFrame:
    """The accounts ``rep_id`` owns, largest current value first, then largest potential."""
    book = _owned(src, rep_id)
    book = book.sort_values(["current", "potential", "account_id"],
                            ascending=[False, False, True], na_position="last")
    return book[[c for c in BOOK_COLUMNS if c in book.columns]].reset_index(drop=True)


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _develop_reason(r: pd.Series) -> str:
    parts = [f"{_money(r.whitespace)} whitespace ({r.share_of_wallet:.0%} share of wallet)"
             if pd.notna(r.share_of_wallet) else f"{_money(r.whitespace)} whitespace"]
    if pd.notna(r.ptb):
        parts.append(f"{r.ptb:.0%} chance to buy soon")
    else:
        parts.append("no propensity score, ranked on whitespace alone")
    if isinstance(r.next_best_offer, str) and r.next_best_offer:
        parts.append(f"offer {r.next_best_offer} next")
    if pd.notna(r.risk) and r.risk >= 0.5:
        parts.append(f"at risk ({r.risk:.0%}), protect the base first")
    return "; ".join(parts)


def _prospect_reason(r: pd.Series) -> str:
    parts = [f"potential {_money(r.potential)}" if pd.notna(r.potential) else "potential unknown"]
    if pd.notna(r.ptb):
        parts.append(f"{r.ptb:.0%} chance to buy")
    if pd.notna(r.icp_fit):
        parts.append(f"ICP fit {r.icp_fit:.0f}/100")
    else:
        parts.append("no ICP fit score")
    if isinstance(r.next_best_offer, str) and r.next_best_offer:
        parts.append(f"open with {r.next_best_offer}")
    return "; ".join(parts)


#: What a review list's score is, per section: both are expected money a year.
SCORE_UNITS = {"develop": "EUR a year: whitespace × PtB",
               "prospect": "EUR a year: expected opportunity × ICP fit"}


def review_list(src: PlanSource, rep_id: str, *, develop: int = 10,
                prospects: int = 10) -> pd.DataFrame:
    """The rep's weekly review list: top customers to develop, then top prospects.

    Columns: section ('develop' | 'prospect'), rank (within the section), account_id,
    name, score (the ranking figure), whitespace, potential, ptb, icp_fit,
    expected_opportunity, next_best_offer, reason.
    """
    book = _owned(src, rep_id)
    cust = book[book.is_customer.fillna(False).astype(bool) & (book.whitespace.fillna(0) > 0)]
    ptb = cust.ptb.astype(float)
    cust = cust.assign(score=cust.whitespace.astype(float) * ptb.fillna(1.0))
    pros = book[~book.is_customer.fillna(False).astype(bool)]
    opp = pros.expected_opportunity.astype(float)
    opp = opp.fillna(pros.potential.astype(float))
    fit = pros.icp_fit.astype(float).fillna(100.0) / 100.0
    pros = pros.assign(score=(opp * fit).astype(float))
    pros = pros[pros.score.fillna(0) > 0]
    parts = []
    for section, rows, n, why in (("develop", cust, develop, _develop_reason),
                                  ("prospect", pros, prospects, _prospect_reason)):
        top = rows.sort_values(["score", "account_id"], ascending=[False, True]).head(n)
        if not len(top):
            continue
        top = top.assign(section=section, rank=np.arange(1, len(top) + 1),
                         score_unit=SCORE_UNITS[section],
                         reason=[why(r) for r in top.itertuples(index=False)])
        parts.append(top)
    cols = ["section", "rank", "account_id", "name", "score", "score_unit", "whitespace",
            "potential", "ptb", "icp_fit", "expected_opportunity", "next_best_offer", "reason"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    return pd.concat(parts, ignore_index=True)[cols]
