"""Load test of the dashboard's API on loopback: cards/s and latency at 1, 50, 200 clients.

Run ``python -m bench.bench_web`` (a synthetic 1M-account snapshot, see
:mod:`bench._web_world`), ``--accounts 100000`` for a quicker run, ``--workspace PATH``
to keep and reuse the file, or point ``--workspace`` at a workspace made by a real run
(``growthmap -w PATH demo --accounts 1000000``): users and tokens are added to it.

The server runs in its own process (``uvicorn``, ``--workers`` processes; more than
one serves the workspace read-only, as DuckDB lets several processes read a file).
The client runs in this process on asyncio, one connection per simulated client, and
sends a bounded number of requests at each concurrency level: the account card of
random accounts (admin), the card of a rep's own accounts, and name search; at each
level the floor - ``/healthz`` (HTTP, no auth, no database) under the same load - is
measured in the same run, and latency is reported as p50/p95/p99 beside the floor.
The issue's targets are marked met or missed.  Results go to ``bench/results/web.json``
(``--json``) and a markdown section is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench._web_world import build, prepare

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "web.json"

#: Issue 18's targets at a million accounts.
TARGETS = {"card_p50_ms_1": 30.0, "cards_per_s_50": 100.0, "p95_ms_200": 2000.0,
           "errors_200": 0, "search_p50_ms": 100.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(path: Path, port: int, workers: int = 1) -> subprocess.Popen:
    """Start ``uvicorn`` on ``path`` in its own process and wait until it answers."""
    code = ("import uvicorn; "
            f"uvicorn.run('bench._web_world:app', factory=True, host='127.0.0.1', port={port}, "
            f"workers={workers}, log_level='warning', backlog=2048, timeout_keep_alive=60)")
    env = {**os.environ, "GM_BENCH_WORKSPACE": str(path),
           "GM_BENCH_READ_ONLY": "1" if workers > 1 else "",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start")


def _pct(sorted_lat: list[float], q: float) -> float:
    if not sorted_lat:
        return float("nan")
    return 1000 * sorted_lat[min(len(sorted_lat) - 1, round(q * (len(sorted_lat) - 1)))]


async def _load(base: str, urls: list[tuple[str, str]], clients: int) -> dict[str, Any]:
    """Send every (url, token) from ``clients`` concurrent connections."""
    lat: list[float] = []
    errors: list[str] = []
    queue = list(reversed(urls))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        async def worker() -> None:
            while queue:
                url, token = queue.pop()
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                t = time.perf_counter()
                try:
                    r = await client.get(url, headers=headers)
                    ok, what = r.status_code == 200, str(r.status_code)
                except httpx.HTTPError as exc:
                    ok, what = False, type(exc).__name__
                lat.append(time.perf_counter() - t)
                if not ok:
                    errors.append(f"{what} {url}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat.sort()
    return {"clients": clients, "n": len(lat), "seconds": wall, "per_s": len(lat) / wall,
            "p50_ms": _pct(lat, 0.50), "p95_ms": _pct(lat, 0.95), "p99_ms": _pct(lat, 0.99),
            "n_errors": len(errors), "errors": errors[:5]}


def _cpu_s(pid: int) -> float:
    """CPU seconds the server (and its worker processes) used so far."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return sum(t.user + t.system for t in (p.cpu_times() for p in procs))


def load(base: str, urls: list[tuple[str, str]], clients: int,
         server: int | None = None) -> dict[str, Any]:
    """:func:`_load`, plus the server's CPU milliseconds per request when its pid is given:
    unlike latency on a shared machine, that does not depend on what else runs."""
    before = _cpu_s(server) if server else 0.0
    out = asyncio.run(_load(base, urls, clients))
    if server:
        out["server_cpu_ms_per_request"] = 1000 * (_cpu_s(server) - before) / max(out["n"], 1)
    return out


def meta_path(path: Path) -> Path:
    """The users, tokens and sample ids prepared for ``path`` (named apart from any results
    file a user may put beside the workspace with ``--json``)."""
    return path.with_name(path.name + ".bench-meta.json")


def cases(meta: dict[str, Any], n: int, seed: int = 0) -> dict[str, list[tuple[str, str]]]:
    """``n`` requests of each kind, drawn from the prepared workspace."""
    rng = random.Random(seed)
    tok = meta["tokens"]
    words = [" ".join(name.split()[:2]) for name in meta["names"]] + meta["names"]
    return {
        "floor: /healthz": [("/healthz", "")] * n,
        "card (admin)": [(f"/api/accounts/{rng.choice(meta['account_ids'])}", tok["admin"])
                         for _ in range(n)],
        "card (rep, own book)": [(f"/api/accounts/{rng.choice(meta['rep_accounts'])}",
                                  tok["rep"]) for _ in range(n)],
        "search by name (admin)": [(f"/api/accounts?q={rng.choice(words)}&page_size=20",
                                    tok["admin"]) for _ in range(n)],
        "search by name (rep)": [(f"/api/accounts?q={rng.choice(words)}&page_size=20",
                                  tok["rep"]) for _ in range(n)],
    }


def run(path: Path, *, levels: tuple[int, ...] = (1, 50, 200), requests: int = 400,
        workers: int = 1) -> dict[str, Any]:
    """The load test on a prepared workspace (``path``, with its :func:`meta_path` beside it)."""
    meta = json.loads(meta_path(path).read_text())
    port = _free_port()
    proc = serve(path, port, workers)
    base = f"http://127.0.0.1:{port}"
    load_before = os.getloadavg()[0]
    out: dict[str, Any] = {"levels": {}, "search": {}}
    try:
        load(base, cases(meta, 20, seed=99)["card (admin)"], 2)  # warm-up: tokens, caches
        for clients in levels:
            n = max(requests, 2 * clients) if clients > 1 else max(20, requests // 4)
            reqs = cases(meta, n, seed=clients)
            out["levels"][clients] = {
                name: load(base, reqs[name], clients, proc.pid)
                for name in ("floor: /healthz", "card (admin)", "card (rep, own book)")}
        for clients in (1, 4):
            reqs = cases(meta, max(20, requests // 8), seed=1000 + clients)
            out["search"][clients] = {
                name: load(base, reqs[name], clients, proc.pid)
                for name in ("floor: /healthz", "search by name (admin)",
                             "search by name (rep)")}
        rss = sum(p.memory_info().rss for p in [psutil.Process(proc.pid),
                                                 *psutil.Process(proc.pid).children(True)])
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    out.update(accounts=meta["accounts"], workers=workers, server_rss_mb=rss / 1e6,
               cpu_count=os.cpu_count(), python=platform.python_version(),
               load_average=[round(load_before, 1), round(os.getloadavg()[0], 1)])
    out["targets"] = judge(out)
    return out


def judge(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target of the issue: the measured figure and whether it is met."""
    lv, got = out["levels"], {}
    if 1 in lv:
        got["card_p50_ms_1"] = (lv[1]["card (admin)"]["p50_ms"], "<=")
    if 50 in lv:
        got["cards_per_s_50"] = (lv[50]["card (admin)"]["per_s"], ">=")
    if 200 in lv:
        both = [lv[200]["card (admin)"], lv[200]["card (rep, own book)"]]
        got["p95_ms_200"] = (max(r["p95_ms"] for r in both), "<=")
        got["errors_200"] = (sum(r["n_errors"] for r in both), "<=")
    if 1 in out["search"]:
        got["search_p50_ms"] = (out["search"][1]["search by name (admin)"]["p50_ms"], "<=")
    return {k: {"target": TARGETS[k], "measured": v, "met": bool(
        v <= TARGETS[k] if op == "<=" else v >= TARGETS[k])} for k, (v, op) in got.items()}


def markdown(out: dict[str, Any]) -> str:
    """The section for bench/RESULTS.md."""
    lines = [f"{out['accounts']:,} accounts, server: {out['workers']} uvicorn worker(s), "
             f"RSS {out['server_rss_mb']:.0f} MB; {out['cpu_count']} cores, load average "
             f"{out['load_average'][0]} at the start (a shared machine).", "",
             "| clients | endpoint | requests | per s | p50 ms | p95 ms | p99 ms | "
             "p50 / floor | server CPU ms / request | errors |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for group in (out["levels"], out["search"]):
        for clients, res in group.items():
            floor = res["floor: /healthz"]["p50_ms"]
            for name, r in res.items():
                lines.append(f"| {clients} | {name} | {r['n']} | {r['per_s']:.1f} | "
                             f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
                             f"{r['p50_ms'] / floor:.1f} | "
                             f"{r.get('server_cpu_ms_per_request', float('nan')):.1f} | "
                             f"{r['n_errors']} |")
    lines += ["", "| target | wanted | measured | |", "|---|---:|---:|---|"]
    for name, t in out["targets"].items():
        lines.append(f"| {name} | {t['target']:g} | {t['measured']:.1f} | "
                     f"{'met' if t['met'] else 'MISSED'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=400,
                    help="requests per endpoint and concurrency level")
    ap.add_argument("--levels", default="1,50,200", help="concurrent clients, comma-separated")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn processes (read-only >1)")
    ap.add_argument("--workspace", type=Path, default=None,
                    help="build here (or reuse when it exists) instead of a temporary file")
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    tmp = None
    path = args.workspace
    if path is None:
        tmp = tempfile.TemporaryDirectory(prefix="gm-bench-web-")
        path = Path(tmp.name) / "web.duckdb"
    meta_file = meta_path(path)
    build_s = None
    if not path.exists():
        print(f"building a synthetic workspace of {args.accounts:,} accounts ...", flush=True)
        build_s = build(path, args.accounts)
        print(f"  built in {build_s:.1f} s, {path.stat().st_size / 1e6:.0f} MB", flush=True)
    if not meta_file.exists():
        meta_file.write_text(json.dumps(prepare(path)))
    try:
        out = run(path, levels=tuple(int(x) for x in args.levels.split(",")),
                  requests=args.requests, workers=args.workers)
    finally:
        if tmp is not None:
            tmp.cleanup()
    out["build_s"] = build_s
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1))
    print(markdown(out))
    return out


if __name__ == "__main__":
    main()
