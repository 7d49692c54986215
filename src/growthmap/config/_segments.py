"""`[segments]`: need/value/behaviour criteria, tiers 1a/1b/2/3, risk/readiness, care models.

Segmentation rules are data: each criterion maps a column, a computed figure or an
assessment answer to a 0-1 score; tiers, the risk/readiness quadrant and the care
models are thresholds and ``{when: ..., ...}`` rules a sales-operations analyst can
change in ``growthmap.toml`` without touching code.  The defaults work with no config.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from growthmap.config._base import Section
from growthmap.contract.inputs import LIFECYCLE_STAGES

__all__ = [
    "DEFAULT_CARE_RULES",
    "DEFAULT_CRITERIA",
    "FIGURES",
    "ROLES",
    "Between",
    "CareModel",
    "CareRule",
    "Criterion",
    "SegmentsConfig",
]

#: Computed figures a criterion may score: name -> (where it comes from, natural 0-1 range).
FIGURES: dict[str, tuple[str, tuple[float, float] | None]] = {
    "current": ("account_value.value (current value, T12M)", None),
    "potential": ("potential_account.potential (total wallet)", None),
    "whitespace": ("potential_account.whitespace (total headroom)", None),
    "whitespace_open": ("potential.whitespace_open summed per account", None),
    "share_of_wallet": ("potential_account.share_of_wallet", (0.0, 1.0)),
    "ptb": ("propensity.ptb (propensity to buy)", (0.0, 1.0)),
    "icp_fit": ("icp.icp_fit (0-100)", (0.0, 100.0)),
    "risk": ("risk.risk (probability of decline or churn)", (0.0, 1.0)),
    "buying_centre": ("buying-centre coverage (0-1)", (0.0, 1.0)),
}

#: Coverage roles a care model can assign, from the most to the least personal.
ROLES = ("account_director", "key_account_manager", "field_rep", "inside_sales", "digital")

Group = Literal["need", "value", "behaviour"]
Scalar = str | int | float | bool


def _reject_unknown(cls: type[Section], data: Any, what: str) -> Any:
    """Name an unknown key, the allowed ones and the closest match (pydantic says less)."""
    if isinstance(data, dict):
        allowed = list(cls.model_fields)
        for key in data:
            if key not in allowed:
                near = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ValueError(f"unknown field {key!r} in {what}{hint}; "
                                 f"use one of: {', '.join(allowed)}")
    return data


class Between(Section):
    """A numeric condition in a rule: ``{min = 0.5}``, ``{max = 10}`` or both (inclusive)."""

    min: float | None = Field(None, description="Smallest matching value (inclusive).")
    max: float | None = Field(None, description="Largest matching value (inclusive).")

    @model_validator(mode="after")
    def _bounds(self) -> Between:
        if self.min is None and self.max is None:
            raise ValueError("a range condition needs min, max or both, e.g. {min = 0.5}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"range min {self.min} is above max {self.max}; swap them")
        return self


Condition = Scalar | list[Scalar] | Between
When = dict[str, Condition]


class Criterion(Section):
    """One need/value/behaviour criterion: a source mapped to a 0-1 score."""

    name: str = Field(description="Label of the criterion (score column c_<name>, flags, card).")
    group: Group = Field(description="Which score it feeds: need, value or behaviour.")
    kind: Literal["column", "figure", "assessment"] = Field(
        "figure", description="column: a column of accounts/account_value; figure: a computed "
        "figure (see FIGURES); assessment: an answer in the assessments table.")
    source: str = Field(description="The column name, figure name or assessment criterion.")
    direction: Literal["higher", "lower"] = Field(
        "higher", description="higher: a larger source value scores higher; lower: the reverse.")
    weight: float = Field(1.0, description="Weight within its group (> 0).")
    stage_weights: dict[str, float] = Field(
        default_factory=dict, description="Multiplier of the weight per product life-cycle "
        "stage (introduction, growth, maturity, decline); stages not named count 1.")
    scale: Literal["percentile", "minmax", "range"] = Field(
        "percentile", description="percentile: rank among accounts; minmax: between the "
        "smallest and largest value; range: between the two numbers of `range`.")
    range: tuple[float, float] | None = Field(
        None, description="Low and high end for scale = 'range' (assessments default to "
        "[1, 5]; ptb, risk, share_of_wallet to [0, 1]; icp_fit to [0, 100]).")
    missing: Literal["neutral", "low", "high"] = Field(
        "neutral", description="Score when the account has no value: 0.5, 0 or 1 (always flagged).")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        return _reject_unknown(cls, data, "a segments criterion")

    @field_validator("weight")
    @classmethod
    def _weight(cls, v: float) -> float:
        if not v > 0:
            raise ValueError(f"weight must be positive (got {v}); give a number > 0, or "
                             "remove the criterion to leave it out")
        return v

    @field_validator("stage_weights")
    @classmethod
    def _stage_weights(cls, v: dict[str, float]) -> dict[str, float]:
        for stage, w in v.items():
            if stage not in LIFECYCLE_STAGES:
                raise ValueError(f"unknown life-cycle stage {stage!r} in stage_weights; "
                                 f"use one of: {', '.join(LIFECYCLE_STAGES)}")
            if not w > 0:
                raise ValueError(f"stage_weights.{stage} must be positive (got {w}); give a "
                                 "number > 0 (1 keeps the criterion's weight)")
        return v

    @model_validator(mode="after")
    def _source(self) -> Criterion:
        if self.kind == "figure" and self.source not in FIGURES:
            near = difflib.get_close_matches(self.source, list(FIGURES), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(f"criterion {self.name!r}: unknown figure {self.source!r}{hint}; "
                             f"use one of: {', '.join(FIGURES)}, or kind = 'column'")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"criterion {self.name!r}: range {list(self.range)} must be "
                             "[low, high] with low < high")
        if self.scale == "range" and self.effective_range is None:
            raise ValueError(f"criterion {self.name!r}: scale = 'range' needs "
                             "range = [low, high]")
        return self

    @property
    def effective_range(self) -> tuple[float, float] | None:
        """The explicit range, else the natural one of the figure or assessment scale."""
        if self.range is not None:
            return self.range
        if self.kind == "assessment":
            return (1.0, 5.0)
        if self.kind == "figure":
            return FIGURES[self.source][1]
        return None


class CareModel(Section):
    """What coverage an account gets: a named model, a role, touches and hours."""

    care_model: str = Field(description="Name of the care model shown to sales.")
    role: Literal[ROLES] = Field(  # type: ignore[valid-type]
        description="Coverage role: " + ", ".join(ROLES) + ".")
    touches_per_year: float = Field(ge=0, description="Planned contacts per year.")
    hours_per_touch: float = Field(ge=0, description="Hours of selling time per contact.")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        return _reject_unknown(cls, data, "a care model")


class CareRule(CareModel):
    """A care model applied to the accounts matching ``when`` (first match wins)."""

    when: When = Field(
        default_factory=dict, description="Conditions on segment fields, all of which must "
        "hold: a value, a list of values, or {min, max}. Empty matches every account.")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        return _reject_unknown(cls, data, "a care-model rule")


def _crit(name: str, group: str, kind: str = "figure", source: str | None = None,
          **kw: Any) -> dict[str, Any]:
    return {"name": name, "group": group, "kind": kind, "source": source or name, **kw}


#: Works with no config: need = headroom, readiness, fit; value = now and potential;
#: behaviour = the assessment answers, buying-centre coverage and growth.  Young
#: families lean on readiness and fit, mature ones on proven headroom.
DEFAULT_CRITERIA: list[dict[str, Any]] = [
    _crit("whitespace", "need", stage_weights={"introduction": 0.5, "maturity": 1.5,
                                               "decline": 1.5}),
    _crit("ptb", "need", scale="range",
          stage_weights={"introduction": 1.5, "growth": 1.5, "decline": 0.5}),
    _crit("icp_fit", "need", scale="range", stage_weights={"introduction": 1.5}),
    _crit("current", "value", weight=2.0),
    _crit("potential", "value"),
    _crit("buyer_empowerment", "behaviour", "assessment", scale="range"),
    _crit("strategic_fit", "behaviour", "assessment", scale="range"),
    _crit("buying_centre", "behaviour", scale="range"),
    _crit("growth", "behaviour", "column"),
]

DEFAULT_CARE_RULES: list[dict[str, Any]] = [
    {"when": {"tier": "1a"}, "care_model": "strategic account", "role": "account_director",
     "touches_per_year": 24, "hours_per_touch": 3.0},
    {"when": {"tier": "1b"}, "care_model": "consultative key account",
     "role": "key_account_manager", "touches_per_year": 24, "hours_per_touch": 2.5},
    {"when": {"tier": "2", "status": "customer"}, "care_model": "field development",
     "role": "field_rep", "touches_per_year": 8, "hours_per_touch": 2.0},
    {"when": {"tier": "2"}, "care_model": "field acquisition", "role": "field_rep",
     "touches_per_year": 6, "hours_per_touch": 1.5},
    {"when": {"tier": "3", "status": "customer"}, "care_model": "inside sales",
     "role": "inside_sales", "touches_per_year": 6, "hours_per_touch": 0.5},
]

_DEFAULT_CARE = {"care_model": "digital / self-service", "role": "digital",
                 "touches_per_year": 4, "hours_per_touch": 0.1}

_RESERVED_IN_TIER_RULES = ("tier", "care_model", "coverage_role", "touches_per_year",
                           "hours_per_touch", "next_best_offer", "nbo_score")


class SegmentsConfig(Section):
    """Need/value/behaviour criteria, tiers 1a/1b/2/3, risk/readiness, care models, NBO."""

    criteria: list[Criterion] = Field(
        default_factory=lambda: [Criterion(**c) for c in DEFAULT_CRITERIA],
        description="Need, value and behaviour criteria (a list of tables [[segments.criteria]] "
        "with name, group, kind, source, direction, weight, stage_weights, scale, range, "
        "missing). Giving any replaces the defaults.")
    lifecycle_mix: Literal["whitespace", "focus_family", "none"] = Field(
        "whitespace", description="How an account's life-cycle stage mix is set for stage "
        "weights: by its whitespace per family, by focus_family's stage, or not at all.")
    focus_family: str | None = Field(
        None, description="Product family whose life-cycle stage sets the weights when "
        "lifecycle_mix = 'focus_family'.")
    tier1_share: float = Field(
        0.10, gt=0, lt=1, description="Share of ranked accounts in Tier 1 (top on value and "
        "need together).")
    tier_combine: Literal["mean", "min"] = Field(
        "mean", description="How value and need combine into the priority that ranks accounts: "
        "their mean, or the lower of the two (both must be high).")
    tier_universe: Literal["all", "customers"] = Field(
        "all", description="Rank all accounts, or customers only (prospects then reach Tier 2 "
        "only through tier2_rules).")
    behaviour_threshold: float = Field(
        0.5, ge=0, le=1, description="Tier 1 accounts with behaviour above this are 1a, "
        "the others 1b.")
    tier2_share: float = Field(
        0.40, gt=0, le=1, description="Accounts ranked within this top share (Tier 1 included) "
        "and not in Tier 1 are Tier 2.")
    tier2_rules: list[When] = Field(
        default_factory=lambda: [{"value_tier": "A"}],
        description="Conditions that also put an account in Tier 2 (any rule matching is "
        "enough); the rest is Tier 3.")
    risk_threshold: float | Literal["median"] = Field(
        "median", description="Risk at or above this is 'at risk' (a number 0-1, or 'median' "
        "of customers' risk in the run).")
    readiness_threshold: float | Literal["median"] = Field(
        "median", description="PtB at or above this is 'ready' (a number 0-1, or 'median' of "
        "all accounts' PtB in the run).")
    care_models: list[CareRule] = Field(
        default_factory=lambda: [CareRule(**r) for r in DEFAULT_CARE_RULES],
        description="Care-model rules [[segments.care_models]] with when, care_model, role, "
        "touches_per_year, hours_per_touch; the first matching rule wins.")
    care_default: CareModel = Field(
        default_factory=lambda: CareModel(**_DEFAULT_CARE),
        description="Care model of accounts no rule matches.")
    care_max_cost_share: float | None = Field(
        0.2, ge=0, le=1,
        description="Coverage an account gets costs at most this share of what is at stake "
        "with it (the larger of its current value and potential), at the plan's rep cost per "
        "hour (plan.loaded_cost / plan.productive_hours): a rule's touches, then hours per "
        "touch, are cut to fit, at least one touch of a quarter hour. Empty: no cap.")
    nbo_min_whitespace: float = Field(
        0.0, ge=0, description="A family needs more whitespace than this to be offered next.")

    @field_validator("criteria")
    @classmethod
    def _unique(cls, v: list[Criterion]) -> list[Criterion]:
        names = [c.name for c in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"criterion names must be unique; rename {', '.join(dup)}")
        return v

    @field_validator("tier2_rules")
    @classmethod
    def _tier_rules(cls, v: list[When]) -> list[When]:
        for i, rule in enumerate(v):
            bad = [k for k in rule if k in _RESERVED_IN_TIER_RULES]
            if bad:
                raise ValueError(f"tier2_rules[{i}] uses {', '.join(bad)}, which is decided "
                                 "after tiers; use value, need, road, value_tier, status, ...")
            if not rule:
                raise ValueError(f"tier2_rules[{i}] is empty and would match every account; "
                                 "give at least one condition or lower tier2_share")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SegmentsConfig:
        if self.tier2_share < self.tier1_share:
            raise ValueError(f"tier2_share ({self.tier2_share}) must be at least tier1_share "
                             f"({self.tier1_share}): it counts Tier 1 too")
        if self.lifecycle_mix == "focus_family" and not self.focus_family:
            raise ValueError("lifecycle_mix = 'focus_family' needs focus_family = "
                             "'<a product family>'")
        for name in ("risk_threshold", "readiness_threshold"):
            t = getattr(self, name)
            if isinstance(t, float) and not 0 <= t <= 1:
                raise ValueError(f"{name} must be between 0 and 1 or 'median' (got {t})")
        return self
