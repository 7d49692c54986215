"""Files that are almost right: the hazards a reader checks before (or while) reading.

Each check either gives a clear :class:`~growthmap.errors.InputError` that names the
file, the line or cell and the fix, or lets the load go on faithfully with a note:

* encodings: UTF-16 without a byte-order mark is recognised by its zero bytes; a UTF-8
  file with a few lines in a single-byte code page (one row pasted from an old system)
  is read line by line, each line in the encoding it is in, instead of garbling every
  other name by reading the whole file in the wrong one;
* size: a CSV header with more than :data:`MAX_COLUMNS` fields, or a line longer than
  :data:`MAX_LINE_BYTES`, is refused by name before it exhausts memory;
* headers: duplicate header names are noted with the name each copy is read under;
  an Excel row that repeats the header (a second header row, or a header repeated at
  each page of a report) is skipped with a note instead of loading as a record;
* Excel formulas without a saved value (a workbook written by a program, never opened
  and saved by a spreadsheet) are refused instead of becoming empty cells.
"""

from __future__ import annotations

import re
from pathlib import Path

from growthmap.errors import InputError

__all__ = ["MAX_COLUMNS", "MAX_LINE_BYTES", "check_width", "csv_error", "duplicate_notes",
           "has_formulas", "is_header_repeat", "other_sheets", "sniff_utf16", "split_encodings",
           "transcode_lines", "uncached_formulas"]

#: The most columns a file may have (a wider one is not an export of a table).
MAX_COLUMNS = 5_000
#: The longest line (bytes) a CSV row may have: DuckDB's own default, named here.
MAX_LINE_BYTES = 2_000_000


def sniff_utf16(sample: bytes) -> str | None:
    """``utf-16-le``/``-be`` for BOM-less UTF-16 text (every other byte zero), else None."""
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def split_encodings(sample: bytes) -> bool:
    """Whether a sample that is not UTF-8 as a whole is UTF-8 in most of its lines
    (with real multi-byte characters), i.e. a UTF-8 file with a few foreign lines."""
    utf8_nonascii = foreign = 0
    for line in sample.split(b"\n")[:-1]:  # the last line may be cut
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            foreign += 1
            continue
        utf8_nonascii += any(ord(ch) > 127 for ch in text)
    return foreign > 0 and utf8_nonascii > 0


def transcode_lines(src: Path, dst: Path, fallback: str = "cp1252") -> list[int]:
    """Copy ``src`` to UTF-8 ``dst`` line by line: UTF-8 lines as they are, the others
    decoded as ``fallback``; returns the (1-based) numbers of the lines converted."""
    converted = []
    with src.open("rb") as fin, dst.open("w", encoding="utf-8", newline="") as fout:
        for number, line in enumerate(fin, start=1):
            try:
                fout.write(line.decode("utf-8"))
            except UnicodeDecodeError:
                fout.write(line.decode(fallback, errors="replace"))
                converted.append(number)
    return converted


def check_width(path: Path, header: str, delimiter: str | None) -> None:
    """Refuse a CSV whose header has more than :data:`MAX_COLUMNS` fields."""
    delims = [delimiter] if delimiter else [",", ";", "\t", "|"]
    fields = max(header.count(d) for d in delims) + 1
    if fields > MAX_COLUMNS:
        raise InputError(
            f"{path} has {fields:,} columns in its header line, more than the "
            f"{MAX_COLUMNS:,} a table may have",
            hint="export only the columns the table needs (see `growthmap mapping suggest`), "
            "or check that the first line really is a header",
        )


def csv_error(path: Path, exc: Exception) -> InputError | None:
    """A named error for the DuckDB CSV failures that otherwise say only "CSV Error"."""
    text = str(exc)
    if "Maximum line size" in text:
        line = re.search(r"Line: (\d+)", text)
        size = re.search(r"Actual Size:\s*(\d+)", text)
        where = f"line {line.group(1)}" if line else "a line"
        big = f" ({int(size.group(1)) / 1e6:,.1f} MB)" if size else ""
        return InputError(
            f"{path}: {where} is longer than the {MAX_LINE_BYTES / 1e6:g} MB a row may "
            f"have{big}",
            hint="a cell that large is not account or invoice data: drop that column or "
            "value from the export, or check that the file really is a CSV (an unclosed "
            'quote " makes the rest of the file one cell)',
        )
    return None


def duplicate_notes(headers: list[str], read_as: list[str]) -> list[str]:
    """Notes for header names that occur more than once (``read_as``: the names used)."""
    seen: dict[str, list[str]] = {}
    for raw, name in zip(headers, read_as, strict=True):
        seen.setdefault(raw.strip().lower(), []).append(name)
    return [f"header {names[0]!r} appears {len(names)} times; the copies are read as "
            + ", ".join(repr(n) for n in names[1:]) + " (map the one you mean)"
            for names in seen.values() if len(names) > 1]


def is_header_repeat(texts: list[str | None], headers: list[str]) -> bool:
    """Whether a data row repeats the header (at least half the header, all as text)."""
    def norm(text: str) -> str:  # "Account ID" repeats "account_id"
        return re.sub(r"[\W_]+", "", text.lower())

    names = {norm(h) for h in headers}
    cells = [norm(t) for t in texts if t is not None and t.strip()]
    return len(cells) >= max(1, len(headers) // 2) and all(c and c in names for c in cells)


def uncached_formulas(path: Path, sheet_name: str, header_row: int) -> list[str]:
    """Cells (``B7``) of ``sheet_name`` holding a formula with no saved value."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    values = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        found: list[str] = []
        rows_f = book[sheet_name].iter_rows(min_row=header_row)
        rows_v = values[sheet_name].iter_rows(min_row=header_row)
        for row_f, row_v in zip(rows_f, rows_v, strict=False):
            for cf, cv in zip(row_f, row_v, strict=False):
                if isinstance(cf.value, str) and cf.value.startswith("=") and cv.value is None:
                    found.append(getattr(cf, "coordinate", "?"))
                    if len(found) >= 5:
                        return found
        return found
    finally:
        book.close()
        values.close()


def other_sheets(path: Path, sheet: str | None = None) -> str | None:
    """For an Excel file: a sentence naming the sheets besides the one read, else None."""
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return None
    import openpyxl

    try:
        names = openpyxl.load_workbook(path, read_only=True).sheetnames
    except Exception:  # unreadable: the reader says why
        return None
    read = sheet or (names[0] if names else None)
    rest = [n for n in names if n != read]
    if not rest:
        return None
    return (f"sheet {read!r} was read; the data may be on " + ", ".join(map(repr, rest[:6]))
            + " (name it with sheet = ... in the mapping's source section)")


def has_formulas(path: Path) -> bool:
    """Cheap test: whether any worksheet XML of the workbook holds a formula (``<f>``)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    with z.open(name) as fh:
                        while chunk := fh.read(1 << 20):
                            if b"<f>" in chunk or b"<f " in chunk:
                                return True
    except (zipfile.BadZipFile, OSError):
        return False
    return False
