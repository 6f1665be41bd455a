"""`central cards report|export`: the seed's statistics with totals and settlement amounts, scoped by role."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from openpyxl import load_workbook

from central.models import Card, CardTransaction
from tests.central.cards_cli_kit import CINEMA, OTHER_CINEMA, CardDesk, local

# (card, counter, cinema, kind, visits, day, staff); type 3 settles at 35.00, at the other cinema 32.50
USES = [
    ("1000000000000001", 1, CINEMA, "tickets", 2, 28, "S001"),
    ("1000000000000001", 2, CINEMA, "concessions", 1, 28, "S001"),
    ("1000000000000999", 1, CINEMA, "tickets", 1, 29, None),  # at a kiosk: no staff
    ("1000000000001000", 1, OTHER_CINEMA, "tickets", 3, 29, "S002"),
    ("1000000000000001", 3, OTHER_CINEMA, "tickets", 1, 30, "S002"),
]
PRICE = {CINEMA: 3500, OTHER_CINEMA: 3250}


@pytest.fixture
def desk(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CardDesk:
    desk = CardDesk(db_url, tmp_path, monkeypatch, capsys)
    desk.ok("cards", "types", "add", "3", "--name", "年卡", "--price", "35", "--cinema-price", f"{OTHER_CINEMA}=32.50")
    with desk.session() as session:
        now = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
        for number in sorted({use[0] for use in USES}):
            session.add(Card(card_number=number, card_type=3, status="active", issue_no=1, made_at=now, visits_left=5))
        session.flush()
        for number, counter, cinema, kind, visits, day, staff in USES:
            session.add(CardTransaction(
                card_number=number, issue_no=1, card_counter=counter, counter_kind="purchase", kind=kind,
                visits=visits, balance_after=5, terminal_id="310100010007", cinema_id=cinema, staff_no=staff,
                card_local_time=local(day), recorded_at=now, proof="tac", settlement_fen=visits * PRICE[cinema]))
        # a re-issue's load is not a use: it must not count
        session.add(CardTransaction(
            card_number="1000000000000001", issue_no=1, card_counter=1, counter_kind="load", kind="load",
            visits=20, balance_after=25, terminal_id="000000000000", cinema_id=CINEMA, card_local_time=local(27),
            recorded_at=now, proof="tac", settlement_fen=0))
        session.commit()
    desk.add_staff("ST01", "statistician")
    desk.add_staff("L001", "local_statistician", CINEMA)
    desk.add_staff("S001", "sales", CINEMA)
    return desk


def rows(report: dict[str, object]) -> list[list[object]]:
    assert isinstance(report["rows"], list)
    return [list(row.values()) for row in report["rows"]]


def test_by_day_with_totals_and_settlement_in_yuan(desk: CardDesk) -> None:
    report = desk.ok("cards", "report", "--by", "day", staff="ST01")
    assert report["columns"] == ["日期", "笔数", "次数", "结算金额(元)"]
    assert rows(report) == [["2026-11-28", 2, 3, "105.00"], ["2026-11-29", 2, 4, "132.50"],
                            ["2026-11-30", 1, 1, "32.50"]]
    assert report["totals"] == {"笔数": 5, "次数": 8, "结算金额(元)": "270.00"}
    assert report["notes"] == ["期间: 全部"]
    since = desk.ok("cards", "report", "--by", "day", "--from", "2026-11-29", staff="ST01")
    assert since["notes"] == ["期间: 2026-11-29 起"] and since["totals"]["笔数"] == 3


def test_each_dimension_groups_and_filters(desk: CardDesk) -> None:
    by_cinema = desk.ok("cards", "report", "--by", "cinema", staff="ST01")
    assert rows(by_cinema) == [["演示影城", 3, 4, "140.00"], ["演示影城二店", 2, 4, "130.00"]]
    by_kind = desk.ok("cards", "report", "--by", "kind", staff="ST01")
    assert sorted(rows(by_kind)) == [["卖品", 1, 1, "35.00"], ["影票", 4, 7, "235.00"]]
    by_staff = desk.ok("cards", "report", "--by", "staff", staff="ST01")
    assert rows(by_staff) == [["自助机", 1, 1, "35.00"], ["S001", 2, 3, "105.00"], ["S002", 2, 4, "130.00"]]
    by_card = desk.ok("cards", "report", "--by", "card", "--from", "2026-11-29", "--to", "2026-11-30", staff="ST01")
    assert rows(by_card) == [["1000000000000001", "年卡", 1, 1, "32.50"], ["1000000000000999", "年卡", 1, 1, "35.00"],
                             ["1000000000001000", "年卡", 1, 3, "97.50"]]
    by_range = desk.ok("cards", "report", "--by", "range", staff="ST01")
    assert rows(by_range) == [["1000000000000000-1000000000000999", 4, 5, "172.50"],
                              ["1000000000001000-1000000000001999", 1, 3, "97.50"]]
    in_range = desk.ok("cards", "report", "--by", "period", "--range", "1000000000000000-1000000000000999",
                       "--from", "2026-11-28", "--to", "2026-11-28", staff="ST01")
    assert rows(in_range) == [["2026-11-28 至 2026-11-28", 2, 3, "105.00"]]
    assert "号段: 1000000000000000-1000000000000999" in in_range["notes"]
    one_staff = desk.ok("cards", "report", "--by", "period", "--staff", "S002", "--kind", "tickets", staff="ST01")
    assert one_staff["totals"] == {"笔数": 2, "次数": 4, "结算金额(元)": "130.00"}


def test_a_cinema_sees_only_its_own_and_sales_see_no_reports(desk: CardDesk) -> None:
    local_report = desk.ok("cards", "report", "--by", "day", staff="L001")
    assert local_report["totals"] == {"笔数": 3, "次数": 4, "结算金额(元)": "140.00"}
    assert f"影院: {CINEMA}" in local_report["notes"]
    assert "their own cinema" in desk.refused("cards", "report", "--by", "day", "--cinema", OTHER_CINEMA,
                                              staff="L001")
    assert "may not local_reports" in desk.refused("cards", "report", "--by", "day", staff="S001")
    code, _, err = desk.run("cards", "report", "--by", "week", staff="ST01")
    assert code == 2 and "invalid choice: 'week'" in err
    assert "--from is after --to" in desk.refused("cards", "report", "--by", "day", "--from", "2026-12-01",
                                                  "--to", "2026-11-01", staff="ST01")


def test_export_xlsx_with_a_sheet_per_cinema_and_csv(desk: CardDesk, tmp_path: Path) -> None:
    xlsx, table = tmp_path / "年票.xlsx", tmp_path / "年票.csv"
    done = desk.ok("cards", "export", "--by", "day", "--xlsx", str(xlsx), "--csv", str(table),
                   "--sheet-per-cinema", staff="ST01")
    assert done["written"] == [str(xlsx), str(table)] and done["totals"]["结算金额(元)"] == "270.00"
    book = load_workbook(xlsx)
    assert book.sheetnames == ["汇总", "演示影城", "演示影城二店"]
    summary = list(book["汇总"].iter_rows(values_only=True))
    assert summary[0] == ("年票按日统计", None, None, None, None)
    header = summary.index(("影院", "日期", "笔数", "次数", "结算金额(元)"))
    assert summary[-1] == ("合计", None, 5, 8, 270)
    assert book["汇总"].cell(row=header + 2, column=5).number_format == "0.00"
    assert book["汇总"].cell(row=header + 2, column=2).number_format == "yyyy-mm-dd"
    other = list(book["演示影城二店"].iter_rows(values_only=True))
    assert other[-1] == ("合计", None, 2, 4, 130)
    assert {row[0] for row in other[other.index(summary[header]) + 1:-1]} == {"演示影城二店"}
    raw = table.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with table.open(encoding="utf-8-sig", newline="") as source:
        lines = list(csv.reader(source))
    assert lines[0] == ["影院", "日期", "笔数", "次数", "结算金额(元)"]
    assert lines[-1] == ["合计", "", "5", "8", "270.00"]


def test_a_local_export_holds_only_its_cinema(desk: CardDesk, tmp_path: Path) -> None:
    target = tmp_path / "local.xlsx"
    desk.ok("cards", "export", "--by", "card", "--xlsx", str(target), staff="L001")
    values = list(load_workbook(target).active.iter_rows(values_only=True))
    assert values[-1] == ("合计", None, 3, 4, 140)
    assert all("1000000000001000" not in str(row) for row in values)  # the other cinema's card
    assert "export needs --xlsx" in desk.refused("cards", "export", "--by", "day", staff="L001")
    code, _, err = desk.run("cards", "export", "--by", "day", "--csv", str(tmp_path / "no" / "x.csv"), staff="L001")
    assert code == 1 and err.strip().count("\n") == 0 and "no such folder" in err
