"""The streaming snapshot writer: all or nothing, spilled outputs, leftovers of a crash.

A real workspace file; outputs are small Arrow tables, spilled with a zero threshold so
the memory-mapped path and the sliced writes are exercised too.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from growthmap.config import Config
from growthmap.runner.pipeline import RunContext
from growthmap.runner.snapshot import BATCH_ROWS, OutputSpill, SnapshotWriter, write_snapshot
from growthmap.workspace import Workspace

AS_OF = dt.date(2025, 6, 30)


def _table(n: int, tag: str = "x") -> pa.Table:
    return pa.table({"account_id": [f"A{i:07d}" for i in range(n)],
                     "value": [float(i) for i in range(n)], "tag": [tag] * n})


def _tables(ws: Workspace, sid: int) -> set[str]:
    return {r[0] for r in ws.con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
        [f"snap_{sid}"]).fetchall()}


def test_outputs_written_as_stages_publish_them_and_published_at_commit(tmp_path):
    ws = Workspace.create(tmp_path / "ws.duckdb")
    ctx = RunContext(config=Config(), as_of=AS_OF, source=ws)
    big = _table(2 * BATCH_ROWS + 17)  # spilled and written in slices
    with SnapshotWriter(ws, OutputSpill(tmp_path, min_bytes=0)).attach(ctx) as writer:
        ctx.put("a", big)
        ctx.stage_done("one")
        ctx.put("b", _table(3, "first"))
        ctx.put("b", _table(5, "second"))  # a later put replaces the earlier one
        assert ws.snapshot_ids() == []  # nothing published before the commit
        sid = writer.commit(as_of=AS_OF, config=Config(), outputs=ctx.outputs)
    assert ws.snapshot_ids() == [sid] and _tables(ws, sid) == {"a", "b"}
    assert ws.con.execute(f"SELECT * FROM snap_{sid}.a").to_arrow_table().equals(big)
    b = ws.con.execute(f"SELECT tag, count(*) FROM snap_{sid}.b GROUP BY 1").fetchall()
    assert b == [("second", 5)]
    assert ctx.outputs["a"].equals(big)  # the mapped copy stays readable after cleanup


def test_a_failed_run_leaves_no_schema_and_the_last_snapshot_untouched(tmp_path):
    ws = Workspace.create(tmp_path / "ws.duckdb")
    first = write_snapshot(ws, as_of=AS_OF, config=Config(), outputs={"a": _table(4)})
    ctx = RunContext(config=Config(), as_of=AS_OF, source=ws)
    with pytest.raises(RuntimeError, match="stage failed"), SnapshotWriter(ws).attach(ctx):
        ctx.put("a", _table(9))
        ctx.stage_done("one")
        raise RuntimeError("stage failed")
    assert ws.snapshot_ids() == [first]
    assert _tables(ws, first + 1) == set()
    assert ws.con.execute(f"SELECT count(*) FROM snap_{first}.a").fetchone() == (4,)


def test_what_a_crashed_run_left_is_dropped_by_the_next_writer(tmp_path):
    ws = Workspace.create(tmp_path / "ws.duckdb")
    ws.con.execute("CREATE SCHEMA snap_1")  # a crash after writing, before publishing
    ws.con.execute("CREATE TABLE snap_1.stale AS SELECT 1 AS x")
    writer = SnapshotWriter(ws)
    writer.add("a", _table(2))
    sid = writer.commit(as_of=AS_OF, config=Config(), outputs={"a": _table(2)})
    assert sid == 1 and _tables(ws, 1) == {"a"}


def _duckdb_bytes(ws: Workspace) -> int:
    (n,) = ws.con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()
    return int(n)


def test_a_finished_stage_lets_duckdb_cached_blocks_go(tmp_path):
    """Between stages DuckDB's buffer pool gives back the blocks a stage scanned, and its
    memory limit is what it was; with a writer attached, only while the writer is idle."""
    from growthmap.runner.memory import release_engine_cache

    path = tmp_path / "ws.duckdb"
    ws = Workspace.create(path)
    ws.con.execute("CREATE TABLE main.big AS SELECT range AS i, md5(range::VARCHAR) AS s "
                   "FROM range(3000000)")
    ws.close()
    ws = Workspace.open(path)
    (limit,) = ws.con.execute("SELECT current_setting('memory_limit')").fetchone()
    ws.con.execute("SELECT count(DISTINCT s), sum(i) FROM main.big").fetchall()
    cached = _duckdb_bytes(ws)
    assert cached > 40 << 20  # the scanned blocks are held
    assert release_engine_cache(ws)
    assert _duckdb_bytes(ws) < cached / 4
    assert ws.con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == limit

    ctx = RunContext(config=Config(), as_of=AS_OF, source=ws)
    with SnapshotWriter(ws).attach(ctx) as writer:
        ws.con.execute("SELECT count(DISTINCT s), sum(i) FROM main.big").fetchall()
        with writer._busy:  # the writer thread is writing: the cache is left alone
            ctx.stage_done("one")
            assert _duckdb_bytes(ws) > 20 << 20
        ctx.stage_done("two")  # idle now
        assert _duckdb_bytes(ws) < 20 << 20
        writer.commit(as_of=AS_OF, config=Config(), outputs={})
    assert release_engine_cache(object()) is False  # not a DuckDB source: nothing to do
