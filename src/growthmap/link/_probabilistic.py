"""Probabilistic matching of company records with Splink on DuckDB.

A Fellegi-Sunter model compares name (exact, Jaro-Winkler bands, and word order
ignored), city, country, domain and register number.  Its parameters are set the
way that works on lists of a few hundred to a few hundred thousand rows:

* ``u`` (how often two *different* companies agree by chance) is estimated from the
  data by random sampling — it depends on the lists (many shops in one city, many
  companies in one country); lists too small to sample from keep the priors below;
* ``m`` (how often the *same* company agrees) are fixed priors written below, not
  estimated by EM: EM needs many true pairs to be stable and small lists have few;
  they encode "a company keeps its name more often than its city" and nothing
  learned from any evaluation set;
* the prior probability that two records match is one over the larger list
  (each outside company is at most one account).

Splink works in its own in-memory DuckDB, so no ``__splink__`` table ever lands in
the workspace.
"""

from __future__ import annotations

import logging

import duckdb
import pandas as pd

__all__ = ["FIELDS", "score_pairs"]

#: Fields compared, in the order ``agreed`` lists them.
FIELDS = ("name", "city", "country", "domain", "regno")

# m probabilities per comparison level (exact first, the else level last).
_M_NAME = [0.55, 0.20, 0.05, 0.10, 0.06, 0.04]
_M_CITY = [0.75, 0.10, 0.15]
# u priors, used only when the lists are too small to sample enough non-matching pairs.
_U_NAME = [0.0005, 0.001, 0.0005, 0.005, 0.05, 0.943]
_U_CITY = [0.01, 0.005, 0.985]
_U_EXACT = {"country": [0.3, 0.7], "domain": [0.0005, 0.9995], "regno": [0.0001, 0.9999]}
#: Fewer candidate pairs than this and ``u`` keeps its priors instead of being sampled.
MIN_PAIRS_FOR_U = 20_000
_LABELS = {"name": "name", "city": "city", "country": "country", "domain": "domain",
           "regno": "registration_number"}
_M_EXACT = {"country": [0.92, 0.08], "domain": [0.85, 0.15], "regno": [0.92, 0.08]}


def _settings(link_type: str, blocking: list) -> object:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator

    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name_norm"),
            cll.ExactMatchLevel("name_norm"),
            cll.JaroWinklerLevel("name_norm", 0.95),
            cll.CustomLevel("jaro_winkler_similarity(name_sorted_l, name_sorted_r) >= 0.95",
                            label_for_charts="same words, another order"),
            cll.JaroWinklerLevel("name_norm", 0.88),
            cll.JaroWinklerLevel("name_norm", 0.75),
            cll.ElseLevel(),
        ],
    ).configure(m_probabilities=_M_NAME, u_probabilities=_U_NAME)
    city = cl.CustomComparison(
        output_column_name="city",
        comparison_levels=[
            cll.NullLevel("city"),
            # a shared big city is weaker evidence than a shared village
            cll.ExactMatchLevel("city", term_frequency_adjustments=True),
            cll.JaroWinklerLevel("city", 0.88),
            cll.ElseLevel(),
        ],
    ).configure(m_probabilities=_M_CITY, u_probabilities=_U_CITY)
    exact = [cl.ExactMatch(c).configure(m_probabilities=m, u_probabilities=_U_EXACT[c])
             for c, m in _M_EXACT.items()]
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="unique_id",
        comparisons=[name, city, *exact],
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
    )


def _blocking() -> list:
    from splink import block_on

    return [
        block_on("substr(name_norm, 1, 3)"),
        block_on("substr(name_sorted, 1, 3)"),
        block_on("substr(reverse(name_norm), 1, 4)"),
        block_on("city", "country"),
        block_on("domain"),
        block_on("regno"),
    ]


def _agreed(row: pd.Series) -> str:
    """Fields whose comparison pushed towards a match, strongest first, with weights."""
    parts = sorted(((float(row[f"mw_{f}"]), f) for f in FIELDS if f"mw_{f}" in row.index),
                   reverse=True)
    return ", ".join(f"{_LABELS[f]} {w:+.1f}" for w, f in parts if w > 0)


def _disagreed(row: pd.Series) -> str:
    """Fields whose values differ (negative weight), the reasons to doubt a pair."""
    parts = sorted((float(row[f"mw_{f}"]), f) for f in FIELDS if f"mw_{f}" in row.index)
    return ", ".join(f"{_LABELS[f]} {w:+.1f}" for w, f in parts if w < 0)


def score_pairs(left: pd.DataFrame, right: pd.DataFrame | None = None, *,
                min_probability: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Scored candidate pairs between two normalised lists (or within one when
    ``right`` is None): ``id_l, id_r, score, match_weight, agreed, disagreed`` — the
    last two list the fields for and against the match with their weights (log2
    Bayes factors), which is what a reviewer reads.

    Both frames come from :func:`growthmap.link.normalize_frame`.  Only pairs with a
    match probability of at least ``min_probability`` are returned.
    """
    from splink import DuckDBAPI, Linker

    cols = ["id_l", "id_r", "score", "match_weight", "agreed", "disagreed"]
    if left.empty or (right is not None and right.empty):
        return pd.DataFrame(columns=cols)
    logging.getLogger("splink").setLevel(logging.ERROR)
    con = duckdb.connect()
    try:
        db = DuckDBAPI(con)
        frames = [left] if right is None else [left, right]
        tables = [db.register(f.reset_index(drop=True), table_name=f"gm_link_{i}")
                  for i, f in enumerate(frames)]
        settings = _settings("dedupe_only" if right is None else "link_only", _blocking())
        n = max(len(f) for f in frames)
        settings.probability_two_random_records_match = 1.0 / max(n, 2)
        linker = Linker(tables if right is not None else tables[0], settings, log_level=None)
        sizes = [len(f) for f in frames]
        pairs = sizes[0] * (sizes[0] - 1) / 2 if right is None else sizes[0] * sizes[1]
        if pairs >= MIN_PAIRS_FOR_U:
            linker.training.estimate_u_using_random_sampling(max_pairs=2e5, seed=seed)
        pred = linker.inference.predict(threshold_match_probability=min_probability,
                                        warning_mode="never")
        df = pred.as_pandas_dataframe()
    finally:
        con.close()
    if df.empty:
        return pd.DataFrame(columns=cols)
    if right is not None and "source_dataset_l" in df.columns:
        flip = df["source_dataset_l"] != "gm_link_0"  # keep the accounts on the left
        df.loc[flip, ["unique_id_l", "unique_id_r"]] = \
            df.loc[flip, ["unique_id_r", "unique_id_l"]].to_numpy()
    out = pd.DataFrame({
        "id_l": df["unique_id_l"].astype(str),
        "id_r": df["unique_id_r"].astype(str),
        "score": df["match_probability"].astype(float),
        "match_weight": df["match_weight"].astype(float),
        "agreed": df.apply(_agreed, axis=1),
        "disagreed": df.apply(_disagreed, axis=1),
    })
    return out.sort_values(["id_r", "score", "id_l"], ascending=[True, False, True],
                           ignore_index=True)
