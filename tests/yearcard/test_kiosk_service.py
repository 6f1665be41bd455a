"""The kiosk's year-card service (kiosk/yearcard.py): local card time, card work flush, blacklist, restore."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from backend_client.errors import CentralRefused, CentralUnreachable
from backend_client.wire import (
    CardBlacklist,
    CardTransactionPage,
    CardTransactionView,
    CardUseKind,
    ErrorCode,
    RedemptionRequest,
    RedemptionState,
    SeatRef,
)
from devices.card_api import ApduResponse, NoCard
from devices.health import HealthLevel
from kiosk.journal import CardDebitState, Journal
from kiosk.yearcard import (
    PSAM_MISSING,
    YearCardService,
    flush_card_work,
    proof_from_dict,
    refresh_blacklist,
    restore_card_transactions,
)
from tests.support.fakes import CARD_NUMBER, FakeCardCentral, year_card_kit


def test_the_card_gets_the_cinemas_local_wall_clock_time(tmp_path: Path) -> None:
    kit = year_card_kit(tmp_path)
    service = YearCardService(kit.reader, lambda apdu: ApduResponse(b"", 0x90, 0), timezone="Asia/Shanghai",
                              wall=lambda: datetime(2026, 11, 22, 16, 30, 5, 123456, tzinfo=UTC))
    assert service.local_now() == datetime(2026, 11, 23, 0, 30, 5)  # past midnight in Shanghai
    urumqi = YearCardService(kit.reader, lambda apdu: ApduResponse(b"", 0x90, 0), timezone="Asia/Urumqi",
                             wall=lambda: datetime(2026, 11, 22, 16, 30, 5, tzinfo=UTC))
    assert urumqi.local_now() == datetime(2026, 11, 22, 22, 30, 5)


def test_the_psam_health_says_when_it_is_missing(tmp_path: Path) -> None:
    kit = year_card_kit(tmp_path)
    assert kit.service.psam_health().level is HealthLevel.OK

    def gone(apdu: bytes) -> ApduResponse:
        raise NoCard("no PSAM")

    broken = YearCardService(kit.reader, gone, timezone="Asia/Shanghai")
    health = broken.psam_health()
    assert (health.level, health.reason) == (HealthLevel.CRITICAL, PSAM_MISSING)


def proven_debit(tmp_path: Path, journal: Journal) -> tuple[str, FakeCardCentral]:
    """A real debit on an in-process card, journaled as the flow does, and a central that holds its seat."""
    kit = year_card_kit(tmp_path)
    kit.insert()
    central = FakeCardCentral(tac_key=kit.master.tac)
    rid = central.hold_redemption(RedemptionRequest(card_number=CARD_NUMBER, showing_id="show-1",
                                                    seats=[SeatRef(row="3", seat="3")]), "k").redemption_id
    proof = kit.service.debit(1, on_pending=lambda pending: journal.card_debit_pending(rid, pending.to_dict()))
    journal.card_debit_proven(rid, proof.to_dict())
    assert proof_from_dict(proof.to_dict()) == proof
    return rid, central


def test_a_journaled_proof_is_confirmed_once_when_the_central_is_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    rid, central = proven_debit(tmp_path, journal)
    central.fail["confirm"] = CentralUnreachable("down")
    assert flush_card_work(journal, central) == 0
    assert journal.card_debit(rid).state is CardDebitState.PROVEN  # type: ignore[union-attr]
    del central.fail["confirm"]
    assert flush_card_work(journal, central) == 1
    assert central.visits_recorded == 1
    assert journal.card_debit(rid).state is CardDebitState.CONFIRMED  # type: ignore[union-attr]
    assert [t["visits"] for t in journal.card_transactions(CARD_NUMBER)] == [1]
    assert flush_card_work(journal, central) == 0
    assert central.calls.count("confirm") == 2  # the failed attempt and the one that went


def test_a_proof_the_central_refuses_for_good_is_kept_for_staff(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    rid, central = proven_debit(tmp_path, journal)
    central.fail["confirm"] = CentralRefused(ErrorCode.TAC_INVALID, "bad TAC")
    assert flush_card_work(journal, central) == 1
    assert journal.card_debit(rid).state is CardDebitState.REFUSED  # type: ignore[union-attr]
    assert journal.card_work_pending() == []


def test_a_voided_redemption_is_cancelled_at_the_central_when_it_is_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    central = FakeCardCentral()
    rid = central.hold_redemption(RedemptionRequest(card_number=CARD_NUMBER, showing_id="show-1",
                                                    seats=[SeatRef(row="3", seat="3")]), "k").redemption_id
    journal.card_debit_pending(rid, {"card_number": CARD_NUMBER})
    journal.card_debit_settle(rid, CardDebitState.NOT_DEBITED, "not_debited")
    central.fail["cancel"] = CentralUnreachable("down")
    assert flush_card_work(journal, central) == 0
    del central.fail["cancel"]
    assert flush_card_work(journal, central) == 1
    assert central.redemptions[rid].state is RedemptionState.CANCELLED
    assert journal.card_work_pending() == []


def test_the_blacklist_is_kept_with_its_version_and_an_older_one_never_replaces_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    central = FakeCardCentral(blacklist=CardBlacklist(version=5, card_numbers=[CARD_NUMBER]))
    assert refresh_blacklist(journal, central)
    assert journal.card_blacklisted(CARD_NUMBER) and journal.card_blacklist_version() == 5
    central.blacklist = CardBlacklist(version=4, card_numbers=[])
    refresh_blacklist(journal, central)
    assert journal.card_blacklisted(CARD_NUMBER)
    central.blacklist = CardBlacklist(version=6, card_numbers=[])
    refresh_blacklist(journal, central)
    assert not journal.card_blacklisted(CARD_NUMBER) and journal.card_blacklist_version() == 6
    central.fail["blacklist"] = CentralUnreachable("down")
    assert not refresh_blacklist(journal, central)
    assert journal.card_blacklist_version() == 6
    reopened = Journal(tmp_path / "journal.sqlite3")  # survives a restart
    assert reopened.card_blacklist_version() == 6


class Pages:
    def __init__(self, pages: list[CardTransactionPage]) -> None:
        self.pages = pages
        self.asked: list[int | None] = []

    def card_transactions(self, after: int | None = None) -> CardTransactionPage:
        self.asked.append(after)
        return self.pages[len(self.asked) - 1]


def transaction(counter: int) -> CardTransactionView:
    return CardTransactionView(card_number=CARD_NUMBER, card_counter=counter, visits=1, kind=CardUseKind.TICKETS,
                               terminal_id="310100010007", at=datetime(2026, 11, 22, 18, counter),
                               balance_after=10 - counter, redemption_id=f"red-{counter}")


def test_a_lost_journals_card_transactions_are_restored_from_the_central(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.record_card_transaction(transaction(1).model_dump(mode="json"))
    client = Pages([CardTransactionPage(transactions=[transaction(1), transaction(2)], next_after=2),
                    CardTransactionPage(transactions=[transaction(3)], next_after=None)])
    assert restore_card_transactions(journal, client) == 2
    assert client.asked == [None, 2]
    assert [t["card_counter"] for t in journal.card_transactions(CARD_NUMBER)] == [3, 2, 1]
    assert journal.card_transactions(CARD_NUMBER)[0]["redemption_id"] == "red-3"
