"""``growthmap link`` (match an outside company list) and ``growthmap dedupe``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from growthmap.cli._common import console, get_config, open_workspace, progress

__all__ = ["register"]

_SHOWN = 15


def _table(title: str, df, columns: list[str]) -> Table:
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for _, r in df.head(_SHOWN).iterrows():
        t.add_row(*[f"{r[c]:.3f}" if isinstance(r[c], float) else ("" if r[c] is None
                    else str(r[c])) for c in columns])
    return t


def register(app: typer.Typer) -> None:
    """Add ``link`` and ``dedupe``."""

    @app.command("link")
    def link_cmd(
        ctx: typer.Context,
        file: Annotated[Path, typer.Argument(help="The outside company list (CSV, Excel, "
                                             "Parquet).")],
        mapping: Annotated[Path | None, typer.Option(
            help="Mapping file naming its name/city/country/domain/... headers.")] = None,
        threshold: Annotated[float | None, typer.Option(
            help="Match probability from which a company is an existing account "
            "(default: link.threshold).")] = None,
        apply: Annotated[bool, typer.Option(
            "--apply", help="Add the companies found to be new to accounts as prospects.")]
        = False,
    ) -> None:
        """Match an outside list of companies to the accounts (exact keys, then Splink).

        Every decision is stored in gm.link_matches with its score and the fields that
        agreed; nothing merges. With --apply, new companies become prospects.

        Example: [bold]growthmap link trade_fair_leads.csv --mapping leads.toml --apply[/]
        """
        from growthmap.link import link_companies

        config = get_config(ctx)
        with open_workspace(ctx) as ws, progress("linking") as _:
            res = link_companies(ws, file, config=config, mapping=mapping,
                                 threshold=threshold, apply=apply, seed=config.run.seed)
        c = res.counts
        console.print(f"link {res.link_id}: {len(res.matches):,} companies — "
                      f"{c['match']:,} matched, {c['review']:,} to review, {c['new']:,} new"
                      + (f"; {res.added:,} added as prospects" if apply else ""))
        review = res.matches[res.matches["decision"] == "review"]
        if not review.empty:
            console.print(_table("To review (gm.link_matches)", review,
                                 ["row_number", "source_name", "account_id", "account_name",
                                  "score", "reason"]))
        if res.load is not None and res.load.rows_quarantined:
            console.print(f"[yellow]{res.load.rows_quarantined} new companies were "
                          "quarantined by the loader[/] (see gm.quarantine)")

    @app.command("dedupe")
    def dedupe_cmd(ctx: typer.Context) -> None:
        """List accounts that look like the same company (gm.duplicates); merges nothing.

        Example: [bold]growthmap dedupe[/]
        """
        from growthmap.link import dedupe_accounts

        config = get_config(ctx)
        with open_workspace(ctx) as ws, progress("looking for duplicates") as _:
            res = dedupe_accounts(ws, config=config, seed=config.run.seed)
        dup = res.pairs[res.pairs["decision"] == "duplicate"]
        console.print(f"dedupe {res.dedupe_id}: {len(dup):,} duplicate pairs in "
                      f"{res.groups:,} groups, {len(res.pairs) - len(dup):,} pairs to review")
        if not res.pairs.empty:
            console.print(_table("Likely duplicates (gm.duplicates)", res.pairs,
                                 ["account_id_l", "name_l", "account_id_r", "name_r",
                                  "score", "agreed", "decision"]))
