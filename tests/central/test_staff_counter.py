"""Staff at the counter: logins (argon2 passwords, lockout, own cinema), sessions, and each role's
rights on each staff route; sale and renewal written to a real card with the issuer's MAC."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from backend_client.wire import ErrorCode, Routes
from central.card_ledger import add_to_blacklist
from central.models import Card
from devices.yearcard import profile as p
from tests.central.cards_support import CardKiosk, CardKit, KitCard, ok, proof_of, refusal
from tests.support.central_server import RunningCentral

SOON = "show-demo-soon"


@pytest.fixture(scope="module")
def kit(module_central: RunningCentral, tmp_path_factory: pytest.TempPathFactory) -> CardKit:
    return CardKit(module_central, tmp_path_factory.mktemp("cards"))


def test_a_login_opens_a_session_that_counter_calls_carry_and_logout_ends(module_central: RunningCentral) -> None:
    counter = CardKiosk(module_central)
    session = ok(counter.login("S1001"))
    assert (session["staff_no"], session["role"], session["cinema_id"]) == ("S1001", "sales", "cinema-demo")
    assert session["token"] and session["expires_at"]
    token = session["token"]
    recycle = Routes.CARD_RECYCLE.format(card_number="8800000000000011")
    refusal(counter.call("post", recycle, staff=token), ErrorCode.BAD_REQUEST)  # allowed, but visits are left
    assert counter.call("post", Routes.STAFF_LOGOUT, staff=token).status_code == 204
    refusal(counter.call("post", recycle, staff=token), ErrorCode.STAFF_SESSION_EXPIRED)
    refusal(counter.call("post", recycle), ErrorCode.STAFF_SESSION_EXPIRED)  # no session at all
    refusal(counter.call("post", recycle, staff="made-up"), ErrorCode.STAFF_SESSION_EXPIRED)
    # A session belongs to the kiosk where it was opened.
    from tests.central.kiosk_api import new_kiosk

    other = CardKiosk(module_central, new_kiosk(module_central).credential)
    token = ok(counter.login("S1001"))["token"]
    refusal(other.call("post", recycle, staff=token), ErrorCode.STAFF_SESSION_EXPIRED)


def test_wrong_passwords_lock_the_staff_number_for_a_while(central: RunningCentral) -> None:
    counter = CardKiosk(central)
    lefts = [refusal(counter.login("M1001", "wrong"), ErrorCode.STAFF_AUTH_FAILED)["attempts_left"] for _ in range(4)]
    assert lefts == [4, 3, 2, 1]
    assert refusal(counter.login("M1001", "wrong"), ErrorCode.LOCKED_OUT)["retry_after_s"] == 900
    assert refusal(counter.login("M1001"), ErrorCode.LOCKED_OUT)["retry_after_s"] > 0  # even the right password
    central.advance_clock(901)
    token = ok(counter.login("M1001"))["token"]
    refusal(counter.login("M1001", "wrong"), ErrorCode.STAFF_AUTH_FAILED)  # counting starts again
    refusal(counter.login("nobody", "x"), ErrorCode.STAFF_AUTH_FAILED)
    # A session ends by itself after CENTRAL_STAFF_SESSION_SECONDS (12 hours).
    recycle = Routes.CARD_RECYCLE.format(card_number="8800000000000011")
    refusal(counter.call("post", recycle, staff=token), ErrorCode.BAD_REQUEST)  # live: allowed, visits are left
    central.advance_clock(12 * 3600 + 1)
    refusal(counter.call("post", recycle, staff=token), ErrorCode.STAFF_SESSION_EXPIRED)


def test_cinema_staff_log_in_only_at_their_cinema(module_central: RunningCentral) -> None:
    counter = CardKiosk(module_central)
    refusal(counter.login("S2001"), ErrorCode.FORBIDDEN)  # the second cinema's sales
    ok(counter.login("A0001"))  # head office may log in anywhere


ROUTES = ("sell", "renew", "recycle", "blacklist", "unblacklist", "concessions")
ALLOWED = {
    "S1001": {"sell", "renew", "recycle", "concessions"},
    "M1001": set(ROUTES),
    "A0001": set(ROUTES),
    "Q1001": set(),
    "L1001": set(),
    "H0001": set(),
    "O0001": set(),
}


def _staff_call(counter: CardKiosk, route: str, card: str) -> Any:
    body = {"challenge": "01020304"}
    if route == "sell":
        return counter.call("post", Routes.CARD_SELL.format(card_number=card), body)
    if route == "renew":
        return counter.call("post", Routes.CARD_RENEW.format(card_number=card), body)
    if route == "recycle":
        return counter.call("post", Routes.CARD_RECYCLE.format(card_number=card))
    if route == "blacklist":
        return counter.call("post", Routes.CARD_BLACKLIST_ENTRY.format(card_number=card), {"reason": "test"})
    if route == "unblacklist":
        return counter.call("delete", Routes.CARD_BLACKLIST_ENTRY.format(card_number=card))
    return counter.call("post", Routes.REDEMPTIONS, {"card_number": card, "kind": "concessions", "visits": 1})


ROLE_OF = {"S1001": "sales", "M1001": "manager", "A0001": "admin", "Q1001": "customer_query",
           "L1001": "local_statistician", "H0001": "statistician", "O0001": "operator"}


def _card_for(kit: CardKit, route: str) -> KitCard:
    """A card on which ``route`` succeeds for a role that may use it."""
    if route == "sell":
        return kit.make_card(visits=5, sold=False)
    card = kit.make_card(visits=5)
    with kit.ledger.sessions.begin() as session:
        if route == "recycle":  # its last visit used
            row = session.get_one(Card, card.number)
            row.visits_left, row.status = 0, "recycled"
        if route == "unblacklist":
            add_to_blacklist(session, kit.server_now(), card.number, "test", "test")
    return card


@pytest.mark.parametrize("staff_no", sorted(ALLOWED))
def test_each_role_may_do_only_its_part(module_central: RunningCentral, kit: CardKit, staff_no: str) -> None:
    counter = CardKiosk(module_central)
    counter.log_in(staff_no)
    for route in ROUTES:
        answer = _staff_call(counter, route, _card_for(kit, route).number)
        if route in ALLOWED[staff_no]:
            ok(answer)
        else:
            assert refusal(answer, ErrorCode.FORBIDDEN)["role"] == ROLE_OF[staff_no], route


def _challenge(card: KitCard) -> tuple[str, Any]:
    from devices.sim.yearcard import handler_channel
    from devices.sim.yearcard_os import ImageStore, YearCardOS

    card_os = YearCardOS(ImageStore(card.path))
    transmit = handler_channel(card_os)
    assert transmit(p.select_aid(p.CARD_AID)).ok
    return p.parse_challenge(transmit(p.get_challenge())).hex().upper(), transmit


def test_a_sale_and_a_renewal_are_written_to_the_card_with_the_issuers_mac(
    module_central: RunningCentral, kit: CardKit
) -> None:
    counter = CardKiosk(module_central)
    counter.log_in("S1001")
    card = kit.make_card(visits=10, sold=False)
    assert card.read().public.sold is False
    refusal(counter.hold(card, SOON, ["K9"]), ErrorCode.CARD_NOT_SOLD)

    challenge, transmit = _challenge(card)
    update = ok(counter.call("post", Routes.CARD_SELL.format(card_number=card.number), {"challenge": challenge}))
    data = bytes.fromhex(update["update_data"])
    assert transmit(p.update_public_secure(data[:36], data[36:])).ok
    public = card.read().public  # the PSAM checks the issuer's MAC over the new file
    today = kit.local_now().date()
    assert (public.sold, public.activated, public.expires) == (True, today, today + dt.timedelta(days=365))
    assert update["card"]["status"] == "active" and update["card"]["expires_on"] == str(public.expires)
    # An update is bound to the card's one-time challenge: replayed, the card refuses it.
    assert not transmit(p.update_public_secure(data[:36], data[36:])).ok

    challenge, transmit = _challenge(card)
    renewed = ok(counter.call("post", Routes.CARD_RENEW.format(card_number=card.number),
                              {"challenge": challenge, "valid_days": 30}))
    data = bytes.fromhex(renewed["update_data"])
    assert transmit(p.update_public_secure(data[:36], data[36:])).ok
    assert card.read().public.expires == today + dt.timedelta(days=365 + 30)
    assert counter.redeem(card, SOON, ["K10"])["redemption"]["state"] == "confirmed"


def test_concessions_need_staff_and_hold_no_seats(module_central: RunningCentral, kit: CardKit) -> None:
    counter = CardKiosk(module_central)
    card = kit.make_card(visits=5)
    body = {"card_number": card.number, "kind": "concessions", "visits": 2}
    refusal(counter.call("post", Routes.REDEMPTIONS, body), ErrorCode.FORBIDDEN)
    counter.log_in("S1001")
    held = ok(counter.call("post", Routes.REDEMPTIONS, body, key="conc-1"))
    assert (held["kind"], held["visits"], held["seats"], held["showing_id"]) == ("concessions", 2, [], None)
    proof = counter.debit_announced(card, held)
    result = ok(counter.confirm(held["redemption_id"], proof_of(proof)))
    assert result["claim"] is None and result["redemption"]["state"] == "confirmed"
    view = ok(counter.tap(card))
    assert view["visits_left"] == 3 and view["history"][0]["kind"] == "concessions"
    from sqlalchemy import select

    from central.models import CardTransaction

    with kit.ledger.sessions() as session:
        tx = session.scalars(select(CardTransaction).where(CardTransaction.card_number == card.number)).one()
        assert tx.staff_no == "S1001"


def test_a_cinemas_manager_blacklists_only_its_own_cinemas_cards(module_central: RunningCentral, kit: CardKit) -> None:
    card = kit.make_card(visits=5)
    with kit.ledger.sessions.begin() as session:
        session.get_one(Card, card.number).sold_cinema_id = "cinema-demo-2"  # sold by the second cinema
    entry = Routes.CARD_BLACKLIST_ENTRY.format(card_number=card.number)
    manager = CardKiosk(module_central)
    manager.log_in("M1001")
    refusal(manager.call("post", entry, {"reason": "lost"}), ErrorCode.FORBIDDEN)
    admin = CardKiosk(module_central)
    admin.log_in("A0001")  # head office acts for every cinema
    assert ok(admin.call("post", entry, {"reason": "lost"}))["status"] == "blacklisted"
