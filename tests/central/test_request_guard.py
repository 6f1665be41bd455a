"""Hostile requests at the real central over HTTP, on both databases: a body is capped while it
streams, nothing is read before the credential is checked, and text a database cannot hold gets
a bad request in the wire format, never a 500."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import quote

import pytest
import requests

from backend_client.wire import ErrorBody, ErrorCode, Routes
from central.api import MAX_BODY_BYTES
from tests.central.kiosk_api import KioskApi, ok, refusal
from tests.support.central_server import RunningCentral

# A safety net only: a server that waits for a body it should have refused fails the test here.
SOCKET_TIMEOUT_S = 15
MB = 1 << 20


@pytest.fixture(scope="module")
def api(module_central: RunningCentral) -> KioskApi:
    return KioskApi(module_central)


class RawRequest:
    """One HTTP/1.1 request written by hand, so that its body can be left unfinished."""

    def __init__(self, central: RunningCentral, head: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", central.port), timeout=SOCKET_TIMEOUT_S)
        self.sock.sendall(head.encode("latin-1") + b"\r\n")

    def chunk(self, data: bytes) -> None:
        self.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))

    def answer(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Status, headers and JSON body of the answer (read up to its Content-Length)."""
        data = b""
        while b"\r\n\r\n" not in data:
            part = self.sock.recv(65536)
            assert part, f"connection closed without an answer: {data!r}"
            data += part
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        while len(body) < int(headers["content-length"]):
            part = self.sock.recv(65536)
            assert part, "connection closed in the middle of the answer"
            body += part
        return int(lines[0].split()[1]), headers, json.loads(body)

    def server_stops_reading(self, limit_mb: int = 64) -> bool:
        """True when the server refuses more body bytes (closed the connection) before ``limit_mb``."""
        block = b"%x\r\n%s\r\n" % (MB, b"y" * MB)
        try:
            for _ in range(limit_mb):
                self.sock.sendall(block)
        except OSError:  # reset or broken pipe: the server closed instead of draining the body
            return True
        return False

    def close(self) -> None:
        self.sock.close()


def _head(path: str, *lines: str) -> str:
    return "".join(f"{line}\r\n" for line in (f"POST {path} HTTP/1.1", "Host: central", *lines))


def test_chunked_body_past_the_cap_is_refused_while_it_streams(api: KioskApi) -> None:
    central = api.central
    request = RawRequest(central, _head(Routes.LOOKUP_TOKEN, f"Authorization: Bearer {central.kiosk_credential}",
                                        "Content-Type: application/json", "Transfer-Encoding: chunked"))
    try:
        for _ in range(MAX_BODY_BYTES // 16384 + 2):
            request.chunk(b" " * 16384)
        # The body is not finished (no last chunk): the answer comes from the cap, not the end.
        status, headers, body = request.answer()
        assert status == 413
        assert ErrorBody.model_validate(body).code == ErrorCode.BAD_REQUEST
        assert headers.get("connection") == "close"
        assert request.server_stops_reading(), "the server kept reading a body it had refused"
    finally:
        request.close()
    ok(api.get(Routes.HELLO))


def test_declared_length_past_the_cap_is_refused_unread(api: KioskApi) -> None:
    central = api.central
    request = RawRequest(central, _head(Routes.LOOKUP_TOKEN, f"Authorization: Bearer {central.kiosk_credential}",
                                        f"Content-Length: {200 * MB}"))
    try:
        status, _, body = request.answer()
        assert status == 413 and body["code"] == ErrorCode.BAD_REQUEST.value
    finally:
        request.close()


@pytest.mark.parametrize(
    "authorization", [None, "Bearer kiosk-demo-1.wrong-secret", "Basic a.b"], ids=["missing", "wrong", "scheme"]
)
@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_unauthenticated_request_is_refused_before_its_body_is_read(
    api: KioskApi, authorization: str | None, framing: str
) -> None:
    lines = ["Content-Type: application/json"]
    lines += [f"Authorization: {authorization}"] if authorization else []
    lines += ["Transfer-Encoding: chunked"] if framing == "chunked" else [f"Content-Length: {MAX_BODY_BYTES}"]
    request = RawRequest(api.central, _head(Routes.LOOKUP_CODE, *lines))
    try:
        if framing == "chunked":
            request.chunk(b'{"serial": ')  # and never more: the server must not wait for the rest
        status, headers, body = request.answer()
        assert status == 401 and ErrorBody.model_validate(body).code == ErrorCode.UNAUTHORIZED
        assert headers.get("connection") == "close"
        assert request.server_stops_reading()
    finally:
        request.close()
    ok(api.get(Routes.HELLO))


@pytest.mark.parametrize(
    "claim_id", ["\x00", "clm-\x00", "\x00" * 70, "x" * 65, "é", "clm x", "%2e%2e", "-clm"],
    ids=["nul", "nul-suffix", "nuls", "long", "non-ascii", "space", "dots", "leading-dash"],
)
@pytest.mark.parametrize(
    ("route", "body"),
    [(Routes.CLAIM_REPORT, {"outcomes": {}}), (Routes.CLAIM_PRINTING, {"ticket_id": "tkt-1"})],
    ids=["report", "printing"],
)
def test_claim_id_in_the_path_is_validated_before_the_database(
    api: KioskApi, claim_id: str, route: str, body: dict[str, Any]
) -> None:
    path = route.format(claim_id=quote(claim_id, safe=""))
    response = api.post(path, body)
    refusal(response, ErrorCode.BAD_REQUEST)
    assert "Traceback" not in response.text
    # The same keep-alive connection serves the next request.
    ok(api.get(Routes.HELLO))


def _claim_bodies(api: KioskApi) -> dict[str, tuple[str, Any]]:
    order = api.central.demo["orders"]["ready"]
    lookup = ok(api.lookup_order(order))["order"]
    grant, order_id = lookup["claim_grant"], lookup["order_id"]
    ticket = order["ticket_ids"][0]
    return {
        "nul-ticket-id": (Routes.CLAIMS, {"order_id": order_id, "ticket_ids": ["tkt-\x00"], "claim_grant": grant}),
        "surrogate-ticket-id": (Routes.CLAIMS, {"order_id": order_id, "ticket_ids": ["\ud800"], "claim_grant": grant}),
        "nul-order-id": (Routes.CLAIMS, {"order_id": "\x00", "ticket_ids": [ticket], "claim_grant": grant}),
        "nul-grant": (Routes.CLAIMS, {"order_id": order_id, "ticket_ids": [ticket], "claim_grant": grant + "\x00"}),
        "nul-report-key": (Routes.CLAIM_REPORT.format(claim_id="clm-0"), {"outcomes": {"\x00": "printed"}}),
        "nul-token": (Routes.LOOKUP_TOKEN, {"token": "TK1.\x00"}),
        "surrogate-serial": (Routes.LOOKUP_CODE, {"serial": "\udfff", "verification": "123456"}),
    }


def test_text_a_database_cannot_hold_is_a_bad_request(api: KioskApi) -> None:
    for name, (path, body) in _claim_bodies(api).items():
        response = api.http.post(
            api.central.base_url + path,
            data=json.dumps(body),  # json.dumps escapes NUL and lone surrogates as \u0000 and \ud800
            headers={"Content-Type": "application/json"},
            timeout=15,
        )
        assert response.status_code != 500, (name, response.text)
        refusal(response, ErrorCode.BAD_REQUEST)
        ok(api.get(Routes.HELLO))


def test_deeply_nested_json_is_a_bad_request(api: KioskApi) -> None:
    depth = MAX_BODY_BYTES // 2 - 1
    response = api.http.post(
        api.central.base_url + Routes.LOOKUP_TOKEN,
        data="[" * depth + "]" * depth,
        headers={"Content-Type": "application/json"},
        timeout=15,
    )
    refusal(response, ErrorCode.BAD_REQUEST)
    ok(api.get(Routes.HELLO))


def test_valid_requests_still_pass_the_guard(api: KioskApi) -> None:
    order = api.central.demo["orders"]["ready"]
    assert ok(api.lookup_order(order))["order"]["order_id"] == order["order_id"]
    # A body just under the cap reaches the route's own validation.
    refusal(api.post(Routes.LOOKUP_TOKEN, {"token": "x" * (MAX_BODY_BYTES - 100)}), ErrorCode.BAD_REQUEST)
    assert requests.get(api.central.base_url + "/openapi.json", timeout=15).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", Routes.LOOKUP_CODE, 405), ("PUT", Routes.CLAIMS, 405), ("GET", "/api/v1/no-such-route", 404)],
    ids=["get-on-post-route", "put-on-post-route", "unknown-route"],
)
def test_wrong_method_or_path_keeps_its_http_status(api: KioskApi, method: str, path: str, status: int) -> None:
    # A proxy, a monitor or an operator's curl reads the status: a missing route is a 404, not a 422.
    response = api.http.request(method, api.central.base_url + path, timeout=15)
    assert response.status_code == status, response.text
    assert ErrorBody.model_validate(response.json()).code == ErrorCode.BAD_REQUEST
