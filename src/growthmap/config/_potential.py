"""``[potential]``: potential (wallet), whitespace, value x potential matrix, ROAD, markets.

Defaults follow the usual sales-operations reading of a wallet: the spend of a
well-penetrated peer (the 80th percentile of buying peers of the same industry and
size), never below what the account already buys, with an 80% interval around it.
Every threshold can be an amount in the base currency or a quantile of the data.
"""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import Field, field_validator, model_validator

from growthmap.config._base import Section

__all__ = ["PotentialConfig"]


def _increasing(v: list[float], what: str, example: str) -> list[float]:
    if not v or any(b <= a for a, b in itertools.pairwise(v)):
        raise ValueError(f"give one or more increasing {what}, e.g. {example}")
    return v


class PotentialConfig(Section):
    """Potential (wallet), whitespace, value x potential matrix, ROAD and markets."""

    # -- reps' feedback --------------------------------------------------------------
    feedback: Literal["off", "replace"] = Field(
        "off",
        description="What reps' verdicts on an account's total potential do: off (shown, not "
        "used) or replace (the latest too_high / too_low figure becomes the published "
        "potential, within feedback_max_ratio of the model's figure and never below current "
        "value; the model's figure is kept beside it).")
    feedback_max_ratio: float = Field(
        5.0, ge=1, le=100,
        description="A reviewed figure may be at most this many times the model's figure, "
        "and at least the model's figure divided by it.")

    # -- estimators ----------------------------------------------------------------
    method: Literal["quantile_gbm", "peer"] = Field(
        "quantile_gbm",
        description="Model of each account's wallet per family: quantile_gbm (LightGBM "
        "quantile regression on firmographics, trained out-of-fold) or peer (spend "
        "intensity of buying peers of the same industry and size band). Families with "
        "fewer buyers than gbm_min_buyers always use peer.")
    combine: Literal["external_first", "max", "model"] = Field(
        "external_first",
        description="How vendor figures (external_potential table) combine with the model: "
        "external_first uses the vendor figure where there is one, max takes the larger, "
        "model ignores vendor figures. Potential is never below current spend either way.")
    quantile: float = Field(
        0.8, gt=0.5, lt=1.0,
        description="Quantile of buying peers' spend that sets the potential: 0.8 means "
        "'what the best-penetrated fifth of similar buyers spend'.")
    interval: float = Field(
        0.8, gt=0.0, lt=1.0,
        description="Nominal coverage of the low-high interval around the potential "
        "(0.8: the true wallet should fall inside four times out of five).")
    size_driver: Literal["employees", "annual_revenue"] = Field(
        "employees",
        description="Size measure spend intensity is divided by: employees or the "
        "account's own annual_revenue.")
    size_band_edges: list[float] | None = Field(
        None,
        description="Edges of the size bands peers are grouped by, in units of the size "
        "driver (e.g. [10, 50, 250, 1000] employees). Default: quartiles of all accounts.")
    peer_split: str | None = Field(
        "region",
        description="Account column that splits a peer group further when each part still "
        "has min_group_size buyers (empty to never split).")
    min_group_size: int = Field(
        30, ge=3, le=100_000,
        description="Fewest buying peers a group needs; smaller groups fall back to the "
        "coarser group (industry x size, then industry, then size, then all).")
    calibrate: bool = Field(
        True,
        description="Where the external_potential table has vendor figures, rescale the "
        "model's wallets per family to the vendor's level and size the interval from how "
        "far vendor figures fall from the model, less the vendor's own noise measured "
        "against what customers spend (buyers' spend alone understates wallets where our "
        "share is low).")
    calibration_min_cells: int = Field(
        50, ge=5,
        description="Fewest account x family cells with both a vendor and a model figure "
        "needed to calibrate (per family; fewer use the pooled level, none at all below).")
    best_share: float = Field(
        0.5, gt=0.0, le=1.0,
        description="Without vendor figures to calibrate to, the level of a wallet is an "
        "assumption: the share of its wallet that a best-penetrated buyer (the quantile "
        "of spend above) gives us. The model's figures are divided by it, and outputs "
        "say so. 0.5: the best buyers give us about half of what they spend on the "
        "family.")
    best_share_range: list[float] = Field(
        [0.33, 0.75],
        description="How uncertain best_share is: the range it lies in four times out of "
        "five. Without vendor figures every interval is widened by it (account totals "
        "fully, since the level is common to all accounts).")
    graded_relevance: bool = Field(
        True,
        description="Weigh a family's model potential by how likely the account needs "
        "the family at all: the share of similar accounts (industry x size band) that "
        "buy it, against the families' top groups. Cells the account buys, and vendor "
        "figures, keep their full wallet.")
    cap: float = Field(
        1.0, gt=0.0, le=1.0,
        description="Largest share of an account's wallet one supplier can win; potential "
        "is the wallet times this cap (but never below current spend).")
    relevance_min_buyers: int = Field(
        1, ge=0,
        description="An industry needs at least this many buying accounts in a family for "
        "the family to carry potential in that industry (0 makes every family relevant).")
    always_relevant: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Family -> industries that carry potential in it even if none buys it "
        "today, e.g. {\"IoT Solutions\" = [\"Retail\"]}; '*' means every industry.")
    never_relevant: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Family -> industries that never carry potential in it; '*' means every "
        "industry. Current spend still counts as potential.")

    # -- gradient boosting -----------------------------------------------------------
    features: list[str] = Field(
        default_factory=list,
        description="Extra account columns (numeric or text) the quantile_gbm method uses "
        "beside employees, annual_revenue, industry, region and country.")
    folds: int = Field(
        4, ge=2, le=20,
        description="Cross-fitting folds: each account's potential comes from models "
        "trained without it, so its own spend never sets its own potential.")
    n_estimators: int = Field(
        150, ge=10, le=5000, description="Boosting rounds per quantile model.")
    learning_rate: float = Field(
        0.1, gt=0.0, le=1.0, description="LightGBM learning rate.")
    num_leaves: int = Field(
        15, ge=2, le=1024, description="Leaves per tree (model complexity).")
    min_child_samples: int = Field(
        20, ge=1, description="Fewest training accounts in a leaf.")
    max_train_rows: int = Field(
        50_000, ge=1_000,
        description="Buyers sampled per family and fold to train on (bounds the time on "
        "millions of accounts; predictions still cover every account). At a million "
        "accounts, 50,000 ranks true wallets as well as 200,000 (Spearman 0.980 vs 0.980) "
        "in a quarter of the training time.")
    gbm_min_buyers: int = Field(
        200, ge=10,
        description="Families with fewer buyers than this use the peer method.")
    n_jobs: int = Field(
        2, ge=1, le=256,
        description="Threads of the potential models: fold models trained side by side "
        "(one thread each), and scoring and drivers of large inputs. The figures do not "
        "depend on it.")
    seed: int | None = Field(
        None, description="Seed of the folds and the models (default: run.seed).")

    # -- bands, matrix, ROAD, markets ------------------------------------------------------
    band_method: Literal["absolute", "quantile"] = Field(
        "absolute",
        description="Value and potential bands by amounts (value_bands, potential_bands) "
        "or by quantiles (band_quantiles: of customers' value, of all accounts' potential).")
    value_bands: list[float] = Field(
        [100_000, 1_000_000],
        description="Current value at which the next band starts (absolute band_method).")
    potential_bands: list[float] = Field(
        [100_000, 1_000_000],
        description="Potential at which the next band starts (absolute band_method).")
    band_quantiles: list[float] = Field(
        [0.5, 0.9], description="Quantiles at which the next band starts (quantile band_method).")
    band_labels: list[str] = Field(
        ["low", "medium", "high"],
        description="Band names, lowest first; one more than there are band edges.")
    headline_threshold: float | None = Field(
        None, ge=0,
        description="Amount of the headline sentence ('N customers are above X today, M "
        "could be'). Default: the first value band edge.")
    road_value_amount: float | None = Field(
        None, ge=0,
        description="Current value from which an account counts as high value for ROAD; "
        "empty uses road_value_quantile.")
    road_value_quantile: float = Field(
        0.8, gt=0.0, lt=1.0,
        description="Quantile of customers' current value from which an account counts "
        "as high value (when road_value_amount is empty).")
    road_whitespace_amount: float | None = Field(
        None, ge=0,
        description="Whitespace from which an account counts as having much headroom; "
        "empty uses road_whitespace_quantile.")
    road_whitespace_quantile: float = Field(
        0.8, gt=0.0, lt=1.0,
        description="Quantile of all accounts' whitespace from which an account counts as "
        "having much headroom (when road_whitespace_amount is empty).")
    obtainable_min_fit: float = Field(
        50.0, ge=0, le=100,
        description="ICP fit (0-100) from which an addressable account is obtainable, once "
        "the models stage has computed ICP fit.")
    obtainable_min_potential: float | None = Field(
        None, ge=0,
        description="Without ICP fit: potential from which an addressable account is "
        "obtainable. Default: the median potential of addressable accounts.")

    # -- evaluation ------------------------------------------------------------------
    backtest: bool = Field(
        True,
        description="Run the temporal backtest (estimate 12 months before as-of, measure the "
        "growth since) in every run and store it in the snapshot's evaluation.")
    backtest_min_history_months: int = Field(
        6, ge=1, le=60,
        description="The backtest estimates 12 months before as-of from the history before "
        "then; with less history than this before that date (the first transaction) it "
        "is skipped, and the run says why.")
    backtest_max_accounts: int | None = Field(
        100_000, ge=100,
        description="The backtest estimates and measures on at most this many accounts: "
        "with more, a fixed sample chosen by a seeded hash of account_id (the same accounts "
        "in every run), so its cost stays bounded on millions of accounts; its lift and "
        "Spearman are then those of the sample. Empty: every account.")

    @field_validator("value_bands", "potential_bands")
    @classmethod
    def _amount_bands(cls, v: list[float]) -> list[float]:
        return _increasing(v, "amounts", "[100000, 1000000]")

    @field_validator("band_quantiles")
    @classmethod
    def _quantile_bands(cls, v: list[float]) -> list[float]:
        _increasing(v, "quantiles", "[0.5, 0.9]")
        if not all(0 < q < 1 for q in v):
            raise ValueError("band quantiles lie strictly between 0 and 1, e.g. [0.5, 0.9]")
        return v

    @field_validator("best_share_range")
    @classmethod
    def _share_range(cls, v: list[float]) -> list[float]:
        if len(v) != 2 or not 0 < v[0] < v[1] <= 1:
            raise ValueError("give two increasing shares between 0 and 1, e.g. [0.33, 0.75]")
        return v

    @field_validator("size_band_edges")
    @classmethod
    def _size_edges(cls, v: list[float] | None) -> list[float] | None:
        if v is None:
            return v
        _increasing(v, "sizes", "[10, 50, 250, 1000]")
        if v[0] <= 0:
            raise ValueError("size band edges are positive sizes, e.g. [10, 50, 250, 1000]")
        return v

    @model_validator(mode="after")
    def _labels_match(self) -> PotentialConfig:
        n = len(self.band_quantiles if self.band_method == "quantile" else self.value_bands)
        m = len(self.band_quantiles if self.band_method == "quantile" else self.potential_bands)
        if len(self.band_labels) != n + 1 or len(self.band_labels) != m + 1:
            raise ValueError(
                f"band_labels needs one name more than there are band edges ({n + 1}); "
                "give e.g. band_labels = [\"low\", \"medium\", \"high\"] for two edges")
        return self
