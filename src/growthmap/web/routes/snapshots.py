"""Snapshots: which runs exist (ids, as-of dates, labels)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from growthmap.read.access import records
from growthmap.web._deps import Access

router = APIRouter(tags=["snapshots"])


@router.get("/api/snapshots")
def snapshots_api(da: Access) -> dict[str, Any]:
    """Every snapshot, and the one this request reads."""
    return {"current": da.snapshot_id, "rows": records(da.snapshots())}
