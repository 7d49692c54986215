"""Potential (wallet) estimators and the rules that turn their figures into potential.

Three estimators, one contract: :class:`PeerPotential` (spend intensity of buying peers),
:class:`QuantileGBMPotential` (LightGBM quantile regression, cross-fitted) and
:class:`ExternalPotential` (a data vendor's figures).  :mod:`._combine` holds what is
the same for all: interval width, combination, cap, relevance, competitor split;
:mod:`._calibration` the calibration to vendor figures and the intervals of cells and
account totals that follow from it.
"""

from growthmap.models.potential._calibration import (
    Calibration,
    FamilySum,
    calibrate_to_external,
    vendor_noise,
)
from growthmap.models.potential._combine import (
    COMBINE_RULES,
    combine,
    fold_ids,
    mirror_low,
    relevance,
    split_competitor_cells,
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
    "FamilySum",
    "PeerPotential",
    "QuantileGBMPotential",
    "calibrate_to_external",
    "combine",
    "fold_ids",
    "mirror_low",
    "relevance",
    "split_competitor_cells",
    "split_competitors",
    "upper_level",
    "vendor_noise",
]
