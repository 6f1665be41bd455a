"""A year-card redemption against the real central over HTTP: tap, hold seats, debit through the
PSAM, confirm with the card's TAC, print through the claim path (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from backend_client.wire import ErrorCode, Routes
from central.models import AuditEntry, CardTransaction
from tests.central.cards_support import CardKiosk, CardKit, forge, ok, proof_of, refusal
from tests.support.central_server import RunningCentral

SOON = "show-demo-soon"  # 2D, hall 1
IMAX = "show-demo-later-today"  # IMAX, hall 2
PAST = "show-demo-past"
OTHER_CINEMA = "show-demo-other-cinema"


@pytest.fixture(scope="module")
def kit(module_central: RunningCentral, tmp_path_factory: pytest.TempPathFactory) -> CardKit:
    return CardKit(module_central, tmp_path_factory.mktemp("cards"))


@pytest.fixture(scope="module")
def kiosk(module_central: RunningCentral) -> CardKiosk:
    return CardKiosk(module_central)


def _audit(kit: CardKit, action: str) -> list[dict[str, Any]]:
    with kit.ledger.sessions() as session:
        return [json.loads(a.details) for a in session.scalars(select(AuditEntry).where(AuditEntry.action == action))]


def test_a_redemption_debits_the_card_once_and_prints_through_the_claim_path(kit: CardKit, kiosk: CardKiosk) -> None:
    card = kit.make_card(visits=10)
    view = ok(kiosk.tap(card))
    assert (view["status"], view["visits_left"], view["type_name"], view["max_people"]) == ("active", 10, "年卡", 2)
    assert view["history"] == [] and view["owed"] == []

    held = ok(kiosk.hold(card, SOON, ["C8", "C9"]))
    assert (held["state"], held["visits"], held["kind"]) == ("held", 2, "tickets")
    assert held["hold_expires_at"] is not None
    assert {s: kiosk.seats(SOON)[s] for s in ("C8", "C9")} == {"C8": "held", "C9": "held"}

    proof = kiosk.debit_announced(card, held)
    assert ok(kiosk.redemption(held["redemption_id"]))["state"] == "debiting"
    result = ok(kiosk.confirm(held["redemption_id"], proof_of(proof)))
    assert result["redemption"]["state"] == "confirmed"
    claim = result["claim"]
    assert sorted(f"{t['row']}{t['seat']}" for t in claim["tickets"]) == ["C8", "C9"]
    assert all(t["entrance_token"] for t in claim["tickets"])
    assert result["redemption"]["claim_id"] == claim["claim_id"]

    status = kiosk.print_claim(claim)
    assert set(status["tickets"].values()) == {"printed"} and status["open"] is False
    assert {s: kiosk.seats(SOON)[s] for s in ("C8", "C9")} == {"C8": "taken", "C9": "taken"}

    after = ok(kiosk.tap(card))
    assert after["visits_left"] == 8 == card.read().balance
    assert after["owed"] == []
    entry = after["history"][0]
    assert (entry["visits"], entry["kind"], entry["balance_after"]) == (2, "tickets", 8)
    assert entry["cinema_name"] == "演示影城"
    row = kit.card_row(card.number)
    assert row.last_counter == proof.pending.card_counter
    with kit.ledger.sessions() as session:
        tx = session.scalars(select(CardTransaction).where(CardTransaction.card_number == card.number)).one()
        assert (tx.proof, tx.tac, tx.settlement_fen, tx.kiosk_id) == ("tac", proof.tac, 2 * 3000, "kiosk-demo-1")


def test_retried_announcements_and_confirmations_never_deduct_twice(kit: CardKit, kiosk: CardKiosk) -> None:
    card = kit.make_card(visits=5)
    held = ok(kiosk.hold(card, SOON, ["D1"], key="retry-hold"))
    assert ok(kiosk.hold(card, SOON, ["D1"], key="retry-hold"))["redemption_id"] == held["redemption_id"]
    pendings: list[Any] = []

    def announce_twice(pending: Any) -> None:
        pendings.append(pending)
        first = ok(kiosk.debiting(held["redemption_id"], pending))
        assert ok(kiosk.debiting(held["redemption_id"], pending)) == first

    proof = card.terminal().debit(1, expect_card=card.number, on_pending=announce_twice)
    first = ok(kiosk.confirm(held["redemption_id"], proof_of(proof)))
    again = ok(kiosk.confirm(held["redemption_id"], proof_of(proof)))
    assert again == first
    assert ok(kiosk.tap(card))["visits_left"] == 4
    with kit.ledger.sessions() as session:
        rows = session.scalars(select(CardTransaction).where(CardTransaction.card_number == card.number)).all()
        assert len(rows) == 1
    # Confirmed: it cannot be cancelled, nor announced with another debit.
    refusal(kiosk.cancel(held["redemption_id"]), ErrorCode.BAD_REQUEST)
    other = pendings[0].__class__(**{**pendings[0].__dict__, "card_counter": pendings[0].card_counter + 1})
    refusal(kiosk.debiting(held["redemption_id"], other), ErrorCode.BAD_REQUEST)


def test_a_forged_tac_records_nothing_and_is_audited(kit: CardKit, kiosk: CardKiosk) -> None:
    card = kit.make_card(visits=5)
    held = ok(kiosk.hold(card, SOON, ["D3"]))
    proof = kiosk.debit_announced(card, held)
    forged = {**proof_of(proof), "tac": forge(proof.tac)}
    refusal(kiosk.confirm(held["redemption_id"], forged), ErrorCode.TAC_INVALID)
    assert ok(kiosk.redemption(held["redemption_id"]))["state"] == "debiting"
    assert kit.card_row(card.number).visits_left == 5
    assert any(a.get("redemption_id") == held["redemption_id"] for a in _audit(kit, "tac_invalid"))
    # A proof changed anywhere the TAC covers fails too (here: the balance after).
    refusal(kiosk.confirm(held["redemption_id"], {**proof_of(proof), "balance_after": 9}), ErrorCode.TAC_INVALID)
    # The true proof still confirms.
    assert ok(kiosk.confirm(held["redemption_id"], proof_of(proof)))["redemption"]["state"] == "confirmed"


def test_a_debit_of_another_amount_is_refused(kit: CardKit, kiosk: CardKiosk) -> None:
    card = kit.make_card(visits=5)
    held = ok(kiosk.hold(card, SOON, ["D5", "D6"]))  # two visits
    proof = card.terminal().debit(1, expect_card=card.number)  # a real TAC, for one visit
    details = refusal(kiosk.confirm(held["redemption_id"], proof_of(proof)), ErrorCode.BAD_REQUEST)
    assert details["expected_visits"] == 2
    assert kit.card_row(card.number).visits_left == 5


def _refused_terminal(kit: CardKit, kiosk: CardKiosk, card: Any, terminal_id: str) -> None:
    held = ok(kiosk.hold(card, SOON, ["D8"]))
    psam = kit.new_psam(terminal_id)
    refused: list[requests.Response] = []

    def announce(pending: Any) -> None:
        refused.append(kiosk.debiting(held["redemption_id"], pending))
        raise RuntimeError("the kiosk stops when the central refuses the announcement")

    with pytest.raises(RuntimeError):
        card.terminal(psam).debit(1, expect_card=card.number, on_pending=announce)
    assert refusal(refused[0], ErrorCode.TAC_INVALID)["reason"] == "unknown_terminal"
    # A debit made anyway from that terminal does not confirm either.
    proof = card.terminal(psam).debit(1, expect_card=card.number)
    assert refusal(kiosk.confirm(held["redemption_id"], proof_of(proof)),
                   ErrorCode.TAC_INVALID)["reason"] == "unknown_terminal"
    ok(kiosk.cancel(held["redemption_id"]))


def test_debits_from_unregistered_or_other_cinema_terminals_are_refused(kit: CardKit, kiosk: CardKiosk) -> None:
    card = kit.make_card(visits=5)
    for terminal_id in ("0000000F0001", "000000020001"):  # unknown; the other cinema's PSAM
        _refused_terminal(kit, kiosk, card, terminal_id)
    assert kit.card_row(card.number).visits_left == 5


def test_of_two_kiosks_after_the_same_seat_one_wins(kit: CardKit, kiosk: CardKiosk,
                                                     module_central: RunningCentral) -> None:
    from tests.central.kiosk_api import new_kiosk

    other = CardKiosk(module_central, new_kiosk(module_central).credential)
    cards = [kit.make_card(visits=3), kit.make_card(visits=3)]
    answers: list[requests.Response] = []
    barrier = threading.Barrier(2)

    def hold(who: CardKiosk, card: Any) -> None:
        barrier.wait()
        answers.append(who.hold(card, SOON, ["E7"]))

    threads = [threading.Thread(target=hold, args=args) for args in ((kiosk, cards[0]), (other, cards[1]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert refusal(loser, ErrorCode.SEATS_TAKEN)["seats"] == ["E7"]


def test_what_a_card_type_covers_and_allows(kit: CardKit, kiosk: CardKiosk) -> None:
    group = kit.make_card(visits=20, card_type=2)  # 团票卡: 2D and 3D only
    assert refusal(kiosk.hold(group, IMAX, ["A1"]), ErrorCode.NOT_COVERED)["format"] == "IMAX"
    year = kit.make_card(visits=10)
    assert refusal(kiosk.hold(year, SOON, ["A1", "A2", "A3"]), ErrorCode.TOO_MANY_PEOPLE)["max_people"] == 2
    imax = ok(kiosk.hold(year, IMAX, ["A1"]))  # IMAX costs 2 visits a person
    assert imax["visits"] == 2
    ok(kiosk.cancel(imax["redemption_id"]))
    few = kit.make_card(visits=1)
    assert refusal(kiosk.hold(few, SOON, ["A4", "A5"]), ErrorCode.NOT_ENOUGH_VISITS)["visits_left"] == 1
    refusal(kiosk.hold(year, SOON, ["Z99"]), ErrorCode.BAD_REQUEST)  # no such seat
    refusal(kiosk.hold(year, OTHER_CINEMA, ["A1"]), ErrorCode.SHOWING_NOT_FOUND)
    refusal(kiosk.hold(year, PAST, ["A1"]), ErrorCode.SHOW_OVER)
    refusal(kiosk.hold(year, "show-demo-tomorrow", ["A1"]), ErrorCode.OUTSIDE_WINDOW)  # not printable yet
    offers = ok(kiosk.call("get", Routes.CARD_SHOWINGS.format(card_number=year.number)))["showings"]
    assert offers and {o["cinema_name"] for o in offers} == {"演示影城"}  # printed on the ticket
    # A seat sold online is taken.
    assert refusal(kiosk.hold(year, SOON, ["F7"]), ErrorCode.SEATS_TAKEN)["seats"] == ["F7"]


def test_a_tap_shows_each_status_and_redemptions_refuse_unusable_cards(
    kit: CardKit, kiosk: CardKiosk, module_central: RunningCentral, tmp_path: Path
) -> None:
    from central.demo import write_demo_card_images

    images = write_demo_card_images(kit.ledger, tmp_path / "demo")
    demo = module_central.demo["cards"]
    from tests.central.cards_support import KitCard

    cards = {name: KitCard(demo[name]["card_number"], images[name], kit) for name in demo}
    expected = {"active": "active", "unsold": "made", "group": "active", "expired": "expired",
                "blacklisted": "blacklisted", "last_visit": "active"}
    for name, status in expected.items():
        view = ok(kiosk.tap(cards[name]))
        assert view["status"] == status, name
    assert ok(kiosk.tap(cards["blacklisted"]))["blacklist_reason"] == "挂失 reported lost"
    refusal(kiosk.hold(cards["unsold"], SOON, ["B7"]), ErrorCode.CARD_NOT_SOLD)
    refusal(kiosk.hold(cards["expired"], SOON, ["B7"]), ErrorCode.CARD_EXPIRED)
    assert refusal(kiosk.hold(cards["blacklisted"], SOON, ["B7"]),
                   ErrorCode.CARD_BLACKLISTED)["reason"] == "挂失 reported lost"
    # The last visit used: recycled, on the cinema's list of cards to collect.
    last = kit.make_card(visits=1)
    kiosk.redeem(last, SOON, ["B8"])
    view = ok(kiosk.tap(last))
    assert (view["status"], view["visits_left"]) == ("recycled", 0)
    refusal(kiosk.hold(last, SOON, ["B9"]), ErrorCode.CARD_RECYCLED)
    from central.card_ledger import cards_to_collect

    with kit.ledger.sessions() as session:
        assert last.number in {c.card_number for c in cards_to_collect(session, "cinema-demo")}
    # A card this chain never made.
    unknown = {**cards["active"].tap_body(), "card_number": "9999000000000001"}
    refusal(kiosk.call("post", Routes.CARD_TAP, unknown), ErrorCode.CARD_UNKNOWN)
