"""``growthmap link`` and ``growthmap dedupe`` on a workspace, with their records.

Every decision lands in a table a person can review before anything changes:

* ``gm.link_matches`` — one row per outside company per link run: the account it
  matched (or its best candidate), the method (an exact key or the model), the
  score, the fields that agreed and disagreed, the decision and why;
* ``gm.duplicates`` — pairs of accounts that look like one company, grouped.

Only ``apply=True`` changes the accounts, and only by adding the companies decided
``new`` as prospects, through :func:`growthmap.load.load_table` (so they are validated
and traced like any load).  Matches are never merged into accounts: the match table
is the record of which outside row is which account.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from growthmap.config import Config
from growthmap.config._link import LinkConfig
from growthmap.errors import InputError, WorkspaceError
from growthmap.link._match import match_lists
from growthmap.link._normalize import normalize_frame
from growthmap.link._probabilistic import score_pairs
from growthmap.load import LoadReport, Mapping, load_table, normalize_name, read_mapping
from growthmap.workspace import Workspace

__all__ = ["DedupeResult", "LinkResult", "dedupe_accounts", "link_companies", "read_company_list"]

_MATCH_DDL = """
CREATE TABLE IF NOT EXISTS gm.link_matches (
    link_id INTEGER, file VARCHAR, row_number BIGINT, source_id VARCHAR, source_name VARCHAR,
    source_city VARCHAR, source_country VARCHAR, account_id VARCHAR, account_name VARCHAR,
    method VARCHAR, score DOUBLE, match_weight DOUBLE, agreed VARCHAR, disagreed VARCHAR,
    decision VARCHAR, reason VARCHAR, candidate_id VARCHAR, runner_up_id VARCHAR,
    runner_up_score DOUBLE, new_account_id VARCHAR, created_at TIMESTAMP)"""
_DUP_DDL = """
CREATE TABLE IF NOT EXISTS gm.duplicates (
    dedupe_id INTEGER, group_id VARCHAR, account_id_l VARCHAR, account_id_r VARCHAR,
    name_l VARCHAR, name_r VARCHAR, method VARCHAR, score DOUBLE, agreed VARCHAR,
    disagreed VARCHAR, decision VARCHAR, created_at TIMESTAMP)"""
_MATCH_COLS = ("account_id", "name", "country", "city", "domain", "registration_number")


@dataclass
class LinkResult:
    """What one ``growthmap link`` run decided (and added, when applied)."""

    link_id: int
    file: str
    matches: pd.DataFrame
    load: LoadReport | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def added(self) -> int:
        return int(self.matches["new_account_id"].notna().sum())


@dataclass
class DedupeResult:
    """Pairs of accounts that look like one company (nothing is merged)."""

    dedupe_id: int
    pairs: pd.DataFrame

    @property
    def groups(self) -> int:
        d = self.pairs[self.pairs["decision"] == "duplicate"]
        return int(d["group_id"].nunique())


# -- reading the outside list -------------------------------------------------------------
def _as_mapping(mapping: str | Path | Mapping | dict[str, Any] | None) -> Mapping:
    if mapping is None:
        return Mapping()
    if isinstance(mapping, Mapping):
        return mapping
    if isinstance(mapping, dict):
        return Mapping.from_dict(mapping)
    return read_mapping(mapping)


def _read_frame(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError(f"file {path} does not exist", hint="check the path of the list")
    name = path.name.lower()
    try:
        if name.endswith((".xlsx", ".xlsm")):
            return pd.read_excel(path, dtype=str).fillna("")
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path).astype("string").fillna("").astype(str)
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                head = path.open(encoding=encoding).read(20000)
            except UnicodeDecodeError:
                continue
            try:
                sep = csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
            except csv.Error:  # one column, or nothing to tell by
                sep = ","
            return pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep,
                               encoding=encoding)
    except Exception as exc:
        raise InputError(f"cannot read {path}: {type(exc).__name__}: {exc}",
                         hint="give a CSV, Excel or Parquet file with a header row") from None
    raise InputError(f"cannot decode {path}", hint="save it as UTF-8")  # pragma: no cover


def read_company_list(file: str | Path, mapping: str | Path | Mapping | dict[str, Any] | None
                      = None) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """The raw list, its matching columns under contract names, and header per column.

    Headers are found as the loader finds them: the mapping's ``[columns]`` first, then
    a header with the column's (normalised) name.  ``name`` is required.
    """
    path = Path(file)
    m = _as_mapping(mapping)
    raw = _read_frame(path)
    headers = list(raw.columns)
    found: dict[str, str] = {}
    for col in _MATCH_COLS:
        want = m.spec(col).source or col
        hits = [h for h in headers if h == want] or [
            h for h in headers if normalize_name(h) == normalize_name(want)]
        if hits:
            found[col] = hits[0]
    if "name" not in found:
        raise InputError(
            f"{path}: no company-name column; the file has: {', '.join(map(str, headers))}",
            hint='name it in a mapping file: [columns] name = "<header>" (and city, country, '
            "domain, registration_number when present), then pass --mapping",
        )
    rows = pd.DataFrame({c: raw[h].replace("", None) for c, h in found.items()})
    rows["account_id"] = [f"row{i + 1}" for i in range(len(raw))]
    return raw, rows, found


def _accounts(ws: Workspace) -> pd.DataFrame:
    if not ws.has_table("accounts"):
        raise WorkspaceError("the workspace has no accounts to link to",
                             hint="load them first: growthmap load accounts FILE")
    have = {r[0] for r in ws.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = 'accounts'").fetchall()}
    cols = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in _MATCH_COLS if c in have)
    return ws.con.execute(f"SELECT {cols} FROM main.accounts").df()


def _link_config(config: Config | LinkConfig | None) -> LinkConfig:
    if config is None:
        return LinkConfig()
    return config.link if isinstance(config, Config) else config


# -- link ------------------------------------------------------------------------------
def link_companies(ws: Workspace, file: str | Path, *,
                   config: Config | LinkConfig | None = None,
                   mapping: str | Path | Mapping | dict[str, Any] | None = None,
                   threshold: float | None = None, apply: bool = False,
                   seed: int = 0) -> LinkResult:
    """Match an outside company list to the accounts and record every decision.

    Writes one row per company of ``file`` to ``gm.link_matches``.  With ``apply``,
    the companies decided ``new`` are added to accounts as prospects through the
    loader (``mode="upsert"``): ids from the list when they are free, else
    ``<id_prefix><link_id>-<row>``.  Companies for review are neither matched nor added.
    """
    cfg = _link_config(config)
    thr = cfg.threshold if threshold is None else threshold
    if not 0 < thr < 1:
        raise InputError(f"threshold {thr} is not a probability between 0 and 1",
                         hint="pass e.g. --threshold 0.9")
    raw, rows, found = read_company_list(file, mapping)
    accounts = _accounts(ws)
    decisions = match_lists(accounts, rows, threshold=thr,
                            review_threshold=min(cfg.review_threshold, thr),
                            exact_keys=cfg.exact_keys, seed=seed)
    ws.con.execute(_MATCH_DDL)
    (link_id,) = ws.con.execute(
        "SELECT coalesce(max(link_id), 0) + 1 FROM gm.link_matches").fetchone()
    names = dict(zip(accounts["account_id"].astype(str), accounts.get("name", pd.Series(
        dtype=str)), strict=False))
    src_id = raw[found["account_id"]].astype(str) if "account_id" in found else None
    out = pd.DataFrame({
        "link_id": int(link_id),
        "file": str(file),
        "row_number": range(1, len(raw) + 1),
        "source_id": src_id.to_numpy() if src_id is not None else rows["account_id"].to_numpy(),
        "source_name": rows["name"].to_numpy(),
        "source_city": rows["city"].to_numpy() if "city" in rows else None,
        "source_country": rows["country"].to_numpy() if "country" in rows else None,
        "account_id": decisions["account_id"].to_numpy(),
        "account_name": decisions["candidate_id"].map(names).to_numpy(),
        **{c: decisions[c].to_numpy() for c in (
            "method", "score", "match_weight", "agreed", "disagreed", "decision", "reason",
            "candidate_id", "runner_up_id", "runner_up_score")},
        "new_account_id": None,
        "created_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
    })
    out["new_account_id"] = out["new_account_id"].astype(object)
    report = None
    if apply:
        report = _add_prospects(ws, raw, out, found, _as_mapping(mapping), cfg, int(link_id),
                                set(accounts["account_id"].astype(str)))
    ws.con.register("gm_link_out", out)
    try:
        ws.con.execute("INSERT INTO gm.link_matches BY NAME SELECT * FROM gm_link_out")
    finally:
        ws.con.unregister("gm_link_out")
    counts = out["decision"].value_counts().to_dict()
    return LinkResult(int(link_id), str(file), out, report,
                      {d: int(counts.get(d, 0)) for d in ("match", "review", "new")})


def _add_prospects(ws: Workspace, raw: pd.DataFrame, out: pd.DataFrame, found: dict[str, str],
                   mapping: Mapping, cfg: LinkConfig, link_id: int, existing: set[str]
                   ) -> LoadReport | None:
    new = out["decision"].to_numpy() == "new"
    if not new.any():
        return None
    id_header = found.get("account_id", "account_id")
    ids = []
    for i, (is_new, sid) in enumerate(zip(new, out["source_id"], strict=True)):
        if not is_new:
            continue
        own = str(sid).strip() if "account_id" in found else ""
        ids.append(own if own and own not in existing and own not in ids
                   else f"{cfg.id_prefix}{link_id}-{i + 1}")
    rows = raw.loc[new].copy()
    rows[id_header] = ids
    m = mapping.merge({"table": "accounts", "columns": {"account_id": id_header}})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"link_{link_id}_{Path(str(out['file'].iloc[0])).stem}.csv"
        rows.to_csv(path, index=False)
        report = load_table(ws, "accounts", path, mapping=m, mode="upsert")
    loaded = {r[0] for r in ws.con.execute(
        "SELECT account_id FROM main.accounts WHERE account_id IN (SELECT unnest(?))",
        [ids]).fetchall()}
    out.loc[new, "new_account_id"] = [i if i in loaded else None for i in ids]
    return report


# -- dedupe ----------------------------------------------------------------------------
def _groups(pairs: pd.DataFrame) -> dict[str, str]:
    """Union-find over duplicate pairs: account -> smallest account id of its group."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(pairs["account_id_l"], pairs["account_id_r"], strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


def dedupe_accounts(ws: Workspace, *, config: Config | LinkConfig | None = None,
                    seed: int = 0) -> DedupeResult:
    """List pairs of accounts that look like one company in ``gm.duplicates``.

    Pairs at or above ``dedupe_threshold`` are ``duplicate`` (grouped transitively),
    those from ``review_threshold`` up are ``review``.  Exact registration numbers and
    domains count as duplicates whatever the model says.  Nothing is merged.
    """
    cfg = _link_config(config)
    accounts = _accounts(ws)
    norm = normalize_frame(accounts)
    pairs = score_pairs(norm, None, min_probability=cfg.review_threshold, seed=seed)
    exact = []
    for col, method in (("regno", "registration_number"), ("domain", "domain")):
        k = norm.dropna(subset=[col])
        j = k.merge(k, on=col, suffixes=("_l", "_r"))
        j = j[j["unique_id_l"] < j["unique_id_r"]]
        exact += [(a, b, method) for a, b in zip(j["unique_id_l"], j["unique_id_r"], strict=True)]
    pairs = pairs.assign(method="probabilistic")
    if exact:
        ex = pd.DataFrame(exact, columns=["id_l", "id_r", "method"]).assign(
            score=1.0, match_weight=None, agreed=lambda d: d["method"], disagreed="")
        pairs = pd.concat([ex, pairs], ignore_index=True)
    lo = pairs[["id_l", "id_r"]].min(axis=1)
    hi = pairs[["id_l", "id_r"]].max(axis=1)
    pairs = pairs.assign(id_l=lo, id_r=hi).drop_duplicates(["id_l", "id_r"], keep="first")
    names = dict(zip(norm["unique_id"], norm["name_raw"], strict=True))
    out = pd.DataFrame({
        "account_id_l": pairs["id_l"].astype(str), "account_id_r": pairs["id_r"].astype(str),
        "name_l": pairs["id_l"].map(names), "name_r": pairs["id_r"].map(names),
        "method": pairs["method"], "score": pairs["score"].astype(float),
        "agreed": pairs["agreed"], "disagreed": pairs["disagreed"],
        "decision": ["duplicate" if s >= cfg.dedupe_threshold else "review"
                     for s in pairs["score"]],
    }).reset_index(drop=True)
    dup = out[out["decision"] == "duplicate"]
    groups = _groups(dup)
    out["group_id"] = [groups.get(a) if d == "duplicate" else None
                       for a, d in zip(out["account_id_l"], out["decision"], strict=True)]
    ws.con.execute(_DUP_DDL)
    (dedupe_id,) = ws.con.execute(
        "SELECT coalesce(max(dedupe_id), 0) + 1 FROM gm.duplicates").fetchone()
    out.insert(0, "dedupe_id", int(dedupe_id))
    out["created_at"] = pd.Timestamp.now(tz="UTC").tz_localize(None)
    ws.con.register("gm_dup_out", out)
    try:
        ws.con.execute("INSERT INTO gm.duplicates BY NAME SELECT * FROM gm_dup_out")
    finally:
        ws.con.unregister("gm_dup_out")
    return DedupeResult(int(dedupe_id), out.sort_values(["decision", "score"],
                                                        ascending=[True, False],
                                                        ignore_index=True))
