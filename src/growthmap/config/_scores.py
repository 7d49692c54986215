"""``[scores]``: propensity to buy, ICP fit, buying-centre coverage and risk models.

The defaults give honest models on a few years of history: a 12-month horizon,
cut-offs a year apart (the as-of date's season), a rolling backtest of up to three of
them, and isotonic calibration.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from growthmap.config._base import Section
from growthmap.contract.inputs import BUYING_ROLES

_TIERS = ("A", "B", "C", "D")


class ScoresConfig(Section):
    """Propensity to buy, ICP fit, buying-centre coverage and risk models."""

    horizon_months: int = Field(
        12, ge=1, le=36,
        description="H: months after a date in which a purchase (propensity) or a decline "
        "(risk) counts. Models train on cut-offs whose H-month outcome is known by the as-of "
        "date.")
    growth_threshold: float = Field(
        0.10, ge=0, le=10,
        description="Propensity label: an account 'grows' when its revenue in the next H "
        "months exceeds that of the last H months by more than this fraction (0.10 = 10%). "
        "Buying a family it did not buy in the last H months also counts.")
    decline_threshold: float = Field(
        0.20, gt=0, le=1,
        description="Risk label: a customer 'declines' when its revenue in the next H months "
        "falls by at least this fraction of the last H months (1.0 = churn only).")
    backtest_cutoffs: int = Field(
        3, ge=1, le=12,
        description="How many cut-offs the rolling backtest scores (each trained only on "
        "earlier cut-offs whose outcome was known by then).")
    cutoff_step_months: int = Field(
        12, ge=1, le=24,
        description="Months between consecutive cut-offs (training and backtest). The default "
        "12 keeps every cut-off at the as-of date's time of year: with yearly budgets and "
        "lumpy invoices, a 12-month window that starts mid-year sees far more 'declines' and "
        "'growth' than one that starts at the as-of date's season.")
    train_cutoffs: int = Field(
        4, ge=1, le=12,
        description="At most this many cut-offs are stacked to train one model (the latest "
        "eligible ones).")
    min_history_months: int = Field(
        12, ge=0, le=60,
        description="A cut-off is used only when it has at least this many months of "
        "transaction history before it (and never fewer than horizon_months, so the "
        "label's look-back window is complete).")
    calibration: Literal["isotonic", "sigmoid", "none"] = Field(
        "isotonic", description="How propensity and risk scores are turned into probabilities "
        "(cross-fitted on held-out accounts).")
    calibration_folds: int = Field(
        4, ge=2, le=10, description="Folds (grouped by account) of the cross-fitted calibration.")
    n_estimators: int = Field(
        200, ge=10, le=5000, description="Most boosting rounds of the LightGBM models.")
    early_stopping_rounds: int | None = Field(
        20, ge=1, le=1000,
        description="Propensity, per-family propensity and risk stop adding trees when the "
        "held-out fold of their cross-fitted calibration has not improved its log loss for "
        "this many rounds; the final model grows the folds' mean best number of trees (at "
        "most n_estimators). Fewer trees score a million accounts faster; unset (or "
        "calibration = 'none') grows n_estimators trees.")
    learning_rate: float = Field(
        0.05, gt=0, le=1, description="Learning rate of the LightGBM models.")
    num_leaves: int = Field(
        15, ge=2, le=1024, description="Leaves per tree of the LightGBM models.")
    min_child_samples: int = Field(
        40, ge=1, le=10_000, description="Minimum accounts in a leaf of the LightGBM models.")
    max_train_rows: int = Field(
        50_000, ge=1_000, le=100_000_000,
        description="Most rows one model fit learns from. With more accounts than that "
        "(times the stacked cut-offs, times the families for the per-family model), a "
        "seeded sample of accounts, the same at every cut-off, is trained and backtested "
        "on; every account is still scored. Bounds the time of the models on millions of "
        "accounts; the backtest measures the sampled model.")
    n_jobs: int = Field(
        1, ge=1, le=256, description="Threads each LightGBM model may use. More helps only on "
        "idle cores: on a busy machine extra threads spin and slow training down.")
    features: list[str] = Field(
        default_factory=list,
        description="Extra account columns (numeric or text) that propensity and risk learn "
        "from beside the contract's firmographics, as [potential].features does for "
        "potential. The accounts table has no dates, so these describe the accounts as they "
        "are today: a backtest at an earlier cut-off sees today's values, which flatters "
        "it when a column was updated after the outcome (e.g. a lead score raised after a "
        "purchase).")
    baseline_columns: list[str] = Field(
        default_factory=list,
        description="Numeric account columns that already score accounts (a CRM engagement "
        "or lead score). Each is evaluated as a baseline beside the recency / frequency / "
        "monetary rank in the same backtest, is a feature of the models, and is published "
        "instead of the model when it ranks better.")
    guard_buys_again: bool = Field(
        True, description="Customers' published PtB must rank 'buys again' (any purchase in "
        "the next H months) at least as well as the best baseline, besides expansion (a new "
        "family or growth), on which it is always judged. Where the two disagree this "
        "protects the plain 'will they buy again' ranking a recency / frequency / monetary "
        "rank gives, at some cost to expansion; false judges customers on expansion alone.")
    per_family: bool = Field(
        True, description="Also fit one pooled model of the propensity to buy (new or more) in "
        "each product family, output as propensity_family.")
    drivers: int = Field(
        3, ge=0, le=10, description="How many drivers (largest feature effects) each score "
        "lists.")
    signal_kinds: int = Field(
        5, ge=0, le=50, description="The most frequent signal kinds that get a feature of "
        "their own (the rest count only in the totals).")
    icp_best: Literal["top_tier", "wallet_growth"] = Field(
        "top_tier", description="Who the 'best customers' of the ICP are: the top value tiers "
        "(icp_best_tiers), or customers with a high share of wallet and growth (needs the "
        "potential stage).")
    icp_best_tiers: list[str] = Field(
        ["A"], description="Value tiers whose customers are the best customers when "
        "icp_best = 'top_tier'.")
    icp_min_share_of_wallet: float = Field(
        0.5, ge=0, le=1, description="Best customers when icp_best = 'wallet_growth': share "
        "of wallet at least this.")
    icp_min_growth: float = Field(
        0.0, ge=-1, le=100, description="Best customers when icp_best = 'wallet_growth': "
        "revenue growth (T12M over the prior 12 months) at least this.")
    icp_features: list[str] | None = Field(
        None, description="Account columns the ICP fit learns from. Default: whichever of "
        "industry, country, region, employees, annual_revenue the accounts table has.")
    icp_neighbours: int = Field(
        3, ge=1, le=20, description="How many most similar best customers explain each "
        "ICP fit score.")
    buying_role_weights: dict[str, float] = Field(
        {"decision_maker": 0.4, "influencer": 0.25, "procurement": 0.2, "user": 0.15},
        description="Weight of each buying role in the buying-centre coverage score "
        "(normalised to sum to 1).")
    engagement_months: int = Field(
        12, ge=1, le=60, description="A contact engaged within this many months counts "
        "fully in the buying-centre coverage; within twice as long, half.")

    @field_validator("icp_best_tiers")
    @classmethod
    def _tiers(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if t not in _TIERS]
        if not v or bad:
            raise ValueError(f"give one or more of {', '.join(_TIERS)}, e.g. [\"A\"] "
                             f"(got {bad or 'an empty list'})")
        return v

    @field_validator("icp_features")
    @classmethod
    def _features(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("name at least one accounts column, e.g. [\"industry\", "
                             "\"employees\"], or remove the key to use the default")
        return v

    @field_validator("buying_role_weights")
    @classmethod
    def _roles(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [r for r in v if r not in BUYING_ROLES]
        if bad:
            raise ValueError(f"unknown buying role(s) {bad}; use {', '.join(BUYING_ROLES)}")
        if any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("weights must be zero or positive and at least one positive, "
                             "e.g. {decision_maker = 0.5, influencer = 0.5}")
        return v

    @model_validator(mode="after")
    def _train_window(self) -> ScoresConfig:
        if self.train_cutoffs * self.cutoff_step_months > 120:
            raise ValueError(
                f"train_cutoffs x cutoff_step_months = "
                f"{self.train_cutoffs * self.cutoff_step_months} months reaches too far back; "
                "lower train_cutoffs or cutoff_step_months so the product is at most 120")
        return self
