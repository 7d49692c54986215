"""Measuring the linker: a seeded corrupted-list test set, precision and recall.

A linking test set is built from a real company list with known identities: part of
the list plays the accounts, and the outside list holds corrupted copies of some of
them (typos, changed legal forms, case and punctuation, missing city or country) plus
corrupted copies of companies that are *not* accounts (distractors: similar names in
the same cities, the hard case).  The truth is known row by row, so precision and
recall are exact.  Thresholds are chosen on one seed and evaluated on another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "LinkTestSet",
    "corrupt_list",
    "dedupe_test_set",
    "linking_test_set",
    "pair_precision_recall",
    "precision_recall",
    "sweep",
]

_SUFFIXES = (" Inc.", " Inc", " Ltd", " Ltd.", " LLC", ", Co.", " Company", " Corp.",
             " GmbH", " S.A.", " Limited", " Corporation")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _typo(name: str, rng: np.random.Generator) -> str:
    if len(name) < 4:
        return name
    i = int(rng.integers(1, len(name) - 1))
    kind = rng.integers(4)
    if kind == 0:  # deletion
        return name[:i] + name[i + 1:]
    if kind == 1:  # transposition
        return name[:i] + name[i + 1] + name[i] + name[i + 2:]
    if kind == 2:  # substitution
        return name[:i] + _LETTERS[int(rng.integers(26))] + name[i + 1:]
    return name[:i] + _LETTERS[int(rng.integers(26))] + name[i:]  # insertion


def _suffix(name: str, rng: np.random.Generator) -> str:
    for s in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(s.strip(" ,")) or name.endswith(s):
            return name[: len(name) - len(s.strip(" ,"))].rstrip(" ,")  # drop the legal form
    return name + _SUFFIXES[int(rng.integers(len(_SUFFIXES)))]


def corrupt_list(companies: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A copy of ``companies`` (``name, city, country``) as another system would spell it.

    Per row, independently: a typo in the name (35%; a second one 10%), the legal form
    added or dropped (35%), upper or lower case (15%), ``and`` <-> ``&`` (10%), the
    city misspelt (10%) or missing (20%), the country missing (10%).
    """
    rng = np.random.default_rng(seed)
    out = companies.copy()
    names, cities, countries = [], [], []
    for name, city, country in zip(out["name"], out["city"], out["country"], strict=True):
        name, city = str(name), (None if city is None else str(city))
        if rng.random() < 0.35:
            name = _typo(name, rng)
            if rng.random() < 0.10:
                name = _typo(name, rng)
        if rng.random() < 0.35:
            name = _suffix(name, rng)
        r = rng.random()
        if r < 0.075:
            name = name.upper()
        elif r < 0.15:
            name = name.lower()
        if rng.random() < 0.10:
            name = name.replace(" and ", " & ") if " and " in name else name.replace(" & ", " and ")
        r = rng.random()
        if r < 0.20:
            city = None
        elif r < 0.30 and city:
            city = _typo(city, rng)
        names.append(name)
        cities.append(city)
        countries.append(None if rng.random() < 0.10 else country)
    out["name"], out["city"], out["country"] = names, cities, countries
    return out


@dataclass
class LinkTestSet:
    """Accounts, an outside list, and for each outside row its true account (or None)."""

    accounts: pd.DataFrame
    outside: pd.DataFrame
    truth: dict[str, str | None]


def linking_test_set(companies: pd.DataFrame, seed: int, *, account_share: float = 0.75,
                     match_share: float = 0.6) -> LinkTestSet:
    """Split ``companies`` (``account_id, name, city, country``) into accounts and an
    outside list: corrupted copies of ``match_share`` of the accounts plus corrupted
    copies of every company left out of the accounts (the distractors)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(companies))
    n_acc = round(account_share * len(companies))
    accounts = companies.iloc[np.sort(order[:n_acc])].reset_index(drop=True)
    others = companies.iloc[np.sort(order[n_acc:])]
    matched = accounts.iloc[np.sort(rng.choice(n_acc, round(match_share * n_acc),
                                               replace=False))]
    outside = pd.concat([matched.assign(_true=matched["account_id"]),
                         others.assign(_true=None)], ignore_index=True)
    outside = outside.iloc[rng.permutation(len(outside))].reset_index(drop=True)
    outside = corrupt_list(outside, seed + 1)
    outside["account_id"] = [f"row{i}" for i in range(len(outside))]
    truth = dict(zip(outside["account_id"], outside.pop("_true"), strict=True))
    return LinkTestSet(accounts, outside, truth)


def precision_recall(decisions: pd.DataFrame, truth: dict[str, str | None]) -> dict[str, float]:
    """Precision, recall and counts of the ``match`` decisions against the truth."""
    matched = decisions[decisions["decision"] == "match"]
    correct = sum(truth.get(s) == a for s, a in zip(matched["source_id"], matched["account_id"],
                                                     strict=True))
    positives = sum(v is not None for v in truth.values())
    return {
        "precision": correct / len(matched) if len(matched) else 1.0,
        "recall": correct / positives if positives else 1.0,
        "matches": float(len(matched)),
        "correct": float(correct),
        "positives": float(positives),
        "review": float((decisions["decision"] == "review").sum()),
        "outside_rows": float(len(decisions)),
    }


def sweep(decisions: pd.DataFrame, truth: dict[str, str | None],
          thresholds: list[float] | np.ndarray) -> pd.DataFrame:
    """Precision and recall at each threshold, from decisions made with a low threshold.

    ``decisions`` must come from :func:`~growthmap.link.match_lists` run with
    ``review_threshold`` at or below the smallest threshold swept, so every candidate
    above it is present; a row is a match at ``t`` when its best candidate reaches ``t``
    and the runner-up does not (exact-key matches have score 1).
    """
    rows = []
    runner = decisions["runner_up_score"].astype(float).fillna(-1.0)
    best = decisions.assign(account_id=decisions["candidate_id"])
    for t in thresholds:
        ok = (best["score"] >= t) & (runner < t)
        d = best.assign(decision=np.where(ok, "match", "new"))
        rows.append({"threshold": float(t), **precision_recall(d, truth)})
    return pd.DataFrame(rows)


def dedupe_test_set(companies: pd.DataFrame, seed: int, n_duplicates: int = 70
                    ) -> tuple[pd.DataFrame, set[frozenset[str]]]:
    """``companies`` plus corrupted copies of ``n_duplicates`` of them (ids ``D<id>``),
    and the set of true duplicate pairs."""
    rng = np.random.default_rng(seed)
    dup = companies.iloc[np.sort(rng.choice(len(companies), n_duplicates, replace=False))]
    copies = corrupt_list(dup, seed + 1)
    copies["account_id"] = "D" + copies["account_id"].astype(str)
    truth = {frozenset((str(a), f"D{a}")) for a in dup["account_id"]}
    return pd.concat([companies, copies], ignore_index=True), truth


def pair_precision_recall(pairs: pd.DataFrame, truth: set[frozenset[str]],
                          threshold: float) -> dict[str, float]:
    """Precision and recall of the pairs scoring at least ``threshold`` (``dedupe``)."""
    sel = pairs[pairs["score"] >= threshold]
    found = {frozenset((str(a), str(b))) for a, b in zip(sel["account_id_l"],
                                                          sel["account_id_r"], strict=True)}
    tp = len(found & truth)
    return {"precision": tp / len(found) if found else 1.0,
            "recall": tp / len(truth) if truth else 1.0,
            "pairs": float(len(found)), "correct": float(tp), "true_pairs": float(len(truth))}
