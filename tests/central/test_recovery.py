"""Lost-ticket recovery at the central over HTTP, on SQLite and PostgreSQL: sessions, the SMS and face
checks with their limits, completion revoking the lost codes, idempotency, and what is (not) stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from backend_client import tokens
from backend_client.wire import IDEMPOTENCY_HEADER, ErrorCode, Routes
from central import demo
from central.face_templates import encode_image
from central.sms import read_inbox
from tests.central.kiosk_api import ok, refusal
from tests.central.recovery_kit import (
    CONSENT,
    ENROLLED_PHOTO,
    GENUINE_PHOTO,
    IMPOSTOR_PHOTO,
    RecoveryKiosk,
    bound_order,
    fresh_phone,
    key,
    photo,
    recovery_kiosk,
    rows,
    sms_code,
    table_text,
    verify_by_sms,
)
from tests.support.central_server import RunningCentral, running_central


@pytest.fixture(scope="module")
def module_central(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCentral]:
    """The module's central; the face account starts more sessions than a person would in an hour."""
    env = {"CENTRAL_RECOVERY_PHONE_SESSIONS_PER_HOUR": "100"}
    with running_central(module_db_url, tmp_path_factory.mktemp("central"), env=env) as running:
        yield running


@pytest.fixture(scope="module")
def encodings() -> dict[str, list[float]]:
    """Encodings the kiosk would send: the enrolled person in another photo, and a stranger."""
    return {name: encode_image(photo(name).read_bytes()) for name in (ENROLLED_PHOTO, GENUINE_PHOTO, IMPOSTOR_PHOTO)}


@pytest.fixture(scope="module")
def face_phone(module_central: RunningCentral) -> str:
    """An account with two orders and a face enrolled from a real photo through the CLI."""
    phone = fresh_phone()
    bound_order(module_central, phone)
    bound_order(module_central, phone)
    done = module_central.cli("faces", "enroll", "--phone", phone, str(photo(ENROLLED_PHOTO)),
                              "--consent-version", CONSENT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["consent_version"] == CONSENT
    return phone


def _session_orders(session: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {order["order_id"]: order for order in session["orders"]}


# ---- starting a session ------------------------------------------------------------------


def test_a_session_lists_the_accounts_orders_here_today_masked(module_central: RunningCentral) -> None:
    phone = fresh_phone()
    order = bound_order(module_central, phone, seats=2)
    other = bound_order(module_central, phone, showing="tomorrow")  # not today
    elsewhere = bound_order(module_central, phone, showing="other_cinema")  # another cinema
    kiosk = recovery_kiosk(module_central)
    answer = kiosk.start(phone)
    session = ok(answer)
    assert phone not in answer.text  # only the masked phone comes back
    assert session["phone_masked"] == phone[:3] + "****" + phone[-4:]
    listed = _session_orders(session)
    assert set(listed) == {order["order_id"]}
    assert other["order_id"] not in listed and elsewhere["order_id"] not in listed
    shown = listed[order["order_id"]]
    start = datetime.fromisoformat(module_central.demo["showings"]["soon"]["starts_at"].replace("Z", "+00:00"))
    assert shown["tickets"] == 2 and shown["open"] is True
    assert shown["film_title"] == module_central.demo["showings"]["soon"]["film_title"] and shown["hall_name"]
    assert datetime.fromisoformat(shown["report_deadline"]) == start - timedelta(minutes=30)
    # No face enrolled: only the SMS code is offered (the spool simulator is configured).
    assert session["methods"] == ["sms"] and session["verified_by"] is None
    assert (session["face_attempts_left"], session["sms_codes_left"]) == (3, 3)
    assert ok(kiosk.session(session["session_id"]))["session_id"] == session["session_id"]


def test_unknown_phone_wrong_id_digits_and_nothing_here_all_answer_the_same(module_central: RunningCentral) -> None:
    kiosk = recovery_kiosk(module_central)
    with_id = fresh_phone()
    bound_order(module_central, with_id, id_last4="4321")
    elsewhere = fresh_phone()
    bound_order(module_central, elsewhere, showing="other_cinema")
    collected = fresh_phone()  # the demo's collected order's seats are printed; this one is refunded
    refunded = bound_order(module_central, collected)
    assert module_central.cli("refund", refunded["order_id"]).returncode == 0
    answers = [
        kiosk.start(fresh_phone()),  # nobody's phone
        kiosk.start(with_id, id_last4="1111"),  # wrong ID digits
        kiosk.start(elsewhere),  # only an order at another cinema
        kiosk.start(collected),  # nothing collectable
    ]
    bodies = [refusal(answer, ErrorCode.RECOVERY_NO_ORDERS) for answer in answers]
    assert len({json.dumps(body, sort_keys=True) for body in bodies}) == 1
    assert len({answer.json()["message"] for answer in answers}) == 1
    # The right digits open it.
    assert ok(kiosk.start(with_id, id_last4="4321"))["orders"]


def test_a_session_belongs_to_the_kiosk_that_opened_it(module_central: RunningCentral) -> None:
    phone = fresh_phone()
    order = bound_order(module_central, phone)
    mine, theirs = recovery_kiosk(module_central), recovery_kiosk(module_central)
    session_id = ok(mine.start(phone))["session_id"]
    verify_by_sms(module_central, mine, phone, session_id)
    refusal(theirs.session(session_id), ErrorCode.RECOVERY_SESSION_EXPIRED)
    refusal(theirs.send_sms(session_id), ErrorCode.RECOVERY_SESSION_EXPIRED)
    refusal(theirs.complete(session_id, order["order_id"]), ErrorCode.RECOVERY_SESSION_EXPIRED)
    refusal(mine.session("rcv-madeup"), ErrorCode.RECOVERY_SESSION_EXPIRED)


# ---- SMS code path and completion ------------------------------------------------------------


def test_sms_code_verifies_and_printing_revokes_the_lost_code_everywhere(module_central: RunningCentral) -> None:
    phone = fresh_phone()
    order = bound_order(module_central, phone)
    kiosk = recovery_kiosk(module_central)
    session_id = ok(kiosk.start(phone, consent=None))["session_id"]
    refusal(kiosk.complete(session_id, order["order_id"]), ErrorCode.RECOVERY_NOT_VERIFIED)
    sent = ok(kiosk.send_sms(session_id))
    assert sent["sent_to"] == phone[:3] + "****" + phone[-4:] and sent["codes_left"] == 2
    code = sms_code(module_central, phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    verdict = ok(kiosk.check_sms(session_id, wrong))
    assert (verdict["matched"], verdict["attempts_left"]) == (False, 2)
    verdict = ok(kiosk.check_sms(session_id, code))
    assert verdict["matched"] is True and verdict["session"]["verified_by"] == "sms"
    result = ok(kiosk.complete(session_id, order["order_id"]))
    assert result["revoked_codes"] == 1 and result["delivery"] == "print" and result["new_code_sent_to"] is None
    granted = result["order"]
    assert granted["order_id"] == order["order_id"] and granted["claim_grant"]
    # The normal claim path prints with the grant this kiosk got.
    claim = ok(kiosk.claim(order["order_id"], order["ticket_ids"], key=key(), grant=granted["claim_grant"]))
    assert len(claim["tickets"]) == 2
    # The lost code and QR are refused, and every kiosk's revocation list names the QR token.
    other = recovery_kiosk(module_central)
    refusal(other.lookup_order(order), ErrorCode.REVOKED)
    refusal(other.lookup_token(order["qr_token"]), ErrorCode.REVOKED)
    token_id = tokens.parse_unverified(order["qr_token"])[0].token_id
    assert token_id in other.revoked_token_ids()


def test_delivery_by_sms_sends_a_new_code_that_works_and_the_old_one_does_not(module_central: RunningCentral) -> None:
    phone = fresh_phone()
    order = bound_order(module_central, phone)
    kiosk = recovery_kiosk(module_central)
    session_id = ok(kiosk.start(phone))["session_id"]
    verify_by_sms(module_central, kiosk, phone, session_id)
    result = ok(kiosk.complete(session_id, order["order_id"], delivery="sms"))
    assert result["order"] is None and result["new_code_sent_to"] == phone[:3] + "****" + phone[-4:]
    assert module_central.sms_spool is not None
    message = [m for m in read_inbox(module_central.sms_spool, phone) if m["kind"] == "pickup_code"][-1]
    assert message["serial"] in message["text"] and message["code"] in message["text"]
    refusal(kiosk.lookup_order(order), ErrorCode.REVOKED)
    looked_up = ok(kiosk.lookup_code(message["serial"], message["code"]))
    assert looked_up["order"]["order_id"] == order["order_id"]


def test_sms_limits_wrong_entries_resend_wait_and_three_codes(module_central: RunningCentral) -> None:
    phone = fresh_phone()
    bound_order(module_central, phone)
    kiosk = recovery_kiosk(module_central)
    session_id = ok(kiosk.start(phone))["session_id"]
    refusal(kiosk.check_sms(session_id, "123456"), ErrorCode.BAD_REQUEST)  # no code sent yet
    ok(kiosk.send_sms(session_id))
    code = sms_code(module_central, phone)
    waited = refusal(kiosk.send_sms(session_id), ErrorCode.RECOVERY_RATE_LIMITED)
    assert 0 < waited["retry_after_s"] <= 30
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert [ok(kiosk.check_sms(session_id, wrong))["attempts_left"] for _ in range(3)] == [2, 1, 0]
    closed = ok(kiosk.check_sms(session_id, code))  # the right code, too late: that code is spent
    assert (closed["matched"], closed["attempts_left"]) == (False, 0)
    for left in (1, 0):
        module_central.advance_clock(31)
        assert ok(kiosk.send_sms(session_id))["codes_left"] == left
    module_central.advance_clock(31)
    refusal(kiosk.send_sms(session_id), ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED)
    # Only the newest code works.
    newest = sms_code(module_central, phone)
    assert ok(kiosk.check_sms(session_id, newest))["matched"] is True


# ---- the face path ---------------------------------------------------------------------------


def test_face_matches_the_enrolled_person_and_not_a_stranger(
    module_central: RunningCentral, face_phone: str, encodings: dict[str, list[float]]
) -> None:
    kiosk = recovery_kiosk(module_central)
    session = ok(kiosk.start(face_phone))
    assert session["methods"] == ["face", "sms"]
    session_id = session["session_id"]
    failed = ok(kiosk.face(session_id, None, passed=False, reason="still_image"))
    assert (failed["matched"], failed["distance"], failed["attempts_left"]) == (False, None, 2)
    stranger = ok(kiosk.face(session_id, encodings[IMPOSTOR_PHOTO]))
    assert stranger["matched"] is False and stranger["distance"] > stranger["threshold"] == 0.5
    assert stranger["attempts_left"] == 1 and stranger["session"]["verified_by"] is None
    genuine = ok(kiosk.face(session_id, encodings[GENUINE_PHOTO]))
    assert genuine["matched"] is True and genuine["distance"] <= 0.5 and genuine["attempts_left"] == 0
    assert genuine["session"]["verified_by"] == "face"
    order_id = session["orders"][0]["order_id"]
    assert ok(kiosk.complete(session_id, order_id))["order"]["claim_grant"]


def test_three_face_attempts_then_the_counter(
    module_central: RunningCentral, face_phone: str, encodings: dict[str, list[float]]
) -> None:
    kiosk = recovery_kiosk(module_central)
    session_id = ok(kiosk.start(face_phone))["session_id"]
    for left in (2, 1, 0):
        assert ok(kiosk.face(session_id, encodings[IMPOSTOR_PHOTO]))["attempts_left"] == left
    details = refusal(kiosk.face(session_id, encodings[GENUINE_PHOTO]), ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED)
    assert details["attempts_left"] == 0
    assert ok(kiosk.session(session_id))["face_attempts_left"] == 0


def test_face_needs_consent_a_template_and_a_sane_encoding(
    module_central: RunningCentral, face_phone: str, encodings: dict[str, list[float]]
) -> None:
    kiosk = recovery_kiosk(module_central)
    declined = ok(kiosk.start(face_phone, consent=None))
    assert declined["methods"] == ["sms"]
    refusal(kiosk.face(declined["session_id"], encodings[GENUINE_PHOTO]), ErrorCode.FORBIDDEN)
    no_face = fresh_phone()
    bound_order(module_central, no_face)
    plain = ok(kiosk.start(no_face))
    refusal(kiosk.face(plain["session_id"], encodings[GENUINE_PHOTO]), ErrorCode.RECOVERY_NO_TEMPLATE)
    session_id = ok(kiosk.start(face_phone))["session_id"]
    absurd = [1e6] * 128
    refusal(kiosk.face(session_id, absurd), ErrorCode.BAD_REQUEST)
    nan = kiosk.http.post(module_central.base_url + Routes.RECOVERY_FACE.format(session_id=session_id),
                          data='{"encoding": [' + ",".join(["NaN"] * 128) + '], "liveness": '
                          '{"challenge": "blink", "passed": true}}',
                          headers={"Content-Type": "application/json", IDEMPOTENCY_HEADER: key()}, timeout=15)
    assert nan.status_code == 422 and nan.json()["code"] == ErrorCode.BAD_REQUEST.value
    refusal(kiosk.face(session_id, None, passed=True), ErrorCode.BAD_REQUEST)  # passed but nothing to compare
    assert ok(kiosk.session(session_id))["face_attempts_left"] == 3  # none of these counted


# ---- idempotency -------------------------------------------------------------------------------


def test_a_repeated_idempotency_key_gets_the_same_answer_and_counts_once(
    module_central: RunningCentral, face_phone: str, encodings: dict[str, list[float]]
) -> None:
    kiosk = recovery_kiosk(module_central)
    start_key = key()
    first = ok(kiosk.start(face_phone, idem=start_key))
    assert ok(kiosk.start(face_phone, idem=start_key)) == first
    session_id = first["session_id"]
    face_key = key()
    verdict = ok(kiosk.face(session_id, encodings[IMPOSTOR_PHOTO], idem=face_key))
    assert ok(kiosk.face(session_id, encodings[IMPOSTOR_PHOTO], idem=face_key)) == verdict
    assert ok(kiosk.session(session_id))["face_attempts_left"] == 2  # one attempt, not two
    refusal(kiosk.face(session_id, encodings[GENUINE_PHOTO], idem=face_key), ErrorCode.BAD_REQUEST)
    assert ok(kiosk.face(session_id, encodings[GENUINE_PHOTO]))["matched"] is True
    order_id = first["orders"][0]["order_id"]
    complete_key = key()
    done = ok(kiosk.complete(session_id, order_id, idem=complete_key))
    again = ok(kiosk.complete(session_id, order_id, idem=complete_key))
    assert again["revoked_codes"] == done["revoked_codes"] and again["order"]["order_id"] == order_id
    assert again["order"]["claim_grant"]  # a working grant, not the stored blank
    sms_key = key()
    sent = ok(kiosk.send_sms(session_id, idem=sms_key))
    assert ok(kiosk.send_sms(session_id, idem=sms_key)) == sent
    assert ok(kiosk.session(session_id))["sms_codes_left"] == 2


# ---- the deadline and expiry ---------------------------------------------------------------


def test_an_order_past_its_loss_report_deadline_is_listed_closed_and_refused(module_central: RunningCentral) -> None:
    kiosk = recovery_kiosk(module_central)
    session = ok(kiosk.start(demo.DEMO_SMS_PHONE, id_last4=demo.DEMO_SMS_ID_LAST4))
    listed = _session_orders(session)
    assert listed[demo.DEMO_LATE_ORDER_ID]["open"] is False and listed[demo.DEMO_SMS_ORDER_ID]["open"] is True
    verify_by_sms(module_central, kiosk, demo.DEMO_SMS_PHONE, session["session_id"])
    late_answer = kiosk.complete(session["session_id"], demo.DEMO_LATE_ORDER_ID)
    details = refusal(late_answer, ErrorCode.RECOVERY_DEADLINE_PASSED)
    assert details["deadline"].replace("Z", "+00:00") == listed[demo.DEMO_LATE_ORDER_ID]["report_deadline"].replace(
        "Z", "+00:00")
    # Refused: the late order's code still works at the counter's kiosk.
    late = module_central.demo["orders"]["recovery_late"]
    assert ok(kiosk.lookup_order(late))["order"]["order_id"] == demo.DEMO_LATE_ORDER_ID


def test_a_session_expires(module_central: RunningCentral) -> None:
    phone = fresh_phone()
    order = bound_order(module_central, phone)
    kiosk = recovery_kiosk(module_central)
    session_id = ok(kiosk.start(phone))["session_id"]
    verify_by_sms(module_central, kiosk, phone, session_id)
    module_central.advance_clock(601)
    refusal(kiosk.session(session_id), ErrorCode.RECOVERY_SESSION_EXPIRED)
    refusal(kiosk.complete(session_id, order["order_id"]), ErrorCode.RECOVERY_SESSION_EXPIRED)
    assert ok(kiosk.lookup_order(order))  # nothing was revoked


# ---- what is stored ------------------------------------------------------------------------------


def test_templates_are_encrypted_and_no_image_phone_or_encoding_is_kept(
    module_central: RunningCentral, face_phone: str, encodings: dict[str, list[float]]
) -> None:
    kiosk = recovery_kiosk(module_central)
    session_id = ok(kiosk.start(face_phone))["session_id"]
    ok(kiosk.face(session_id, encodings[GENUINE_PHOTO]))
    ((ciphertext, consent),) = rows(
        module_central, "SELECT t.ciphertext, t.consent_version FROM face_templates t JOIN accounts a "
        "ON a.id = t.account_id WHERE a.phone_masked = :masked", masked=face_phone[:3] + "****" + face_phone[-4:])
    assert consent == CONSENT and ciphertext.startswith("v1.") and len(ciphertext) < 2000  # an encoding, no image
    everything = "\n".join(table_text(module_central, table) for table in (
        "face_templates", "accounts", "recovery_sessions", "recovery_attempts", "recovery_replies", "audit_log",
        "recovery_sms_codes"))
    for value in encodings[ENROLLED_PHOTO][:16] + encodings[GENUINE_PHOTO][:16]:
        assert f"{value:.6f}"[:-1] not in everything  # no encoding in clear anywhere
    assert face_phone not in everything  # phones only hashed or masked
    audit = [json.loads(details) for (action, details) in rows(
        module_central, "SELECT action, details FROM audit_log WHERE action = 'recovery_face'")]
    assert audit and all("encoding" not in line and set(line) >= {"outcome", "distance", "session_id"}
                         for line in audit)
    attempts = rows(module_central, "SELECT kiosk_id, method, outcome, distance FROM recovery_attempts "
                    "WHERE session_id = :sid", sid=session_id)
    assert [(m, o) for _k, m, o, _d in attempts] == [("start", "opened"), ("face", "matched")]
    assert attempts[1][3] is not None and attempts[1][0] == kiosk.credential.partition(".")[0]


def test_demo_accounts_are_loaded(module_central: RunningCentral) -> None:
    recovery = module_central.demo["recovery"]
    assert recovery["face"]["phone"] == demo.DEMO_RECOVERY_PHONE == "13800138000"
    assert recovery["face"]["order_ids"] == [demo.DEMO_RECOVERY_ORDER_ID]
    order = module_central.demo["orders"]["recovery"]
    assert (order["serial"], order["verification"]) == (demo.DEMO_RECOVERY_SERIAL, demo.DEMO_RECOVERY_VERIFICATION)
    assert len(order["ticket_ids"]) == 2
    kiosk = RecoveryKiosk(module_central)
    session = ok(kiosk.start(demo.DEMO_RECOVERY_PHONE, id_last4=demo.DEMO_RECOVERY_ID_LAST4))
    assert [o["order_id"] for o in session["orders"]] == [demo.DEMO_RECOVERY_ORDER_ID]
    assert session["methods"] == ["sms"]  # no face until demo-data --face-image
