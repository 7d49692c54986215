"""A handful of deliberately broken rows for the demo's input files.

Real exports are never clean, and the demo should show what growthmap does about it:
a row without a usable required value is quarantined with its reason, a bad optional
value is nulled and recorded in the data-quality table.  Every broken row is listed
(with the outcome the data contract prescribes) in ``truth.bad_rows`` so a test or a
curious user can reconcile the load reports against it.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["NULLED", "QUARANTINED", "BadRow", "BadRowInjector"]

QUARANTINED = "quarantined"
NULLED = "nulled"


@dataclass(frozen=True)
class BadRow:
    """One broken row: where it is, what is wrong and what the loader should do."""

    table: str
    key: str | None  # the row's key (None when the key itself is missing)
    column: str
    value: str | None
    problem: str
    outcome: str  # QUARANTINED or NULLED


def _set(table: pa.Table, row: int, column: str, value: object) -> pa.Table:
    """``table`` with one cell replaced (tables are immutable; this copies a column)."""
    i = table.schema.get_field_index(column)
    typ = table.schema.field(i).type
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[row] = True
    new = pc.if_else(pa.array(mask), pa.scalar(value, type=typ), table[column])
    return table.set_column(i, column, new)


def _append(table: pa.Table, row: dict[str, object]) -> pa.Table:
    extra = pa.Table.from_pylist([{c: row.get(c) for c in table.column_names}],
                                 schema=table.schema)
    return pa.concat_tables([table, extra])


class BadRowInjector:
    """Breaks a few rows of the first chunk of each table and remembers what it did."""

    def __init__(self) -> None:
        self.rows: list[BadRow] = []

    def _note(self, *fields: str | None) -> None:
        self.rows.append(BadRow(*fields))  # type: ignore[arg-type]

    def inject(self, name: str, t: pa.Table) -> pa.Table:
        """Return ``t`` with this table's broken rows; tables without any pass through."""
        fix = getattr(self, f"_{name}", None)
        return fix(t) if fix else t

    def _accounts(self, t: pa.Table) -> pa.Table:
        if t.num_rows > 2:
            t = _set(t, 2, "employees", -40)
            self._note("accounts", t["account_id"][2].as_py(), "employees", "-40",
                       "negative employee count", NULLED)
        if t.num_rows > 6:
            t = _set(t, 6, "lat", 123.4)
            self._note("accounts", t["account_id"][6].as_py(), "lat", "123.4",
                       "latitude out of range", NULLED)
        t = _append(t, {"name": "Unnamed Prospect Ltd", "industry": "Retail",
                        "country": "Germany"})
        self._note("accounts", None, "account_id", None, "missing account_id", QUARANTINED)
        return t

    def _transactions(self, t: pa.Table) -> pa.Table:
        template = t.slice(0, 1).to_pylist()[0] if t.num_rows else {}
        account = template.get("account_id") or "A0000001"
        cases = [
            ("INV-BAD-00001", {"account_id": "A-UNKNOWN-1"}, "account_id", "A-UNKNOWN-1",
             "unknown account"),
            ("INV-BAD-00002", {"account_id": "A-UNKNOWN-2"}, "account_id", "A-UNKNOWN-2",
             "unknown account"),
            ("INV-BAD-00003", {"date": None}, "date", None, "missing date"),
            ("INV-BAD-00004", {"product_id": "P-XX-99"}, "product_id", "P-XX-99",
             "unknown product"),
        ]
        for line_id, change, column, value, problem in cases:
            row = {**template, "line_id": line_id, "account_id": account,
                   "product_id": template.get("product_id", "P-HW-01"),
                   "amount": 500.0, "quantity": 1.0, "cost": 400.0, "doc_type": "invoice",
                   **change}
            t = _append(t, row)
            self._note("transactions", line_id, column, value, problem, QUARANTINED)
        return t

    def _opportunities(self, t: pa.Table) -> pa.Table:
        if not t.num_rows:
            return t
        row = {**t.slice(0, 1).to_pylist()[0], "opportunity_id": "OPP-BAD-001",
               "account_id": "A-UNKNOWN-3"}
        self._note("opportunities", "OPP-BAD-001", "account_id", "A-UNKNOWN-3",
                   "unknown account", QUARANTINED)
        return _append(t, row)

    def _contacts(self, t: pa.Table) -> pa.Table:
        if not t.num_rows:
            return t
        self._note("contacts", t["contact_id"][0].as_py(), "role", "champion",
                   "buying role not in the allowed list", NULLED)
        return _set(t, 0, "role", "champion")

    def _products(self, t: pa.Table) -> pa.Table:
        self._note("products", "P-PR-99", "lifecycle_stage", "sunset",
                   "life-cycle stage not in the allowed list", NULLED)
        return _append(t, {"product_id": "P-PR-99", "name": "Fax Machine",
                           "family": "Print & Imaging", "lifecycle_stage": "sunset",
                           "list_price": 290.0})

    def table(self) -> pa.Table:
        """The broken rows as ``truth.bad_rows``."""
        cols = ("table_name", "key", "column_name", "value", "problem", "outcome")
        data = list(zip(*(astuple(r) for r in self.rows), strict=True)) or [()] * len(cols)
        return pa.table({c: pa.array(list(v), type=pa.string())
                         for c, v in zip(cols, data, strict=True)})


def expected_counts(bad_rows: pa.Table) -> dict[str, dict[str, int]]:
    """``{table: {"quarantined": n, "nulled": m}}`` from a ``truth_bad_rows`` table."""
    out: dict[str, dict[str, int]] = {}
    for r in bad_rows.to_pylist():
        out.setdefault(r["table_name"], {QUARANTINED: 0, NULLED: 0})[r["outcome"]] += 1
    return out

