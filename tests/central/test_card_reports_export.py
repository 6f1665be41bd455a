"""The report writers: what Excel/WPS users open (headers, values, totals, number formats, CSV BOM)."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from central.report_export import (
    Column,
    ColumnKind,
    ExportError,
    Table,
    sheet_name,
    sum_totals,
    write,
    write_csv,
    write_xlsx,
    yuan,
)

COLUMNS = [
    Column("day", "日期", ColumnKind.DATE),
    Column("cinema", "影院"),
    Column("at", "时间", ColumnKind.DATETIME),
    Column("transactions", "笔数", ColumnKind.INTEGER),
    Column("visits", "次数", ColumnKind.INTEGER),
    Column("amount_fen", "结算金额(元)", ColumnKind.MONEY_FEN),
]
ROWS = [
    {"day": dt.date(2026, 11, 30), "cinema": "人民广场店", "at": dt.datetime(2026, 11, 30, 14, 5, 9),
     "transactions": 2, "visits": 3, "amount_fen": 10},
    {"day": dt.date(2026, 11, 30), "cinema": "徐汇店", "at": dt.datetime(2026, 11, 30, 19, 0, 0),
     "transactions": 1, "visits": 2, "amount_fen": 20},
    {"day": dt.date(2026, 12, 1), "cinema": "人民广场店", "at": dt.datetime(2026, 12, 1, 9, 30, 0),
     "transactions": 1, "visits": 1, "amount_fen": 3550},
]
SUMS = ("transactions", "visits", "amount_fen")


def table() -> Table:
    rows = [dict(row) for row in ROWS]
    return Table("年票消费统计", COLUMNS, rows, sum_totals(rows, SUMS), cinema_key="cinema", sum_keys=SUMS,
                 notes=["期间: 2026-11-30 至 2026-12-01"])


def test_yuan_is_exact_decimal_money() -> None:
    assert yuan(10) + yuan(20) == Decimal("0.30")  # where floats give 0.30000000000000004
    assert str(yuan(3550)) == "35.50" and str(yuan(0)) == "0.00"


def test_the_workbook_has_chinese_headers_values_totals_and_formats(tmp_path: Path) -> None:
    target = tmp_path / "报表.xlsx"
    write_xlsx(table(), target)
    sheet = load_workbook(target).active
    assert sheet is not None
    assert sheet.title == "年票消费统计"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "年票消费统计" and rows[1][0] == "期间: 2026-11-30 至 2026-12-01"
    assert rows[2] == ("日期", "影院", "时间", "笔数", "次数", "结算金额(元)")
    assert rows[3] == (dt.datetime(2026, 11, 30), "人民广场店", dt.datetime(2026, 11, 30, 14, 5, 9), 2, 3, 0.1)
    assert rows[5][5] == 35.5
    assert rows[6] == ("合计", None, None, 4, 6, 35.8)  # the totals row sums the data rows
    money, day, moment = sheet.cell(row=4, column=6), sheet.cell(row=4, column=1), sheet.cell(row=4, column=3)
    assert money.number_format == "0.00" and sheet.cell(row=7, column=6).number_format == "0.00"
    assert day.number_format == "yyyy-mm-dd" and moment.number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet.cell(row=3, column=1).font.bold and sheet.cell(row=7, column=1).font.bold
    assert sheet.freeze_panes == "A4"  # headers stay in view while scrolling


def test_one_sheet_per_cinema_each_with_its_own_totals(tmp_path: Path) -> None:
    target = tmp_path / "by-cinema.xlsx"
    write(table(), xlsx=target, sheet_per_cinema=True)
    book = load_workbook(target)
    assert book.sheetnames == ["汇总", "人民广场店", "徐汇店"]
    people_square = list(book["人民广场店"].iter_rows(values_only=True))
    assert people_square[-1] == ("合计", None, None, 3, 4, 35.6)
    assert [row[1] for row in people_square[4:-1]] == ["人民广场店", "人民广场店"]
    assert list(book["徐汇店"].iter_rows(values_only=True))[-1] == ("合计", None, None, 1, 2, 0.2)
    assert list(book["汇总"].iter_rows(values_only=True))[-1] == ("合计", None, None, 4, 6, 35.8)


def test_the_csv_has_a_bom_chinese_headers_and_reads_back(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    write_csv(table(), target)
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel/WPS read UTF-8 only with the BOM
    assert b"\r\n" in raw
    with target.open(encoding="utf-8-sig", newline="") as source:
        rows = list(csv.reader(source))
    assert rows[0] == ["日期", "影院", "时间", "笔数", "次数", "结算金额(元)"]
    assert rows[1] == ["2026-11-30", "人民广场店", "2026-11-30 14:05:09", "2", "3", "0.10"]
    assert rows[-1] == ["合计", "", "", "4", "6", "35.80"]
    assert len(rows) == 5


def test_sheet_names_are_made_valid_and_unique() -> None:
    taken: set[str] = set()
    assert sheet_name("A/B:C", taken) == "A_B_C"
    long = "影" * 40
    first, second = sheet_name(long, taken), sheet_name(long, taken)
    assert len(first) == 31 and len(second) <= 31 and first != second


def test_a_failed_write_leaves_nothing_under_the_asked_name(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such folder"):
        write(table(), csv_path=tmp_path / "missing" / "r.csv")
    target = tmp_path / "keep.csv"
    target.write_text("the previous report")
    broken = table()
    broken.rows.append({"amount_fen": "not fen"})
    with pytest.raises(ValueError):
        write_csv(broken, target)
    assert target.read_text() == "the previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.csv"]  # no temporary file left behind
    with pytest.raises(ExportError, match="no cinema column"):
        write(Table("t", COLUMNS, []), xlsx=tmp_path / "x.xlsx", sheet_per_cinema=True)
