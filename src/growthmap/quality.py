"""The one place that turns a model's measured quality into words.

Every sentence the report, ``summary``, the account card and ``growthmap evaluate`` say
about how good a model is comes from here, so the words always follow the number: a
rank correlation of 0.02 is "no better than chance", never "much like the truth".

The bands are written down as data (lower bound -> words), so the documentation and the
tests read the same table the sentences do:

* ROC AUC (:data:`AUC_BANDS`): below 0.45 the score points the wrong way, below 0.55 it is
  no better than chance, then weak (0.55), useful (0.65), good (0.75), strong (0.85);
* Spearman's rank correlation (:data:`SPEARMAN_BANDS`): the same idea on -1..1;
* interval coverage (:func:`coverage_band`): within 5 points of the nominal level it holds
  "as stated", below that it is too narrow, above it wider than it needs to be;
* a difference between a model and its baseline with an interval
  (:func:`difference_words`): better or worse only when the interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AUC_BANDS",
    "COVERAGE_TOLERANCE",
    "SPEARMAN_BANDS",
    "auc_band",
    "auc_sentence",
    "band",
    "coverage_band",
    "coverage_sentence",
    "difference_words",
    "not_informative_sentence",
    "spearman_band",
    "spearman_sentence",
]

#: (lower bound, words) for ROC AUC, ascending; a value takes the last band it reaches.
AUC_BANDS: tuple[tuple[float, str], ...] = (
    (float("-inf"), "points the wrong way (worse than chance)"),
    (0.45, "no better than chance"),
    (0.55, "weak"),
    (0.65, "useful"),
    (0.75, "good"),
    (0.85, "strong"),
)

#: (lower bound, words) for Spearman's rank correlation, ascending.
SPEARMAN_BANDS: tuple[tuple[float, str], ...] = (
    (float("-inf"), "points the wrong way (a negative rank correlation)"),
    (-0.1, "no better than chance"),
    (0.1, "weak"),
    (0.3, "moderate"),
    (0.5, "good"),
    (0.7, "strong"),
    (0.9, "very close to the true order"),
)

#: How far (in share points) an interval's coverage may sit from its nominal level and
#: still count as holding "as stated".
COVERAGE_TOLERANCE = 0.05


def band(value: float, bands: Sequence[tuple[float, str]]) -> str:
    """The words of the last band whose lower bound ``value`` reaches."""
    words = bands[0][1]
    for lower, w in bands:
        if value >= lower:
            words = w
    return words


def auc_band(auc: float) -> str:
    """Words for a ROC AUC (see :data:`AUC_BANDS`)."""
    return band(auc, AUC_BANDS)


def spearman_band(rho: float) -> str:
    """Words for a rank correlation (see :data:`SPEARMAN_BANDS`)."""
    return band(rho, SPEARMAN_BANDS)


def _interval(lo: float | None, hi: float | None) -> str:
    return "" if lo is None or hi is None else f", 90% interval {lo:.2f} to {hi:.2f}"


def auc_sentence(what: str, auc: float | None, *, label: str, lo: float | None = None,
                 hi: float | None = None) -> str:
    """``what`` ranks ``label`` with AUC ``auc``: the figure, its interval and its band.

    ``label`` names the outcome ("accounts that bought in the next 12 months"), so the
    sentence says what the model was judged on, never "went on to buy" for a risk model.
    """
    if auc is None:
        return f"{what}: no AUC could be measured on {label} (one class only)."
    return (f"{what} ranks {label} with ROC AUC {auc:.2f}{_interval(lo, hi)}: "
            f"{auc_band(auc)}.")


def spearman_sentence(what: str, rho: float | None, *, against: str) -> str:
    """``what`` orders accounts like ``against`` with rank correlation ``rho``, in words."""
    if rho is None:
        return f"{what}: no rank correlation with {against} could be measured."
    return (f"{what} orders accounts like {against} with rank correlation {rho:.2f} "
            f"(1 = the same order): {spearman_band(rho)}.")


def coverage_band(coverage: float, nominal: float) -> str:
    """Words for an interval that should hold ``nominal`` of true values and holds
    ``coverage``."""
    if coverage < nominal - COVERAGE_TOLERANCE:
        return "too narrow"
    if coverage > nominal + COVERAGE_TOLERANCE:
        return "wider than it needs to be"
    return "as stated"


def coverage_sentence(what: str, coverage: float | None, nominal: float) -> str:
    """How often the true figure fell inside ``what``'s stated interval, in words."""
    if coverage is None:
        return f"The coverage of {what} could not be measured."
    return (f"The true figure fell inside {what} for {coverage:.0%} of accounts where "
            f"{nominal:.0%} was stated: {coverage_band(coverage, nominal)}.")


def difference_words(model: str, baseline: str, diff: float | None, lo: float | None,
                     hi: float | None, *, metric: str = "AUC") -> str:
    """``model`` against ``baseline`` by the difference of a metric and its interval.

    Better or worse only when the interval excludes zero; otherwise the two cannot be
    told apart on this data.
    """
    if diff is None:
        return f"{model} could not be compared with {baseline}."
    figure = f"{metric} {diff:+.3f}{_interval(lo, hi)}"
    if lo is not None and lo > 0:
        return f"{model} beats {baseline} ({figure})."
    if hi is not None and hi < 0:
        return f"{model} is worse than {baseline} ({figure})."
    if lo is None or hi is None:
        verb = "is ahead of" if diff > 0 else "is behind" if diff < 0 else "ties"
        return f"{model} {verb} {baseline} ({figure}; no interval)."
    return f"{model} cannot be told apart from {baseline} ({figure})."


def not_informative_sentence(what: str, reasons: Sequence[str]) -> str:
    """The plain sentence shown instead of a figure when a score knows nothing."""
    why = "; ".join(reasons) if reasons else "it could not be evaluated"
    return f"{what} is not informative on this data ({why}): do not rank accounts by it."
