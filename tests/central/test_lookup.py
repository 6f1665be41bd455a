"""Lookups by code and QR token and every refusal a lookup can give, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from backend_client import tokens
from backend_client.wire import ErrorCode, KeySet, KioskHello, LookupResponse, Routes, TicketStatus
from tests.central.kiosk_api import KioskApi, new_order, ok, refusal
from tests.support.central_server import RunningCentral


@pytest.fixture(scope="module")
def api(module_central: RunningCentral) -> KioskApi:
    return KioskApi(module_central)


def test_hello_names_the_kiosk_and_its_cinema(api: KioskApi) -> None:
    hello = KioskHello.model_validate(ok(api.get(Routes.HELLO)))
    assert hello.kiosk_id == api.central.demo["kiosk_id"]
    assert hello.cinema_id == "cinema-demo"
    assert abs((hello.server_time - datetime.now(UTC)).total_seconds()) < 3600


def test_lookup_by_code_shows_film_hall_time_and_seats(api: KioskApi) -> None:
    demo = api.central.demo["orders"]["ready"]
    order = LookupResponse.model_validate(ok(api.lookup_order(demo))).order
    assert order.order_id == demo["order_id"]
    assert order.film_title == "流浪地球2"
    assert order.film_original_title == "The Wandering Earth II"
    assert order.cinema_name == "演示影城"
    assert order.hall_name == "1号厅"
    assert order.pickup_opens_at < order.show_start < order.show_end
    assert sorted(f"{t.row}{t.seat}" for t in order.tickets) == sorted(demo["seats"])
    assert all(t.status == TicketStatus.AVAILABLE for t in order.tickets)


def test_lookup_by_qr_token_finds_the_same_order(api: KioskApi) -> None:
    demo = api.central.demo["orders"]["single"]
    order = LookupResponse.model_validate(ok(api.lookup_token(demo["qr_token"]))).order
    assert order.order_id == demo["order_id"]
    assert [t.ticket_id for t in order.tickets] == demo["ticket_ids"]


def test_order_token_verifies_offline_with_the_published_keys(api: KioskApi) -> None:
    keys = KeySet.model_validate(ok(api.get(Routes.KEYS)))
    public = {k.key_id: tokens.load_public_key(k.public_key) for k in keys.keys}
    claims = tokens.verify_token(api.central.demo["orders"]["ready"]["qr_token"], public, set(), datetime.now(UTC))
    assert claims.kind == tokens.KIND_ORDER
    assert claims.order_id == api.central.demo["orders"]["ready"]["order_id"]


def test_collected_order_says_when_and_where_with_a_masked_kiosk(api: KioskApi) -> None:
    details = refusal(api.lookup_order(api.central.demo["orders"]["collected"]), ErrorCode.ALREADY_COLLECTED)
    assert details["kiosk"] == "Lobby-**-03"
    assert datetime.fromisoformat(details["collected_at"]) < datetime.now(UTC)


def test_refunded_order_is_refused(api: KioskApi) -> None:
    refusal(api.lookup_order(api.central.demo["orders"]["refunded"]), ErrorCode.REFUNDED)


def test_show_that_ended_is_refused(api: KioskApi) -> None:
    refusal(api.lookup_order(api.central.demo["orders"]["show_over"]), ErrorCode.SHOW_OVER)


def test_pickup_before_the_window_says_when_it_opens(api: KioskApi) -> None:
    demo = api.central.demo
    details = refusal(api.lookup_order(demo["orders"]["not_yet_open"]), ErrorCode.OUTSIDE_WINDOW)
    starts = datetime.fromisoformat(demo["showings"]["tomorrow"]["starts_at"])
    assert (starts - datetime.fromisoformat(details["opens_at"])).total_seconds() == 24 * 3600


def test_order_of_another_cinema_is_refused(api: KioskApi) -> None:
    refusal(api.lookup_order(api.central.demo["orders"]["other_cinema"]), ErrorCode.OTHER_CINEMA)
    refusal(api.lookup_token(api.central.demo["orders"]["other_cinema"]["qr_token"]), ErrorCode.OTHER_CINEMA)


def test_entrance_ticket_token_is_not_an_order_code(api: KioskApi) -> None:
    order = new_order(api.central, seat_count=1)
    claim = ok(api.claim(order["order_id"], order["ticket_ids"]))
    refusal(api.lookup_token(claim["tickets"][0]["entrance_token"]), ErrorCode.TICKET_TOKEN)
    ok(api.report(claim["claim_id"], {order["ticket_ids"][0]: "released"}))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"),  # signature altered
        lambda t: "TK1.e30." + t.rsplit(".", 1)[1],  # payload replaced
        lambda t: "TK1.not-a-token",
        lambda t: "https://example.invalid/some-other-qr",
    ],
    ids=["forged-signature", "swapped-payload", "malformed", "foreign-qr"],
)
def test_forged_or_foreign_token_is_invalid(api: KioskApi, mangle: Callable[[str], str]) -> None:
    refusal(api.lookup_token(mangle(api.central.demo["orders"]["ready"]["qr_token"])), ErrorCode.INVALID_TOKEN)


def test_token_signed_by_an_unknown_key_is_invalid(api: KioskApi) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    claims, _, _ = tokens.parse_unverified(api.central.demo["orders"]["ready"]["qr_token"])
    forged = tokens.sign_token(Ed25519PrivateKey.generate(), claims)
    details = refusal(api.lookup_token(forged), ErrorCode.INVALID_TOKEN)
    assert details["reason"] == "bad_signature"
