"""Recovery under a chain's stricter settings, over HTTP on SQLite and PostgreSQL: the ID number's
last 4 required, per-phone and per-kiosk rate limits, and an SMS gateway that fails or is absent."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_client.wire import ErrorCode
from tests.central.kiosk_api import ok, refusal
from tests.central.recovery_kit import bound_order, fresh_phone, recovery_kiosk, rows
from tests.support.central_server import RunningCentral, running_central

PHONE_LIMIT = 2
KIOSK_LIMIT = 3


def _dead_port() -> int:
    """A local port nobody listens on: the SMS gateway's connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def strict_central(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCentral]:
    env = {
        "CENTRAL_RECOVERY_REQUIRE_ID_LAST4": "1",
        "CENTRAL_RECOVERY_PHONE_SESSIONS_PER_HOUR": str(PHONE_LIMIT),
        "CENTRAL_RECOVERY_KIOSK_SESSIONS_PER_HOUR": str(KIOSK_LIMIT),
        "CENTRAL_SMS_GATEWAY": "http",
        "CENTRAL_SMS_GATEWAY_URL": f"http://127.0.0.1:{_dead_port()}/send",
    }
    central = RunningCentral(module_db_url, tmp_path_factory.mktemp("strict") / "central", test_hooks=True, env=env)
    central.init_secrets()
    (Path(central.env["CENTRAL_SECRETS_DIR"]) / "sms-gateway-key").write_text("test-gateway-key\n")
    central.load_demo_data()
    central.start()
    try:
        yield central
    finally:
        central.stop()


def test_the_id_digits_are_required_when_the_chain_asks_for_them(strict_central: RunningCentral) -> None:
    phone = fresh_phone()
    bound_order(strict_central, phone, id_last4="000X")
    kiosk = recovery_kiosk(strict_central)
    refusal(kiosk.start(phone), ErrorCode.RECOVERY_ID_REQUIRED)
    refusal(kiosk.start(phone, id_last4="0001"), ErrorCode.RECOVERY_NO_ORDERS)
    assert ok(kiosk.start(phone, id_last4="000X"))["orders"]


def test_a_phone_is_limited_across_kiosks_with_a_retry_time(strict_central: RunningCentral) -> None:
    phone = fresh_phone()
    bound_order(strict_central, phone, id_last4="1234")
    for _ in range(PHONE_LIMIT):
        ok(recovery_kiosk(strict_central).start(phone, id_last4="1234"))
    details = refusal(recovery_kiosk(strict_central).start(phone, id_last4="1234"), ErrorCode.RECOVERY_RATE_LIMITED)
    assert details["scope"] == "phone" and 0 < details["retry_after_s"] <= 3600
    # A refused start counts too: guessing numbers is braked the same way.
    unknown = fresh_phone()
    kiosk = recovery_kiosk(strict_central)
    for _ in range(PHONE_LIMIT):
        refusal(kiosk.start(unknown, id_last4="1234"), ErrorCode.RECOVERY_NO_ORDERS)
    refusal(recovery_kiosk(strict_central).start(unknown, id_last4="1234"), ErrorCode.RECOVERY_RATE_LIMITED)


def test_a_kiosk_is_limited_whatever_the_phones(strict_central: RunningCentral) -> None:
    kiosk = recovery_kiosk(strict_central)
    for _ in range(KIOSK_LIMIT):
        refusal(kiosk.start(fresh_phone(), id_last4="1234"), ErrorCode.RECOVERY_NO_ORDERS)
    details = refusal(kiosk.start(fresh_phone(), id_last4="1234"), ErrorCode.RECOVERY_RATE_LIMITED)
    assert details["scope"] == "kiosk" and details["retry_after_s"] > 0
    audited = rows(strict_central, "SELECT outcome FROM recovery_attempts WHERE kiosk_id = :k ORDER BY id",
                   k=kiosk.credential.partition(".")[0])
    assert [o for (o,) in audited] == ["no_orders"] * KIOSK_LIMIT + ["rate_limited"]


def test_a_failing_sms_gateway_answers_sms_unavailable_and_counts_no_code(strict_central: RunningCentral) -> None:
    phone = fresh_phone()
    order = bound_order(strict_central, phone, id_last4="1234")
    kiosk = recovery_kiosk(strict_central)
    session = ok(kiosk.start(phone, id_last4="1234"))
    assert session["methods"] == ["sms"]  # configured, so offered
    refusal(kiosk.send_sms(session["session_id"]), ErrorCode.SMS_UNAVAILABLE)
    assert ok(kiosk.session(session["session_id"]))["sms_codes_left"] == 3
    assert rows(strict_central, "SELECT count(*) FROM recovery_sms_codes WHERE session_id = :s",
                s=session["session_id"]) == [(0,)]
    assert ok(kiosk.lookup_order(order))  # nothing revoked


def test_without_a_gateway_sms_is_not_offered(db_url: str, tmp_path: Path) -> None:
    with running_central(db_url, tmp_path, env={"CENTRAL_SMS_GATEWAY": ""}) as central:
        phone = fresh_phone()
        bound_order(central, phone)
        kiosk = recovery_kiosk(central)
        session = ok(kiosk.start(phone))
        assert session["methods"] == []  # no face enrolled, no SMS: the counter helps
        refusal(kiosk.send_sms(session["session_id"]), ErrorCode.SMS_UNAVAILABLE)
