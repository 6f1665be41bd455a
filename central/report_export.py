"""Card reports written for the card department: .xlsx (openpyxl) and CSV that Excel and WPS open cleanly.

A :class:`Table` is plain data (columns with a Chinese header and a kind, rows, a totals row), made
by :mod:`central.card_reports`; this module only writes it. Money is kept in fen (integers) up to
here and written as yuan: a number with the format ``0.00`` in a workbook, ``12.50`` in a CSV.
Files are written to a temporary name beside the target and renamed, so a failure never leaves a
half-written report under the name the user asked for.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

MONEY_FORMAT = "0.00"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
INTEGER_FORMAT = "0"
# Excel's limits on a sheet's name
SHEET_NAME_MAX = 31
SHEET_NAME_FORBIDDEN = set("[]:*?/\\")


class ColumnKind(str, enum.Enum):
    TEXT = "text"
    INTEGER = "integer"
    MONEY_FEN = "money_fen"  # the value is fen; written as yuan with two decimals
    DATE = "date"
    DATETIME = "datetime"


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # Chinese, for the card department
    kind: ColumnKind = ColumnKind.TEXT
    width: int = 14  # characters, for the workbook's column width


@dataclass
class Table:
    """A report: a title, columns, rows (dicts by column key) and a totals row (same keys, may be partial)."""

    title: str
    columns: Sequence[Column]
    rows: list[dict[str, Any]]
    totals: dict[str, Any] | None = None
    totals_label: str = "合计"
    # the key whose value names a row's cinema (for one sheet per cinema) and the column keys to total
    cinema_key: str | None = None
    sum_keys: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)  # e.g. the period and the scope, above the headers

    def split_by_cinema(self) -> list[tuple[str, Table]]:
        """One table per cinema (in order of first appearance), each with its own totals."""
        if self.cinema_key is None:
            raise ValueError("this report has no cinema column to split by")
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in self.rows:
            groups.setdefault(str(row.get(self.cinema_key) or "—"), []).append(row)
        return [
            (name, Table(self.title, self.columns, rows, sum_totals(rows, self.sum_keys), self.totals_label,
                         self.cinema_key, self.sum_keys, [*self.notes, f"影院: {name}"]))
            for name, rows in groups.items()
        ]


def sum_totals(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    return {key: sum(int(row.get(key) or 0) for row in rows) for key in keys}


def yuan(fen: int) -> Decimal:
    """Exact yuan from fen (never a float on the way: 0.1 + 0.2 is not money)."""
    return (Decimal(int(fen)) / 100).quantize(Decimal("0.01"))


class ExportError(Exception):
    """The report cannot be written where asked (one line for the operator)."""


@contextmanager
def _atomic_target(path: Path, mode: str, **open_args: Any) -> Iterator[IO[Any]]:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"{folder}: no such folder for the report")
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, mode, **open_args) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# ---- CSV ----


def _csv_cell(column: Column, value: Any) -> str:
    if value is None or value == "":
        return ""
    if column.kind is ColumnKind.MONEY_FEN:
        return f"{yuan(value):.2f}"
    if column.kind is ColumnKind.DATETIME and isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if column.kind is ColumnKind.DATE and isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    return str(value)


def write_csv(table: Table, path: Path) -> None:
    """UTF-8 with a BOM (Excel and WPS take a BOM-less file for the local code page), CRLF, one header row."""
    with _atomic_target(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([column.header for column in table.columns])
        for row in table.rows:
            writer.writerow([_csv_cell(column, row.get(column.key)) for column in table.columns])
        if table.totals is not None:
            writer.writerow(_totals_line(table, lambda column, value: _csv_cell(column, value)))


def _totals_line(table: Table, cell: Callable[[Column, Any], Any]) -> list[Any]:
    assert table.totals is not None
    line: list[Any] = []
    for index, column in enumerate(table.columns):
        if column.key in table.totals:
            line.append(cell(column, table.totals[column.key]))
        else:
            line.append(table.totals_label if index == 0 else None)
    return line


# ---- xlsx ----


def sheet_name(name: str, taken: set[str]) -> str:
    """A valid, unique sheet name: Excel forbids []:*?/\\ and more than 31 characters."""
    clean = "".join("_" if ch in SHEET_NAME_FORBIDDEN else ch for ch in name).strip("'") or "Sheet"
    candidate = clean[:SHEET_NAME_MAX]
    number = 2
    while candidate.lower() in {t.lower() for t in taken}:
        suffix = f" ({number})"
        candidate = clean[: SHEET_NAME_MAX - len(suffix)] + suffix
        number += 1
    taken.add(candidate)
    return candidate


def _xlsx_value(column: Column, value: Any) -> Any:
    if value is None or value == "":
        return None
    if column.kind is ColumnKind.MONEY_FEN:
        return yuan(value)
    if column.kind is ColumnKind.INTEGER:
        return int(value)
    return value


def _fill_sheet(sheet: Any, table: Table) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    sheet.append([table.title])
    sheet.cell(row=1, column=1).font = bold
    for note in table.notes:
        sheet.append([note])
    header_row = sheet.max_row + 1
    sheet.append([column.header for column in table.columns])
    for cell in sheet[header_row]:
        cell.font = bold
    formats = {
        ColumnKind.MONEY_FEN: MONEY_FORMAT,
        ColumnKind.DATE: DATE_FORMAT,
        ColumnKind.DATETIME: DATETIME_FORMAT,
        ColumnKind.INTEGER: INTEGER_FORMAT,
    }
    lines = [[_xlsx_value(c, row.get(c.key)) for c in table.columns] for row in table.rows]
    if table.totals is not None:
        lines.append(_totals_line(table, _xlsx_value))
    for line in lines:
        sheet.append(line)
        for index, column in enumerate(table.columns, start=1):
            number_format = formats.get(column.kind)
            if number_format is not None:
                sheet.cell(row=sheet.max_row, column=index).number_format = number_format
    if table.totals is not None:
        for cell in sheet[sheet.max_row]:
            cell.font = bold
    for index, column in enumerate(table.columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)


def write_xlsx(table: Table, path: Path, sheet_per_cinema: bool = False) -> None:
    """One sheet with the whole report, or (``sheet_per_cinema``) a summary sheet then one sheet per cinema."""
    from openpyxl import Workbook

    workbook = Workbook()
    first = workbook.active
    assert first is not None
    taken: set[str] = set()
    first.title = sheet_name("汇总" if sheet_per_cinema else table.title, taken)
    _fill_sheet(first, table)
    if sheet_per_cinema:
        for name, part in table.split_by_cinema():
            _fill_sheet(workbook.create_sheet(sheet_name(name, taken)), part)
    with _atomic_target(path, "wb") as out:
        workbook.save(out)


def write(table: Table, xlsx: Path | None = None, csv_path: Path | None = None,
          sheet_per_cinema: bool = False) -> list[Path]:
    """Write the asked formats; returns the files written."""
    if sheet_per_cinema and table.cinema_key is None:
        raise ExportError("this report has no cinema column: --sheet-per-cinema does not apply")
    written: list[Path] = []
    try:
        if xlsx is not None:
            write_xlsx(table, xlsx, sheet_per_cinema)
            written.append(xlsx)
        if csv_path is not None:
            write_csv(table, csv_path)
            written.append(csv_path)
    except OSError as exc:
        raise ExportError(f"cannot write the report: {exc.strerror or exc} ({exc.filename or ''})") from None
    return written
