"""Risk: the probability that a customer declines or churns in the next H months.

Only customers carry a risk — a prospect has no revenue to lose, so its risk is null
with that reason.  As of a cut-off T, the population is the accounts with positive net
revenue in ``(T-H, T]``; the label is 1 when their revenue in ``(T, T+H]`` falls by at
least the decline threshold (``decline = 1`` means churn only).  The estimator is the
same calibrated, cross-fitted LightGBM as propensity, and it is backtested the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from growthmap.models.propensity import PropensityClassifier

__all__ = [
    "REASON_NO_REVENUE",
    "REASON_PROSPECT",
    "RiskClassifier",
    "risk_labels",
    "risk_population",
]

REASON_PROSPECT = "prospect: no current revenue to lose"
#: formatted with ``months`` = the horizon
REASON_NO_REVENUE = ("no positive net revenue in the last {months} months (lapsed, or credit "
                     "notes only): no current revenue to lose")


class RiskClassifier(PropensityClassifier):
    """Probability of decline or churn: a :class:`PropensityClassifier` on risk labels.

    A class of its own so that a run's parameters, evaluation and the common estimator
    checks name it apart from propensity.
    """


def _last_next(wr: pd.DataFrame, account_ids: pd.Series) -> pd.DataFrame:
    per = wr.groupby("account_id")[["last", "next"]].sum()
    return per.reindex(account_ids.to_numpy()).fillna(0.0)


def risk_population(wr: pd.DataFrame, account_ids: pd.Series) -> np.ndarray:
    """True for accounts with positive net revenue in the H months up to the cut-off."""
    return (_last_next(wr, account_ids)["last"] > 0).to_numpy()


def risk_labels(wr: pd.DataFrame, account_ids: pd.Series, decline: float) -> np.ndarray:
    """1 when the next H months' revenue is at most ``(1 - decline)`` times the last H."""
    per = _last_next(wr, account_ids)
    return ((per["last"] > 0) & (per["next"] <= per["last"] * (1 - decline))).astype(
        int).to_numpy()
