"""Report commands: the HTML report, the Excel / CRM exports, chart images."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from growthmap.cli._common import console, get_config, open_workspace, progress
from growthmap.errors import ConfigError

__all__ = ["register"]


class ExportFormat(StrEnum):
    xlsx = "xlsx"
    crm = "crm"


Snapshot = Annotated[str, typer.Option(help="Snapshot id, or latest / previous.")]


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        ctx: typer.Context,
        out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
            "report.html"),
        snapshot: Snapshot = "latest",
        align_role: Annotated[str | None, typer.Option(
            help="Add the alignment proposal of this role (e.g. field) with its map, as "
            "`plan align` computes it.")] = None,
    ) -> None:
        """Write the self-contained HTML report (charts, findings, methodology; works offline).

        Example: [bold]growthmap report --out report.html --align-role field[/]
        """
        from growthmap.report.html import write_report

        config = get_config(ctx)
        with open_workspace(ctx, read_only=True) as ws, progress("rendering the report"):
            alignment = None
            if align_role:
                from growthmap.plan import PlanSource, align_accounts

                alignment = align_accounts(PlanSource.from_workspace(ws, snapshot),
                                           config.plan, role=align_role)
            path = write_report(ws, out, config, snapshot=snapshot, alignment=alignment)
        console.print(f"wrote {path}")

    @app.command()
    def export(
        ctx: typer.Context,
        fmt: Annotated[ExportFormat, typer.Option(
            "--format", "-f", help="xlsx = Excel workbook, crm = CRM import CSV.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
        snapshot: Snapshot = "latest",
    ) -> None:
        """Export the snapshot as an Excel workbook or a CRM import file.

        Example: [bold]growthmap export --format xlsx --out plan.xlsx[/]
        """
        from growthmap.report.crm import write_crm_csv
        from growthmap.report.excel import write_workbook

        writer = write_workbook if fmt is ExportFormat.xlsx else write_crm_csv
        config = get_config(ctx)
        with open_workspace(ctx, read_only=True) as ws, progress(f"writing {out}"):
            path = writer(ws, out, config, snapshot=snapshot)
        console.print(f"wrote {path}")

    @app.command()
    def chart(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="Chart name (see `growthmap chart --list`).")
                        ] = "",
        png: Annotated[Path | None, typer.Option("--png", help="PNG file to write.")] = None,
        svg: Annotated[Path | None, typer.Option("--svg", help="SVG file to write.")] = None,
        snapshot: Snapshot = "latest",
        list_: Annotated[bool, typer.Option("--list", help="List the chart names.")] = False,
    ) -> None:
        """Save one chart as a PNG (for slides) or SVG image.

        Example: [bold]growthmap chart pareto --png pareto.png[/]
        """
        from growthmap.read.access import SYSTEM, DataAccess
        from growthmap.report.gallery import CHARTS, save_chart

        if list_ or not name:
            for c in CHARTS.values():
                console.print(f"{c.name:22} {c.title}")
            return
        if png is None and svg is None:
            raise ConfigError("say where to write the chart", hint="pass --png FILE or --svg FILE")
        config = get_config(ctx)
        with open_workspace(ctx, read_only=True) as ws:
            da = DataAccess(ws.con, SYSTEM, snapshot,
                            scatter_max_points=config.report.scatter_max_points)
            for path in (png, svg):
                if path is not None:
                    save_chart(da, name, path, scale=config.report.png_scale,
                               width=config.report.chart_width)
                    console.print(f"wrote {path}")
