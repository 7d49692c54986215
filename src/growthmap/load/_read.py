"""Readers: turn an export file into a DuckDB relation with a source row number.

Every reader produces the same thing — a temporary view ``__gm_src`` with the file's
columns (text for text formats, native types for Parquet/JSON) plus ``__gm_row``, the
1-based number of the record among the file's data rows — so validation is one SQL
code path whatever the format.  Lines a CSV parser cannot split into the header's
columns are not dropped: they land in ``__gm_rejects`` and are quarantined as
``malformed line``.

Readers fail with :class:`~growthmap.errors.InputError` for anything structural
(missing, empty or unreadable file) before any table is written.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import gzip
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from growthmap.errors import ConfigError, InputError
from growthmap.load import _hazards as hz
from growthmap.load._mapping import SourceOptions

__all__ = ["ROW", "Source", "detect_format", "open_source", "quote_ident", "quote_literal"]

#: Column holding the source row number in every relation the loader builds.
ROW = "__gm_row"
_SRC = "__gm_src"
_RAW = "__gm_raw"
_REJECTS = "__gm_rejects"
_EXTENSIONS = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".csv.gz": "csv", ".tsv.gz": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".json": "json", ".json.gz": "json",
    ".ndjson": "ndjson", ".jsonl": "ndjson", ".ndjson.gz": "ndjson", ".jsonl.gz": "ndjson",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
}
_SAMPLE_BYTES = 1 << 20


def quote_ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class Source:
    """An opened export: the relation to validate and what reading it found out."""

    path: Path
    format: str
    relation: str
    columns: list[tuple[str, str]]
    rejects: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> list[str]:
        return [name for name, _ in self.columns]


def detect_format(path: Path, options: SourceOptions) -> str:
    """The reader for ``path``: the mapping's ``[source].format`` or the extension."""
    if options.format:
        return options.format
    name = path.name.lower()
    for ext in sorted(_EXTENSIONS, key=len, reverse=True):
        if name.endswith(ext):
            return _EXTENSIONS[ext]
    if name.endswith(".xls"):
        raise InputError(
            f"{path}: the old binary .xls format cannot be read",
            hint="save the sheet as .xlsx or CSV and load that file",
        )
    return "duckdb"


@contextlib.contextmanager
def open_source(
    con: duckdb.DuckDBPyConnection, path: str | Path, options: SourceOptions
) -> Iterator[Source]:
    """Open ``path`` as the ``__gm_src`` view; temporary objects vanish on exit."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"input file {path} does not exist" if not path.exists()
            else f"{path} is not a file",
            hint="check the path (relative paths start from the current directory)",
        )
    if path.stat().st_size == 0:
        raise InputError(f"input file {path} is empty", hint="export the data again")
    fmt = detect_format(path, options)
    tmpdir = Path(tempfile.mkdtemp(prefix="growthmap-load-"))
    try:
        _drop(con)
        reader = {"csv": _read_csv, "parquet": _read_parquet, "xlsx": _read_xlsx}.get(
            fmt, _read_other)
        source = reader(con, path, fmt, options, tmpdir)
        source.columns = [
            (str(r[0]), str(r[1]))
            for r in con.execute(f"DESCRIBE SELECT * FROM {_SRC}").fetchall()
            if r[0] != ROW
        ]
        yield source
    finally:
        with contextlib.suppress(duckdb.Error):
            _drop(con)
        with contextlib.suppress(duckdb.Error):
            con.unregister("__gm_arrow")
        shutil.rmtree(tmpdir, ignore_errors=True)


def _drop(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP VIEW IF EXISTS {_SRC}")
    for name in (_RAW, _REJECTS, "__gm_rej_errors", "__gm_rej_scans"):
        con.execute(f"DROP TABLE IF EXISTS {name}")


def _unreadable(path: Path, fmt: str, exc: Exception) -> InputError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(
        f"cannot read {path} as {fmt}: {first}",
        hint="check that the file is a complete, uncorrupted export, or set [source].format "
        "in a mapping file (csv, parquet, json, ndjson, xlsx)",
    )


def _numbered_from_raw(con: duckdb.DuckDBPyConnection) -> None:
    """Number ``__gm_raw`` rows in file order (insertion order is preserved)."""
    con.execute(
        f"CREATE TEMP VIEW {_SRC} AS SELECT rowid - (SELECT min(rowid) FROM {_RAW}) + 1 "
        f"AS {ROW}, * FROM {_RAW}"
    )


# -- CSV ---------------------------------------------------------------------------
def _encoding(path: Path, options: SourceOptions) -> tuple[str, str | None]:
    """(codec name, note): the mapping's encoding, else UTF-8 unless the bytes say no."""
    if options.encoding:
        try:
            return codecs.lookup(options.encoding).name, None
        except LookupError:
            raise ConfigError(
                f"mapping: [source].encoding = {options.encoding!r} is not an encoding",
                hint="use e.g. utf-8, cp1252, latin-1 or utf-16",
            ) from None
    if path.name.lower().endswith(".gz"):
        return "utf-8", None
    with path.open("rb") as fh:
        sample = fh.read(_SAMPLE_BYTES)
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", None
    if utf16 := hz.sniff_utf16(sample):  # before UTF-8: its zero bytes are valid UTF-8
        return utf16, f"the file is UTF-16 without a byte-order mark; read as {utf16}"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8", None
    except UnicodeDecodeError:
        pass
    if hz.split_encodings(sample):
        return "utf-8-mixed", None
    try:
        sample.decode("cp1252")
        guess = "cp1252"
    except UnicodeDecodeError:
        guess = "latin-1"
    return guess, (
        f"the file is not UTF-8; it was read as {guess} (set [source].encoding to change)"
    )


def _transcode(path: Path, encoding: str, tmpdir: Path) -> Path:
    """A UTF-8 copy of ``path``: DuckDB's own CSV reader only decodes UTF-8 offline."""
    target = tmpdir / (path.stem + ".utf8.csv")
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding=encoding, newline="") as src, target.open(
            "w", encoding="utf-8", newline=""
        ) as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    except UnicodeError as exc:
        raise InputError(
            f"{path} is not valid {encoding} text: {exc}",
            hint="set [source].encoding in a mapping file to the file's encoding "
            "(e.g. utf-8, cp1252, latin-1, utf-16)",
        ) from None
    return target


def _csv_sql(path: Path, options: SourceOptions, delim: str | None) -> str:
    args = [
        quote_literal(str(path)),
        "all_varchar = true",
        "header = true",
        "store_rejects = true",
        "rejects_table = '__gm_rej_errors'",
        "rejects_scan = '__gm_rej_scans'",
    ]
    if delim:
        args.append(f"delim = {quote_literal(delim)}")
    if options.header_row > 1:
        args.append(f"skip = {options.header_row - 1}")
    return f"SELECT * FROM read_csv({', '.join(args)})"


def _header_line(path: Path, options: SourceOptions) -> str:
    """The header line (at most a little over the longest line allowed)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        lines = [fh.readline(hz.MAX_LINE_BYTES + 1) for _ in range(options.header_row)]
    return lines[-1].rstrip("\r\n") if lines else ""


def _header_delimiter(path: Path, options: SourceOptions) -> str | None:
    """The likeliest delimiter of the header line, for when DuckDB's sniffer gives up."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        lines = [fh.readline() for _ in range(options.header_row)]
    header = lines[-1] if lines else ""
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else None


def _read_csv(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, options: SourceOptions, tmpdir: Path
) -> Source:
    encoding, note = _encoding(path, options)
    if encoding == "utf-8-mixed":  # each line in its own encoding, not all garbled
        read_path = tmpdir / (path.stem + ".utf8.csv")
        lines = hz.transcode_lines(path, read_path)
        note = (f"{len(lines):,} line(s) of this UTF-8 file are not UTF-8 (line "
                f"{', '.join(map(str, lines[:5]))}{' ...' if len(lines) > 5 else ''}); they "
                "were read as cp1252, every other line as UTF-8")
    else:
        read_path = path if encoding in ("utf-8", "utf-8-sig") else _transcode(
            path, encoding, tmpdir)
    delim = options.delimiter
    if delim == "\\t":
        delim = "\t"
    header = _header_line(read_path, options)
    hz.check_width(path, header, delim)
    try:
        con.execute(f"CREATE TEMP TABLE {_RAW} AS {_csv_sql(read_path, options, delim)}")
        ncols = len(con.execute(f"DESCRIBE {_RAW}").fetchall())
        if ncols == 1 and delim is None and (guess := _header_delimiter(read_path, options)):
            _drop(con)
            con.execute(f"CREATE TEMP TABLE {_RAW} AS {_csv_sql(read_path, options, guess)}")
    except duckdb.Error as exc:
        raise (hz.csv_error(path, exc) or _unreadable(path, "CSV", exc)) from None
    header_line = options.header_row
    con.execute(
        f"CREATE TEMP TABLE {_REJECTS} AS SELECT line - {header_line} AS row_number, "
        "string_agg(DISTINCT error_type || ': ' || error_message, '; ') AS message, "
        "any_value(csv_line) AS line FROM __gm_rej_errors GROUP BY line"
    )
    n_rejected = con.execute(f"SELECT count(*) FROM {_REJECTS}").fetchone()[0]
    if not n_rejected:
        _numbered_from_raw(con)
    else:
        # Good rows fill the record numbers the rejected lines leave free: good row g
        # gets g + #{rejected j : r_j - j < g} (r sorted, j 1-based), done with ASOF.
        con.execute(
            f"CREATE TEMP VIEW {_SRC} AS "
            f"WITH g AS (SELECT rowid - (SELECT min(rowid) FROM {_RAW}) + 1 AS __g, * "
            f"FROM {_RAW}), "
            f"r AS (SELECT row_number - row_number() OVER (ORDER BY row_number) AS t, "
            f"row_number() OVER (ORDER BY row_number) AS j FROM {_REJECTS}), "
            "th AS (SELECT t, max(j) AS j FROM r GROUP BY t) "
            f"SELECT g.__g + coalesce(th.j, 0) AS {ROW}, g.* EXCLUDE (__g) "
            "FROM g ASOF LEFT JOIN th ON g.__g > th.t"
        )
    source = Source(path, "csv", _SRC, [], rejects=_REJECTS if n_rejected else None)
    if note:
        source.notes.append(note)
    names = [r[0] for r in con.execute(f"DESCRIBE {_RAW}").fetchall()]
    sep = delim or _header_delimiter(read_path, options) or ","
    raw = next(csv.reader([header], delimiter=sep), [])
    if len(raw) == len(names):
        source.notes += hz.duplicate_notes(raw, names)
    return source


# -- Parquet, JSON and whatever DuckDB reads ----------------------------------------
def _read_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, options: SourceOptions, tmpdir: Path
) -> Source:
    """A view straight over the file: typed columns are validated without a text copy."""
    try:
        names = [r[0] for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet({quote_literal(str(path))})").fetchall()]
        rn = "file_row_number"
        exclude = f" EXCLUDE ({rn})" if rn not in names else ""
        if rn in names:  # the file has its own column of that name: number by rowid instead
            con.execute(f"CREATE TEMP TABLE {_RAW} AS SELECT * FROM read_parquet("
                        f"{quote_literal(str(path))})")
            _numbered_from_raw(con)
        else:
            con.execute(
                f"CREATE TEMP VIEW {_SRC} AS SELECT {rn} + 1 AS {ROW}, *{exclude} "
                f"FROM read_parquet({quote_literal(str(path))}, file_row_number = true)"
            )
    except duckdb.Error as exc:
        raise _unreadable(path, "Parquet", exc) from None
    return Source(path, "parquet", _SRC, [])


def _read_other(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, options: SourceOptions, tmpdir: Path
) -> Source:
    lit = quote_literal(str(path))
    sql = {
        "json": f"SELECT * FROM read_json({lit}, format = 'auto')",
        "ndjson": f"SELECT * FROM read_json({lit}, format = 'newline_delimited')",
    }.get(fmt, f"SELECT * FROM {lit}")
    try:
        con.execute(f"CREATE TEMP TABLE {_RAW} AS {sql}")
    except duckdb.Error as exc:
        raise _unreadable(path, fmt if fmt != "duckdb" else "a DuckDB-readable file", exc) \
            from None
    _numbered_from_raw(con)
    return Source(path, fmt, _SRC, [])


# -- Excel --------------------------------------------------------------------------
def _cell_text(value: object) -> str | None:
    """A cell as the text a CSV export of it would hold (dates ISO, 12.0 -> 12)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _read_xlsx(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, options: SourceOptions, tmpdir: Path
) -> Source:
    """openpyxl, not DuckDB's excel extension, which may not be installable offline."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/ValueError variants
        raise _unreadable(path, "an Excel workbook", exc) from None
    try:
        if options.sheet is not None and options.sheet not in book.sheetnames:
            raise InputError(
                f"{path} has no sheet {options.sheet!r}",
                hint=f"set [source].sheet to one of: {', '.join(book.sheetnames)}",
            )
        sheet = book[options.sheet] if options.sheet else book.worksheets[0]
        notes = []
        if not options.sheet and len(book.sheetnames) > 1:
            notes.append(f"read sheet {sheet.title!r}; the workbook also has "
                         + ", ".join(repr(n) for n in book.sheetnames[1:6])
                         + " (name another with sheet = ... in the mapping's source section)")
        if hz.has_formulas(path) and (cells := hz.uncached_formulas(
                path, sheet.title, options.header_row)):
            raise InputError(
                f"sheet {sheet.title!r} of {path} has formulas without a saved value "
                f"(cells {', '.join(cells)}{' ...' if len(cells) >= 5 else ''}); they would "
                "load as empty cells",
                hint="open the workbook in a spreadsheet and save it (that stores every "
                "formula's value), or export the sheet as CSV")
        rows = sheet.iter_rows(min_row=options.header_row, values_only=True)
        header_cells = next(rows, None)
        if header_cells is None:
            raise InputError(f"sheet {sheet.title!r} of {path} is empty",
                             hint="point [source].sheet / header_row at the data")
        headers: list[str] = []
        raw = [_cell_text(cell) or f"column{i}" for i, cell in enumerate(header_cells, start=1)]
        for name in raw:
            base, n = name, 2
            while name.lower() in {h.lower() for h in headers}:
                name, n = f"{base}_{n}", n + 1
            headers.append(name)
        notes += hz.duplicate_notes(raw, headers)
        repeats: list[int] = []
        width = len(headers)
        data: list[list[str | None]] = [[] for _ in range(width)]
        numbers: list[int] = []
        for number, cells in enumerate(rows, start=1):
            texts = [_cell_text(c) for c in cells[:width]]
            if not any(t is not None and t.strip() for t in texts):
                continue  # blank spreadsheet rows are layout, not records
            if hz.is_header_repeat(texts, raw):
                repeats.append(number + options.header_row)
                continue  # a second header row, or the header repeated on each page
            texts += [None] * (width - len(texts))
            for col, text in zip(data, texts, strict=True):
                col.append(text)
            numbers.append(number)
    finally:
        book.close()
    arrow = pa.table(
        {ROW: pa.array(numbers, pa.int64()),
         **{f"c{i}": pa.array(col, pa.string()) for i, col in enumerate(data)}}
    )
    con.register("__gm_arrow", arrow)
    select = ", ".join([ROW] + [f"c{i} AS {quote_ident(h)}" for i, h in enumerate(headers)])
    con.execute(f"CREATE TEMP TABLE {_RAW} AS SELECT {select} FROM __gm_arrow")
    con.unregister("__gm_arrow")
    con.execute(f"CREATE TEMP VIEW {_SRC} AS SELECT * FROM {_RAW}")
    if repeats:
        notes.append(f"sheet row(s) {', '.join(map(str, repeats[:5]))} repeat the header and "
                     "were skipped (not records)")
    return Source(path, "xlsx", _SRC, [], notes=notes)
