"""A ticket prints once when a lease runs out: "about to print", lapsed leases, refunds, revocations.

The kiosk tells the central before a ticket's bytes go to the printer.  When the claim's lease
runs out, what was never about to print is released (its entrance token revoked) and what may
have reached a printer is in doubt: never offered to another kiosk.
"""

from __future__ import annotations

from typing import Any

from backend_client import tokens
from backend_client.wire import ClaimResponse, ErrorCode, PrintPermit
from tests.central.kiosk_api import KioskApi, forget_claims, new_order, ok, refusal

LEASE_S = 120


def _claim(api: KioskApi, order: dict[str, Any]) -> ClaimResponse:
    return ClaimResponse.model_validate(ok(api.claim(order["order_id"], order["ticket_ids"])))


def _token_ids(claim: ClaimResponse) -> dict[str, str]:
    return {t.ticket_id: tokens.parse_unverified(t.entrance_token)[0].token_id for t in claim.tickets}


def _offered(api: KioskApi, order: dict[str, Any]) -> set[str]:
    tickets = ok(api.lookup_order(order))["order"]["tickets"]
    return {t["ticket_id"] for t in tickets if t["status"] == "available"}


def test_about_to_print_renews_the_lease_and_is_repeatable(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central, seat_count=2)
    claim = _claim(kiosk_a, order)
    first = order["ticket_ids"][0]
    kiosk_a.central.advance_clock(LEASE_S - 20)
    permit = PrintPermit.model_validate(ok(kiosk_a.start_printing(claim.claim_id, first)))
    assert (permit.claim_id, permit.ticket_id) == (claim.claim_id, first)
    assert permit.lease_expires_at > claim.lease_expires_at
    # The same notice again (an answer lost on the way) gives the same leave.
    assert ok(kiosk_a.start_printing(claim.claim_id, first))["ticket_id"] == first
    kiosk_a.central.advance_clock(60)  # past the first lease, inside the renewed one
    refusal(kiosk_b.claim(order["order_id"], order["ticket_ids"][1:]), ErrorCode.BEING_COLLECTED)


def test_a_lapsed_lease_releases_what_never_printed_and_holds_the_rest_in_doubt(
    kiosk_a: KioskApi, kiosk_b: KioskApi
) -> None:
    order = new_order(kiosk_a.central, seat_count=4)
    one, two, three, four = order["ticket_ids"]
    claim = _claim(kiosk_a, order)
    ok(kiosk_a.start_printing(claim.claim_id, one))
    ok(kiosk_a.report(claim.claim_id, {one: "printed"}))
    ok(kiosk_a.start_printing(claim.claim_id, two))  # and then the kiosk goes silent
    kiosk_a.central.advance_clock(LEASE_S + 1)

    # Another kiosk is offered only what never reached a printer.
    assert _offered(kiosk_b, order) == {three, four}
    refusal(kiosk_b.claim(order["order_id"], [two]), ErrorCode.TICKET_NOT_AVAILABLE)
    assert kiosk_a.central.cli_json("show-order", order["order_id"])["tickets"] == {
        one: "printed", two: "in_doubt", three: "available", four: "available"}
    # The released tickets' entrance tokens no longer open a door; the others still do.
    revoked = kiosk_b.revoked_token_ids()
    ids = _token_ids(claim)
    assert {ids[three], ids[four]} <= revoked
    assert not {ids[one], ids[two]} & revoked

    # The silent kiosk is told to stop before it prints anything more.
    details = refusal(kiosk_a.start_printing(claim.claim_id, three), ErrorCode.CLAIM_EXPIRED)
    assert "lease_expired_at" in details
    ok(kiosk_b.claim(order["order_id"], [three, four]))
    refusal(kiosk_a.start_printing(claim.claim_id, four), ErrorCode.CLAIM_EXPIRED)
    # Its late report of the ticket it was printing is still the truth: printed, by it.
    status = ok(kiosk_a.report(claim.claim_id, {two: "printed", three: "released", four: "released"}))
    assert status["tickets"] == {one: "printed", two: "printed", three: "available", four: "available"}
    actions = [e["action"] for e in kiosk_a.central.cli_json("show-order", order["order_id"])["audit"]]
    assert "lease_expired" in actions and "late_report_conflict" not in actions


def test_a_printed_report_for_a_ticket_never_about_to_print_after_the_lease_is_a_conflict(
    kiosk_a: KioskApi, kiosk_b: KioskApi
) -> None:
    order = new_order(kiosk_a.central, seat_count=1)
    (ticket,) = order["ticket_ids"]
    claim = _claim(kiosk_a, order)
    kiosk_a.central.advance_clock(LEASE_S + 1)
    assert _offered(kiosk_b, order) == {ticket}
    status = ok(kiosk_a.report(claim.claim_id, {ticket: "printed"}))
    assert status["tickets"] == {ticket: "in_doubt"}
    actions = [e["action"] for e in kiosk_a.central.cli_json("show-order", order["order_id"])["audit"]]
    assert "late_report_conflict" in actions


def test_about_to_print_refusals_name_the_problem(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central, seat_count=2)
    first, second = order["ticket_ids"]
    other = new_order(kiosk_a.central, seat_count=1)
    claim = _claim(kiosk_a, order)
    refusal(kiosk_a.start_printing("clm-nonexistent", first), ErrorCode.CLAIM_NOT_FOUND)
    refusal(kiosk_b.start_printing(claim.claim_id, first), ErrorCode.CLAIM_NOT_FOUND)
    refusal(kiosk_a.start_printing(claim.claim_id, other["ticket_ids"][0]), ErrorCode.BAD_REQUEST)
    ok(kiosk_a.report(claim.claim_id, {first: "released"}))
    refusal(kiosk_a.start_printing(claim.claim_id, first), ErrorCode.TICKET_NOT_AVAILABLE)
    ok(kiosk_a.start_printing(claim.claim_id, second))


def test_a_released_report_revokes_that_tickets_entrance_token(kiosk_a: KioskApi) -> None:
    order = new_order(kiosk_a.central, seat_count=2)
    first, second = order["ticket_ids"]
    claim = _claim(kiosk_a, order)
    ok(kiosk_a.start_printing(claim.claim_id, first))
    ok(kiosk_a.report(claim.claim_id, {first: "printed", second: "released"}))
    ids = _token_ids(claim)
    revoked = kiosk_a.revoked_token_ids()
    assert ids[second] in revoked and ids[first] not in revoked


def test_refund_revokes_the_entrance_tokens_and_stops_the_kiosk_printing(kiosk_a: KioskApi) -> None:
    order = new_order(kiosk_a.central, seat_count=2)
    claim = _claim(kiosk_a, order)
    result = kiosk_a.central.cli_json("refund", order["order_id"])
    assert result["status"] == "refunded"
    assert set(_token_ids(claim).values()) <= kiosk_a.revoked_token_ids()
    refusal(kiosk_a.start_printing(claim.claim_id, order["ticket_ids"][0]), ErrorCode.CLAIM_EXPIRED)


def test_refund_is_refused_while_a_ticket_is_being_printed_or_in_doubt(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central, seat_count=2)
    first, second = order["ticket_ids"]
    claim = _claim(kiosk_a, order)
    ok(kiosk_a.start_printing(claim.claim_id, first))
    printing = kiosk_a.central.cli("refund", order["order_id"])
    assert printing.returncode != 0
    assert len(printing.stderr.strip().splitlines()) == 1 and "being printed" in printing.stderr

    kiosk_a.central.advance_clock(LEASE_S + 1)
    assert _offered(kiosk_b, order) == {second}  # the lapsed lease is settled: the first is in doubt
    doubtful = kiosk_a.central.cli("refund", order["order_id"])
    assert doubtful.returncode != 0 and "in doubt" in doubtful.stderr
    assert kiosk_a.central.cli_json("show-order", order["order_id"])["status"] == "paid"
    assert set(_token_ids(claim).values()) & kiosk_a.revoked_token_ids() == {_token_ids(claim)[second]}


def test_a_report_to_a_central_that_lost_the_claim_is_recorded_by_its_entrance_token(
    kiosk_a: KioskApi, kiosk_b: KioskApi
) -> None:
    order = new_order(kiosk_a.central, seat_count=3)
    one, two, three = order["ticket_ids"]
    claim = _claim(kiosk_a, order)
    proofs = {t.ticket_id: t.entrance_token for t in claim.tickets}
    for ticket in (one, two):
        ok(kiosk_a.start_printing(claim.claim_id, ticket))
    forget_claims(kiosk_a.central, order["order_id"])  # restored from a backup taken before the claim

    refusal(kiosk_a.report(claim.claim_id, {one: "printed"}), ErrorCode.CLAIM_NOT_FOUND)  # no proof
    refusal(kiosk_a.report(claim.claim_id, {one: "printed"}, {one: proofs[two]}), ErrorCode.CLAIM_NOT_FOUND)
    refusal(kiosk_a.report(claim.claim_id, {one: "printed"}, {one: proofs[one][:-4] + "AAAA"}),
            ErrorCode.CLAIM_NOT_FOUND)  # forged
    assert ok(kiosk_a.report(claim.claim_id, {one: "printed"}, {one: proofs[one]}))["tickets"] == {one: "printed"}
    assert ok(kiosk_a.report(claim.claim_id, {two: "in_doubt"}, {two: proofs[two]}))["tickets"] == {two: "in_doubt"}
    # Repeated (an answer lost on the way): the same, nothing more.
    assert ok(kiosk_a.report(claim.claim_id, {one: "printed"}, {one: proofs[one]}))["tickets"] == {one: "printed"}
    assert _offered(kiosk_b, order) == {three}
    summary = kiosk_a.central.cli_json("show-order", order["order_id"])
    assert summary["tickets"] == {one: "printed", two: "in_doubt", three: "available"}
    assert [e["action"] for e in summary["audit"]].count("report_without_claim") == 2
