"""Seat holds that run out, debits that never do, and the card's own log deciding a pending debit at
the next tap (both ways), on a central whose clock the test moves (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from backend_client.wire import ErrorCode, Routes
from central.models import AuditEntry, Card, Film, Hall, Showing
from tests.central.cards_support import SHANGHAI, CardKiosk, CardKit, ok, proof_of, refusal
from tests.central.kiosk_api import new_kiosk
from tests.support.central_server import RunningCentral

SOON = "show-demo-soon"
HOLD_S = 300  # CENTRAL_CARD_HOLD_SECONDS' default
TAP_WINDOW_S = 300


@pytest.fixture
def kit(central: RunningCentral, tmp_path: Path) -> CardKit:
    return CardKit(central, tmp_path / "cards")


def _audited(kit: CardKit, action: str) -> list[dict[str, Any]]:
    with kit.ledger.sessions() as session:
        return [json.loads(a.details) for a in session.scalars(select(AuditEntry).where(AuditEntry.action == action))]


def test_a_hold_runs_out_and_frees_its_seats_but_an_announced_debit_never_does(
    central: RunningCentral, kit: CardKit
) -> None:
    kiosk = CardKiosk(central)
    card = kit.make_card(visits=10)
    lapsing = ok(kiosk.hold(card, SOON, ["C1", "C2"]))
    debiting = ok(kiosk.hold(card, SOON, ["C3"]))
    pending: list[Any] = []
    ok(kiosk.debiting(debiting["redemption_id"], _pending_debit(card, debiting, pending)))
    central.advance_clock(HOLD_S + 1)

    seats = kiosk.seats(SOON)
    assert (seats["C1"], seats["C2"], seats["C3"]) == ("free", "free", "held")
    assert ok(kiosk.redemption(lapsing["redemption_id"]))["state"] == "expired"
    refusal(kiosk.debiting(lapsing["redemption_id"], pending[0]), ErrorCode.REDEMPTION_EXPIRED)
    # Another card takes the freed seats at once.
    other = kit.make_card(visits=3)
    ok(kiosk.hold(other, SOON, ["C1"]))
    # The announced debit: its card is debited late, and it still confirms.
    proof = card.terminal().debit(1, expect_card=card.number)
    assert proof.pending.card_counter == pending[0].card_counter
    assert ok(kiosk.confirm(debiting["redemption_id"], proof_of(proof)))["redemption"]["state"] == "confirmed"


def _pending_debit(card: Any, redemption: dict[str, Any], sink: list[Any]) -> Any:
    """What the kiosk would announce for the card's next debit, without debiting it."""
    from devices.yearcard.terminal import PendingDebit

    reading = card.read()
    counter = max((r.card_counter for r in reading.records if r.kind != 0x02), default=-1) + 1
    pending = PendingDebit(card_number=card.number, card_counter=counter, amount=redemption["visits"], kind=0x06,
                           terminal_id="000000010001", terminal_seq=card.kit.psam.state.seq + 1,
                           when=card.kit.local_now().replace(microsecond=0), balance_before=reading.balance)
    sink.append(pending)
    return pending


def test_cancel_releases_seats_once(central: RunningCentral, kit: CardKit) -> None:
    kiosk = CardKiosk(central)
    card = kit.make_card(visits=4)
    held = ok(kiosk.hold(card, SOON, ["D4"]))
    cancelled = ok(kiosk.cancel(held["redemption_id"], "person_cancelled"))
    assert cancelled["state"] == "cancelled"
    assert ok(kiosk.cancel(held["redemption_id"]))["state"] == "cancelled"  # a retry
    assert kiosk.seats(SOON)["D4"] == "free"
    refusal(kiosk.call("get", Routes.REDEMPTION.format(redemption_id="rdm-nothing")), ErrorCode.REDEMPTION_NOT_FOUND)


def test_the_cards_log_confirms_a_debit_whose_answer_was_lost_and_its_tickets_are_owed_where_it_is_tapped(
    central: RunningCentral, kit: CardKit
) -> None:
    kiosk = CardKiosk(central)
    elsewhere = CardKiosk(central, new_kiosk(central).credential)
    card = kit.make_card(visits=6)
    held = ok(kiosk.hold(card, SOON, ["G5", "G6"]))
    kiosk.debit_announced(card, held)  # the card is debited; the kiosk dies before confirming

    view = ok(kiosk.tap(card))
    assert view["reconciled"] == [held["redemption_id"]]
    assert view["visits_left"] == 4
    assert [o["redemption_id"] for o in view["owed"]] == [held["redemption_id"]]
    assert any(a["redemption_id"] == held["redemption_id"] for a in _audited(kit, "redemption_confirmed_by_card_log"))
    body = {"card_number": card.number}
    path = Routes.REDEMPTION_CLAIM.format(redemption_id=held["redemption_id"])
    refusal(elsewhere.call("post", path, body), ErrorCode.CLAIM_NOT_ALLOWED)  # the card was not tapped there
    claim = ok(kiosk.call("post", path, body, key="owed-1"))
    assert ok(kiosk.call("post", path, body, key="owed-1"))["claim_id"] == claim["claim_id"]
    assert sorted(f"{t['row']}{t['seat']}" for t in claim["tickets"]) == ["G5", "G6"]
    kiosk.print_claim(claim)
    assert ok(kiosk.tap(card))["owed"] == []
    refusal(kiosk.call("post", path, body), ErrorCode.TICKET_NOT_AVAILABLE)  # printed: nothing owed any more


def test_owed_tickets_print_only_shortly_after_the_tap(central: RunningCentral, kit: CardKit) -> None:
    kiosk = CardKiosk(central)
    card = kit.make_card(visits=6)
    held = ok(kiosk.hold(card, SOON, ["H1"]))
    kiosk.debit_announced(card, held)
    ok(kiosk.tap(card))
    central.advance_clock(TAP_WINDOW_S + 1)
    path = Routes.REDEMPTION_CLAIM.format(redemption_id=held["redemption_id"])
    refusal(kiosk.call("post", path, {"card_number": card.number}), ErrorCode.CLAIM_NOT_ALLOWED)
    ok(kiosk.tap(card))
    ok(kiosk.call("post", path, {"card_number": card.number}))


def test_the_cards_log_voids_a_debit_that_never_happened(central: RunningCentral, kit: CardKit) -> None:
    kiosk = CardKiosk(central)
    card = kit.make_card(visits=6)
    held = ok(kiosk.hold(card, SOON, ["H3"]))
    ok(kiosk.debiting(held["redemption_id"], _pending_debit(card, held, [])))  # then the card was pulled
    central.advance_clock(HOLD_S + 1)
    assert kiosk.seats(SOON)["H3"] == "held"  # announced: only the card can settle it
    view = ok(kiosk.tap(card))
    assert view["reconciled"] == [held["redemption_id"]] and view["visits_left"] == 6 and view["owed"] == []
    assert ok(kiosk.redemption(held["redemption_id"]))["state"] == "cancelled"
    assert kiosk.seats(SOON)["H3"] == "free"


def test_a_card_above_the_ledger_or_with_its_counter_gone_back_is_refused_and_audited(
    central: RunningCentral, kit: CardKit
) -> None:
    kiosk = CardKiosk(central)
    richer = kit.make_card(visits=10, ledger_visits=4)  # e.g. an old image of the card written back
    assert refusal(kiosk.tap(richer), ErrorCode.CARD_MISMATCH)["reason"] == "balance_above_ledger"
    rewound = kit.make_card(visits=10)
    with kit.ledger.sessions.begin() as session:
        session.get_one(Card, rewound.number).last_counter = 3  # the ledger saw debits the card no longer shows
    assert refusal(kiosk.tap(rewound), ErrorCode.CARD_MISMATCH)["reason"] == "counter_backwards"
    reasons = {a["reason"] for a in _audited(kit, "card_mismatch")}
    assert reasons == {"balance_above_ledger", "counter_backwards"}


def test_the_showings_a_card_may_use_today(central: RunningCentral, kit: CardKit) -> None:
    # Move to the next 09:00 in the cinema, so that "today, not started" has room whenever this runs.
    now = central.server_now()
    local = now.astimezone(SHANGHAI)
    nine = local.replace(hour=9, minute=0, second=0, microsecond=0)
    if nine <= local:
        nine += dt.timedelta(days=1)
    central.advance_clock((nine - local).total_seconds())
    start = nine.astimezone(dt.UTC)
    plan = {  # id: hall, start offset (hours), format
        "t-2d": ("hall-demo-1", 2, "2D"), "t-imax": ("hall-demo-2", 3, "IMAX"),
        "t-started": ("hall-demo-1", -1, "2D"), "t-tomorrow": ("hall-demo-1", 16, "2D"),
        "t-other": ("hall-demo2-1", 2, "3D"), "t-4dx": ("hall-demo-1", 5, "4DX"),
    }
    with kit.ledger.sessions.begin() as session:
        assert session.get(Hall, "hall-demo-1") is not None and session.get(Film, "film-demo-1") is not None
        for sid, (hall, hours, fmt) in plan.items():
            begins = start + dt.timedelta(hours=hours)
            session.add(Showing(id=sid, film_id="film-demo-1", hall_id=hall, starts_at=begins,
                                ends_at=begins + dt.timedelta(hours=2), format=fmt))
    kiosk = CardKiosk(central)
    year, group = kit.make_card(visits=10), kit.make_card(visits=20, card_type=2)
    offers = ok(kiosk.call("get", Routes.CARD_SHOWINGS.format(card_number=year.number)))["showings"]
    listed = {o["showing_id"]: o for o in offers if o["showing_id"].startswith("t-")}
    assert sorted(listed) == ["t-2d", "t-imax"]
    assert (listed["t-2d"]["visits_per_person"], listed["t-imax"]["visits_per_person"]) == (1, 2)
    assert listed["t-2d"]["seats_free"] == 11 * 12 and listed["t-2d"]["format"] == "2D"
    ok(kiosk.hold(year, "t-2d", ["A1", "A2"]))
    offers = ok(kiosk.call("get", Routes.CARD_SHOWINGS.format(card_number=year.number)))["showings"]
    assert {o["showing_id"]: o["seats_free"] for o in offers}["t-2d"] == 11 * 12 - 2
    group_offers = ok(kiosk.call("get", Routes.CARD_SHOWINGS.format(card_number=group.number)))["showings"]
    assert sorted(o["showing_id"] for o in group_offers if o["showing_id"].startswith("t-")) == ["t-2d"]
    seat_map = ok(kiosk.call("get", Routes.SHOWING_SEATS.format(showing_id="t-2d")))
    assert (seat_map["columns"], seat_map["rows"]) == (13, 11)  # 12 seats and an aisle
    k1 = next(s for s in seat_map["seats"] if (s["row"], s["seat"]) == ("K", "1"))
    assert k1["accessible"] is True and k1["y"] == 10
    a7 = next(s for s in seat_map["seats"] if (s["row"], s["seat"]) == ("A", "7"))
    assert a7["x"] == 7  # past the aisle
    refusal(kiosk.call("get", Routes.SHOWING_SEATS.format(showing_id="t-other")), ErrorCode.SHOWING_NOT_FOUND)


def test_a_debit_confirmed_after_the_show_ended_is_kept_without_a_claim(central: RunningCentral, kit: CardKit) -> None:
    kiosk = CardKiosk(central)
    card = kit.make_card(visits=4)
    held = ok(kiosk.hold(card, SOON, ["J5"]))
    pending: list[Any] = []
    ok(kiosk.debiting(held["redemption_id"], _pending_debit(card, held, pending)))
    central.advance_clock(6 * 3600)  # the kiosk was offline until after the show
    proof = card.terminal().debit(1, expect_card=card.number)
    result = ok(kiosk.confirm(held["redemption_id"], proof_of(proof)))
    assert result["redemption"]["state"] == "confirmed" and result["claim"] is None
    assert kit.card_row(card.number).visits_left == 3 == card.read().balance
    assert any(a["redemption_id"] == held["redemption_id"] and a["code"] == "show_over"
               for a in _audited(kit, "redemption_claim_refused"))
