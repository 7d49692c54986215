"""The dashboard's load test runs end to end at a tiny size, so it cannot rot.

No timing is asserted (the machine may be busy): what is checked is that the synthetic
snapshot keeps the output contract, that every level and endpoint ran through the real
server with no error, and that each target is judged from the figures measured.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from bench import bench_web
from bench._web_world import build, check_contract, prepare

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def web_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench_web")
    result = bench_web.main(["--accounts", "600", "--requests", "12", "--levels", "1,3",
                             "--workspace", str(out / "web.duckdb"),
                             "--json", str(out / "web.json")])
    return result, (out / "web.json").read_text()


def test_every_level_and_endpoint_ran_without_error(web_run: tuple[dict, str]) -> None:
    result, text = web_run
    assert json.loads(text)["accounts"] == 600
    for clients in (1, 3):
        level = result["levels"][clients]
        assert set(level) == {"floor: /healthz", "card (admin)", "card (rep, own book)"}
        for name, r in level.items():
            assert r["n"] >= 12 and r["n_errors"] == 0, (clients, name, r["errors"])
            assert r["clients"] == clients and r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
            assert r["server_cpu_ms_per_request"] >= 0
    for clients in (1, 4):
        for r in result["search"][clients].values():
            assert r["n_errors"] == 0, r["errors"]


def test_targets_are_judged_from_the_measured_figures(web_run: tuple[dict, str]) -> None:
    result, _ = web_run
    t = result["targets"]
    assert set(t) == {"card_p50_ms_1", "search_p50_ms"}  # no 50- or 200-client level here
    card = result["levels"][1]["card (admin)"]["p50_ms"]
    assert t["card_p50_ms_1"]["measured"] == card
    assert t["card_p50_ms_1"]["met"] == (card <= bench_web.TARGETS["card_p50_ms_1"])
    assert "| card_p50_ms_1 | 30 |" in bench_web.markdown(result)


def test_the_synthetic_snapshot_is_checked_against_the_output_contract(tmp_path) -> None:
    path = tmp_path / "w.duckdb"
    build(path, 300)
    meta = prepare(path)
    assert meta["accounts"] == 300 and set(meta["tokens"]) == {"admin", "manager", "rep"}
    con = duckdb.connect(str(path))
    # a stage's column gone (the index goes first: DuckDB alters no indexed table)
    con.execute('DROP INDEX snap_1."gm_risk_account_id"')
    con.execute("ALTER TABLE snap_1.risk DROP COLUMN risk_decile")
    with pytest.raises(RuntimeError, match="risk: column 'risk_decile' is missing"):
        check_contract(con, "snap_1", ["account_value", "risk"])
    con.close()
