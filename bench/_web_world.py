"""The workspaces the web benchmark serves: a synthetic snapshot, or a real run's.

:func:`build` writes a *synthetic* snapshot in seconds at a million accounts (training
the models on a million accounts takes minutes of two cores): ``account_value``,
``account_family_value``, ``potential``, ``potential_account``, ``segments``,
``propensity``, ``icp`` and ``risk`` are written straight into ``snap_1`` from hash-based
pseudo-random values in SQL, plus territories (10 regions x 20) and reps (one per 250
accounts).  Every table is checked against the output contract
(:func:`growthmap.contract.outputs.check_output`), so when a stage's columns change the
benchmark fails here instead of measuring a snapshot no run would write.

:func:`prepare` readies any workspace - synthetic or made by ``growthmap demo`` - for
the load test: an admin, a manager of the territory with most children and the rep
with the largest book, each with an API token, and the account_id indexes the server's
background indexer would build.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import duckdb

from growthmap.config import Config, WebConfig
from growthmap.contract.outputs import check_output
from growthmap.read.access import ensure_indexes
from growthmap.runner.snapshot import _json
from growthmap.web.app import create_app
from growthmap.web.auth import add_user, issue_token
from growthmap.workspace import Workspace

__all__ = ["FAMILIES", "app", "build", "check_contract", "prepare"]

FAMILIES = ["Hardware", "Cloud Services", "Managed Services", "Cybersecurity"]


def check_contract(con: duckdb.DuckDBPyConnection, schema: str, tables: list[str]) -> None:
    """Fail when a synthetic table breaks the output contract the stages keep."""
    problems = []
    for table in tables:
        arrow = con.execute(f"SELECT * FROM {schema}.{table} LIMIT 0").fetch_arrow_table()
        if (why := check_output(table, arrow.schema)) is not None:
            problems.append(f"{table}: {why}")
    if problems:
        raise RuntimeError("the synthetic snapshot no longer matches the output contract "
                           "(update bench/_web_world.py): " + "; ".join(problems))


def _u(seed: str, col: str = "i") -> str:
    """A uniform (0, 1) value from a hash of the row number: deterministic SQL noise."""
    salt = int(hashlib.sha256(seed.encode()).hexdigest()[:5], 16)
    return f"((hash({col} * 7919 + {salt}) % 1000003) + 0.5) / 1000003.0"


def build(path: Path, n: int) -> float:
    """Write the synthetic snapshot described in the module docstring; seconds taken."""
    ws = Workspace.create(path, overwrite=True)
    con = ws.con
    con.execute("SET enable_progress_bar = false")
    n_terr, n_reps = 200, max(20, n // 250)
    t0 = time.perf_counter()
    con.execute(f"""
      CREATE TABLE main.territories AS
        SELECT 'RG-' || lpad(r::VARCHAR, 2, '0') AS territory_id, 'Region ' || r AS name,
               'Region ' || r AS region, NULL::VARCHAR AS parent_id FROM range(10) t(r)
        UNION ALL
        SELECT 'T-' || lpad(t::VARCHAR, 3, '0'), 'Territory ' || t, 'Region ' || (t % 10),
               'RG-' || lpad((t % 10)::VARCHAR, 2, '0') FROM range({n_terr}) x(t);
      CREATE TABLE main.reps AS
        SELECT 'REP-' || lpad(k::VARCHAR, 5, '0') AS rep_id, 'Rep ' || k AS name,
               'field' AS role, 'T-' || lpad((k % {n_terr})::VARCHAR, 3, '0') AS territory_id
        FROM range({n_reps}) r(k);
      CREATE SCHEMA snap_1;
      CREATE TABLE snap_1.account_value AS
      WITH b AS (
        SELECT i, 'A' || lpad(i::VARCHAR, 7, '0') AS account_id,
               {_u('terr')} AS ut, {_u('rep')} AS ur, {_u('cust')} AS uc,
               {_u('v1')} AS v1, {_u('v2')} AS v2, {_u('emp')} AS ue, {_u('g')} AS ug
        FROM range({n}) r(i)),
      c AS (
        SELECT *, floor(ut * {n_terr})::INT AS terr,
               uc < 0.55 AS is_customer,
               CASE WHEN uc < 0.55 THEN exp(9.5 + 1.6 * sqrt(-2 * ln(v1)) * cos(2 * pi() * v2))
                    ELSE 0 END AS value
        FROM b)
      SELECT account_id,
             ['Nordwerk', 'Bluepeak', 'Clearwave', 'Ironleaf', 'Suncrest', 'Oakline'][1 + i % 6]
               || ' ' || ['Labs', 'Systems', 'Health', 'Logistics', 'Retail', 'Bau'][
                 1 + (i // 6) % 6] || ' ' || i AS name,
             ['Manufacturing', 'Retail', 'Healthcare', 'Technology', 'Construction'][1 + i % 5]
               AS industry,
             ['Germany', 'France', 'United States', 'United Kingdom'][1 + (i // 5) % 4] AS country,
             'Region ' || (terr % 10) AS region, 'City ' || (terr % 37) AS city,
             'T-' || lpad(terr::VARCHAR, 3, '0') AS territory_id,
             'REP-' || lpad(((terr + {n_terr} * floor(ur * {max(1, n_reps // n_terr)}))::INT
                             % {n_reps})::VARCHAR, 5, '0') AS owner_rep_id,
             (5 + exp(3 + 1.5 * ue * 3))::BIGINT AS employees,
             value AS revenue_t12m, value * (0.6 + ug * 0.8) AS revenue_prior,
             value * 0.3 AS gross_margin_t12m, value AS value,
             CASE WHEN is_customer THEN 1 / (0.6 + ug * 0.8) - 1 END AS growth,
             is_customer, CASE WHEN is_customer THEN 'customer' ELSE 'prospect' END AS status,
             (1 + ug * 4)::INT * is_customer::INT AS families_t12m,
             DATE '2025-12-31' - (ug * 700)::INT AS last_purchase,
             DATE '2023-01-01' + (ug * 300)::INT AS first_purchase,
             (ug * 700)::BIGINT AS recency_days,
             (1 + ug * 4)::BIGINT AS families_ever, (3 * ug * 4)::BIGINT AS products_t12m,
             (10 * ug * 4)::BIGINT AS lines_t12m, is_customer OR ug < 0.6 AS ever_bought,
             (ug * 1000)::BIGINT AS tenure_days
      FROM c ORDER BY account_id;
    """)
    con.execute("""
      CREATE OR REPLACE TABLE snap_1.account_value AS
      WITH r AS (SELECT *, row_number() OVER (ORDER BY value DESC, account_id) AS value_rank,
                        value / sum(value) OVER () AS value_share,
                        sum(value) OVER (ORDER BY value DESC, account_id
                                         ROWS UNBOUNDED PRECEDING) / sum(value) OVER () AS cum_share
                 FROM snap_1.account_value)
      SELECT *, CASE WHEN value <= 0 THEN 'D' WHEN cum_share - value_share < 0.5 THEN 'A'
                     WHEN cum_share - value_share < 0.8 THEN 'B'
                     WHEN cum_share - value_share < 0.95 THEN 'C' ELSE 'D' END AS value_tier,
             account_id AS group_account_id
      FROM r ORDER BY account_id""")
    fams = ", ".join(f"('{f}', {k})" for k, f in enumerate(FAMILIES))
    con.execute(f"""
      CREATE TABLE snap_1.potential AS
      WITH f(family, k) AS (VALUES {fams}),
      x AS (SELECT a.account_id, f.family, a.value / {len(FAMILIES)} AS current,
                   a.employees * (800 + 400 * f.k) * (0.5 + ((hash(a.account_id || f.family)
                     % 1000) / 1000.0)) AS p
            FROM snap_1.account_value a, f)
      SELECT account_id, family, current, greatest(p, current) AS potential,
             greatest(p, current) * 0.7 AS low, greatest(p, current) * 1.5 AS high,
             greatest(p - current, 0) AS whitespace, greatest(p - current, 0) * 0.7 AS
             whitespace_open, greatest(p - current, 0) * 0.3 AS whitespace_competitor,
             current / greatest(p, current) AS share_of_wallet, 'quantile_gbm' AS method,
             'industry' AS peer_group, false AS low_confidence,
             '[{{"feature": "employees", "effect": 0.4}}]' AS drivers,
             greatest(p, current) AS potential_model, NULL::VARCHAR AS adjusted_by,
             NULL::TIMESTAMP AS adjusted_at
      FROM x ORDER BY account_id, family;
      CREATE TABLE snap_1.potential_account AS
      SELECT account_id, sum(current) AS current, sum(potential) AS potential, sum(low) AS low,
             sum(high) AS high, sum(whitespace) AS whitespace,
             sum(current) / sum(potential) AS share_of_wallet FROM snap_1.potential
      GROUP BY 1 ORDER BY 1;
      CREATE OR REPLACE TABLE snap_1.potential_account AS
      SELECT *, CASE WHEN current >= 100000 THEN 'high' WHEN current >= 10000 THEN 'medium'
                     ELSE 'low' END AS value_band,
             CASE WHEN potential >= 1000000 THEN 'high' WHEN potential >= 200000 THEN 'medium'
                  ELSE 'low' END AS potential_band
      FROM snap_1.potential_account;
      CREATE OR REPLACE TABLE snap_1.potential_account AS
      SELECT *, value_band || '/' || potential_band AS matrix_cell,
             CASE WHEN value_band <> 'low' AND whitespace < 300000 THEN 'Retain'
                  WHEN value_band <> 'low' THEN 'Develop'
                  WHEN whitespace >= 300000 THEN 'Acquire' ELSE 'Opportunistic' END AS road,
             false AS low_confidence, potential AS potential_model,
             NULL::VARCHAR AS adjusted_by, NULL::TIMESTAMP AS adjusted_at
      FROM snap_1.potential_account ORDER BY account_id;
      CREATE TABLE snap_1.account_family_value AS
      SELECT account_id, family, current AS revenue_t12m, current * 0.9 AS revenue_prior,
             2::BIGINT AS products_t12m, 5::BIGINT AS lines_t12m,
             DATE '2023-03-01' AS first_purchase, DATE '2025-11-30' AS last_purchase,
             current * 0.3 AS gross_margin_t12m, 0.11 AS growth
      FROM snap_1.potential WHERE current > 0 ORDER BY account_id, family;
      CREATE TABLE snap_1.propensity AS
      SELECT account_id, ((hash(account_id || 'p') % 1000) / 1000.0) AS ptb,
             1 + ((hash(account_id || 'p') % 1000) // 100)::INT AS ptb_decile,
             '[{{"feature": "recency_days", "effect": -0.2}}]' AS drivers
      FROM snap_1.account_value ORDER BY account_id;
      CREATE TABLE snap_1.icp AS
      SELECT account_id, ((hash(account_id || 'i') % 1000) / 10.0) AS icp_fit,
             ((hash(account_id || 'i') % 1000) / 10.0) AS icp_percentile,
             '["A0000001", "A0000002", "A0000003"]' AS similar_best, value_tier = 'A' AS is_best
      FROM snap_1.account_value ORDER BY account_id;
      CREATE TABLE snap_1.risk AS
      SELECT account_id, ((hash(account_id || 'r') % 1000) / 4000.0) AS risk,
             1 + ((hash(account_id || 'r') % 1000) // 100)::INT AS risk_decile,
             'decline' AS reason, '[{{"feature": "growth", "effect": 0.3}}]' AS drivers
      FROM snap_1.account_value ORDER BY account_id;
      CREATE TABLE snap_1.segments AS
      SELECT a.account_id, a.owner_rep_id, a.territory_id, a.status, a.value_tier,
             p.potential_band, p.matrix_cell, p.road,
             CASE WHEN a.value_rank <= {n // 20} THEN '1a' WHEN a.value_rank <= {n // 10}
                  THEN '1b' WHEN a.value_rank <= {n * 4 // 10} THEN '2' ELSE '3' END AS tier,
             'Grow' AS risk_readiness,
             CASE WHEN a.value_rank <= {n // 10} THEN 'key account' ELSE 'inside sales' END
               AS care_model, 'field_rep' AS coverage_role, 6.0 AS touches_per_year,
             1.5 AS hours_per_touch, 'Cloud Services' AS next_best_offer, 1000.0 AS nbo_score,
             'Tier by value rank; ROAD from the matrix' AS reasons,
             a.name, p.value_band, a.value, p.potential, p.whitespace,
             a.value + p.whitespace AS priority, a.value_rank AS priority_rank,
             0.5 AS need, 0.5 AS value_score, 0.5 AS behaviour, pr.ptb, rk.risk,
             1::BIGINT AS care_rule
      FROM snap_1.account_value a JOIN snap_1.potential_account p USING (account_id)
      JOIN snap_1.propensity pr USING (account_id) JOIN snap_1.risk rk USING (account_id)
      ORDER BY a.account_id;
    """)
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = 'snap_1'").fetchall()]
    check_contract(con, "snap_1", tables)
    con.execute("INSERT INTO gm.snapshots VALUES (1, DATE '2025-12-31', now(), 'bench', "
                "'duckdb', 'bench', ?, 'synthetic', ?, '{}', '[]')",
                [Config().model_dump_json(), _json(sorted(tables))])
    con.execute("CHECKPOINT")
    ws.close()
    return time.perf_counter() - t0


def prepare(path: Path) -> dict[str, Any]:
    """Users, tokens and indexes for the load test, on the latest snapshot of ``path``."""
    ws = Workspace.open(path)
    con = ws.con
    (sid,) = con.execute("SELECT max(snapshot_id) FROM gm.snapshots").fetchone()
    schema = f"snap_{sid}"
    (n,) = con.execute(f"SELECT count(*) FROM {schema}.account_value").fetchone()
    rep = con.execute(f"SELECT owner_rep_id, count(*) FROM {schema}.account_value "
                      "WHERE owner_rep_id IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 "
                      "LIMIT 1").fetchone()[0]
    row = con.execute("SELECT parent_id FROM main.territories WHERE parent_id IS NOT NULL "
                      "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()
    terr = row[0] if row else con.execute(
        f"SELECT territory_id FROM {schema}.account_value GROUP BY 1 ORDER BY count(*) DESC "
        "LIMIT 1").fetchone()[0]
    tokens = {}
    for name, role, t, r in (("bench_admin", "admin", None, None),
                             ("bench_manager", "manager", terr, None),
                             ("bench_rep", "rep", None, rep)):
        add_user(con, name, role, territory_id=t, rep_id=r, replace=True)  # re-preparable
        tokens[name.removeprefix("bench_")] = issue_token(con, name)
    ids = [r[0] for r in con.execute(
        f"SELECT account_id FROM {schema}.account_value ORDER BY hash(account_id) "
        "LIMIT 5000").fetchall()]
    rep_ids = [r[0] for r in con.execute(
        f"SELECT account_id FROM {schema}.account_value WHERE owner_rep_id = ?",
        [rep]).fetchall()]
    names = [r[0] for r in con.execute(
        f"SELECT name FROM {schema}.account_value WHERE name IS NOT NULL "
        "ORDER BY hash(account_id) LIMIT 40").fetchall()]
    ensure_indexes(con, schema)  # what the server's first start does in the background
    con.execute("CHECKPOINT")
    ws.close()
    return {"accounts": int(n), "snapshot_id": int(sid), "tokens": tokens,
            "account_ids": ids, "rep_accounts": rep_ids, "names": names}


def app() -> Any:
    """The server the load test starts (a ``uvicorn`` factory, so several workers can
    each build one): the workspace named by ``GM_BENCH_WORKSPACE``, read-only when
    ``GM_BENCH_READ_ONLY`` is set (several processes may only read a DuckDB file)."""
    read_only = bool(os.environ.get("GM_BENCH_READ_ONLY"))
    return create_app(os.environ["GM_BENCH_WORKSPACE"],
                      Config(web=WebConfig(read_only=read_only)))
