"""The blacklist kiosks cache (versioned), debits made offline and synced later (each TAC checked,
none applied twice, no query per debit), and a kiosk restoring its journal from the central."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from backend_client.wire import CardUseKind, DebitProofBody, ErrorCode, OfflineDebitBatch, Routes
from central.card_ledger import register_made_card
from central.config import Settings
from central.db import migrate
from central.demo import DEMO_TERMINAL_ID, load_demo
from central.models import Card, Kiosk
from central.secret_store import init_secrets
from central.service import Central
from devices.yearcard import crypto
from devices.yearcard import profile as p
from tests.central.cards_support import CardKiosk, CardKit, forge, ok, proof_of, refusal
from tests.support.central_server import RunningCentral

SOON = "show-demo-soon"


@pytest.fixture(scope="module")
def kit(module_central: RunningCentral, tmp_path_factory: pytest.TempPathFactory) -> CardKit:
    return CardKit(module_central, tmp_path_factory.mktemp("cards"))


def test_the_blacklist_has_a_version_that_moves_with_every_change(module_central: RunningCentral,
                                                                   kit: CardKit) -> None:
    kiosk = CardKiosk(module_central)
    manager = CardKiosk(module_central)
    manager.log_in("M1001")
    first = ok(kiosk.call("get", Routes.CARD_BLACKLIST))
    assert "8800000000000016" in first["card_numbers"]  # the demo's lost card
    card = kit.make_card(visits=5)
    entry = Routes.CARD_BLACKLIST_ENTRY.format(card_number=card.number)
    view = ok(manager.call("post", entry, {"reason": "stolen"}))
    assert (view["status"], view["blacklist_reason"]) == ("blacklisted", "stolen")
    second = ok(kiosk.call("get", Routes.CARD_BLACKLIST))
    assert second["version"] > first["version"] and card.number in second["card_numbers"]
    ok(manager.call("post", entry, {"reason": "stolen again"}))  # already there: no change
    assert ok(kiosk.call("get", Routes.CARD_BLACKLIST))["version"] == second["version"]
    assert refusal(kiosk.hold(card, SOON, ["A9"]), ErrorCode.CARD_BLACKLISTED)["reason"] == "stolen"
    assert ok(kiosk.tap(card))["status"] == "blacklisted"

    assert ok(manager.call("delete", entry))["status"] == "active"
    third = ok(kiosk.call("get", Routes.CARD_BLACKLIST))
    assert third["version"] > second["version"] and card.number not in third["card_numbers"]
    ok(kiosk.hold(card, SOON, ["A9"]))


def test_offline_debits_are_checked_recorded_once_and_restorable(module_central: RunningCentral,
                                                                 kit: CardKit) -> None:
    kiosk = CardKiosk(module_central)
    card = kit.make_card(visits=10)
    proofs = [proof_of(card.terminal().debit(1, expect_card=card.number)) for _ in range(3)]
    forged = {**proofs[2], "card_counter": 7, "tac": forge(proofs[2]["tac"])}
    before = _journal(kiosk)
    result = ok(kiosk.call("post", Routes.OFFLINE_DEBITS, {"debits": [*proofs, forged]}))
    assert (result["accepted"], result["duplicates"], result["refused"]) == (3, 0, [f"{card.number}:7"])
    again = ok(kiosk.call("post", Routes.OFFLINE_DEBITS, {"debits": proofs}))
    assert (again["accepted"], again["duplicates"]) == (0, 3)
    assert ok(kiosk.tap(card))["visits_left"] == 7 == card.read().balance
    # The kiosk lost its journal: the central gives back its confirmed transactions, page by page.
    restored = _journal(kiosk)[len(before):]
    assert [(t["card_number"], t["card_counter"], t["balance_after"]) for t in restored] == \
        [(card.number, n, 9 - n) for n in range(3)]


def _journal(kiosk: CardKiosk) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = ok(kiosk.call("get", f"{Routes.CARD_TRANSACTIONS}?after={after}"))
        found += page["transactions"]
        if page["next_after"] is None:
            return found
        after = page["next_after"]


# -- in-process: the batch's query count, and 10,000 debits ----------------------------------------


@pytest.fixture
def ledger(db_url: str, tmp_path: Path) -> Iterator[Central]:
    settings = Settings(db_url=db_url, secrets_dir=tmp_path / "secrets")
    init_secrets(settings, datetime.now(UTC))
    central = Central.open(settings)
    migrate(central.engine)
    load_demo(central, None)
    yield central
    central.engine.dispose()


def _offline_debits(central: Central, cards: int, per_card: int, first: int = 0) -> list[DebitProofBody]:
    """Debits as cards would have made them offline, each with the TAC the card computes."""
    now = central.clock.now()
    numbers = [f"66{n:014d}" for n in range(first, first + cards)]
    with central.sessions.begin() as session:
        for number in numbers:
            register_made_card(session, now, number, 1, per_card, actor="test")
            card = session.get_one(Card, number)
            card.status, card.activated_on = "active", now.date()
            card.expires_on = now.date() + dt.timedelta(days=365)
    debits = []
    when = datetime(2026, 12, 1, 14, 30, 0)
    for number in numbers:
        dtk = central.issuer_keys.card_keys(number).tac
        for counter in range(per_card):
            purchase = crypto.Purchase(1, crypto.TRANSACTION_TICKET, bytes.fromhex(DEMO_TERMINAL_ID),
                                       p.bcd_date(when.date()), p.bcd_time(when), counter + 1, counter,
                                       per_card - counter - 1)
            debits.append(DebitProofBody(card_number=number, card_counter=counter, visits=1, kind=CardUseKind.TICKETS,
                                         terminal_id=DEMO_TERMINAL_ID, terminal_seq=counter + 1, at=when,
                                         balance_after=per_card - counter - 1,
                                         tac=crypto.tac(dtk, purchase).hex().upper()))
    return debits


def _statements(central: Central, work: Any) -> int:
    count = 0

    def counted(*_args: Any) -> None:
        nonlocal count
        count += 1

    event.listen(central.engine, "before_cursor_execute", counted)
    try:
        work()
    finally:
        event.remove(central.engine, "before_cursor_execute", counted)
    return count


def test_a_batch_costs_the_same_queries_whatever_its_size(ledger: Central) -> None:
    with ledger.sessions() as session:
        kiosk = session.get_one(Kiosk, "kiosk-demo-1")
        session.expunge(kiosk)
    small = _offline_debits(ledger, 5, 10)
    large = _offline_debits(ledger, 50, 10, first=5)
    costs = [_statements(ledger, lambda b=batch: ledger.offline_debits(kiosk, OfflineDebitBatch(debits=b)))
             for batch in (small, large)]
    # Inserts may be batched by the driver, but nothing is read per debit.
    assert costs[1] <= costs[0] * 2, costs


def test_ten_thousand_offline_debits_in_batches_of_500_none_lost_none_twice(ledger: Central) -> None:
    with ledger.sessions() as session:
        kiosk = session.get_one(Kiosk, "kiosk-demo-1")
        session.expunge(kiosk)
    debits = _offline_debits(ledger, 1000, 10)
    batches = [debits[i:i + 500] for i in range(0, len(debits), 500)]
    started = time.perf_counter()
    accepted = sum(ledger.offline_debits(kiosk, OfflineDebitBatch(debits=b)).accepted for b in batches)
    elapsed = time.perf_counter() - started
    assert accepted == 10_000
    duplicates = sum(ledger.offline_debits(kiosk, OfflineDebitBatch(debits=b)).duplicates for b in batches[:2])
    assert duplicates == 1000
    with ledger.sessions() as session:
        assert {c.visits_left for c in session.query(Card).filter(Card.card_number.like("66%"))} == {0}
    print(f"10,000 offline debits in 20 batches: {elapsed:.1f} s")
