"""One exception root for growthmap.

Every error a user can cause (bad config, bad input file, unknown account) is a
``GrowthmapError`` subclass that also inherits a built-in, so callers may catch it
either way.  Each class carries the CLI exit code and the HTTP status it maps to;
the CLI and the web app translate errors in exactly one place each.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EXIT_CODES",
    "AccessDenied",
    "ConfigError",
    "GrowthmapError",
    "InfeasibleError",
    "InputError",
    "NotFittedError",  # noqa: F822 (built on first use, see __getattr__)
    "NotFoundError",
    "StageError",
    "WorkspaceBusy",
    "WorkspaceError",
]


class GrowthmapError(Exception):
    """Root of every error growthmap raises on purpose.

    ``hint`` tells the user how to fix the problem; it is printed after the message.
    """

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  fix: {self.hint}"
        return self.message


class ConfigError(GrowthmapError, ValueError):
    """The config file or a command option is wrong: names the key and allowed values."""

    exit_code = 2
    http_status = 400


class InputError(GrowthmapError, ValueError):
    """An input file is structurally unusable (unreadable, missing a required column, ...)."""

    exit_code = 3
    http_status = 400


class WorkspaceError(GrowthmapError, RuntimeError):
    """The workspace is missing, of another schema version, or lacks what a step needs."""

    exit_code = 4
    http_status = 409


class WorkspaceBusy(WorkspaceError):
    """The workspace is held by another process (a run, a load, the dashboard)."""

    http_status = 503


class NotFoundError(GrowthmapError, LookupError):
    """An account, snapshot, rep or user does not exist (or the caller may not see it)."""

    exit_code = 5
    http_status = 404


class AccessDenied(GrowthmapError, PermissionError):
    """Authentication failed (bad or missing token / password)."""

    exit_code = 6
    http_status = 401


class InfeasibleError(GrowthmapError, ValueError):
    """An optimisation problem (alignment, allocation, quota) has no feasible solution."""

    exit_code = 8
    http_status = 422


class StageError(GrowthmapError, RuntimeError):
    """A stage of the run failed, or broke its declaration (an output it does not
    declare, a column its output contract does not allow); names the stage."""

    exit_code = 1
    http_status = 500

    def __init__(self, stage: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"the {stage} stage {message}", hint=hint)
        self.stage = stage


#: exit code -> meaning, documented in the CLI reference.
EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected internal error (run with --debug for the traceback)",
    2: "configuration or option error",
    3: "input file error (structure, unreadable file, missing required column)",
    4: "workspace error (missing, other schema version, a step's prerequisite absent)",
    5: "not found (account, snapshot, rep, user)",
    6: "access denied",
    7: "model used before fitting",
    8: "optimisation problem infeasible",
}


def _not_fitted_error() -> type[GrowthmapError]:
    from sklearn.exceptions import NotFittedError as SkNotFittedError

    class NotFittedError(GrowthmapError, SkNotFittedError):
        """An estimator was used before ``fit``.

        The one not-fitted error: it is scikit-learn's (``ValueError`` and
        ``AttributeError`` too), so scikit-learn's tools and a caller catching either
        recognise it.  Built on first use, so that importing the errors (as the CLI
        does for ``--help``) does not import scikit-learn."""

        exit_code = 7
        http_status = 500

    NotFittedError.__module__, NotFittedError.__qualname__ = __name__, "NotFittedError"
    return NotFittedError


def __getattr__(name: str) -> Any:
    if name == "NotFittedError":
        cls = _not_fitted_error()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
