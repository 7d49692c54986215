"""Potential (wallet) estimators and the rules that turn their figures into potential.

Three estimators, one contract: :class:`PeerPotential` (spend intensity of buying peers),
:class:`QuantileGBMPotential` (LightGBM quantile regression, cross-fitted) and
:class:`ExternalPotential` (a data vendor's figures).  :mod:`._combine` holds what is
the same for all: interval width, combination, cap, relevance, competitor split.
"""

from growthmap.models.potential._combine import (
    COMBINE_RULES,
    Calibration,
    account_bounds,
    calibrate_to_external,
    combine,
    fold_ids,
    mirror_low,
    relevance,
    split_competitors,
    upper_level,
)
from growthmap.models.potential._external import ExternalPotential
from growthmap.models.potential._peer import PeerPotential
from growthmap.models.potential._quantile_gbm import QuantileGBMPotential

__all__ = [
    "COMBINE_RULES",
    "Calibration",
    "ExternalPotential",
    "PeerPotential",
    "QuantileGBMPotential",
    "account_bounds",
    "calibrate_to_external",
    "combine",
    "fold_ids",
    "mirror_low",
    "relevance",
    "split_competitors",
    "upper_level",
]
