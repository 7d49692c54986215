"""Matching one company list to another: exact keys first, then the Splink model.

:func:`match_lists` is pure (two data frames in, one decision per outside company
out) so it can be evaluated on a labelled test set without a workspace; the
workspace commands in :mod:`growthmap.link._workspace` wrap it.
"""

from __future__ import annotations

import pandas as pd

from growthmap.link._normalize import normalize_frame
from growthmap.link._probabilistic import score_pairs

__all__ = ["DECISIONS", "EXACT_KEYS", "exact_matches", "match_lists"]

#: What happens to an outside company: it is an existing account, a person must look,
#: or it is new (a prospect once applied).
DECISIONS = ("match", "review", "new")

#: Exact keys: name -> (normalised columns that must all be present and equal, words).
EXACT_KEYS: dict[str, tuple[tuple[str, ...], str]] = {
    "registration_number": (("regno",), "same registration number"),
    "domain": (("domain",), "same web domain"),
    "name_city": (("name_norm", "city", "country"), "same name, city and country"),
    "name_country": (("name_norm", "country"), "same name and country, city unknown"),
}

_OUT = ["source_id", "account_id", "method", "score", "match_weight", "agreed", "disagreed",
        "decision", "reason", "candidate_id", "runner_up_id", "runner_up_score"]


def exact_matches(left: pd.DataFrame, right: pd.DataFrame,
                  keys: list[str] | tuple[str, ...] = tuple(EXACT_KEYS)) -> pd.DataFrame:
    """``id_r, id_l, method`` for outside rows whose key equals exactly one account's.

    Keys are tried in order; a key shared by several accounts decides nothing (the
    probabilistic step and the review list handle it), and name + country only counts
    when one side lacks the city (two cities may be two branches).  ``left``/``right`` come from
    :func:`~growthmap.link.normalize_frame`.
    """
    found: dict[str, tuple[str, str]] = {}
    for key in keys:
        cols = list(EXACT_KEYS[key][0])
        lk = left.dropna(subset=cols)
        unique = lk.groupby(cols, dropna=True)["unique_id"].agg(["first", "size"]).reset_index()
        unique = unique[unique["size"] == 1]
        rk = right.dropna(subset=cols)
        rk = rk[~rk["unique_id"].isin(found)]
        hits = rk.merge(unique, on=cols, how="inner")
        if key == "name_country":  # a different city may be another branch: not exact
            city = left.set_index("unique_id")["city"]
            other = hits["first"].map(city)
            hits = hits[hits["city"].isna() | other.isna()]
        for rid, lid in zip(hits["unique_id"], hits["first"], strict=True):
            found.setdefault(str(rid), (str(lid), key))
    return pd.DataFrame([(r, lid, k) for r, (lid, k) in found.items()],
                        columns=["id_r", "id_l", "method"])


def match_lists(accounts: pd.DataFrame, outside: pd.DataFrame, *, threshold: float,
                review_threshold: float, exact_keys: list[str] | tuple[str, ...] = tuple(
                    EXACT_KEYS), seed: int = 0) -> pd.DataFrame:
    """One decision per outside company: matched account, score, why, and the decision.

    ``accounts`` and ``outside`` have contract column names (``account_id``, ``name``,
    ``country``, ``city``, ``domain``, ``registration_number``; all but the id and
    name optional); ``outside.account_id`` is the list's own row id.  Returns
    ``source_id, account_id, method, score, match_weight, agreed, disagreed, decision,
    reason, candidate_id, runner_up_id, runner_up_score`` in the order of ``outside``;
    ``candidate_id`` is the best-scoring account whatever the decision, so a reviewer
    sees what a "new" company was closest to.
    """
    left = normalize_frame(accounts)
    right = normalize_frame(outside)
    exact = exact_matches(left, right, exact_keys)
    by_exact = dict(zip(exact["id_r"], zip(exact["id_l"], exact["method"], strict=True),
                        strict=True))
    rest = right[~right["unique_id"].isin(by_exact)]
    pairs = score_pairs(left, rest, min_probability=min(0.05, review_threshold), seed=seed)
    best = {rid: g.head(2) for rid, g in pairs.groupby("id_r", sort=False)}
    rows = []
    for rid in right["unique_id"]:
        if rid in by_exact:
            lid, key = by_exact[rid]
            rows.append([rid, lid, key, 1.0, None, key, "", "match", EXACT_KEYS[key][1],
                         lid, None, None])
            continue
        g = best.get(rid)
        if g is None or g.empty:
            rows.append([rid, None, "none", 0.0, None, "", "", "new",
                         "no account shares enough with it", None, None, None])
            continue
        top = g.iloc[0]
        second = g.iloc[1] if len(g) > 1 else None
        score = float(top["score"])
        runner = (str(second["id_l"]), float(second["score"])) if second is not None \
            else (None, None)
        if score >= threshold and (runner[1] is None or runner[1] < threshold):
            decision, reason = "match", f"{top['agreed']} (probability {score:.3f})"
        elif score >= threshold:
            decision = "review"
            reason = (f"two accounts score above the threshold ({score:.3f} and "
                      f"{runner[1]:.3f}): they may be duplicates of each other")
        elif score >= review_threshold:
            decision = "review"
            reason = f"probability {score:.3f} is below the threshold {threshold}"
        else:
            decision = "new"
            reason = f"best candidate only {score:.3f}"
        rows.append([rid, str(top["id_l"]) if decision != "new" else None, "probabilistic",
                     score, float(top["match_weight"]), top["agreed"], top["disagreed"],
                     decision, reason, str(top["id_l"]), runner[0], runner[1]])
    return pd.DataFrame(rows, columns=_OUT)
