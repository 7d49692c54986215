"""Run one example project end to end: prepare, load, run the pipeline, report.

    python examples/run_example.py northwind            # from the repository root
    python examples/run_example.py adventureworks --charts docs/img

Each example folder holds ``prepare.py`` (reshapes the public CSVs where a mapping
alone cannot: joins, unpivots, filters), mapping files, ``loads.toml`` (what is loaded
into which table, in order) and ``growthmap.toml`` (the run's config).  The public data
is read from ``../shared/data`` beside the repository (or ``--data`` /
``GROWTHMAP_DATA``); nothing is downloaded.  Every step goes through growthmap's
public API — the loader, :func:`growthmap.runner.duckdb_run.run` — exactly as the CLI would.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from growthmap.config import load_config
from growthmap.load import LoadReport, load_table
from growthmap.runner.duckdb_run import RunResult, run
from growthmap.runner.pipeline import stages
from growthmap.workspace import Workspace

HERE = Path(__file__).resolve().parent
EXAMPLES = ("adventureworks", "maven-crm", "northwind", "wholesale")


def default_data_dir() -> Path:
    """``$GROWTHMAP_DATA`` or ``../shared/data`` beside the repository."""
    env = os.environ.get("GROWTHMAP_DATA")
    return Path(env) if env else HERE.parent.parent / "shared" / "data"


@dataclass
class ExampleResult:
    """What running an example produced."""

    name: str
    workspace: Path
    loads: dict[str, LoadReport]
    result: RunResult
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _prepare(name: str, data: Path, build: Path) -> None:
    spec = importlib.util.spec_from_file_location(f"gm_example_{name.replace('-', '_')}",
                                                  HERE / name / "prepare.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    build.mkdir(parents=True, exist_ok=True)
    module.prepare(data, build)


def _plan(name: str) -> dict[str, Any]:
    """``loads.toml``: the ``[[load]]`` list and the optional ``skip_stages``."""
    with open(HERE / name / "loads.toml", "rb") as f:
        return tomllib.load(f)


def _figures(res: RunResult, loads: dict[str, LoadReport],
             skipped: tuple[str, ...] = ()) -> dict[str, Any]:
    """The key figures docs/examples.md quotes, computed from the run's outputs."""
    out: dict[str, Any] = {"as_of": str(res.as_of)}
    av = res.outputs["account_value"].to_pandas()
    cust = av[av["is_customer"]]
    out |= {"accounts": len(av), "customers": len(cust), "prospects": len(av) - len(cust),
            "revenue_t12m": round(float(cust["value"].sum()), 2),
            "value_tiers": av["value_tier"].value_counts().sort_index().to_dict()}
    conc = res.outputs["concentration"].to_pandas()
    tot = conc[conc["dimension"].isin(["all", "total"])]
    if not tot.empty:
        r = tot.iloc[0]
        out |= {"top20_share": round(float(r["top20_share"]), 3),
                "gini": round(float(r["gini"]), 3), "hhi": round(float(r["hhi"]), 4)}
    if "potential_account" in res.outputs:
        pa = res.outputs["potential_account"].to_pandas()
        out |= {"potential": round(float(pa["potential"].sum()), 2),
                "whitespace": round(float(pa["whitespace"].sum()), 2),
                "road": pa["road"].value_counts().sort_index().to_dict()}
    if "potential" in res.outputs:
        p = res.outputs["potential"].to_pandas()
        fam = p.groupby("family")[["current", "potential", "whitespace"]].sum()
        out["families"] = {k: {c: round(float(v), 2) for c, v in row.items()}
                           for k, row in fam.iterrows()}
    if "segments" in res.outputs:
        out["tiers"] = res.outputs["segments"].to_pandas()["tier"].value_counts() \
            .sort_index().to_dict()
    ev = res.evaluations or {}
    out["evaluations"] = sorted(ev)
    out["loads"] = {t: {"read": r.rows_read, "loaded": r.rows_loaded,
                        "quarantined": r.rows_quarantined, "by_reason": dict(r.by_reason)}
                    for t, r in loads.items()}
    out["notes"] = list(res.notes)
    out["skipped_stages"] = list(skipped)
    return out


def charts(res: RunResult, folder: Path, name: str) -> list[Path]:
    """Render the Pareto curve and whitespace by family as PNGs (skipped if unavailable)."""
    try:
        from growthmap.report import charts as ch
    except Exception:  # the charts module is optional for the examples
        return []
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    fig = _figures(res, {})
    pareto = res.outputs["pareto"].to_pandas()
    made = [(f"{name}-pareto.png", ch.pareto_chart(pareto, fig))]
    if "potential" in res.outputs:
        fam = res.outputs["potential"].to_pandas().groupby("family", as_index=False)[
            ["current", "potential", "whitespace"]].sum()
        made.append((f"{name}-whitespace.png", ch.whitespace_family_chart(fam)))
    for file, chart in made:
        path = folder / file
        path.write_bytes(ch.to_png(chart))
        written.append(path)
    return written


def run_example(name: str, *, data: Path | None = None, out: Path | None = None,
                progress: Any = None) -> ExampleResult:
    """Prepare, load and run example ``name``; the workspace lands in ``out``."""
    if name not in EXAMPLES:
        raise SystemExit(f"unknown example {name!r}; choose one of {', '.join(EXAMPLES)}")
    started = time.perf_counter()
    say = progress or (lambda _m: None)
    data = Path(data) if data else default_data_dir()
    if not data.exists():
        raise SystemExit(f"the public datasets are not at {data}; pass --data DIR")
    out = Path(out) if out else HERE / name / "out"
    build = out / "build"
    say(f"preparing {name} from {data}")
    _prepare(name, data, build)
    ws_path = out / f"{name}.duckdb"
    loads: dict[str, LoadReport] = {}
    plan = _plan(name)
    skip = list(plan.get("skip_stages", []))
    only = [s.name for s in stages() if s.name not in skip] if skip else None
    with Workspace.create(ws_path, overwrite=True) as ws:
        for item in plan["load"]:
            file = Path(item["file"].format(data=data, build=build))
            mapping = HERE / name / item["mapping"] if item.get("mapping") else None
            say(f"loading {item['table']} from {file.name}")
            loads[item["table"]] = load_table(ws, item["table"], file, mapping=mapping)
        config = load_config(HERE / name / "growthmap.toml")
        say("running the pipeline" + (f" without {', '.join(skip)}" if skip else ""))
        result = run(ws, config, label=f"example {name}", progress=say, only=only)
    res = ExampleResult(name, ws_path, loads, result, _figures(result, loads, tuple(skip)),
                        time.perf_counter() - started)
    (out / "figures.json").write_text(json.dumps(res.figures, indent=2, default=str))
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", choices=EXAMPLES)
    ap.add_argument("--data", type=Path, help="folder of the public datasets")
    ap.add_argument("--out", type=Path, help="where the workspace goes (default: "
                    "examples/NAME/out)")
    ap.add_argument("--charts", type=Path, help="also write PNG charts into this folder")
    args = ap.parse_args(argv)
    res = run_example(args.name, data=args.data, out=args.out,
                      progress=lambda m: print(f"· {m}", file=sys.stderr, flush=True))
    for table, r in res.loads.items():
        print(f"{table:14s} read {r.rows_read:>7,}  loaded {r.rows_loaded:>7,}  "
              f"quarantined {r.rows_quarantined:>6,}  {dict(r.by_reason) or ''}")
    f = res.figures
    print(f"\nsnapshot {res.result.snapshot_id} as of {f['as_of']}: {f['accounts']:,} accounts "
          f"({f['customers']:,} customers), T12M revenue {f['revenue_t12m']:,.0f}")
    for k in ("top20_share", "gini", "potential", "whitespace", "road", "tiers"):
        if k in f:
            print(f"  {k}: {f[k]}")
    for n in f["notes"]:
        print(f"  note: {n}")
    for st in f["skipped_stages"]:
        print(f"  skipped stage: {st} (see examples/{args.name}/loads.toml for why)")
    if args.charts:
        for p in charts(res.result, args.charts, args.name):
            print(f"chart: {p}")
    print(f"\nworkspace: {res.workspace}  ({res.seconds:.1f} s)")
    print(f"try: growthmap --workspace {res.workspace} summary")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
