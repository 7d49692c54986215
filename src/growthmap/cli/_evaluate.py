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


@evaluate_app.command("feedback")
def feedback_cmd(
    ctx: typer.Context,
    given: str = typer.Option("previous", help="Snapshot the verdicts were given on."),
    later: str = typer.Option("latest", help="Snapshot a year or more later."),
) -> None:
    """How often reps' verdicts on potential were right once next year's purchases are in.

    Example: [bold]growthmap evaluate feedback --given 1 --later 2[/]
    """
    from growthmap.cli._common import console, open_workspace
    from growthmap.read.feedback_record import feedback_track_record

    with open_workspace(ctx, read_only=True) as ws:
        rec = feedback_track_record(ws, given, later)
    if not rec["verdicts"]:
        console.print("no too_high / too_low verdicts on an account's total to judge yet")
        return
    text = f"{rec['verdicts']:,} verdicts judged"
    if rec["too_low"]:
        text += (f"; {rec['too_low']:,} said too low, and {rec['too_low_confirmed']:.0%} of "
                 "those accounts then bought more than the model's figure")
    text += (f"; the rep's figure was closer to what was bought in {rec['closer']:.0%} "
             "(spend is a floor for the wallet, so this favours low figures)")
    console.print(text)
