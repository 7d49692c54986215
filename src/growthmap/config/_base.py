"""The base of every config section: unknown keys are errors, not silently ignored."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section. ``extra="forbid"`` makes a misspelt key a clear error."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
