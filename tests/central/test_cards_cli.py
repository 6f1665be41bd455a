"""`central cards` and `central staff` on a real database: roles on every command, audit, one-line refusals."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from central.models import AuditEntry, Card, CardTransaction, StaffUser
from tests.central.cards_cli_kit import ADMIN, CINEMA, OTHER_CINEMA, CardDesk, local
from tests.support.central_server import REPO_ROOT
from tests.support.cli_help import entries_without_help

CARD_COMMANDS = ["types", "make", "sell", "renew", "recycle", "blacklist", "report", "export", "rebuild"]


@pytest.fixture
def desk(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CardDesk:
    return CardDesk(db_url, tmp_path, monkeypatch, capsys)


def _help(*command: str) -> str:
    done = subprocess.run([sys.executable, "-m", "central", *command, "--help"], capture_output=True, text=True,
                          timeout=30, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cards_help_lists_the_card_commands() -> None:
    text = _help("cards")
    listed = {line.split()[0] for line in text.splitlines() if line.startswith("    ") and line.strip()}
    assert set(CARD_COMMANDS) <= listed
    assert "staff" in _help()


@pytest.mark.parametrize("command", [
    ("cards",), ("cards", "types"), ("cards", "types", "add"), ("cards", "types", "set"), ("cards", "types", "list"),
    ("cards", "make"), ("cards", "psam"), ("cards", "sell"), ("cards", "renew"), ("cards", "recycle"),
    ("cards", "reissue"), ("cards", "blacklist"), ("cards", "blacklist", "add"), ("cards", "collect"),
    ("cards", "history"), ("cards", "report"), ("cards", "export"), ("cards", "rebuild"),
    ("staff",), ("staff", "create-admin"), ("staff", "add"), ("staff", "list"), ("staff", "reset-password"),
])
def test_every_card_and_staff_option_has_help(command: tuple[str, ...]) -> None:
    assert entries_without_help(_help(*command)) == [], " ".join(command)


def test_a_password_is_never_an_argument() -> None:
    done = subprocess.run([sys.executable, "-m", "central", "cards", "types", "list", "--as", "A001",
                           "--password", "x"], capture_output=True, text=True, timeout=30,
                          env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and "unrecognized arguments: --password" in done.stderr


def test_create_admin_only_while_no_admin_exists(desk: CardDesk) -> None:
    line = desk.refused("staff", "create-admin", "A002", "--name", "x", staff=None,
                        stdin="another-password\nanother-password\n")
    assert line == "central: refused: an admin exists already: admins add staff with `central staff add`"
    with desk.session() as session:
        admin = session.get(StaffUser, ADMIN)
        assert admin is not None and admin.password_hash.startswith("$argon2id$")
        assert desk.passwords[ADMIN] not in admin.password_hash
        assert session.get(StaffUser, "A002") is None


def test_wrong_password_unknown_staff_and_disabled_staff_are_refused(desk: CardDesk) -> None:
    assert desk.refused("cards", "types", "list", staff=ADMIN, stdin="wrong\n") == (
        "central: refused: wrong staff number or password")
    assert desk.refused("cards", "types", "list", staff="NOBODY", stdin="whatever\n") == (
        "central: refused: wrong staff number or password")
    assert "no password for A001 on stdin" in desk.refused("cards", "types", "list", staff=ADMIN, stdin="")
    desk.add_staff("S001", "sales", CINEMA)
    desk.ok("staff", "disable", "S001")
    assert desk.refused("cards", "types", "list", staff="S001") == "central: refused: staff S001 is disabled"
    with desk.session() as session:
        failed = session.scalars(select(AuditEntry).where(AuditEntry.action == "staff_login_failed")).all()
        assert [entry.actor for entry in failed] == [ADMIN, "NOBODY"]  # a failed login is recorded, not lost


def test_too_many_wrong_passwords_lock_the_staff_number(desk: CardDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CENTRAL_STAFF_MAX_FAILURES", "2")
    desk.refused("cards", "types", "list", staff=ADMIN, stdin="wrong\n")
    desk.refused("cards", "types", "list", staff=ADMIN, stdin="wrong\n")
    assert "is locked after wrong passwords" in desk.refused("cards", "types", "list", staff=ADMIN)


def test_a_new_user_must_choose_a_password_at_first_login(desk: CardDesk) -> None:
    made = desk.ok("staff", "add", "S002", "--name", "售票员", "--role", "sales", "--cinema", CINEMA)
    once = made["one_time_password"]
    assert made["created"]["must_change_password"] is True
    assert "the two passwords differ" in desk.refused("cards", "types", "list", staff="S002",
                                                     stdin=f"{once}\nnew-password-1\nother-password\n")
    assert "8 to 128 characters" in desk.refused("cards", "types", "list", staff="S002", stdin=f"{once}\nshort\n")
    desk.ok("cards", "types", "list", staff="S002", stdin=f"{once}\nnew-password-1\nnew-password-1\n")
    desk.ok("cards", "types", "list", staff="S002", stdin="new-password-1\n")  # no change asked any more
    old = desk.refused("cards", "types", "list", staff="S002", stdin=f"{once}\n")
    assert old.endswith("wrong staff number or password")
    reset = desk.ok("staff", "reset-password", "S002")["one_time_password"]
    desk.ok("cards", "types", "list", staff="S002", stdin=f"{reset}\nthird-password\nthird-password\n")


def test_roles_decide_who_manages_staff(desk: CardDesk) -> None:
    desk.add_staff("M001", "manager", CINEMA)
    desk.add_staff("ST01", "statistician")
    desk.ok("staff", "add", "S010", "--name", "x", "--role", "sales", "--cinema", CINEMA, staff="M001")
    assert desk.refused("staff", "add", "S011", "--name", "x", "--role", "sales", "--cinema", OTHER_CINEMA,
                        staff="M001") == "central: refused: a cinema's staff act only for their own cinema"
    assert "may not manage the role operator" in desk.refused(
        "staff", "add", "O001", "--name", "x", "--role", "operator", staff="M001")
    assert "may not manage_local_users" in desk.refused("staff", "list", staff="ST01")
    assert "their own cinema" in desk.refused("staff", "list", "--cinema", OTHER_CINEMA, staff="M001")
    listed = desk.ok("staff", "list", staff="M001")["staff"]
    assert {s["staff_no"] for s in listed} == {"M001", "S010"}  # its own cinema's only
    assert "belongs to a cinema: give --cinema" in desk.refused("staff", "add", "S012", "--name", "x",
                                                                "--role", "sales")
    assert "not on your own staff number" in desk.refused("staff", "disable", ADMIN)
    with desk.session() as session:
        added = session.scalars(select(AuditEntry).where(AuditEntry.action == "staff_added")
                                .order_by(AuditEntry.id)).all()
        assert [(e.actor, json.loads(e.details)["staff"]) for e in added] == [
            (ADMIN, "M001"), (ADMIN, "ST01"), ("M001", "S010")]


def test_card_types_are_set_by_head_office(desk: CardDesk) -> None:
    desk.add_staff("S001", "sales", CINEMA)
    desk.add_staff("O001", "operator")
    made = desk.ok("cards", "types", "add", "3", "--name", "年卡", "--format", "2D=1", "--format", "IMAX=2",
                   "--price", "35", "--cinema-price", f"{OTHER_CINEMA}=32.50", "--max-people", "2", staff="O001")
    assert made["card_type"] == {
        "code": 3, "name": "年卡", "visits": 10, "valid_days": 365, "max_people": 2,
        "formats": {"2D": 1, "IMAX": 2}, "price_yuan": "35.00", "cinema_prices": {OTHER_CINEMA: "32.50"}}
    changed = desk.ok("cards", "types", "set", "3", "--visits", "24", "--valid-days", "180", staff="O001")
    assert (changed["card_type"]["visits"], changed["card_type"]["valid_days"]) == (24, 180)
    assert "may not make_cards" in desk.refused("cards", "types", "add", "4", "--name", "x", staff="S001")
    assert "exists (年卡)" in desk.refused("cards", "types", "add", "3", "--name", "y", staff="O001")
    assert "no card type 9" in desk.refused("cards", "types", "set", "9", "--visits", "3", staff="O001")
    code, _, err = desk.run("cards", "types", "add", "5", "--name", "x", "--format", "IMAX", staff="O001")
    assert code == 2 and "--format is FORMAT=VISITS" in err
    listed = desk.ok("cards", "types", "list", staff="S001")["card_types"]
    assert [t["code"] for t in listed] == [3]


def test_blacklist_with_versions_and_reasons(desk: CardDesk) -> None:
    desk.add_staff("M001", "manager", CINEMA)
    desk.add_staff("S001", "sales", CINEMA)
    number = "8800000000000042"
    first = desk.ok("cards", "blacklist", "add", number, "--reason", "挂失", staff="M001")
    assert first["version"] >= 1
    assert "may not blacklist" in desk.refused("cards", "blacklist", "remove", number, staff="S001")
    assert "is blacklisted already" in desk.refused("cards", "blacklist", "add", number, "--reason", "x")
    listed = desk.ok("cards", "blacklist", "list", staff="M001")
    assert listed["cards"][0]["card"] == number and listed["cards"][0]["reason"] == "挂失"
    removed = desk.ok("cards", "blacklist", "remove", number, staff="M001")
    assert removed["version"] > first["version"]  # kiosks see a new version and refresh
    assert desk.ok("cards", "blacklist", "list")["cards"] == []
    with desk.session() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "M001")).all()
        assert {"card_blacklisted", "card_unblacklisted"} <= set(actions)
        audit_text = " ".join(session.scalars(select(AuditEntry.details)).all())
        assert number not in audit_text  # masked in the audit log


def _seed_uses(desk: CardDesk) -> None:
    """Two cards of type 3 with uses at both cinemas (as the ledger records them)."""
    desk.ok("cards", "types", "add", "3", "--name", "年卡", "--price", "35")
    with desk.session() as session:
        now = local(30).astimezone()
        for number, visits in (("8800000000000001", 10), ("8800000000000002", 2)):
            session.add(Card(card_number=number, card_type=3, status="active", issue_no=1, made_at=now,
                             visits_left=visits, sold_cinema_id=CINEMA))
        session.flush()
        uses = [("8800000000000001", 1, CINEMA, 2, local(28)), ("8800000000000002", 1, CINEMA, 2, local(29)),
                ("8800000000000001", 2, OTHER_CINEMA, 1, local(30))]
        for number, counter, cinema, visits, at in uses:
            session.add(CardTransaction(
                card_number=number, issue_no=1, card_counter=counter, counter_kind="purchase", kind="tickets",
                visits=visits, balance_after=0, terminal_id="310100010007", cinema_id=cinema, staff_no="S001",
                card_local_time=at, recorded_at=now, proof="tac", settlement_fen=visits * 3500))
        used_up = session.get_one(Card, "8800000000000002")  # its last visit used: the ledger marks it
        used_up.visits_left, used_up.status = 0, "recycled"
        used_up.recycled_at, used_up.recycled_cinema_id = dt.datetime(2026, 11, 29, 6, tzinfo=dt.UTC), CINEMA
        session.commit()


def test_history_since_the_current_issue_and_every_issue_for_head_office(desk: CardDesk) -> None:
    _seed_uses(desk)
    desk.add_staff("Q001", "customer_query", CINEMA)
    history = desk.ok("cards", "history", "8800000000000001", staff="Q001")
    assert [(h["at"], h["visits"], h["kind"]) for h in history["history"]] == [
        ("2026-11-28 14:00:00", 2, "tickets"), ("2026-11-30 14:00:00", 1, "tickets")]
    assert "head office's (--all)" in desk.refused("cards", "history", "8800000000000001", "--all", staff="Q001")
    assert "is not in the ledger" in desk.refused("cards", "history", "8800000000009999")


def test_collect_lists_used_up_cards_by_cinema_and_recycle_records_them(desk: CardDesk) -> None:
    _seed_uses(desk)
    desk.add_staff("S001", "sales", CINEMA)
    desk.add_staff("S002", "sales", OTHER_CINEMA)
    listed = desk.ok("cards", "collect", "--day", "2026-11-29", staff="S001")
    assert listed["cinemas"] == [{"cinema": CINEMA, "count": 1, "cards": [
        {"card": "8800000000000002", "used_up": "2026-11-29 14:00:00"}]}]  # the cinema's local time
    assert desk.ok("cards", "collect", "--day", "2026-11-30", staff="S001")["cinemas"] == []
    assert desk.ok("cards", "collect", staff="S002")["cinemas"] == []  # its own cinema only
    assert "still has visits" in desk.refused("cards", "recycle", "8800000000000001", "--cinema", CINEMA,
                                                 staff="S001")
    assert "their own cinema" in desk.refused("cards", "recycle", "8800000000000002", "--cinema", CINEMA,
                                              staff="S002")
    recycled = desk.ok("cards", "recycle", "8800000000000002", "--cinema", CINEMA, staff="S001")
    assert recycled["recycled"]["status"] == "recycled"
    assert desk.ok("cards", "collect", "--day", "2026-11-29")["cinemas"] == []


def test_history_and_cards_to_collect_export_to_excel_and_csv(desk: CardDesk, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    _seed_uses(desk)
    book_path, csv_path = tmp_path / "history.xlsx", tmp_path / "collect.csv"
    done = desk.ok("cards", "history", "8800000000000001", "--xlsx", str(book_path))
    assert done["written"] == [str(book_path)] and len(done["history"]) == 2
    sheet = load_workbook(book_path).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    header = values.index(("期数", "时间", "影院", "消费类型", "次数", "余次", "工号"))
    assert values[header + 1] == (1, local(28), "演示影城", "影票", 2, 0, "S001")
    assert values[-1] == ("合计", None, None, None, 3, None, None)
    assert sheet.cell(row=header + 2, column=2).number_format == "yyyy-mm-dd hh:mm:ss"
    desk.ok("cards", "collect", "--csv", str(csv_path))
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf")
    lines = csv_path.read_text(encoding="utf-8-sig").splitlines()
    assert lines == ["影院,卡号,用完时间", "演示影城,8800000000000002,2026-11-29 14:00:00", "合计(张),1,"]


def test_an_unknown_reader_is_one_line(desk: CardDesk) -> None:
    desk.ok("cards", "types", "add", "3", "--name", "年卡")
    code, out, err = desk.run("cards", "make", "--reader", "No Such Reader", "--type", "3", "--number",
                              "8800000000000001", staff=ADMIN)
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.strip().startswith("central: no reader matching 'No Such Reader'") and err.strip().count("\n") == 0
    with desk.session() as session:
        assert session.get(Card, "8800000000000001") is None


def test_a_rebuild_is_head_office_s_and_applying_it_the_admin_s(desk: CardDesk, tmp_path: Path) -> None:
    desk.add_staff("ST01", "statistician")
    desk.add_staff("M001", "manager", CINEMA)
    empty = tmp_path / "no-cards"
    empty.mkdir()
    compared = desk.ok("cards", "rebuild", "--from-images", str(empty), staff="ST01")
    assert compared["cards"] == [] and compared["applied"] is False
    assert "may not manage_users" in desk.refused("cards", "rebuild", "--from-images", str(empty), "--apply",
                                                  staff="ST01")
    assert "may not global_reports" in desk.refused("cards", "rebuild", "--from-images", str(empty), staff="M001")
    code, _, err = desk.run("cards", "rebuild", "--from-images", str(tmp_path / "missing"), staff=ADMIN)
    assert code == 1 and "no such folder of card images" in err
