"""The client against the real central over HTTP, directly and through the fault-injecting proxy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend_client import tokens, wire
from backend_client.client import CentralClient, RequestInfo, ResponseInfo
from backend_client.errors import CentralBadAnswer, CentralRefused, CentralUnreachable, KioskUnauthorized
from devices.sim.central_proxy import CentralProxy, FaultKind
from tests.backend_client.conftest import client_for
from tests.support.central_server import RunningCentral

Code = wire.ErrorCode


def order(central: RunningCentral, name: str) -> dict[str, Any]:
    found: dict[str, Any] = central.demo["orders"][name]
    return found


def new_key() -> str:
    return uuid.uuid4().hex


# Tests that only read use one central per module (`shared`); tests that claim, report, revoke
# or fail lookups get a fresh one (`central`, with `proxy` and `proxied` from conftest.py).


@pytest.fixture
def shared(module_central: RunningCentral) -> RunningCentral:
    return module_central


@pytest.fixture
def shared_client(shared: RunningCentral) -> Iterator[CentralClient]:
    with client_for(shared.base_url, shared.kiosk_credential) as made:
        yield made


@pytest.fixture
def shared_proxy(shared: RunningCentral) -> Iterator[CentralProxy]:
    with CentralProxy(shared.base_url) as running:
        yield running


@pytest.fixture
def shared_proxied(shared: RunningCentral, shared_proxy: CentralProxy) -> Iterator[CentralClient]:
    with client_for(shared_proxy.url, shared.kiosk_credential) as made:
        yield made


@pytest.fixture
def client(central: RunningCentral) -> Iterator[CentralClient]:
    with client_for(central.base_url, central.kiosk_credential) as made:
        yield made


# -- answers and refusals ------------------------------------------------------------------


def test_hello_names_this_kiosk(shared: RunningCentral, shared_client: CentralClient) -> None:
    hello = shared_client.hello()
    assert (hello.kiosk_id, hello.cinema_id) == (shared.demo["kiosk_id"], shared.demo["cinema_id"])
    assert hello.server_time.tzinfo is not None


def test_code_and_qr_find_the_same_order(shared: RunningCentral, shared_client: CentralClient) -> None:
    ready = order(shared, "ready")
    by_code = shared_client.lookup_code(ready["serial"], ready["verification"])
    by_qr = shared_client.lookup_token(ready["qr_token"])
    assert by_code == by_qr
    assert by_code.order_id == ready["order_id"]
    assert sorted(t.ticket_id for t in by_code.tickets) == sorted(ready["ticket_ids"])
    assert all(t.status is wire.TicketStatus.AVAILABLE for t in by_code.tickets)


REFUSED_ORDERS = [
    ("collected", Code.ALREADY_COLLECTED),
    ("not_yet_open", Code.OUTSIDE_WINDOW),
    ("show_over", Code.SHOW_OVER),
    ("refunded", Code.REFUNDED),
    ("other_cinema", Code.OTHER_CINEMA),
]


@pytest.mark.parametrize(("name", "code"), REFUSED_ORDERS)
def test_refused_orders_by_code_and_by_qr(
    shared: RunningCentral, shared_client: CentralClient, name: str, code: Code
) -> None:
    demo_order = order(shared, name)
    with pytest.raises(CentralRefused) as by_code:
        shared_client.lookup_code(demo_order["serial"], demo_order["verification"])
    with pytest.raises(CentralRefused) as by_qr:
        shared_client.lookup_token(demo_order["qr_token"])
    for refusal in (by_code.value, by_qr.value):
        assert refusal.code is code
        assert refusal.http_status == wire.ERROR_HTTP_STATUS[code]
    if code is Code.ALREADY_COLLECTED:
        assert "collected_at" in by_code.value.details


def test_wrong_codes_are_refused_then_locked_out(central: RunningCentral, client: CentralClient) -> None:
    ready = order(central, "ready")
    wrong = "000000" if ready["verification"] != "000000" else "111111"
    seen: list[Code] = []
    for _ in range(12):
        with pytest.raises(CentralRefused) as caught:
            client.lookup_code(ready["serial"], wrong)
        seen.append(caught.value.code)
        if caught.value.code is Code.LOCKED_OUT:
            assert caught.value.details["retry_after_s"] > 0
            break
    assert seen[0] is Code.UNKNOWN_CODE
    assert seen[-1] is Code.LOCKED_OUT
    # Locked out means locked out, even for the right code.
    with pytest.raises(CentralRefused) as right_code:
        client.lookup_code(ready["serial"], ready["verification"])
    assert right_code.value.code is Code.LOCKED_OUT


def test_token_refusals(central: RunningCentral, client: CentralClient) -> None:
    ready = order(central, "ready")
    real_key_id = tokens.parse_unverified(ready["qr_token"])[0].key_id
    forged = tokens.sign_token(Ed25519PrivateKey.generate(), tokens.TokenClaims(
        kind=tokens.KIND_ORDER, key_id=real_key_id, token_id="ot-forged", order_id=ready["order_id"],
        cinema_id=central.demo["cinema_id"], expires_at=datetime.now(UTC) + timedelta(days=1),
    ))
    for token in (forged, "TK1.garbage.garbage", "not even close"):
        with pytest.raises(CentralRefused) as caught:
            client.lookup_token(token)
        assert caught.value.code is Code.INVALID_TOKEN

    grant = client.lookup_code(ready["serial"], ready["verification"]).claim_grant
    claim = client.claim(ready["order_id"], ready["ticket_ids"], new_key(), grant)
    with pytest.raises(CentralRefused) as entrance:
        client.lookup_token(claim.tickets[0].entrance_token)
    assert entrance.value.code is Code.TICKET_TOKEN


def test_revoked_codes_are_refused(central: RunningCentral, client: CentralClient) -> None:
    single = order(central, "single")
    central.cli_json("revoke-codes", single["order_id"])
    with pytest.raises(CentralRefused) as by_code:
        client.lookup_code(single["serial"], single["verification"])
    with pytest.raises(CentralRefused) as by_qr:
        client.lookup_token(single["qr_token"])
    assert by_code.value.code is Code.REVOKED
    assert by_qr.value.code is Code.REVOKED


def test_claim_report_and_their_refusals(central: RunningCentral, client: CentralClient) -> None:
    group = order(central, "group")
    tickets = group["ticket_ids"]
    grant = client.lookup_code(group["serial"], group["verification"]).claim_grant
    claim = client.claim(group["order_id"], tickets[:2], new_key(), grant)
    assert [t.ticket_id for t in claim.tickets] == tickets[:2]

    with pytest.raises(CentralRefused) as held:
        client.claim(group["order_id"], tickets[:2], new_key(), grant)
    assert held.value.code is Code.BEING_COLLECTED
    with pytest.raises(CentralRefused) as stranger:
        client.claim(group["order_id"], [order(central, "ready")["ticket_ids"][0]], new_key(), grant)
    assert stranger.value.code is Code.TICKET_NOT_AVAILABLE
    with pytest.raises(CentralRefused) as reused_key:
        key = new_key()
        client.claim(group["order_id"], [tickets[2]], key, grant)
        client.claim(group["order_id"], [tickets[3]], key, grant)
    assert reused_key.value.code is Code.BAD_REQUEST
    with pytest.raises(CentralRefused) as no_order:
        client.claim("ord-nothing", ["tkt-nothing"], new_key(), central.claim_grant("ord-nothing"))
    assert no_order.value.code is Code.UNKNOWN_CODE

    status = client.report(claim.claim_id, {tickets[0]: wire.TicketOutcome.PRINTED}, new_key())
    assert status.tickets[tickets[0]] is wire.TicketStatus.PRINTED
    assert status.open
    status = client.report(claim.claim_id, {tickets[1]: wire.TicketOutcome.RELEASED}, new_key())
    assert not status.open
    with pytest.raises(CentralRefused) as unknown_claim:
        client.report("clm-nothing", {tickets[0]: wire.TicketOutcome.PRINTED}, new_key())
    assert unknown_claim.value.code is Code.CLAIM_NOT_FOUND


def test_unknown_and_revoked_kiosks_are_unauthorized(central: RunningCentral) -> None:
    with client_for(central.base_url, central.demo["kiosk_id"] + ".not-the-secret") as stranger, \
            pytest.raises(KioskUnauthorized) as caught:
        stranger.hello()
    assert caught.value.code is Code.UNAUTHORIZED

    enrolled = central.cli_json("kiosk", "enrol", "Lobby-02", "--cinema", central.demo["cinema_id"])
    with client_for(central.base_url, enrolled["credential"]) as second:
        assert second.hello().kiosk_id == enrolled["kiosk_id"]
        central.cli_json("kiosk", "revoke", enrolled["kiosk_id"])
        with pytest.raises(KioskUnauthorized):
            second.key_set()


def test_a_live_claim_at_another_kiosk_is_being_collected(central: RunningCentral, client: CentralClient) -> None:
    ready = order(central, "ready")
    grant = client.lookup_code(ready["serial"], ready["verification"]).claim_grant
    client.claim(ready["order_id"], ready["ticket_ids"], new_key(), grant)
    enrolled = central.cli_json("kiosk", "enrol", "Lobby-02", "--cinema", central.demo["cinema_id"])
    with client_for(central.base_url, enrolled["credential"]) as second, pytest.raises(CentralRefused) as caught:
        second.lookup_code(ready["serial"], ready["verification"])
    assert caught.value.code is Code.BEING_COLLECTED


# -- retries, timeouts and bad answers through the proxy -------------------------------------


@pytest.mark.parametrize("drop", [FaultKind.DROP_AFTER_UPSTREAM, FaultKind.DROP_BEFORE_UPSTREAM])
def test_claim_repeated_after_a_dropped_connection_claims_once(
    central: RunningCentral, proxy: CentralProxy, proxied: CentralClient, client: CentralClient, drop: FaultKind
) -> None:
    ready = order(central, "ready")
    proxy.fail_next(drop, path=r"/claims$")
    key = new_key()
    grant = client.lookup_code(ready["serial"], ready["verification"]).claim_grant
    claim = proxied.claim(ready["order_id"], ready["ticket_ids"], key, grant)
    assert proxy.upstream_hits(r"/claims$") == (2 if drop is FaultKind.DROP_AFTER_UPSTREAM else 1)
    # The same key gives back the same claim; a new key finds the tickets held by that one claim.
    assert client.claim(ready["order_id"], ready["ticket_ids"], key, grant) == claim
    with pytest.raises(CentralRefused) as second:
        client.claim(ready["order_id"], ready["ticket_ids"], new_key(), grant)
    assert second.value.code is Code.BEING_COLLECTED


def test_report_repeated_after_a_dropped_connection(
    central: RunningCentral, proxy: CentralProxy, proxied: CentralClient
) -> None:
    ready = order(central, "ready")
    grant = proxied.lookup_code(ready["serial"], ready["verification"]).claim_grant
    claim = proxied.claim(ready["order_id"], ready["ticket_ids"], new_key(), grant)
    outcomes = {t: wire.TicketOutcome.PRINTED for t in ready["ticket_ids"]}
    proxy.fail_next(FaultKind.DROP_AFTER_UPSTREAM, path=r"/report$")
    status = proxied.report(claim.claim_id, outcomes, new_key())
    assert proxy.upstream_hits(r"/report$") == 2
    assert set(status.tickets.values()) == {wire.TicketStatus.PRINTED}
    assert not status.open


@pytest.mark.parametrize("drop", [FaultKind.DROP_AFTER_UPSTREAM, FaultKind.DROP_BEFORE_UPSTREAM])
def test_code_lookup_is_sent_once_when_the_connection_drops(
    shared: RunningCentral, shared_proxy: CentralProxy, shared_proxied: CentralClient, drop: FaultKind
) -> None:
    ready = order(shared, "ready")
    shared_proxy.fail_next(drop, count=5, path=r"/lookup/code$")
    with pytest.raises(CentralUnreachable):
        shared_proxied.lookup_code(ready["serial"], ready["verification"])
    assert len([r for r in shared_proxy.seen if r.path.endswith("/lookup/code")]) == 1


def test_code_lookup_is_repeated_while_the_central_refuses_connections(
    shared: RunningCentral, shared_proxy: CentralProxy
) -> None:
    attempts: list[int] = []

    def watch(request: RequestInfo, response: ResponseInfo) -> None:
        attempts.append(request.attempt)

    shared_proxy.set_down(True)
    ready = order(shared, "ready")
    with client_for(shared_proxy.url, shared.kiosk_credential, observer=watch) as kiosk_client, \
            pytest.raises(CentralUnreachable, match="refused"):
        kiosk_client.lookup_code(ready["serial"], ready["verification"])
    assert attempts == [1, 2, 3]
    shared_proxy.set_down(False)
    with client_for(shared_proxy.url, shared.kiosk_credential) as kiosk_client:
        assert kiosk_client.lookup_code(ready["serial"], ready["verification"]).order_id == ready["order_id"]


def test_a_slow_central_is_unreachable(shared: RunningCentral, shared_proxy: CentralProxy) -> None:
    shared_proxy.fail_next(FaultKind.DELAY, count=None, delay_s=30)
    with client_for(shared_proxy.url, shared.kiosk_credential, timeout_s=0.3, retries=1) as impatient, \
            pytest.raises(CentralUnreachable, match="timeout"):
        impatient.hello()


def test_5xx_on_a_get_is_retried_until_the_central_answers(
    shared: RunningCentral, shared_proxy: CentralProxy, shared_proxied: CentralClient
) -> None:
    shared_proxy.fail_next(FaultKind.ERROR_5XX, count=2, status=502)
    assert shared_proxied.key_set().keys
    shared_proxy.fail_next(FaultKind.ERROR_5XX, count=3, status=503)
    with pytest.raises(CentralUnreachable):
        shared_proxied.key_set()


def test_central_internal_error_is_unreachable_not_a_refusal(central: RunningCentral, client: CentralClient) -> None:
    central.inject_faults(count=3, status=500)
    with pytest.raises(CentralUnreachable):
        client.revocations()


@pytest.mark.parametrize("kind", [FaultKind.TRUNCATED_JSON, FaultKind.HTML_PAGE, FaultKind.WRONG_SHAPE])
def test_malformed_answers_are_bad_answers(
    shared: RunningCentral, shared_proxy: CentralProxy, shared_proxied: CentralClient, kind: FaultKind
) -> None:
    ready = order(shared, "ready")
    shared_proxy.fail_next(kind, count=None)
    with pytest.raises(CentralBadAnswer):
        shared_proxied.hello()
    with pytest.raises(CentralBadAnswer):
        shared_proxied.lookup_code(ready["serial"], ready["verification"])
    with pytest.raises(CentralBadAnswer):
        shared_proxied.key_set()
