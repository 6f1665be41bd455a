"""Unit tests of the client's retries and answer mapping, against a scripted loopback server."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from backend_client import wire
from backend_client.client import CentralClient, RequestInfo, ResponseInfo
from backend_client.errors import CentralBadAnswer, CentralRefused, CentralUnreachable, KioskUnauthorized
from tests.backend_client.stub_http import Step, StubServer, json_step

HELLO = {"kiosk_id": "k-1", "cinema_id": "c-1", "server_time": "2026-11-22T10:00:00+00:00"}
CLAIM = {
    "claim_id": "cl-1",
    "order_id": "o-1",
    "lease_expires_at": "2026-11-22T10:05:00Z",
    "tickets": [{"ticket_id": "t-1", "row": "5", "seat": "7", "price_fen": 4500, "entrance_token": "TK1.x.y"}],
}


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer()
    yield server
    server.stop()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(url: str, sleeps: Sleeps | None = None, **kwargs: object) -> CentralClient:
    sleep = sleeps if sleeps is not None else Sleeps()
    return CentralClient(url, "secret-credential", timeout_s=2.0, sleep=sleep, **kwargs)  # type: ignore[arg-type]


def free_port_nobody_listens_on() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_hello_parses_the_answer_and_sends_the_credential(stub: StubServer) -> None:
    stub.script(json_step(200, HELLO))
    hello = make_client(stub.url).hello()
    assert hello.kiosk_id == "k-1"
    assert hello.server_time == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert stub.seen[0].path == wire.Routes.HELLO
    assert stub.seen[0].headers["Authorization"] == "Bearer secret-credential"


def test_refusal_maps_to_its_code_details_and_status(stub: StubServer) -> None:
    stub.script(json_step(409, {
        "code": "already_collected", "message": "collected", "details": {"kiosk": "K-**"},
    }))
    with pytest.raises(CentralRefused) as caught:
        make_client(stub.url).lookup_code("123456", "654321")
    assert type(caught.value) is CentralRefused
    assert caught.value.code is wire.ErrorCode.ALREADY_COLLECTED
    assert caught.value.details == {"kiosk": "K-**"}
    assert caught.value.http_status == 409


def test_401_is_kiosk_unauthorized(stub: StubServer) -> None:
    stub.script(json_step(401, {"code": "unauthorized", "message": "unknown kiosk"}))
    with pytest.raises(KioskUnauthorized) as caught:
        make_client(stub.url).hello()
    assert caught.value.code is wire.ErrorCode.UNAUTHORIZED


@pytest.mark.parametrize(
    "step",
    [
        Step(200, b'{"kiosk_id": "k-1", "cin'),
        Step(200, b"<html><body>Welcome to the hotel wifi</body></html>", "text/html"),
        json_step(200, {"kiosk_id": "k-1"}),
        json_step(200, [1, 2, 3]),
        json_step(404, {"detail": "Not Found"}),
        json_step(409, {"code": "no_such_code_yet", "message": "?"}),
        Step(200, b"\xff\xfe\x00garbage"),
    ],
    ids=["truncated", "html", "missing-fields", "list", "not-an-error-body", "unknown-code", "binary"],
)
def test_anything_not_the_wire_format_is_a_bad_answer(stub: StubServer, step: Step) -> None:
    stub.script(step)
    with pytest.raises(CentralBadAnswer):
        make_client(stub.url).hello()


def test_get_is_retried_with_exponential_backoff_after_5xx(stub: StubServer) -> None:
    stub.script(Step(503, b"busy"), Step(502, b"<html/>", "text/html"), json_step(200, HELLO))
    sleeps = Sleeps()
    assert make_client(stub.url, sleeps).hello().kiosk_id == "k-1"
    assert len(stub.seen) == 3
    assert sleeps == [0.25, 0.5]


def test_5xx_on_every_attempt_is_unreachable(stub: StubServer) -> None:
    stub.script(json_step(500, {"code": "internal", "message": "boom"}))
    with pytest.raises(CentralUnreachable):
        make_client(stub.url).key_set()
    assert len(stub.seen) == 3


def test_code_lookup_is_not_repeated_after_a_5xx(stub: StubServer) -> None:
    stub.script(Step(503, b"busy"))
    with pytest.raises(CentralUnreachable):
        make_client(stub.url).lookup_code("123456", "654321")
    assert len(stub.seen) == 1


def test_code_lookup_is_not_repeated_after_a_dropped_connection(stub: StubServer) -> None:
    stub.script(Step(drop=True))
    sleeps = Sleeps()
    with pytest.raises(CentralUnreachable):
        make_client(stub.url, sleeps).lookup_code("123456", "654321")
    assert len(stub.seen) == 1
    assert sleeps == []


def test_code_lookup_is_repeated_when_the_connection_was_refused() -> None:
    attempts: list[RequestInfo] = []
    client = make_client(
        f"http://127.0.0.1:{free_port_nobody_listens_on()}",
        observer=lambda request, response: attempts.append(request),
    )
    with pytest.raises(CentralUnreachable, match="refused"):
        client.lookup_code("123456", "654321")
    assert [a.attempt for a in attempts] == [1, 2, 3]


def test_claim_is_repeated_with_the_same_idempotency_key(stub: StubServer) -> None:
    stub.script(Step(drop=True), Step(504, b""), json_step(201, CLAIM))
    claim = make_client(stub.url).claim("o-1", ["t-1"], "key-abc", "grant-1")
    assert claim.claim_id == "cl-1"
    assert [s.headers[wire.IDEMPOTENCY_HEADER] for s in stub.seen] == ["key-abc"] * 3
    assert {s.body for s in stub.seen} == {b'{"order_id":"o-1","ticket_ids":["t-1"],"claim_grant":"grant-1"}'}


def test_report_quotes_the_claim_id_in_the_path(stub: StubServer) -> None:
    stub.script(json_step(200, {"claim_id": "a/b", "open": False, "tickets": {"t-1": "printed"}}))
    status = make_client(stub.url).report("a/b", {"t-1": wire.TicketOutcome.PRINTED}, "key-1")
    assert status.tickets == {"t-1": wire.TicketStatus.PRINTED}
    assert stub.seen[0].path == wire.API_PREFIX + "/claims/a%2Fb/report"


def test_read_timeout_is_unreachable(stub: StubServer) -> None:
    stub.script(Step(delay_s=1.5, body=b"{}"))
    client = CentralClient(stub.url, "c", timeout_s=0.2, retries=1, sleep=Sleeps())
    with pytest.raises(CentralUnreachable, match="timeout"):
        client.revocations()
    assert len(stub.seen) == 2


@pytest.mark.parametrize(("serial", "verification"), [("12345", "654321"), ("123456", "65432a"), ("", "")])
def test_malformed_code_is_refused_without_a_request(stub: StubServer, serial: str, verification: str) -> None:
    with pytest.raises(CentralRefused) as caught:
        make_client(stub.url).lookup_code(serial, verification)
    assert caught.value.code is wire.ErrorCode.BAD_REQUEST
    assert stub.seen == []


def test_claim_without_tickets_is_refused_without_a_request(stub: StubServer) -> None:
    with pytest.raises(CentralRefused):
        make_client(stub.url).claim("o-1", [], "key", "grant-1")
    with pytest.raises(CentralRefused):
        make_client(stub.url).claim("o-1", ["t-1"], "key", "")  # no grant: no lookup came first
    assert stub.seen == []


def test_logs_mask_the_pickup_code(stub: StubServer, caplog: pytest.LogCaptureFixture) -> None:
    stub.script(Step(503, b""))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CentralUnreachable):
        make_client(stub.url).lookup_code("123456", "987654")
    assert "12****" in caplog.text
    assert "123456" not in caplog.text
    assert "987654" not in caplog.text


def test_logs_shorten_tokens(stub: StubServer, caplog: pytest.LogCaptureFixture) -> None:
    token = "TK1." + "A" * 40 + "." + "B" * 86
    stub.script(Step(502, b""))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CentralUnreachable):
        make_client(stub.url).lookup_token(token)
    assert "TK1.AAAA" in caplog.text
    assert token not in caplog.text


def test_observer_sees_every_attempt_without_the_credential(stub: StubServer) -> None:
    stub.script(Step(drop=True), json_step(200, HELLO))
    seen: list[tuple[RequestInfo, ResponseInfo]] = []
    make_client(stub.url, observer=lambda rq, rs: seen.append((rq, rs))).hello()
    assert [(rq.attempt, rs.status) for rq, rs in seen] == [(1, None), (2, 200)]
    assert seen[0][1].error == "connection lost"
    assert seen[1][1].body is not None and b"k-1" in seen[1][1].body
    assert all("Authorization" not in rq.headers for rq, _ in seen)


def test_a_failing_observer_does_not_break_the_call(stub: StubServer) -> None:
    def broken(request: RequestInfo, response: ResponseInfo) -> None:
        raise RuntimeError("recorder disk full")

    stub.script(json_step(200, HELLO))
    assert make_client(stub.url, observer=broken).hello().kiosk_id == "k-1"


def test_oversized_answer_is_refused(stub: StubServer) -> None:
    stub.script(Step(200, b"[" + b"1," * 600_000 + b"1]"))
    with pytest.raises(CentralUnreachable, match="too large"):
        CentralClient(stub.url, "c", retries=0).hello()


def test_credential_that_cannot_travel_in_a_header_is_rejected_early() -> None:
    with pytest.raises(ValueError):
        CentralClient("http://127.0.0.1:1", "bad\ncredential")
