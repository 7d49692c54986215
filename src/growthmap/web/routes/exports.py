"""Downloads of the user's book: the Excel workbook, the CRM import file, the report."""

from __future__ import annotations

import tempfile
from pathlib import Path as FsPath

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from growthmap.report.crm import write_crm_csv
from growthmap.report.excel import write_workbook
from growthmap.report.html import render_report
from growthmap.web._deps import Access

router = APIRouter(tags=["exports"])


def _file(da: Access, request: Request, suffix: str, media: str, writer) -> Response:
    tmp = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)  # noqa: SIM115
    tmp.close()
    path = FsPath(tmp.name)
    try:
        writer(da.con, path, request.app.state.gm.config, snapshot=da.snapshot_id, user=da.user)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    name = f"growthmap-snap{da.snapshot_id}-{da.user.username}{suffix}"
    return FileResponse(path, media_type=media, filename=name,
                        background=BackgroundTask(path.unlink, missing_ok=True))


@router.get("/export/accounts.xlsx", response_class=FileResponse)
def export_xlsx(request: Request, da: Access) -> Response:
    """The Excel workbook of the user's book (accounts, families, rollups, rep books)."""
    return _file(da, request, ".xlsx",
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 write_workbook)


@router.get("/export/crm.csv", response_class=FileResponse)
def export_crm(request: Request, da: Access) -> Response:
    """The CRM import file (UTF-8 CSV) of the user's book."""
    return _file(da, request, ".csv", "text/csv; charset=utf-8", write_crm_csv)


@router.get("/export/report.html", response_class=Response)
def export_report(request: Request, da: Access) -> Response:
    """The self-contained HTML report of the user's book."""
    html = render_report(da.con, request.app.state.gm.config, snapshot=da.snapshot_id,
                         user=da.user)
    return Response(html, media_type="text/html; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="growthmap-snap{da.snapshot_id}.html"'})
