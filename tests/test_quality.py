"""The words for a model's quality: every band of every metric, and the sentences."""

from __future__ import annotations

import pytest

from growthmap import quality as q


@pytest.mark.parametrize(("auc", "words"), [
    (0.30, "points the wrong way (worse than chance)"),
    (0.449, "points the wrong way (worse than chance)"),
    (0.45, "no better than chance"),
    (0.50, "no better than chance"),
    (0.549, "no better than chance"),
    (0.55, "weak"),
    (0.60, "weak"),
    (0.65, "useful"),
    (0.70, "useful"),
    (0.75, "good"),
    (0.80, "good"),
    (0.85, "strong"),
    (0.99, "strong"),
])
def test_auc_bands(auc, words):
    assert q.auc_band(auc) == words


@pytest.mark.parametrize(("rho", "words"), [
    (-0.5, "points the wrong way (a negative rank correlation)"),
    (-0.1, "no better than chance"),
    (0.02, "no better than chance"),
    (0.1, "weak"),
    (0.29, "weak"),
    (0.3, "moderate"),
    (0.5, "good"),
    (0.7, "strong"),
    (0.9, "very close to the true order"),
    (0.972, "very close to the true order"),
])
def test_spearman_bands(rho, words):
    assert q.spearman_band(rho) == words


@pytest.mark.parametrize(("coverage", "words"), [
    (0.54, "too narrow"),
    (0.749, "too narrow"),
    (0.75, "as stated"),
    (0.80, "as stated"),
    (0.85, "as stated"),
    (0.851, "wider than it needs to be"),
    (0.97, "wider than it needs to be"),
])
def test_coverage_bands(coverage, words):
    assert q.coverage_band(coverage, 0.80) == words


def test_the_sentences_carry_the_figure_and_its_band():
    s = q.spearman_sentence("Potential", 0.02, against="the true wallet")
    assert "0.02" in s and "no better than chance" in s and "much like" not in s
    s = q.auc_sentence("Risk", 0.61, label="customers whose revenue declined",
                       lo=0.55, hi=0.66)
    assert "customers whose revenue declined" in s and "went on to buy" not in s
    assert "0.55 to 0.66" in s and s.endswith("weak.")
    assert "no AUC" in q.auc_sentence("PtB", None, label="buyers")
    assert "80%" in q.coverage_sentence("the 80% interval", 0.57, 0.8)
    assert "too narrow" in q.coverage_sentence("the 80% interval", 0.57, 0.8)


@pytest.mark.parametrize(("diff", "lo", "hi", "words"), [
    (0.05, 0.02, 0.08, "beats"),
    (-0.2, -0.25, -0.15, "is worse than"),
    (0.01, -0.02, 0.04, "cannot be told apart from"),
    (0.01, None, None, "is ahead of"),
    (-0.01, None, None, "is behind"),
])
def test_difference_words(diff, lo, hi, words):
    assert words in q.difference_words("PtB", "the RFM rank", diff, lo, hi)


def test_not_informative_sentence_says_why():
    s = q.not_informative_sentence("PtB", ["only 3 positive labels in training"])
    assert "not informative" in s and "only 3 positive" in s
