"""Linking outside company lists to accounts, and finding duplicate accounts.

Exact keys first (registration number, web domain, normalised name with city and
country), then a probabilistic model (Splink on DuckDB) whose every decision is kept
in a reviewable match table with its score and the fields that agreed.  Nothing is
merged without a record: ``growthmap link`` writes ``gm.link_matches`` and only adds
the companies it found to be new (with ``--apply``, through the loader);
``growthmap dedupe`` writes ``gm.duplicates`` for a person to act on.  See
``docs/linking.md``.
"""

from growthmap.link._evaluate import (
    LinkTestSet,
    corrupt_list,
    dedupe_test_set,
    linking_test_set,
    pair_precision_recall,
    precision_recall,
    sweep,
)
from growthmap.link._match import DECISIONS, EXACT_KEYS, exact_matches, match_lists
from growthmap.link._normalize import (
    LEGAL_SUFFIXES,
    normalize_city,
    normalize_country,
    normalize_domain,
    normalize_frame,
    normalize_name,
    normalize_regno,
)
from growthmap.link._probabilistic import score_pairs
from growthmap.link._workspace import (
    DedupeResult,
    LinkResult,
    dedupe_accounts,
    link_companies,
    read_company_list,
)

__all__ = [
    "DECISIONS",
    "EXACT_KEYS",
    "LEGAL_SUFFIXES",
    "DedupeResult",
    "LinkResult",
    "LinkTestSet",
    "corrupt_list",
    "dedupe_accounts",
    "dedupe_test_set",
    "exact_matches",
    "link_companies",
    "linking_test_set",
    "match_lists",
    "normalize_city",
    "normalize_country",
    "normalize_domain",
    "normalize_frame",
    "normalize_name",
    "normalize_regno",
    "pair_precision_recall",
    "precision_recall",
    "read_company_list",
    "score_pairs",
    "sweep",
]
