"""``growthmap card`` and ``growthmap track``: one account's card, migration between runs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.table import Table

from growthmap.cli._common import console, open_workspace

if TYPE_CHECKING:
    from growthmap.read.card import AccountCard
    from growthmap.read.migration import Migration

__all__ = ["print_card", "print_migration", "register"]


def _num(x: float | None, fmt: str = ",.0f") -> str:
    return "-" if x is None else format(x, fmt)


def _range(lo: float | None, hi: float | None) -> str:
    return "-" if lo is None and hi is None else f"{_num(lo)} to {_num(hi)}"


def print_card(card: AccountCard) -> None:
    """Render an account card as rich tables."""
    head = Table(title=f"{card.account_id} {card.name or ''} — snapshot {card.snapshot_id} "
                 f"as of {card.as_of}", show_header=False)
    rows = [
        ("status / value tier", f"{card.status or '-'} / {card.value_tier or '-'}"),
        ("current value", _num(card.current)),
        ("potential (low to high)", f"{_num(card.potential)} "
                                    f"({_range(card.potential_low, card.potential_high)})"),
        *([("model's potential", f"{_num(card.potential_model)} (the figure above was "
             f"adjusted by {card.potential_adjusted_by}, {card.potential_adjusted_at})")]
          if card.potential_adjusted_by else []),
        ("whitespace (open / competitor)", f"{_num(card.whitespace)} ("
         f"{_num(card.whitespace_open)} / {_num(card.whitespace_competitor)})"),
        ("share of wallet", _num(card.share_of_wallet, ".0%")),
        ("PtB / ICP fit / risk", f"{_num(card.ptb, '.2f')} / {_num(card.icp_fit, '.0f')} / "
                                 f"{_num(card.risk, '.2f')}"),
        ("need / value / behaviour", f"{_num(card.need, '.2f')} / "
         f"{_num(card.value_score, '.2f')} / {_num(card.behaviour, '.2f')}"),
        ("tier / ROAD / risk-readiness", f"{card.tier or '-'} / {card.road or '-'} / "
                                         f"{card.risk_readiness or '-'}"),
        ("care model", f"{card.care_model or '-'} ({card.coverage_role or '-'}, "
                       f"{_num(card.touches_per_year, 'g')} touches x "
                       f"{_num(card.hours_per_touch, 'g')} h)"),
        ("next best offer", f"{card.next_best_offer or '-'} ({_num(card.nbo_score)})"),
    ]
    attrs = [(k, f"{v:,.0f}" if isinstance(v, float) else str(v))
             for k, v in card.attributes.items()]
    for k, v in [*rows, *attrs]:
        head.add_row(k, v)
    console.print(head)
    for n in card.score_notes:
        console.print(f"[yellow]{n}[/]")
    if card.families:
        t = Table(title="By product family")
        for c in ("family", "current", "potential", "low to high", "whitespace", "SoW", "PtB",
                  "method / peers"):
            t.add_column(c, justify="left" if c in ("family", "method / peers") else "right")
        for f in card.families:
            t.add_row(f.family, _num(f.current), _num(f.potential),
                      _range(f.low, f.high), _num(f.whitespace),
                      _num(f.share_of_wallet, ".0%"), _num(f.ptb, ".2f"),
                      " / ".join(x for x in (f.method, f.peer_group) if x))
        console.print(t)
    if card.similar_best:
        console.print("Most similar best customers: " + ", ".join(
            f"{s.account_id} {s.name or ''}".strip() for s in card.similar_best))
    for r in card.reasons:
        console.print(f"• {r}", highlight=False)
    for f in card.flags:
        console.print(f"[yellow]flag:[/] {f}", highlight=False)
    if card.history:
        h = Table("snapshot", "as of", "value", "value tier", "ROAD", "tier", "care model",
                  title="History")
        for p in card.history:
            h.add_row(str(p.snapshot_id), str(p.as_of), _num(p.value), p.value_tier or "-",
                      p.road or "-", p.tier or "-", p.care_model or "-")
        console.print(h)
    for n in card.notes:
        console.print(f"[dim]note: {n}[/]", highlight=False)


def _matrix(df: pd.DataFrame, title: str, fmt: str) -> Table:
    t = Table(title=title)
    t.add_column(f"{df.index.name} \\ {df.columns.name}")
    for c in df.columns:
        t.add_column(str(c), justify="right")
    for idx, row in df.iterrows():
        t.add_row(str(idx), *[format(v, fmt) for v in row])
    return t


def print_migration(m: Migration, show_list: bool = False) -> None:
    """Render a migration: both matrices, a summary line and optionally the movers."""
    console.print(_matrix(m.counts, f"{m.dimension}: accounts", ",d"))
    console.print(_matrix(m.values, f"{m.dimension}: value", ",.0f"))
    s = m.summary()
    console.print(", ".join(f"{v:,} {k}" for k, v in s.items()))
    if show_list and len(m.movers):
        t = Table("account", "name", "from", "to", "direction", "value then", "value now",
                  title="Movers")
        for r in m.movers.to_dict("records"):
            vf, vt = r["value_from"], r["value_to"]
            t.add_row(str(r["account_id"]), "" if pd.isna(r["name"]) else str(r["name"]),
                      str(r["from"]), str(r["to"]), str(r["direction"]),
                      _num(None if pd.isna(vf) else vf), _num(None if pd.isna(vt) else vt))
        console.print(t)


def register(app: typer.Typer) -> None:
    @app.command()
    def card(
        ctx: typer.Context,
        account_id: Annotated[str, typer.Argument(help="The account's id.")],
        snapshot: Annotated[str, typer.Option(
            help="Snapshot id, or latest / previous.")] = "latest",
        as_json: Annotated[bool, typer.Option("--json", help="Print the card as JSON.")] = False,
    ) -> None:
        """Show one account's card: value, potential, scores, tier and why, history.

        Example: [bold]growthmap card ACC-00042 --json[/]
        """
        from growthmap.read.card import account_card

        with open_workspace(ctx, read_only=True) as ws:
            c = account_card(ws, account_id, snapshot)
        if as_json:
            typer.echo(json.dumps(c.model_dump(mode="json"), indent=2))
        else:
            print_card(c)

    @app.command()
    def track(
        ctx: typer.Context,
        from_: Annotated[str, typer.Option("--from", help="Earlier snapshot.")] = "previous",
        to: Annotated[str, typer.Option("--to", help="Later snapshot.")] = "latest",
        dimension: Annotated[str, typer.Option(
            help="Segment dimension: tier, value_tier, road, risk_readiness, care_model, "
            "potential_band, ...")] = "tier",
        show_list: Annotated[bool, typer.Option("--list", help="List the accounts that "
                                                "moved.")] = False,
    ) -> None:
        """Show how accounts moved between segments from one snapshot to another.

        Example: [bold]growthmap track --from 1 --to 2 --dimension road --list[/]
        """
        from growthmap.read.migration import migration

        with open_workspace(ctx, read_only=True) as ws:
            m = migration(ws, from_, to, dimension)
        print_migration(m, show_list)
