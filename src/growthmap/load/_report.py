"""The reconciliation of one load: every row read is accounted for."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LoadReport"]


@dataclass
class LoadReport:
    """What one :func:`~growthmap.load.load_table` call did.

    The invariant ``rows_read == rows_loaded + rows_quarantined`` always holds (the
    loader checks it before committing); ``by_reason`` splits the quarantined rows and
    ``dq_by_issue`` the cells of loaded rows that were nulled.  ``by_reason_column`` and
    ``dq_by_column`` give the same counts per ``(reason or issue, column)``.
    """

    load_id: int
    table: str
    file: str
    mode: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    by_reason: dict[str, int] = field(default_factory=dict)
    cells_nulled: int = 0
    dq_by_issue: dict[str, int] = field(default_factory=dict)
    by_reason_column: dict[tuple[str, str | None], int] = field(default_factory=dict)
    dq_by_column: dict[tuple[str, str], int] = field(default_factory=dict)
    rows_replaced: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    extra_columns: dict[str, str] = field(default_factory=dict)
    dropped_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined

    def reconciliation(self) -> list[tuple[str, str, int]]:
        """Rows of the reconciliation as ``(label, detail, count)``, in reading order.

        The CLI renders these as a table; :meth:`render` as text.
        """
        rows: list[tuple[str, str, int]] = [
            ("rows read", "", self.rows_read),
            ("  loaded", "", self.rows_loaded),
            ("  quarantined", "", self.rows_quarantined),
        ]
        for reason, n in self.by_reason.items():
            cols = sorted({c for (r, c) in self.by_reason_column if r == reason and c})
            rows.append((f"    {reason}", ", ".join(cols), n))
        rows.append(("cells nulled (row loaded)", "", self.cells_nulled))
        for issue, n in self.dq_by_issue.items():
            cols = sorted({c for (i, c) in self.dq_by_column if i == issue})
            rows.append((f"    {issue}", ", ".join(cols), n))
        if self.rows_replaced:
            rows.append(("existing rows replaced", "", self.rows_replaced))
        return rows

    def render(self) -> str:
        """The reconciliation as plain text (what a log or a notebook shows)."""
        head = f"load {self.load_id}: {self.table} <- {self.file} ({self.mode})"
        width = max(len(label) for label, _, _ in self.reconciliation())
        lines = [head]
        for label, detail, n in self.reconciliation():
            lines.append(f"{label:<{width}}  {n:>12,}" + (f"  ({detail})" if detail else ""))
        check = "ok" if self.reconciles else "MISMATCH"
        lines.append(f"read = loaded + quarantined: {self.rows_read:,} = {self.rows_loaded:,} "
                     f"+ {self.rows_quarantined:,} ({check})")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (tuple keys become ``"reason|column"`` strings)."""
        out = asdict(self)
        out["by_reason_column"] = {f"{r}|{c or ''}": n for (r, c), n in
                                   self.by_reason_column.items()}
        out["dq_by_column"] = {f"{i}|{c}": n for (i, c), n in self.dq_by_column.items()}
        return out
