"""The typed configuration (``growthmap.toml``), defaulted in one place.

Each concern owns one section model in a private module of this package
(``_value.py``, ``_potential.py`` ...); :class:`Config` assembles them.  Every field
carries a description: ``docs/config.md`` is generated from them and a test fails
when one is missing.  A wrong key or value raises :class:`~growthmap.errors.ConfigError`
naming the key and what is allowed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from growthmap.config._base import Section
from growthmap.config._link import LinkConfig
from growthmap.config._plan import PlanConfig
from growthmap.config._potential import PotentialConfig
from growthmap.config._report import ReportConfig
from growthmap.config._run import RunConfig
from growthmap.config._scores import ScoresConfig
from growthmap.config._segments import SegmentsConfig
from growthmap.config._value import ValueConfig
from growthmap.config._web import WebConfig
from growthmap.errors import ConfigError

__all__ = ["DEFAULT_CONFIG_FILE", "Config", "Section", "config_error", "load_config"]

DEFAULT_CONFIG_FILE = Path("growthmap.toml")


class Config(BaseModel):
    """All of growthmap's settings; every section is optional in the file."""

    model_config = ConfigDict(extra="forbid")

    run: RunConfig = Field(default_factory=RunConfig, description="How and as of when a run goes.")
    value: ValueConfig = Field(default_factory=ValueConfig,
                               description="Current value, concentration and value tiers.")
    potential: PotentialConfig = Field(default_factory=PotentialConfig,
                                       description="Potential (wallet), whitespace, matrix, ROAD.")
    scores: ScoresConfig = Field(default_factory=ScoresConfig,
                                 description="Propensity to buy, ICP fit and risk models.")
    segments: SegmentsConfig = Field(default_factory=SegmentsConfig,
                                     description="Criteria scores, tiers, care models, segments.")
    plan: PlanConfig = Field(default_factory=PlanConfig,
                             description="Rollups, quotas, capacity, allocation, alignment.")
    report: ReportConfig = Field(default_factory=ReportConfig,
                                 description="HTML report, Excel workbook, CRM export.")
    web: WebConfig = Field(default_factory=WebConfig, description="The dashboard and API.")
    link: LinkConfig = Field(default_factory=LinkConfig,
                             description="Linking company lists, deduplicating accounts.")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> Config:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise config_error(exc, source) from None


def config_error(exc: ValidationError, source: str) -> ConfigError:
    """Turn pydantic's report into one message naming each bad key and the fix."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        ctx = err.get("ctx") or {}
        if "expected" in ctx:
            msg += f" (allowed: {ctx['expected']})"
        lines.append(f"{key}: {msg} (got {err.get('input')!r})")
    return ConfigError(
        f"{source} is not valid:\n  " + "\n  ".join(lines),
        hint="see docs/config.md for every key, its allowed values and default",
    )


def load_config(path: str | Path | None = None) -> Config:
    """Read ``path`` (or ``./growthmap.toml`` when it exists) or return the defaults."""
    if path is None:
        if not DEFAULT_CONFIG_FILE.exists():
            return Config()
        path = DEFAULT_CONFIG_FILE
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist",
                          hint="check the --config path, or omit it to use the defaults")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}",
                          hint="fix the syntax at the line named") from None
    return Config.from_dict(data, source=str(path))
