"""Learned components, each a scikit-learn estimator (see each module for the why)."""

from growthmap.models.icp import LookalikeClassifier
from growthmap.models.potential import ExternalPotential, PeerPotential, QuantileGBMPotential
from growthmap.models.propensity import PropensityClassifier
from growthmap.models.risk import RiskClassifier

__all__ = [
    "ExternalPotential",
    "LookalikeClassifier",
    "PeerPotential",
    "PropensityClassifier",
    "QuantileGBMPotential",
    "RiskClassifier",
]
