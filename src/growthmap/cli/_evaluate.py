"""``growthmap evaluate ...``: every model's own evaluation, one sub-command per model.

Model modules add their sub-command to :data:`evaluate_app` in their own CLI module.
"""

from __future__ import annotations

import typer

__all__ = ["evaluate_app", "register"]

evaluate_app = typer.Typer(help="Measure how good a model is (backtest or ground truth).",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(evaluate_app, name="evaluate")
