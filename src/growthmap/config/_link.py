"""``[link]``: matching outside company lists to accounts, and finding duplicates."""

from __future__ import annotations

from pydantic import Field, model_validator

from growthmap.config._base import Section


class LinkConfig(Section):
    """Thresholds of ``growthmap link`` and ``growthmap dedupe``.

    Scores are Splink match probabilities (0-1).  A pair at or above ``threshold`` is
    a match; between ``review_threshold`` and ``threshold`` it is listed for review and
    neither merged nor added as a prospect; below, the outside company is new.
    """

    threshold: float = Field(
        0.4, gt=0, lt=1,
        description="Match probability from which an outside company is taken to be an "
        "existing account. The default is the lowest of 0.3, 0.4, ... 0.99 reaching "
        "precision 0.99 on a corrupted-list test set of one seed; it is evaluated on "
        "another seed (docs/linking.md).")
    review_threshold: float = Field(
        0.2, gt=0, lt=1,
        description="Below threshold but at least this: the pair goes to review (the "
        "company is neither matched nor added).")
    dedupe_threshold: float = Field(
        0.9, gt=0, lt=1,
        description="Match probability from which two accounts of the workspace are "
        "listed as likely duplicates by `growthmap dedupe`.")
    exact_keys: list[str] = Field(
        default_factory=lambda: ["registration_number", "domain", "name_city", "name_country"],
        description="Exact keys tried before the probabilistic model, in order: "
        "registration_number, domain, name_city (normalised name + city + country), "
        "name_country (normalised name + country). A key only matches when it is unique "
        "among the accounts.")
    id_prefix: str = Field(
        "EXT-", min_length=1,
        description="Prefix of the account_id given to outside companies added as "
        "prospects (`growthmap link --apply`) when the list has no usable id.")

    @model_validator(mode="after")
    def _check(self) -> LinkConfig:
        if self.review_threshold > self.threshold:
            raise ValueError(
                f"link.review_threshold ({self.review_threshold}) is above link.threshold "
                f"({self.threshold}); set review_threshold <= threshold")
        known = ("registration_number", "domain", "name_city", "name_country")
        for key in self.exact_keys:
            if key not in known:
                raise ValueError(f"link.exact_keys has {key!r}; use any of {', '.join(known)}")
        return self
