"""Head office's card desk end to end: `central cards make|psam|sell|recycle|reissue|rebuild` on a real
database, the cards through a real pcscd (the year-card emulator in "Virtual PCD 00 00", the PSAM the
CLI made in "Virtual PCD 00 01"), read back by the kiosk's own terminal.

Run under the shared lock: ``flock /work/vpcd.lock python -m pytest -q tests/yearcard/test_card_making_cli.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from central.card_keys import load_issuer_keys
from central.config import Settings
from central.models import Card, CardIssue, CardTransaction, Psam
from devices.card_api import CardEventKind
from devices.card_reader import PcscCardReader
from devices.sim.card_emulator import VIRTUAL_READER, CardEmulator
from devices.sim.psam import PsamOS, PsamStore
from devices.sim.yearcard import PSAM_PORT, PSAM_READER
from devices.sim.yearcard_os import ImageStore, YearCardOS, blank_image
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.terminal import YearCardTerminal
from tests.card.conftest import (  # noqa: F401  (pcsc is a fixture)
    EVENT_TIMEOUT_S,
    POLL_S,
    EventLog,
    Pcsc,
    card_in_virtual_reader,
    pcsc,
    wait_until,
)
from tests.central.cards_cli_kit import ADMIN, CINEMA, CardDesk

NUMBER = "8800000000005001"
TERMINAL = "310100010007"


def empty() -> bool:
    return not card_in_virtual_reader() and not card_in_virtual_reader(PSAM_READER)


@dataclass
class Counter:
    desk: CardDesk
    folder: Path
    card_image: Path
    card: CardEmulator
    psam_image: Path
    psam: CardEmulator | None = None
    psam_reader: PcscCardReader | None = None
    card_reader: PcscCardReader | None = None

    def terminal(self) -> YearCardTerminal:
        """The kiosk's terminal with the PSAM `central cards psam` made."""
        if self.psam is None:
            self.psam = CardEmulator(port=PSAM_PORT, atr=p.PSAM_ATR, handler=PsamOS(PsamStore(self.psam_image)))
            events = EventLog()
            self.psam_reader = PcscCardReader(PSAM_READER, poll_s=POLL_S)
            self.psam_reader.start(events)
            self.psam.insert()
            events.wait_for(CardEventKind.INSERTED)
            self.card_reader = PcscCardReader(VIRTUAL_READER, poll_s=POLL_S)
            self.card_reader.start(lambda _: None)
        assert self.card_reader is not None and self.psam_reader is not None
        return YearCardTerminal(self.card_reader, self.psam_reader)

    def reload_card(self) -> None:
        self.card.set_handler(YearCardOS(ImageStore(self.card_image)))


@pytest.fixture
def counter(pcsc: Pcsc, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
            capsys: pytest.CaptureFixture[str]) -> Iterator[Counter]:
    assert wait_until(empty, EVENT_TIMEOUT_S), "a card is still in a virtual reader"
    desk = CardDesk(db_url, tmp_path, monkeypatch, capsys)
    desk.ok("cards", "types", "add", "3", "--name", "年卡", "--visits", "12", "--price", "35")
    desk.ok("cards", "types", "add", "5", "--name", "团票卡", "--visits", "20", "--price", "30")
    desk.add_staff("O001", "operator")
    desk.add_staff("S001", "sales", CINEMA)
    folder = tmp_path / "cards"
    folder.mkdir()
    image = blank_image(folder / "card.json").path
    card = CardEmulator(handler=YearCardOS(ImageStore(image)))
    card.insert()
    bench = Counter(desk, folder, image, card, tmp_path / "psam.json")
    try:
        yield bench
    finally:
        for reader in (bench.card_reader, bench.psam_reader):
            if reader is not None:
                reader.stop()
        card.remove()
        if bench.psam is not None:
            bench.psam.remove()
        wait_until(empty, EVENT_TIMEOUT_S)


def _make_sell_and_use(counter: Counter) -> None:
    desk = counter.desk
    assert "may not make_cards" in desk.refused("cards", "make", "--reader", VIRTUAL_READER, "--type", "3",
                                               "--number", NUMBER, staff="S001")
    made = desk.ok("cards", "make", "--reader", VIRTUAL_READER, "--type", "3", "--number", NUMBER,
                   "--wait", "10", staff="O001")
    assert made == {"made": 1, "card_type": 3, "visits": 12, "first": NUMBER, "last": NUMBER}
    assert YearCardOS(ImageStore(counter.card_image)).state.personalised
    code, _, err = desk.run("cards", "make", "--reader", VIRTUAL_READER, "--type", "3", "--number", NUMBER,
                            staff="O001")
    assert code == 2 and "made already" in err  # the ledger refuses a number twice before any card is touched
    registered = desk.ok("cards", "psam", "--terminal-id", TERMINAL, "--cinema", CINEMA,
                         "--image", str(counter.psam_image), staff="O001")
    assert registered["psam"]["terminal_id"] == TERMINAL
    sold = desk.ok("cards", "sell", NUMBER, "--reader", VIRTUAL_READER, "--cinema", CINEMA, staff="S001")
    assert sold["sold"]["status"] == "active" and sold["sold"]["visits_left"] == 12
    terminal = counter.terminal()
    reading = terminal.read()
    assert reading.public.sold and reading.public.life_on(dt.date.today()) is p.CardLife.ACTIVE
    terminal.debit(2)
    terminal.debit(1, kind=crypto.TRANSACTION_CONCESSION)


def test_make_register_sell_and_rebuild_a_lost_ledger_from_the_card(counter: Counter) -> None:
    desk = counter.desk
    _make_sell_and_use(counter)
    with desk.session() as session:
        card = session.get(Card, NUMBER)
        assert card is not None and (card.status, card.visits_left, card.issue_no) == ("active", 12, 1)
        assert session.get(Psam, TERMINAL) is not None
    # the debits never reached the ledger (both databases lost since): the card tells
    images = counter.folder
    compared = desk.ok("cards", "rebuild", "--from-images", str(images))
    assert compared["applied"] is False
    assert [(c["state"], c["card_visits"], c["ledger_visits"]) for c in compared["cards"]] == [
        ("balance differs, 2 transaction(s) missing", 9, 12)]
    applied = desk.ok("cards", "rebuild", "--from-images", str(images), "--apply")
    assert applied["transactions_added"] == 2
    with desk.session() as session:
        rows = session.scalars(select(CardTransaction).where(CardTransaction.card_number == NUMBER)
                               .order_by(CardTransaction.card_counter)).all()
        assert [(t.kind, t.visits, t.balance_after, t.cinema_id, t.proof) for t in rows] == [
            ("tickets", 2, 10, CINEMA, "card_log"), ("concessions", 1, 9, CINEMA, "card_log")]
        assert rows[0].settlement_fen == 7000 and rows[1].tac is not None  # the newest debit's TAC kept
        assert session.get(Card, NUMBER).visits_left == 9  # type: ignore[union-attr]
    again = desk.ok("cards", "rebuild", "--from-images", str(images), "--apply")
    assert again["transactions_added"] == 0 and again["cards"][0]["state"] == "same"  # never twice

    # the card itself lost too: it comes back from the card, through the plain reader
    with desk.session() as session:
        session.execute(delete(CardTransaction).where(CardTransaction.card_number == NUMBER))
        session.execute(delete(CardIssue).where(CardIssue.card_number == NUMBER))
        session.execute(delete(Card).where(Card.card_number == NUMBER))
        session.commit()
    code, out, err = desk.run("cards", "rebuild", "--reader", VIRTUAL_READER, "--cards", "1", "--apply",
                              staff=ADMIN)
    assert code == 0, err
    table = [line.removeprefix("central: ") for line in err.splitlines()]
    header = next(i for i, line in enumerate(table) if line.startswith("source"))
    assert table[header].split() == ["source", "card", "card", "visits", "ledger", "records", "missing", "state"]
    assert table[header + 2].split() == ["reader", "#1", "8800********5001", "9", "-", "2", "2", "missing", "card"]
    assert NUMBER not in err  # masked on the console
    rebuilt = json.loads(out)
    assert rebuilt["cards"][0]["state"] == "missing card" and rebuilt["cards_added"] == 1
    assert rebuilt["transactions_added"] == 2 and "no PSAM" in rebuilt["checked_with"]
    history = desk.ok("cards", "history", NUMBER)["history"]
    assert [(h["kind"], h["visits"], h["balance_after"]) for h in history] == [
        ("tickets", 2, 10), ("concessions", 1, 9)]


def test_a_forged_card_is_reported_and_never_uploaded(counter: Counter, tmp_path: Path) -> None:
    desk = counter.desk
    _make_sell_and_use(counter)
    forged = tmp_path / "forged"
    forged.mkdir()
    from devices.sim.yearcard_os import personalised_image

    personalised_image(forged / "other.json", crypto.MasterKeys.generate(), "8800000000007777", visits=5)
    shutil.copy(counter.card_image, forged / "real.json")
    (forged / "broken.json").write_text("{}")
    result = desk.ok("cards", "rebuild", "--from-images", str(forged), "--apply")
    states = {c["source"]: c for c in result["cards"]}
    assert "edited or copied" in states["other.json"]["problem"]
    assert "not a card image" in states["broken.json"]["problem"]
    assert states["real.json"]["state"].endswith("2 transaction(s) missing")
    with desk.session() as session:
        assert session.get(Card, "8800000000007777") is None


def test_recycle_and_reissue_keep_the_old_history_for_head_office(counter: Counter) -> None:
    desk = counter.desk
    _make_sell_and_use(counter)
    desk.ok("cards", "rebuild", "--from-images", str(counter.folder), "--apply")  # the ledger learns the uses
    counter.terminal().debit(9)
    desk.ok("cards", "rebuild", "--from-images", str(counter.folder), "--apply")
    assert desk.ok("cards", "collect")["cinemas"][0]["cards"][0]["card"] == NUMBER
    desk.ok("cards", "recycle", NUMBER, "--cinema", CINEMA, staff="S001")
    assert "may not make_cards" in desk.refused("cards", "reissue", NUMBER, "--reader", VIRTUAL_READER,
                                                "--type", "5", staff="S001")
    reissued = desk.ok("cards", "reissue", NUMBER, "--reader", VIRTUAL_READER, "--type", "5", staff="O001")
    assert reissued["reissued"] == {"card": NUMBER, "status": "made", "card_type": 5, "issue": 2,
                                    "visits_left": 20, "activated_on": None, "expires_on": None}
    reading = counter.terminal().read()
    assert (reading.balance, reading.public.card_type, reading.public.sold) == (20, 5, False)
    assert reading.records[0].kind == crypto.TRANSACTION_LOAD
    assert desk.ok("cards", "history", NUMBER, staff="S001")["history"] == []  # the new holder's: nothing yet
    every = desk.ok("cards", "history", NUMBER, "--all")["history"]
    assert [h["issue"] for h in every] == [1, 1, 1] and sum(h["visits"] for h in every) == 12
    by_card = desk.ok("cards", "report", "--by", "card")["rows"]  # the old uses keep the old issue's type
    assert [list(row.values()) for row in by_card] == [[NUMBER, "年卡", 3, 12, "420.00"]]
    desk.ok("cards", "sell", NUMBER, "--reader", VIRTUAL_READER, "--cinema", CINEMA, staff="S001")
    assert counter.terminal().read().public.sold


def test_the_issuer_keys_the_cli_used_are_the_centrals(counter: Counter, tmp_path: Path) -> None:
    """The card was made with the keys in CENTRAL_SECRETS_DIR (and no key is printed)."""
    desk = counter.desk
    code, out, err = desk.run("cards", "make", "--reader", VIRTUAL_READER, "--type", "3", "--number", NUMBER,
                              "--wait", "10", staff="O001")
    assert code == 0, err
    master = load_issuer_keys(Settings(secrets_dir=tmp_path / "secrets"))
    for key in (master.purchase, master.tac, master.public, master.maintenance, master.load):
        assert key.hex() not in out + err and key.hex().upper() not in out + err
    state = YearCardOS(ImageStore(counter.card_image)).state
    assert state.keys[p.KEY_ID_TAC] == master.card_keys(NUMBER).tac
    assert NUMBER not in err  # the console shows it masked


def test_a_psam_on_a_reader_is_checked_before_it_is_registered(counter: Counter, tmp_path: Path) -> None:
    """`cards psam --reader`: the PSAM must answer with the terminal id and hold this chain's keys."""
    from devices.sim.psam import psam_image

    desk = counter.desk
    master = load_issuer_keys(Settings(secrets_dir=tmp_path / "secrets"))
    ours = psam_image(tmp_path / "ours.json", master, bytes.fromhex(TERMINAL)).path
    theirs = psam_image(tmp_path / "theirs.json", crypto.MasterKeys.generate(), bytes.fromhex("310100010009")).path
    psam = CardEmulator(port=PSAM_PORT, atr=p.PSAM_ATR, handler=PsamOS(PsamStore(theirs)))
    psam.insert()
    try:
        code, _, err = desk.run("cards", "psam", "--terminal-id", "310100010009", "--cinema", CINEMA,
                                "--reader", PSAM_READER, staff="O001")
        assert code == 1 and "does not hold this chain's keys" in err and err.count("\n") == 1
        psam.set_handler(PsamOS(PsamStore(ours)))
        code, _, err = desk.run("cards", "psam", "--terminal-id", "310100010009", "--cinema", CINEMA,
                                "--reader", PSAM_READER, staff="O001")
        assert code == 1 and f"terminal id is {TERMINAL}, not 310100010009" in err
        done = desk.ok("cards", "psam", "--terminal-id", TERMINAL, "--cinema", CINEMA, "--reader", PSAM_READER,
                       staff="O001")
        assert done["psam"]["made"] == f"checked on {PSAM_READER}"
        assert "registered already" in desk.refused("cards", "psam", "--terminal-id", TERMINAL, "--cinema", CINEMA,
                                                    "--image", str(tmp_path / "x.json"), staff="O001")
    finally:
        psam.remove()
    with desk.session() as session:
        assert [row.terminal_id for row in session.scalars(select(Psam))] == [TERMINAL]


def test_a_range_is_made_card_by_card_each_registered_at_once(counter: Counter) -> None:
    import threading

    desk = counter.desk
    outcome: list[tuple[int, str, str]] = []
    worker = threading.Thread(target=lambda: outcome.append(desk.run(
        "cards", "make", "--reader", VIRTUAL_READER, "--type", "3", "--range", "8800000000006000-2",
        "--visits", "15", "--wait", "20", staff="O001")))
    worker.start()

    def registered() -> set[str]:
        with desk.session() as session:
            return set(session.scalars(select(Card.card_number)))

    assert wait_until(lambda: registered() == {"8800000000006000"}, 20)  # the first, before the second is on
    counter.card.remove()
    assert wait_until(lambda: not card_in_virtual_reader(), EVENT_TIMEOUT_S)
    second = blank_image(counter.folder / "second.json").path
    counter.card.set_handler(YearCardOS(ImageStore(second)))
    counter.card.insert()
    worker.join(timeout=40)
    assert not worker.is_alive()
    code, out, err = outcome[0]
    assert code == 0, err
    assert json.loads(out) == {"made": 2, "card_type": 3, "visits": 15, "first": "8800000000006000",
                               "last": "8800000000006001"}
    assert registered() == {"8800000000006000", "8800000000006001"}
    assert "made 8800********6001: type 3, 15 visits (2 of 2)" in err
    assert YearCardOS(ImageStore(second)).state.balance == 15
