"""Propose a mapping file from an export's header and a sample of its values.

Writing a mapping by hand means reading the contract and the export side by side.
:func:`suggest_mapping` does the first pass: every header is compared with each
contract column's name, its synonyms and the headers the shipped presets use
(fuzzy, with rapidfuzz), and the guess is weighed by whether the sample values fit
the column's type (dates parse as dates, amounts as numbers).  One header goes to at
most one column, strongest match first (maximising the sum instead would trade one
sure match for two weak ones).  Each guess
keeps the sample values it was based on, so the rendered TOML can show them beside
the line for the user to review — nothing is loaded from a suggestion unchecked.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz

from growthmap.contract.inputs import Column, Table, table
from growthmap.errors import InputError
from growthmap.load import Mapping, normalize_name

__all__ = ["MIN_CONFIDENCE", "SYNONYMS", "Guess", "Suggestion", "suggest_mapping"]

#: Guesses below this confidence are not proposed (the header stays unmapped).
MIN_CONFIDENCE = 0.75
#: A rival header within this much confidence of the chosen one makes a required
#: column ambiguous: ``load`` asks instead of guessing.
AMBIGUITY = 0.03
_SAMPLE_ROWS = 500
_SHOWN_SAMPLES = 3

#: Other names exports use for a contract column (any table), besides presets' headers.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "account_id": ("customer id", "customer no", "customer number", "client id", "client no",
                   "account number", "account no", "company id", "debtor no", "sold to",
                   "kundennummer", "kundennr", "customer code", "cust id", "custid",
                   "reseller key", "record id"),
    "name": ("company", "company name", "customer name", "account name", "client name",
             "organisation", "organization", "firm"),
    "industry": ("sector", "vertical", "branch", "naics description", "sic description"),
    "country": ("country code", "country region", "nation", "land", "billing country"),
    "region": ("state", "province", "state province", "county", "area"),
    "city": ("town", "billing city", "locality", "ort"),
    "lat": ("latitude",),
    "lon": ("longitude", "lng", "long"),
    "employees": ("number of employees", "employee count", "headcount", "staff", "fte",
                  "no of employees", "employees total"),
    "annual_revenue": ("revenue", "annual sales", "turnover", "sales volume", "company revenue"),
    "parent_id": ("parent", "parent account", "parent company", "subsidiary of", "group id"),
    "territory_id": ("territory", "sales territory", "territory code", "district"),
    "owner_rep_id": ("owner", "account owner", "sales rep", "salesperson", "rep", "sales agent",
                     "account manager", "kam"),
    "domain": ("website", "web site", "url", "homepage", "web domain", "company domain"),
    "registration_number": ("vat number", "vat id", "company number", "registration no",
                            "duns", "tax id", "ein", "siren", "handelsregister"),
    "line_id": ("invoice line id", "line id", "line no", "row id", "entry no"),
    "date": ("invoice date", "posting date", "order date", "document date", "booking date",
             "transaction date", "close date", "belegdatum"),
    "product_id": ("item no", "item number", "item id", "sku", "article", "article no",
                   "material", "product code", "product key", "product", "part number",
                   "artikel nr", "artikelnummer", "artikel", "stock code", "item code",
                   "product number", "sku code"),
    "amount": ("net amount", "line amount", "sales amount", "revenue", "total price", "value",
               "net sales", "turnover", "nettobetrag", "extended amount", "close value"),
    "quantity": ("qty", "units", "order quantity", "menge"),
    "cost": ("cost amount", "cogs", "cost of goods", "total cost", "product cost"),
    "currency": ("currency code", "curr", "ccy", "waehrung"),
    "doc_type": ("document type", "doc type", "invoice type", "belegart", "type"),
    "family": ("category", "product family", "product line", "item category", "series",
               "product group", "category name"),
    "lifecycle_stage": ("life cycle stage", "lifecycle", "plc stage"),
    "list_price": ("price", "unit price", "list price", "sales price", "msrp"),
    "opportunity_id": ("deal id", "opportunity", "opp id", "record id"),
    "created": ("created date", "create date", "engage date", "open date"),
    "closed": ("close date", "closed date", "won date"),
    "stage": ("deal stage", "opportunity stage", "status", "pipeline stage", "stage name"),
    "won": ("is won", "won flag", "closed won"),
    "rep_id": ("employee id", "salesperson id", "sales agent", "user id", "owner id"),
    "role": ("title", "job title", "position"),
    "manager_id": ("manager", "reports to", "supervisor"),
    "capacity_hours": ("hours", "capacity", "selling hours"),
    "loaded_cost": ("cost", "salary", "fully loaded cost"),
    "criterion": ("question", "attribute", "criterion name"),
    "score": ("answer", "rating", "value"),
    "kind": ("signal", "event type", "type"),
    "contact_id": ("person id", "contact", "email"),
    "competitor": ("competitor name", "vendor", "supplier"),
    "share": ("share of wallet", "competitor share", "percent"),
    "potential": ("wallet", "spend", "potential spend"),
    "rate": ("exchange rate", "fx rate"),
}

#: Extra names that only make sense for one table's column.
_TABLE_SYNONYMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("products", "name"): ("product name", "description", "item description", "item name",
                           "article name", "english product name"),
    ("reps", "name"): ("sales agent", "employee name", "full name", "salesperson"),
    ("territories", "name"): ("territory", "territory name", "territory description"),
    ("territories", "region"): ("region description", "sales region", "group"),
    # on an invoice line a bare "Customer" or "Account" is who bought: the key, not a name
    ("transactions", "account_id"): ("account", "customer", "client", "customer key",
                                     "account key", "buyer", "sold to party"),
    ("opportunities", "account_id"): ("account", "customer", "client"),
}

#: Export values that mean one of a column's allowed values (recoded with ``values``).
_VALUE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "invoice": ("inv", "invoice", "bill", "rechnung", "re", "sales invoice", "posted invoice"),
    "credit_note": ("credit memo", "credit note", "cn", "crn", "cm", "gutschrift", "gs",
                    "credit", "return"),
    "decision_maker": ("decision maker", "economic buyer", "dm"),
    "procurement": ("purchasing", "buyer", "procurement"),
}
_TRUE = {"true", "t", "yes", "y", "1", "won", "x"}
_FALSE = {"false", "f", "no", "n", "0", "lost", ""}
_NUMBER = re.compile(r"^[-+(]?[$€£¥]?\s*\d[\d\s.,'’]*\)?\s*[%$€£¥]?$")


@dataclass(frozen=True)
class Guess:
    """One proposed ``column = "header"`` line and what it was based on.

    ``confidence`` (0-1) combines how alike the names are (``name_score``) and how
    well the sample values fit the column's type (``value_fit``); ``via`` is the name
    the header matched (the column's own name, a synonym or a preset's header).
    """

    column: str
    header: str
    confidence: float
    name_score: float
    value_fit: float
    via: str
    samples: tuple[str, ...]
    values: dict[str, str] = field(default_factory=dict)

    def to_value(self) -> str:
        """The right-hand side of this guess's line in the mapping file."""
        if not self.values:
            return _q(self.header)
        pairs = ", ".join(f"{_q(k)} = {_q(v)}" for k, v in self.values.items())
        return f"{{ from = {_q(self.header)}, values = {{ {pairs} }} }}"


@dataclass
class Suggestion:
    """A proposed mapping for one file and table, for a person to review."""

    table: str
    file: Path
    headers: list[str]
    guesses: dict[str, Guess] = field(default_factory=dict)
    unmatched_headers: list[str] = field(default_factory=list)
    missing_required: list[str] = field(default_factory=list)
    ambiguous: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def mapping(self, min_confidence: float = MIN_CONFIDENCE) -> Mapping:
        """The suggestion as a :class:`~growthmap.load.Mapping` (guesses above the bar)."""
        cols = {g.column: ({"from": g.header, "values": g.values} if g.values else g.header)
                for g in self.guesses.values() if g.confidence >= min_confidence}
        return Mapping.from_dict({"table": self.table, "columns": cols},
                                 origin=f"suggestion for {self.file.name}")

    def to_toml(self) -> str:
        """The mapping file to review: each line carries its confidence and samples."""
        lines = [
            f"# Mapping suggested by `growthmap mapping suggest` from {self.file.name}.",
            "# Review every line before loading: the confidence (0-1) says how alike the",
            "# names are and how well the sample values fit the column's type.",
            f'table = {_q(self.table)}',
            "",
            "[columns]",
        ]
        contract = table(self.table)
        for col in contract.columns:
            g = self.guesses.get(col.name)
            if g is None:
                if col.required:
                    lines.append(f'# {col.name} = "<header in the file>"   '
                                 "# REQUIRED: no header looked like it")
                continue
            shown = ", ".join(_q(s) for s in g.samples) or (
                f'computed ({g.via})' if g.via.startswith("quantity") else
                "no values in the sample")
            lines.append(f"{col.name} = {g.to_value()}   # {g.confidence:.2f}, "
                         + (shown if shown.startswith("computed") else f"e.g. {shown}"))
        if self.unmatched_headers:
            lines += ["", "# Headers not mapped"
                      + (" (kept as extra account attributes):" if contract.extra_columns
                         else " (dropped on load):")]
            lines += [f"#   {_q(h)}" for h in self.unmatched_headers]
        return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML escapes)."""
    return json.dumps(str(text), ensure_ascii=False)


# -- reading a sample ----------------------------------------------------------------
def _read_sample(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError(f"file {path} does not exist", hint="check the path")
    name = path.name.lower()
    try:
        if name.endswith((".xlsx", ".xlsm")):
            return pd.read_excel(path, dtype=str, nrows=_SAMPLE_ROWS).fillna("")
        if name.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            batch = next(pf.iter_batches(batch_size=_SAMPLE_ROWS), None)
            if batch is None:
                return pd.DataFrame(columns=pf.schema_arrow.names)
            return batch.to_pandas().astype(str).replace({"None": "", "nan": "", "NaT": ""})
        if name.endswith((".ndjson", ".jsonl", ".json")):
            lines = not name.endswith(".json")
            return pd.read_json(path, lines=lines, dtype=False).head(_SAMPLE_ROWS).astype(str)
        return _read_csv_sample(path)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read {path}: {type(exc).__name__}: {exc}",
                         hint="suggest reads CSV, Excel, Parquet and JSON files") from None


def _read_csv_sample(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()[: 1 << 20]
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 decodes almost anything
        raise InputError(f"cannot decode {path}", hint="save it as UTF-8")
    if len(raw) == (1 << 20):
        text = text.rsplit("\n", 1)[0]
    if not text.strip():
        raise InputError(f"{path} is empty", hint="export the file again with a header row")
    try:
        delimiter = csv.Sniffer().sniff(text[:20000], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    return pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                       nrows=_SAMPLE_ROWS, on_bad_lines="skip")


# -- scoring -------------------------------------------------------------------------
def _words(name: str) -> str:
    """``"CustomerID"`` / ``"customer_id"`` / ``"Customer ID"`` -> ``"customer id"``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", str(name))
    return normalize_name(spaced).replace("_", " ")


def _preset_headers(table_name: str) -> dict[str, set[str]]:
    from growthmap.load.presets import list_presets, preset_mapping

    out: dict[str, set[str]] = {}
    for p in list_presets():
        if table_name in p.tables:
            for col, spec in preset_mapping(p.name, table_name).columns.items():
                if spec.source:
                    out.setdefault(col, set()).add(spec.source)
    return out


def _names_for(t: Table, col: Column, presets: dict[str, set[str]]) -> list[str]:
    names = [col.name, *SYNONYMS.get(col.name, ()), *_TABLE_SYNONYMS.get((t.name, col.name), ())]
    names += sorted(presets.get(col.name, ()))
    seen: dict[str, str] = {}
    for n in names:
        seen.setdefault(_words(n), n)
    return list(seen.values())


def _name_score(header: str, names: list[str]) -> tuple[float, str]:
    h = _words(header)
    best, via = 0.0, names[0]
    for i, n in enumerate(names):
        w = _words(n)
        if h == w:  # earlier synonyms are the more usual names: they win ties
            s = 1.0 if i == 0 else 0.97 - 0.001 * i
        elif h.endswith(" " + w):  # "reseller name", "total product cost"
            s = 0.85
        elif set(h.split()) < set(w.split()):  # "description" is not "sic description"
            s = 0.6
        else:
            s = max(fuzz.ratio(h, w), fuzz.token_sort_ratio(h, w)) / 100 * 0.95
        if s > best:
            best, via = s, n
    return best, via


def _value_fit(col: Column, values: pd.Series) -> float:
    """Share of the non-empty sample values that read as the column's type (1 when none)."""
    v = values.astype(str).str.strip()
    v = v[v != ""]
    if v.empty:
        return 0.5
    if col.allowed:
        return float(v.map(lambda x: _recode(col, x) is not None).mean())
    if col.dtype in ("int", "float"):
        ok = v.str.match(_NUMBER)
        if ok.any() and (col.min is not None or col.max is not None):
            num = pd.to_numeric(v.str.replace(",", "", regex=False), errors="coerce")
            lo = -np.inf if col.min is None else col.min
            hi = np.inf if col.max is None else col.max
            ok &= num.between(lo, hi) | num.isna()
        return float(ok.mean())
    if col.dtype == "date":
        looks = v.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{8}|^\d{5}$", regex=True)
        parsed = pd.to_datetime(v.where(looks), errors="coerce", format="mixed")
        return float(parsed.notna().mean())
    if col.dtype == "bool":
        return float(v.str.lower().isin(_TRUE | _FALSE).mean())
    return 1.0


def _recode(col: Column, value: str) -> str | None:
    """The allowed value ``value`` stands for (``"Credit Memo"`` -> ``credit_note``)."""
    w = _words(value)
    for a in col.allowed or ():
        if w in (_words(a), *(_words(x) for x in _VALUE_SYNONYMS.get(a, ()))):
            return a
    return None


def _recodings(col: Column, values: pd.Series) -> dict[str, str]:
    """``values`` entries for the raw values that are not already the allowed spelling."""
    out = {}
    for raw in values.astype(str).str.strip().drop_duplicates():
        a = _recode(col, raw) if raw else None
        if a is not None and raw != a:
            out[raw] = a
    return out


def _samples(values: pd.Series) -> tuple[str, ...]:
    v = values.astype(str).str.strip()
    v = v[v != ""]
    return tuple(str(x)[:40] for x in v.drop_duplicates().head(_SHOWN_SAMPLES))


def suggest_mapping(file: str | Path, table_name: str,
                    min_confidence: float = MIN_CONFIDENCE) -> Suggestion:
    """Propose how ``file``'s headers map onto the contract of ``table_name``.

    Raises :class:`~growthmap.errors.InputError` when the file cannot be read and
    :class:`~growthmap.errors.ConfigError` for an unknown table.
    """
    t = table(table_name)
    path = Path(file)
    sample = _read_sample(path)
    headers = [str(h) for h in sample.columns]
    presets = _preset_headers(t.name)
    cols = list(t.columns)
    score = np.zeros((len(cols), len(headers)))
    detail: dict[tuple[int, int], tuple[float, float, str]] = {}
    for i, col in enumerate(cols):
        names = _names_for(t, col, presets)
        for j, h in enumerate(headers):
            ns, via = _name_score(h, names)
            if ns < 0.5:
                continue
            fit = _value_fit(col, sample.iloc[:, j])
            conf = ns * (0.5 + 0.5 * fit) if col.dtype != "string" or col.allowed else ns
            score[i, j] = conf
            detail[(i, j)] = (ns, fit, via)
    out = Suggestion(t.name, path, headers)
    used: set[int] = set()
    done: set[int] = set()
    for i, j in sorted(detail, key=lambda ij: (-score[ij], ij)):
        if score[i, j] < min_confidence or i in done or j in used:
            continue
        done.add(i)
        ns, fit, via = detail[(i, j)]
        out.guesses[cols[i].name] = Guess(cols[i].name, headers[j], round(float(score[i, j]), 3),
                                          round(ns, 3), round(fit, 3), via,
                                          _samples(sample.iloc[:, j]),
                                          _recodings(cols[i], sample.iloc[:, j])
                                          if cols[i].allowed else {})
        used.add(j)
    _computed_amount(t, out, headers, score, cols, used, sample, min_confidence)
    out.unmatched_headers = [h for j, h in enumerate(headers) if j not in used]
    out.missing_required = [c.name for c in cols if c.required and c.name not in out.guesses]
    for i, col in enumerate(cols):  # a required column two headers fit about equally well
        g = out.guesses.get(col.name)
        if not col.required or g is None or g.header not in headers or g.confidence >= 0.99:
            continue
        rivals = [(headers[j], round(float(score[i, j]), 3)) for j in range(len(headers))
                  if headers[j] != g.header and j not in used
                  and score[i, j] >= max(min_confidence, g.confidence - AMBIGUITY)]
        if rivals:
            out.ambiguous[col.name] = [(g.header, g.confidence), *rivals]
    return out


def _computed_amount(t: Table, out: Suggestion, headers: list[str], score: np.ndarray,
                     cols: list[Column], used: set[int], sample: pd.DataFrame,
                     min_confidence: float) -> None:
    """``amount = "Quantity * UnitPrice"`` when a file has both but no amount."""
    names = [c.name for c in cols]
    if "amount" not in names or "amount" in out.guesses:
        return
    qty = out.guesses.get("quantity")
    prices = [j for j, h in enumerate(headers) if j not in used
              and _name_score(h, ["unit price", "price", "sales price", "net price",
                                  "price per unit", "unit cost price"])[0] >= min_confidence
              and _value_fit(Column("p", "float", "a price"), sample.iloc[:, j]) >= 0.9]
    if qty is None or not prices:
        return
    j = prices[0]
    expr = f"{_ident(qty.header)} * {_ident(headers[j])}"
    conf = round(min(qty.confidence, 0.9), 3)
    out.guesses["amount"] = Guess("amount", expr, conf, conf, 1.0, "quantity x unit price",
                                  ())
    used.add(j)


def _ident(header: str) -> str:
    """A header as it appears in an expression (quoted unless a plain identifier)."""
    return header if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", header) else \
        '"' + header.replace('"', '""') + '"'
