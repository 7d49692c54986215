"""The API reference at ``/docs``, rendered from the OpenAPI description without any
outside asset (the raw description is at ``/openapi.json``), and a health check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["meta"])


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def api_docs(request: Request) -> Response:
    spec = request.app.openapi()
    ops = []
    for path, methods in sorted(spec.get("paths", {}).items()):
        for method, op in methods.items():
            params = [{"name": p["name"], "in": p["in"], "required": p.get("required", False),
                       "description": p.get("description") or p.get("schema", {}).get(
                           "description", "")} for p in op.get("parameters", [])]
            ops.append({"method": method.upper(), "path": path, "summary": op.get("summary"),
                        "description": op.get("description", ""), "params": params})
    return request.app.state.gm.templates.TemplateResponse(
        request, "docs.html", {"spec": spec, "ops": ops, "user": None, "nav": "docs",
                               "csrf": "", "snapshot_id": None, "query": {}})


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}
