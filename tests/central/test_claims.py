"""Claims, leases and reports: one winner between kiosks, idempotency, expiry and late reports."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from backend_client import tokens
from backend_client.wire import ClaimResponse, ClaimStatus, ErrorCode, Routes, TicketStatus
from tests.central.kiosk_api import KioskApi, new_order, ok, refusal

LEASE_S = 120


def _statuses(api: KioskApi, order: dict[str, Any]) -> dict[str, str]:
    return {t["ticket_id"]: t["status"] for t in ok(api.lookup_order(order))["order"]["tickets"]}


def _claim_at_the_same_moment(kiosks: list[KioskApi], order: dict[str, Any]) -> list[requests.Response]:
    barrier = threading.Barrier(len(kiosks))

    def claim(api: KioskApi) -> requests.Response:
        barrier.wait(timeout=10)
        return api.claim(order["order_id"], order["ticket_ids"])

    with ThreadPoolExecutor(max_workers=len(kiosks)) as pool:
        return list(pool.map(claim, kiosks, timeout=60))


def test_simultaneous_claims_from_two_kiosks_have_exactly_one_winner(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    for _ in range(4):
        answers = _claim_at_the_same_moment([kiosk_a, kiosk_b], new_order(kiosk_a.central))
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        refusal(next(r for r in answers if r.status_code == 409), ErrorCode.BEING_COLLECTED)


def test_claim_gives_signed_entrance_tokens_for_each_ticket(kiosk_a: KioskApi) -> None:
    order = new_order(kiosk_a.central)
    claim = ClaimResponse.model_validate(ok(kiosk_a.claim(order["order_id"], order["ticket_ids"])))
    keys = ok(kiosk_a.get(Routes.KEYS))["keys"]
    public = {k["key_id"]: tokens.load_public_key(k["public_key"]) for k in keys}
    for ticket in claim.tickets:
        verified = tokens.verify_token(ticket.entrance_token, public, set(), claim.lease_expires_at)
        assert verified.kind == tokens.KIND_TICKET
        assert verified.ticket_id == ticket.ticket_id
        assert verified.order_id == order["order_id"]
    assert [t.ticket_id for t in claim.tickets] == order["ticket_ids"]


def test_claimed_order_is_being_collected_for_another_kiosk(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central)
    ok(kiosk_a.claim(order["order_id"], order["ticket_ids"]))
    refusal(kiosk_b.lookup_order(order), ErrorCode.BEING_COLLECTED)
    refusal(kiosk_b.claim(order["order_id"], order["ticket_ids"]), ErrorCode.BEING_COLLECTED)


def test_same_idempotency_key_returns_the_same_claim(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central)
    first = ok(kiosk_a.claim(order["order_id"], order["ticket_ids"], key="retry-1"))
    again = ok(kiosk_a.claim(order["order_id"], order["ticket_ids"], key="retry-1"))
    assert again == first
    # Another kiosk with the same key is another claim: the tickets are taken.
    refusal(kiosk_b.claim(order["order_id"], order["ticket_ids"], key="retry-1"), ErrorCode.BEING_COLLECTED)
    # The same key for a different request is a client bug, said clearly.
    other = new_order(kiosk_a.central)
    refusal(kiosk_a.claim(other["order_id"], other["ticket_ids"], key="retry-1"), ErrorCode.BAD_REQUEST)


def test_report_printed_collects_and_repeating_it_changes_nothing(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central)
    first, second = order["ticket_ids"]
    claim = ok(kiosk_a.claim(order["order_id"], order["ticket_ids"]))
    status = ClaimStatus.model_validate(ok(kiosk_a.report(claim["claim_id"], {first: "printed"})))
    assert status.tickets == {first: TicketStatus.PRINTED, second: TicketStatus.CLAIMED}
    assert status.open
    repeated = ok(kiosk_a.report(claim["claim_id"], {first: "printed"}))
    assert repeated == status.model_dump(mode="json")
    done = ClaimStatus.model_validate(ok(kiosk_a.report(claim["claim_id"], {first: "printed", second: "printed"})))
    assert not done.open
    details = refusal(kiosk_b.lookup_order(order), ErrorCode.ALREADY_COLLECTED)
    assert details["kiosk"] == "Lobby-**-03"


def test_partly_collected_order_offers_the_rest(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central)
    first, second = order["ticket_ids"]
    claim = ok(kiosk_a.claim(order["order_id"], order["ticket_ids"]))
    ok(kiosk_a.report(claim["claim_id"], {first: "printed", second: "released"}))
    tickets = {t["ticket_id"]: t for t in ok(kiosk_b.lookup_order(order))["order"]["tickets"]}
    assert tickets[first]["status"] == "printed" and tickets[first]["printed_by"] == "Lobby-**-03"
    assert tickets[second]["status"] == "available"
    refusal(kiosk_b.claim(order["order_id"], [first]), ErrorCode.ALREADY_COLLECTED)
    ok(kiosk_b.claim(order["order_id"], [second]))


def test_in_doubt_ticket_goes_to_staff_not_to_another_kiosk(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central, seat_count=1)
    claim = ok(kiosk_a.claim(order["order_id"], order["ticket_ids"]))
    ok(kiosk_a.report(claim["claim_id"], {order["ticket_ids"][0]: "in_doubt"}))
    refusal(kiosk_b.lookup_order(order), ErrorCode.TICKET_NOT_AVAILABLE)
    refusal(kiosk_b.claim(order["order_id"], order["ticket_ids"]), ErrorCode.TICKET_NOT_AVAILABLE)


def test_expired_lease_frees_the_tickets(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central)
    ok(kiosk_a.claim(order["order_id"], order["ticket_ids"]))
    kiosk_a.central.advance_clock(LEASE_S + 1)
    assert set(_statuses(kiosk_b, order).values()) == {"available"}
    ok(kiosk_b.claim(order["order_id"], order["ticket_ids"]))


def test_a_report_extends_the_lease(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central)
    first, second = order["ticket_ids"]
    claim = ok(kiosk_a.claim(order["order_id"], order["ticket_ids"]))
    kiosk_a.central.advance_clock(LEASE_S - 20)
    ok(kiosk_a.report(claim["claim_id"], {first: "printed"}))
    kiosk_a.central.advance_clock(60)  # past the first lease, inside the extended one
    refusal(kiosk_b.claim(order["order_id"], [second]), ErrorCode.BEING_COLLECTED)


def test_late_printed_report_of_a_ticket_about_to_print_is_accepted(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central, seat_count=1)
    claim = ok(kiosk_a.claim(order["order_id"], order["ticket_ids"]))
    ok(kiosk_a.start_printing(claim["claim_id"], order["ticket_ids"][0]))
    kiosk_a.central.advance_clock(LEASE_S + 30)
    refusal(kiosk_b.lookup_order(order), ErrorCode.TICKET_NOT_AVAILABLE)  # in doubt meanwhile, not offered
    status = ok(kiosk_a.report(claim["claim_id"], {order["ticket_ids"][0]: "printed"}))
    assert status["tickets"] == {order["ticket_ids"][0]: "printed"}
    refusal(kiosk_b.lookup_order(order), ErrorCode.ALREADY_COLLECTED)


def test_late_report_after_another_claim_is_in_doubt_and_audited(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central, seat_count=1)
    ticket = order["ticket_ids"][0]
    late = ok(kiosk_a.claim(order["order_id"], [ticket]))
    kiosk_a.central.advance_clock(LEASE_S + 1)
    taken = ok(kiosk_b.claim(order["order_id"], [ticket]))
    status = ok(kiosk_a.report(late["claim_id"], {ticket: "printed"}))
    assert status["tickets"] == {ticket: "in_doubt"}
    # The kiosk that now holds the ticket is not disturbed.
    assert ok(kiosk_b.report(taken["claim_id"], {ticket: "printed"}))["tickets"] == {ticket: "printed"}
    summary = kiosk_a.central.cli_json("show-order", order["order_id"])
    conflicts = [e for e in summary["audit"] if e["action"] == "late_report_conflict"]
    assert len(conflicts) == 1 and conflicts[0]["details"]["claim_id"] == late["claim_id"]


def test_claim_refusals_name_the_problem(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    demo = kiosk_a.central.demo["orders"]
    refusal(kiosk_a.claim("ord-nonexistent", ["tkt-x"]), ErrorCode.UNKNOWN_CODE)
    refusal(kiosk_a.claim(demo["refunded"]["order_id"], demo["refunded"]["ticket_ids"]), ErrorCode.REFUNDED)
    refusal(kiosk_a.claim(demo["show_over"]["order_id"], demo["show_over"]["ticket_ids"]), ErrorCode.SHOW_OVER)
    refusal(kiosk_a.claim(demo["other_cinema"]["order_id"], demo["other_cinema"]["ticket_ids"]), ErrorCode.OTHER_CINEMA)
    order = new_order(kiosk_a.central)
    other = new_order(kiosk_a.central)
    refusal(kiosk_a.claim(order["order_id"], other["ticket_ids"]), ErrorCode.TICKET_NOT_AVAILABLE)
    claim = ok(kiosk_a.claim(order["order_id"], order["ticket_ids"]))
    refusal(kiosk_b.report(claim["claim_id"], {order["ticket_ids"][0]: "printed"}), ErrorCode.CLAIM_NOT_FOUND)
    refusal(kiosk_a.report("clm-nonexistent", {order["ticket_ids"][0]: "printed"}), ErrorCode.CLAIM_NOT_FOUND)
    refusal(kiosk_a.report(claim["claim_id"], {other["ticket_ids"][0]: "printed"}), ErrorCode.BAD_REQUEST)


def test_refund_during_a_claim_makes_a_print_report_in_doubt(kiosk_a: KioskApi) -> None:
    order = new_order(kiosk_a.central, seat_count=1)
    claim = ok(kiosk_a.claim(order["order_id"], order["ticket_ids"]))
    kiosk_a.central.cli_json("refund", order["order_id"])
    status = ok(kiosk_a.report(claim["claim_id"], {order["ticket_ids"][0]: "printed"}))
    assert status["tickets"] == {order["ticket_ids"][0]: "in_doubt"}
    refusal(kiosk_a.lookup_order(order), ErrorCode.REFUNDED)
