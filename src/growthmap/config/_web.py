"""``[web]``: the dashboard and its JSON API (``growthmap serve``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from growthmap.config._base import Section


class WebConfig(Section):
    """The dashboard and JSON API."""

    host: str = Field("127.0.0.1", min_length=1,
                      description="Interface `growthmap serve` listens on; 0.0.0.0 exposes "
                      "it to the network (put it behind HTTPS then).")
    port: int = Field(8765, ge=1, le=65535, description="TCP port of `growthmap serve`.")
    page_size: int = Field(50, ge=1, le=10_000,
                           description="Rows per page of account lists when the request "
                           "does not say.")
    max_page_size: int = Field(500, ge=1, le=10_000,
                               description="Largest page a request may ask for (bounds the "
                               "work one request can cause).")
    session_hours: float = Field(12.0, gt=0, le=24 * 90,
                                 description="How long a browser login lasts.")
    secure_cookies: bool = Field(False, description="Mark the session cookie Secure (only "
                                 "sent over HTTPS); turn on when served behind HTTPS.")
    read_only: bool = Field(
        False, description="Open the workspace read-only: several server processes may "
        "share it, but potential feedback cannot be recorded.")
    feedback: bool = Field(True, description="Let reps and managers give feedback on an "
                           "account's potential from the account card.")
    login_attempts: int = Field(10, ge=1, le=1000,
                                description="Failed logins allowed per user name and client "
                                "address in 15 minutes; after that each further try waits "
                                "twice as long as the one before (1 s, 2 s, 4 s ... up to 15 "
                                "minutes). An address gets five times as many over all user "
                                "names, a user name ten times as many over all addresses "
                                "(that wait is capped at a minute and never applies to an "
                                "address that signed in as the user before).")
    lock_wait_seconds: float = Field(
        10.0, ge=0, le=3600, description="How long a request waits while a CLI command (a "
        "run, a load) holds the workspace before it answers 503 'busy, try again'. The "
        "server itself holds the workspace only while requests are in flight.")

    @model_validator(mode="after")
    def _pages(self) -> WebConfig:
        if self.page_size > self.max_page_size:
            raise ValueError(f"page_size ({self.page_size}) is larger than max_page_size "
                             f"({self.max_page_size}); lower page_size or raise max_page_size")
        return self
