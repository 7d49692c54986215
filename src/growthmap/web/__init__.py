"""The dashboard and JSON API, and the scoped data layer every output reads through.

``create_app(workspace_path, config)`` builds the FastAPI app (:mod:`growthmap.web.app`);
:mod:`growthmap.read.access` is the data-access layer that enforces roles, and
:mod:`growthmap.read.views` the aggregate views computed over a user's scope.  The app
is imported lazily so that the report and exports do not pull in the web stack.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from growthmap.web.app import create_app

        return create_app
    raise AttributeError(name)
