"""The client's year-card and staff calls: what goes on the wire, what the recorder may see."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from backend_client import wire
from backend_client.client import CentralClient, RequestInfo, ResponseInfo
from backend_client.errors import CentralRefused, KioskUnauthorized
from tests.backend_client.stub_http import Step, StubServer, json_step

SESSION = {"token": "staff-token-secret", "staff_no": "S001", "name": "王芳", "role": "sales",
           "cinema_id": "c-1", "expires_at": "2026-12-01T12:00:00Z"}
CARD = {"card_number": "8800000000000017", "card_type": 1, "type_name": "年卡", "status": "active",
        "visits_left": 9, "max_people": 4}


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer()
    yield server
    server.stop()


def _client(url: str, seen: list[RequestInfo]) -> CentralClient:
    def observe(request: RequestInfo, response: ResponseInfo) -> None:
        seen.append(request)
    return CentralClient(url, "secret-credential", timeout_s=2.0, sleep=lambda _s: None, observer=observe)


def test_a_staff_password_and_session_token_never_reach_the_recorder(stub: StubServer) -> None:
    stub.script(json_step(200, SESSION), json_step(200, CARD))
    observed: list[RequestInfo] = []
    client = _client(stub.url, observed)
    session = client.staff_login("S001", "pw-1234")
    client.recycle_card("8800000000000017", session.token, "key-1")
    # The central got both secrets ...
    assert json.loads(stub.seen[0].body)["password"] == "pw-1234"
    assert stub.seen[1].headers[wire.STAFF_HEADER] == "staff-token-secret"
    # ... the observer (the recorder) neither.
    shown = repr([(r.headers, r.body) for r in observed])
    assert "pw-1234" not in shown and "staff-token-secret" not in shown
    assert observed[1].headers[wire.STAFF_HEADER] == "***"


def test_a_wrong_staff_password_is_the_staff_members_refusal_not_the_kiosks(stub: StubServer) -> None:
    stub.script(json_step(401, {"code": "staff_auth_failed", "message": "wrong", "details": {"attempts_left": 3}}))
    with pytest.raises(CentralRefused) as caught:
        _client(stub.url, []).staff_login("S001", "nope")
    assert not isinstance(caught.value, KioskUnauthorized)
    assert caught.value.details == {"attempts_left": 3}
    assert len(stub.seen) == 1  # a login counts against the lockout: never repeated once sent


def test_logout_needs_no_body_but_reports_a_refusal(stub: StubServer) -> None:
    stub.script(Step(204, b""), json_step(401, {"code": "staff_session_expired", "message": "log in again"}))
    client = _client(stub.url, [])
    client.staff_logout("t-1")  # 204: no refusal raised
    assert stub.seen[0].headers[wire.STAFF_HEADER] == "t-1"
    with pytest.raises(CentralRefused) as caught:
        client.staff_logout("t-1")
    assert caught.value.code is wire.ErrorCode.STAFF_SESSION_EXPIRED


def test_card_numbers_are_masked_in_the_clients_log(stub: StubServer, caplog: pytest.LogCaptureFixture) -> None:
    stub.script(json_step(200, CARD))
    caplog.set_level("INFO", logger="backend_client.client")
    tap = wire.CardTap(card_number="8800000000000017", card_type=1, sold=True, balance=9)
    view = _client(stub.url, []).card_tap(tap, "tap-1")
    assert view.visits_left == 9 and view.status is wire.CardStatus.ACTIVE
    assert "8800000000000017" not in caplog.text and "0017" in caplog.text
