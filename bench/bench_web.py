"""Benchmark the dashboard API at a million accounts: account card and list latency.

Run ``python bench/bench_web.py`` (``--accounts 100000`` for a quicker run,
``--workspace PATH`` to keep and reuse the built file).

The workspace is *synthetic*: the pipeline is not run (training the models on a
million accounts would take hours on a laptop).  Instead ``account_value``,
``account_family_value``, ``potential``, ``potential_account``, ``segments``,
``propensity``, ``icp`` and ``risk`` are written straight into snapshot ``snap_1`` with
the columns the stages produce, from hash-based pseudo-random values in SQL, plus
territories (10 regions x 20) and reps (one per 250 accounts).

The server runs in its own process (uvicorn, one worker); a local client on 127.0.0.1
sends a bounded number of requests per endpoint from ``--concurrency`` threads, and
reports p50 / p95 latency, the ratio to a floor measured in the same run (``/healthz``
under the same load: HTTP, auth-free, no database), throughput and the server's
resident memory.  Results go to ``bench/results/web.json`` and a markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from growthmap.config import Config
from growthmap.read.access import ensure_indexes
from growthmap.runner.snapshot import _json
from growthmap.web.auth import add_user, issue_token
from growthmap.workspace import Workspace

RESULTS = Path(__file__).resolve().parent / "results" / "web.json"
FAMILIES = ["Hardware", "Cloud Services", "Managed Services", "Cybersecurity"]


def _u(seed: str, col: str = "i") -> str:
    """A uniform (0, 1) value from a hash of the row number: deterministic SQL noise."""
    salt = int(hashlib.sha256(seed.encode()).hexdigest()[:5], 16)
    return f"((hash({col} * 7919 + {salt}) % 1000003) + 0.5) / 1000003.0"


def build(path: Path, n: int) -> dict[str, Any]:
    """Write the synthetic million-account snapshot described in the module docstring."""
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
             (ug * 700)::BIGINT AS recency_days
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
             '[{{"feature": "employees", "effect": 0.4}}]' AS drivers
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
             false AS low_confidence
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
             '["A0000001", "A0000002", "A0000003"]' AS similar_best, value_tier = 'A' AS is_best
      FROM snap_1.account_value ORDER BY account_id;
      CREATE TABLE snap_1.risk AS
      SELECT account_id, ((hash(account_id || 'r') % 1000) / 4000.0) AS risk
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
             'Tier by value rank; ROAD from the matrix' AS reasons
      FROM snap_1.account_value a JOIN snap_1.potential_account p USING (account_id)
      ORDER BY a.account_id;
    """)
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = 'snap_1'").fetchall()]
    con.execute("INSERT INTO gm.snapshots VALUES (1, DATE '2025-12-31', now(), 'bench', "
                "'duckdb', 'bench', ?, 'synthetic', ?, '{}', '[]')",
                [Config().model_dump_json(), _json(sorted(tables))])
    rep = con.execute("SELECT owner_rep_id, count(*) FROM snap_1.account_value GROUP BY 1 "
                      "ORDER BY 2 DESC LIMIT 1").fetchone()[0]
    tokens = {}
    for name, role, terr, rep_id in (("admin", "admin", None, None),
                                     ("manager", "manager", "RG-03", None),
                                     ("rep", "rep", None, rep)):
        add_user(con, name, role, territory_id=terr, rep_id=rep_id)
        tokens[name] = issue_token(con, name)
    rep_ids = [r[0] for r in con.execute(
        "SELECT account_id FROM snap_1.account_value WHERE owner_rep_id = ?", [rep]).fetchall()]
    ensure_indexes(con, "snap_1")  # what the server's first start does in the background
    con.execute("CHECKPOINT")
    ws.close()
    return {"tokens": tokens, "rep_accounts": rep_ids, "build_s": time.perf_counter() - t0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(path: Path, port: int) -> subprocess.Popen:
    code = ("import uvicorn; from growthmap.web.app import create_app; "
            f"uvicorn.run(create_app({str(path)!r}), host='127.0.0.1', port={port}, "
            "log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start")


def load(base: str, urls: list[tuple[str, str]], concurrency: int) -> dict[str, Any]:
    """Send every (url, token) from ``concurrency`` threads; latency per request."""
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    it = iter(list(urls))

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=120) as c:
            while True:
                with lock:
                    item = next(it, None)
                if item is None:
                    return
                url, token = item
                t = time.perf_counter()
                r = c.get(url, headers={"Authorization": f"Bearer {token}"} if token else {})
                dt = time.perf_counter() - t
                with lock:
                    lat.append(dt)
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {url}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"n": len(lat), "p50_ms": 1000 * statistics.median(lat),
            "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))], "rps": len(lat) / wall,
            "errors": errors[:5], "n_errors": len(errors)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=200, help="requests per endpoint")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workspace", type=Path, default=None,
                    help="build here (or reuse when it exists) instead of a temporary file")
    args = ap.parse_args()
    tmp = None
    path = args.workspace
    if path is None:
        tmp = tempfile.TemporaryDirectory(prefix="gm-bench-web-")
        path = Path(tmp.name) / "web.duckdb"
    meta_file = path.with_suffix(".json")
    if path.exists() and meta_file.exists():
        meta = json.loads(meta_file.read_text())
    else:
        print(f"building a synthetic workspace of {args.accounts:,} accounts ...", flush=True)
        meta = build(path, args.accounts)
        meta_file.write_text(json.dumps(meta))
        print(f"  built in {meta['build_s']:.1f} s, {path.stat().st_size / 1e6:.0f} MB")
    port = _free_port()
    proc = serve(path, port)
    base = f"http://127.0.0.1:{port}"
    tok = meta["tokens"]
    rng = random.Random(0)
    n, k = args.accounts, args.requests
    ids = [f"A{rng.randrange(n):07d}" for _ in range(k)]
    rep_ids = [rng.choice(meta["rep_accounts"]) for _ in range(k)]
    pages = max(1, n // 50)
    words = ["Nordwerk Labs", "Suncrest", "Health 12", "Bau 99"]
    cases = {
        "floor: /healthz": [("/healthz", "")] * k,
        "card (admin)": [(f"/api/accounts/{a}", tok["admin"]) for a in ids],
        "card (rep, own accounts)": [(f"/api/accounts/{a}", tok["rep"]) for a in rep_ids],
        "list by value, random page": [
            (f"/api/accounts?page={rng.randrange(1, min(pages, 2000) + 1)}&page_size=50",
             tok["admin"]) for _ in range(k)],
        "list by whitespace (join), random page": [
            (f"/api/accounts?sort=whitespace&page={rng.randrange(1, 200)}&page_size=50",
             tok["admin"]) for _ in range(k)],
        "search by name": [(f"/api/accounts?q={rng.choice(words)}&page_size=50", tok["admin"])
                           for _ in range(k)],
        "list, manager scope, filtered": [
            (f"/api/accounts?value_tier={rng.choice('ABC')}&sort=potential&page_size=50",
             tok["manager"]) for _ in range(k)],
        "overview (manager, cached)": [("/api/overview", tok["manager"])] * (k // 4),
    }
    cold = {}
    for name, url, token in (("overview (manager), first call", "/api/overview", tok["manager"]),
                             ("matrix (admin), first call", "/api/matrix", tok["admin"])):
        t = time.perf_counter()
        r = httpx.get(base + url, headers={"Authorization": f"Bearer {token}"}, timeout=300)
        cold[name] = {"ms": 1000 * (time.perf_counter() - t), "status": r.status_code}
    results: dict[str, Any] = {}
    load_before = os.getloadavg()[0]
    try:
        load(base, cases["card (admin)"][:20], 2)  # warm-up: token check, caches
        for name, urls in cases.items():
            results[name] = load(base, urls, args.concurrency)
        rss = psutil.Process(proc.pid).memory_info().rss
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    floor = results["floor: /healthz"]["p50_ms"]
    out = {"accounts": args.accounts, "concurrency": args.concurrency,
           "requests_per_endpoint": k, "workspace": "synthetic snapshot (see docstring)",
           "build_s": meta["build_s"], "server_rss_mb": rss / 1e6, "cold": cold,
           "cpu_count": os.cpu_count(), "python": platform.python_version(),
           "load_average": [load_before, os.getloadavg()[0]],
           "results": results}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    print(f"\n{args.accounts:,} accounts, {args.concurrency} concurrent clients, "
          f"server RSS {rss / 1e6:.0f} MB, machine load average {load_before:.1f} on "
          f"{os.cpu_count()} cores\n")
    print("| endpoint | requests | p50 ms | p95 ms | p50 / floor | req/s | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['n']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
              f"{r['p50_ms'] / floor:.1f} | {r['rps']:.1f} | {r['n_errors']} |")
    for name, c in cold.items():
        print(f"| {name} | 1 | {c['ms']:.0f} | | | | {0 if c['status'] == 200 else 1} |")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
