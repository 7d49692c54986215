"""Properties of loading: every row accounted for, structural errors change nothing."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthmap.errors import InputError
from growthmap.load import DQ_ISSUES, QUARANTINE_REASONS, load_table
from growthmap.workspace import Workspace

ACCOUNTS = ["A1", "A2", "Ünïcødé"]
PRODUCTS = ["P1", "P2"]
HEADER = ["line_id", "account_id", "date", "product_id", "amount", "quantity", "currency"]

garbage = st.sampled_from(["", " ", "NULL", "n/a", '"', "'", '""quoted""', "1,5", "1.2.3",
                           "-", "inf", "nan", "1e999", "日本", "🙂", "a\nb", "x,y;z", "\t"])
text = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
               max_size=8)
row = st.fixed_dictionaries({
    "line_id": st.one_of(st.sampled_from(["L1", "L2", "L3", ""]), text),
    "account_id": st.one_of(st.sampled_from([*ACCOUNTS, "A9", ""]), garbage),
    "date": st.one_of(st.dates().map(lambda d: d.isoformat()), garbage,
                      st.sampled_from(["2024-02-30", "31/12/2024", "2024-13-01"])),
    "product_id": st.one_of(st.sampled_from([*PRODUCTS, "P9"]), garbage),
    "amount": st.one_of(st.floats(allow_nan=False, allow_infinity=False).map(repr),
                        st.integers(-10**6, 10**6).map(str), garbage, text),
    "quantity": st.one_of(st.integers(-5, 5).map(str), garbage),
    "currency": st.sampled_from(["EUR", "USD", "", "XXX", "eur"]),
    "extra_field": st.sampled_from([False] * 9 + [True]),  # a malformed line, now and then
})


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    """One workspace for all examples: each example checks only its own load's records."""
    root = tmp_path_factory.mktemp("props")
    w = Workspace.create(root / "ws.duckdb")
    with (root / "accounts.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["account_id"]] + [[a] for a in ACCOUNTS])
    with (root / "products.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["product_id"]] + [[p] for p in PRODUCTS])
    load_table(w, "accounts", root / "accounts.csv")
    load_table(w, "products", root / "products.csv")
    yield w
    w.close()


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        writer.writerow(HEADER)
        writer.writerows([[r[h] for h in HEADER] + (["surplus"] if r.get("extra_field") else [])
                          for r in rows])
    return path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=1, max_size=25), mode=st.sampled_from(["replace", "upsert"]))
def test_every_row_is_loaded_or_quarantined_with_a_reason(ws, rows, mode):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # allowed to empty the table: this property is about the reconciliation (the
        # replace guard has its own tests in test_security_inputs.py)
        report = load_table(ws, "transactions", _write(root / "tx.csv", rows), mode=mode,
                            mapping={"fx": {"base": "EUR", "rates": {"USD": 2.0}}},
                            allow_empty=True, max_quarantined=1.0)
        con = ws.con
        assert report.rows_read == len(rows)
        assert report.rows_read == report.rows_loaded + report.rows_quarantined
        assert sum(report.by_reason.values()) == report.rows_quarantined
        loaded = {r[0] for r in con.execute("SELECT _row FROM transactions WHERE _load_id = ?",
                                             [report.load_id]).fetchall()}
        held = con.execute("SELECT row_number, reason FROM gm.quarantine "
                           "WHERE load_id = ?", [report.load_id]).fetchall()
        assert len(loaded) == report.rows_loaded and len(held) == report.rows_quarantined
        assert loaded.isdisjoint(r[0] for r in held)
        assert loaded | {r[0] for r in held} == set(range(1, len(rows) + 1))
        assert all(reason in QUARANTINE_REASONS for _, reason in held)
        # an independent look at the rows: what must never load
        for i, r in enumerate(rows, start=1):
            acc = r["account_id"].strip()
            if not acc or acc not in ACCOUNTS or r["product_id"].strip() not in PRODUCTS:
                assert i not in loaded, r
            if r["extra_field"]:
                assert (i, "malformed line") in held, r
        for line_id, n in con.execute(
                "SELECT line_id, count(*) FROM transactions WHERE line_id IS NOT NULL "
                "GROUP BY 1").fetchall():
            assert n == 1, line_id
        dq = con.execute("SELECT row_number, issue FROM gm.data_quality "
                         "WHERE load_id = ?", [report.load_id]).fetchall()
        assert len(dq) == report.cells_nulled
        assert all(row_number in loaded and issue in DQ_ISSUES for row_number, issue in dq)
        # the loaded rows satisfy the contract
        assert con.execute(
            "SELECT count(*) FROM transactions WHERE account_id IS NULL OR date IS NULL "
            "OR product_id IS NULL OR amount IS NULL OR NOT isfinite(amount) "
            "OR (amount < 0 AND doc_type <> 'credit_note')").fetchone() == (0,)


def _state(ws: Workspace) -> list:
    return [sorted(ws.con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in (
        "main.accounts", "main.products", "main.transactions", "gm.loads", "gm.quarantine",
        "gm.data_quality")]


broken = st.sampled_from(["missing file", "no required column", "unknown table", "bad bytes",
                          "empty file", "currencies without rates"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=1, max_size=8), kind=broken,
       mode=st.sampled_from(["replace", "upsert"]))
def test_a_structural_error_changes_nothing(ws, rows, kind, mode):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        load_table(ws, "transactions", _write(root / "tx.csv", rows),
                   mapping={"fx": {"base": "EUR", "rates": {"USD": 2.0}}},
                   allow_empty=True, max_quarantined=1.0)
        before = _state(ws)
        target, table = root / "bad.csv", "transactions"
        if kind == "no required column":
            with target.open("w", encoding="utf-8") as fh:
                fh.write("line_id,account,amount\n" + "".join(
                    f"L{i},{r['account_id']!r},1\n" for i, r in enumerate(rows)))
        elif kind == "unknown table":
            table, target = "transaction", root / "tx.csv"
        elif kind == "bad bytes":
            target = root / "bad.parquet"
            target.write_bytes(b"PAR1" + bytes(range(256)))
        elif kind == "empty file":
            target.write_bytes(b"")
        elif kind == "currencies without rates":
            # well-formed lines: a malformed one is quarantined before its currency is read
            _write(target, [dict(rows[0], currency=c, extra_field=False) for c in ("EUR", "USD")])
        with pytest.raises(InputError):
            load_table(ws, table, target, mode=mode)
        assert _state(ws) == before
