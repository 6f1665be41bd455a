"""The lost-ticket journey on its own: an in-memory central, a face check the test drives, a real journal."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from backend_client.errors import CentralRefused
from backend_client.wire import ErrorCode, RecoveryDelivery, RecoveryMethod, TicketOutcome
from devices.face_api import FaceOutcome, FaceProgress, FacePrompt, LivenessStep
from kiosk.config import RecoverySection
from kiosk.flows.recovery import FACE_GRACE_S, Step
from kiosk.flows.runtime import Message
from kiosk.journal import TicketState
from tests.support.fakes import PAPER_OUT
from tests.support.recovery_fakes import ENCODING, PHONE, SMS_CODE, RecoveryRig, build_recovery_rig


@pytest.fixture
def rig(tmp_path: Path) -> RecoveryRig:
    return build_recovery_rig(tmp_path)


def type_digits(rig: RecoveryRig, digits: str) -> None:
    for digit in digits:
        rig.flow.press_digit(digit)


def to_orders(rig: RecoveryRig, *, face: bool = True, phone: str = PHONE) -> None:
    rig.flow.start()
    if rig.flow.state.step is Step.CONSENT:
        rig.flow.agree_to_face() if face else rig.flow.use_sms_only()
    type_digits(rig, phone)
    rig.flow.submit()


def to_face(rig: RecoveryRig) -> None:
    to_orders(rig)
    assert rig.flow.state.step is Step.ORDERS
    rig.flow.choose_order(rig.central.order.order_id)
    assert rig.flow.state.step is Step.FACE


# ---- the face path -----------------------------------------------------------------------------


def test_face_path_from_consent_to_printed_tickets(rig: RecoveryRig) -> None:
    flow = rig.flow
    flow.start()
    assert flow.state.step is Step.CONSENT
    flow.agree_to_face()
    type_digits(rig, PHONE)
    assert flow.state.masked_phone == "138****5678"
    flow.submit()
    start, _key = rig.central.starts[0]
    assert (start.phone, start.face_consent, start.language, start.id_last4) == (PHONE, "face-consent-1", "zh", None)
    state = flow.state
    assert state.step is Step.ORDERS and state.phone == ""  # the typed phone leaves the state
    assert state.order_id == rig.central.order.order_id  # the only open order is pre-selected; the person confirms
    flow.choose_order(rig.central.order.order_id)

    assert flow.state.step is Step.FACE and flow.state.face_running
    challenge = rig.face.begun[0]
    assert flow.state.challenge == challenge and LivenessStep.BLINK in challenge.steps
    rig.face.progress(FacePrompt.TURN_LEFT, steps_done=1, frames=12)
    assert flow.state.face is not None and flow.state.face.prompt is FacePrompt.TURN_LEFT
    rig.face.finish(FaceOutcome.LIVE)

    _sid, attempt, _key = rig.central.attempts[0]
    assert attempt.encoding == list(ENCODING)
    assert (attempt.liveness.passed, attempt.liveness.challenge) == (True, challenge.text)
    assert flow.state.step is Step.DELIVERY and flow.state.verified_by is RecoveryMethod.FACE
    assert flow.state.distance == pytest.approx(0.31) and flow.state.can_print

    flow.choose_delivery(RecoveryDelivery.PRINT)
    state = flow.state
    assert state.step is Step.DONE, state
    assert rig.central.revoked == {rig.central.order.order_id}
    order_id, tickets, _ = rig.central.claims[0]
    assert (order_id, sorted(tickets)) == (rig.central.order.order_id, ["t0", "t1"])
    assert [t.ticket_id for t in rig.printer.printed] == ["t0", "t1"]
    assert (state.printed, state.owed, state.in_doubt, state.revoked_codes) == (2, 0, 0, 1)
    assert all(line.print_state is TicketState.PRINTED for line in state.lines)
    assert [outcome for _, outcomes, _ in rig.central.reports for outcome in outcomes.values()] == \
        [TicketOutcome.PRINTED, TicketOutcome.PRINTED]


def test_the_claim_uses_the_completions_grant_not_an_older_one(rig: RecoveryRig) -> None:
    to_face(rig)
    rig.face.finish(FaceOutcome.LIVE)
    rig.flow.choose_delivery(RecoveryDelivery.PRINT)
    assert rig.central.order.claim_grant == "grant-recovered"  # FakeCentral refuses a claim with any other
    assert rig.flow.state.printed == 2


def test_face_not_matched_says_how_many_attempts_are_left_and_retries_with_a_new_check(rig: RecoveryRig) -> None:
    rig.central.matches = [False, True]
    to_face(rig)
    rig.face.finish(FaceOutcome.LIVE)
    state = rig.flow.state
    assert state.step is Step.FACE and not state.face_running
    assert state.face_note == Message.of("recovery.face_not_matched", attempts_left=2, count=2)
    assert state.can_retry_face and state.sms_offered
    rig.flow.retry_face()
    assert len(rig.face.begun) == 2 and rig.flow.state.face_running and rig.flow.state.face_note is None
    rig.face.finish(FaceOutcome.LIVE)
    assert rig.flow.state.step is Step.DELIVERY
    assert len(rig.central.attempts) == 2
    assert rig.central.attempts[0][2] != rig.central.attempts[1][2]  # two attempts, two idempotency keys


def test_a_failed_liveness_is_reported_as_an_attempt_without_an_encoding(rig: RecoveryRig) -> None:
    to_face(rig)
    rig.face.finish(FaceOutcome.STILL_IMAGE)
    _sid, attempt, _ = rig.central.attempts[0]
    assert attempt.encoding is None
    assert (attempt.liveness.passed, attempt.liveness.reason) == (False, "still_image")
    state = rig.flow.state
    assert state.step is Step.FACE and state.face_attempts_left == 2
    assert state.face_note == Message.of("recovery.face_still_image", attempts_left=2, count=2)


@pytest.mark.parametrize("outcome", [FaceOutcome.NO_FACE, FaceOutcome.SEVERAL_FACES])
def test_nobody_or_several_faces_is_not_an_attempt(rig: RecoveryRig, outcome: FaceOutcome) -> None:
    to_face(rig)
    rig.face.finish(outcome)
    assert rig.central.attempts == []
    state = rig.flow.state
    assert state.step is Step.FACE and state.face_note == Message.of(f"recovery.face_{outcome.value}")
    assert state.can_retry_face and state.face_attempts_left == 3


def test_a_camera_that_fails_leaves_the_sms_code(rig: RecoveryRig) -> None:
    rig.face.fail_to_begin = RuntimeError("no camera")
    to_orders(rig)
    rig.flow.choose_order(rig.central.order.order_id)
    state = rig.flow.state
    assert state.step is Step.FACE and not state.face_running
    assert state.face_note == Message.of("recovery.face_camera_unavailable") and state.sms_offered
    rig.flow.switch_to_sms()
    assert rig.flow.state.step is Step.SMS_CODE


def test_three_misses_close_the_face_path_and_offer_the_sms_code(rig: RecoveryRig) -> None:
    rig.central.matches = [False, False, False]
    to_face(rig)
    for _ in range(3):
        rig.face.finish(FaceOutcome.LIVE)
        rig.flow.retry_face()
    state = rig.flow.state
    assert len(rig.central.attempts) == 3 and len(rig.face.begun) == 3
    assert state.step is Step.FACE and not state.can_retry_face and state.sms_offered
    assert state.face_note == Message.of("recovery.face_not_matched", attempts_left=0, count=0)
    rig.flow.switch_to_sms()
    assert rig.flow.state.step is Step.SMS_CODE and rig.flow.state.sms_sent_to == "138****5678"


def test_no_template_at_the_central_offers_the_sms_code(rig: RecoveryRig) -> None:
    to_face(rig)
    rig.central._sessions["rs-1"]["face"] = False  # the template was deleted since the session began
    rig.face.finish(FaceOutcome.LIVE)
    state = rig.flow.state
    assert state.step is Step.FACE and state.face_note == Message.of("recovery.face_no_template")
    assert not state.face_offered and not state.can_retry_face and state.sms_offered


def test_without_a_template_the_session_goes_straight_to_the_sms_code(tmp_path: Path) -> None:
    rig = build_recovery_rig(tmp_path)
    rig.central.template = False
    to_orders(rig)
    rig.flow.choose_order(rig.central.order.order_id)
    assert rig.face.begun == [] and rig.flow.state.step is Step.SMS_CODE


def test_cancel_stops_the_check_and_its_late_news_is_dropped(rig: RecoveryRig) -> None:
    to_face(rig)
    listener = rig.face._listener
    rig.flow.cancel()
    assert rig.face.cancelled == 1 and rig.flow.state.step is Step.IDLE
    assert listener is not None
    rig.face.finish(FaceOutcome.LIVE, listener=listener)  # a result that was already on its way
    assert rig.central.attempts == [] and rig.flow.state.step is Step.IDLE


def test_switching_to_sms_cancels_the_running_check(rig: RecoveryRig) -> None:
    to_face(rig)
    rig.flow.switch_to_sms()
    assert rig.face.cancelled == 1
    assert rig.flow.state.step is Step.SMS_CODE and not rig.flow.state.face_running


def test_a_person_in_front_of_the_camera_is_not_idle_but_a_stuck_check_is_stopped(tmp_path: Path) -> None:
    settings = RecoverySection(idle_timeout_s=30, still_there_s=10, face_timeout_s=20)
    rig = build_recovery_rig(tmp_path, settings=settings)
    to_face(rig)
    rig.clock.advance(29)
    rig.flow.tick()
    assert rig.flow.state.step is Step.FACE and not rig.flow.state.still_there
    rig.clock.advance(20 + FACE_GRACE_S - 29)
    rig.flow.tick()
    assert rig.face.cancelled == 1
    state = rig.flow.state
    assert state.step is Step.FACE and not state.face_running
    assert state.face_note == Message.of("recovery.face_timed_out")
    rig.clock.advance(31)  # now nobody is checked: the idle timeout applies
    rig.flow.tick()
    assert rig.flow.state.step is Step.IDLE


# ---- the SMS path -------------------------------------------------------------------------------


def test_declining_the_face_check_costs_only_the_face_path(rig: RecoveryRig) -> None:
    to_orders(rig, face=False)
    start, _ = rig.central.starts[0]
    assert start.face_consent is None
    assert RecoveryMethod.FACE not in rig.flow.state.session.methods  # type: ignore[union-attr]
    rig.flow.choose_order(rig.central.order.order_id)
    assert rig.face.begun == []
    assert rig.flow.state.step is Step.SMS_CODE and rig.flow.state.sms_codes_left == 2
    type_digits(rig, SMS_CODE)
    rig.flow.submit()
    assert rig.central.checks == [("rs-1", SMS_CODE)]
    assert rig.flow.state.step is Step.DELIVERY and rig.flow.state.verified_by is RecoveryMethod.SMS
    rig.flow.choose_delivery(RecoveryDelivery.SMS)
    state = rig.flow.state
    assert state.step is Step.DONE and rig.printer.printed == [] and rig.central.claims == []
    assert state.result_note == Message.of("recovery.new_code_sent", phone="138****5678")
    assert state.sms_sent_to == "138****5678" and state.revoked_codes == 1


def test_without_the_face_check_configured_there_is_no_consent_screen(tmp_path: Path) -> None:
    rig = build_recovery_rig(tmp_path, settings=RecoverySection(face=False))
    rig.flow.start()
    assert rig.flow.state.step is Step.PHONE
    type_digits(rig, PHONE)
    rig.flow.submit()
    assert rig.central.starts[0][0].face_consent is None


def test_a_wrong_code_says_how_many_tries_are_left(rig: RecoveryRig) -> None:
    to_orders(rig, face=False)
    rig.flow.choose_order(rig.central.order.order_id)
    type_digits(rig, "111111")
    rig.flow.submit()
    state = rig.flow.state
    assert state.step is Step.SMS_CODE and state.code == ""
    assert state.code_note == Message.of("recovery.code_wrong", attempts_left=2, count=2)


def test_resend_is_limited_by_the_central(rig: RecoveryRig) -> None:
    to_orders(rig, face=False)
    rig.flow.choose_order(rig.central.order.order_id)
    rig.flow.resend_code()
    rig.flow.resend_code()
    assert len(rig.central.sms_sent) == 3 and len(set(rig.central.sms_sent)) == 3
    assert rig.flow.state.sms_codes_left == 0 and not rig.flow.state.can_resend
    rig.flow.resend_code()
    assert len(rig.central.sms_sent) == 3


def test_send_again_too_soon_keeps_the_code_already_sent(rig: RecoveryRig) -> None:
    to_orders(rig, face=False)
    rig.flow.choose_order(rig.central.order.order_id)
    rig.central.refuse_with = CentralRefused(ErrorCode.RECOVERY_RATE_LIMITED, "wait", {"retry_after_s": 42})
    rig.flow.resend_code()
    state = rig.flow.state
    assert state.step is Step.SMS_CODE
    assert state.code_note == Message.of("recovery.code_resend_wait", seconds=42, count=42)
    rig.central.refuse_with = None
    type_digits(rig, SMS_CODE)
    rig.flow.submit()
    assert rig.flow.state.step is Step.DELIVERY


def test_sms_unavailable_goes_back_to_the_face_when_it_is_offered(rig: RecoveryRig) -> None:
    rig.central.sms_unavailable = True
    to_face(rig)
    rig.flow.switch_to_sms()
    state = rig.flow.state
    assert state.step is Step.FACE and state.face_note == Message.of("recovery.sms_unavailable_use_face")
    assert state.can_retry_face


def test_sms_unavailable_without_the_face_is_refused_with_a_next_step(rig: RecoveryRig) -> None:
    rig.central.sms_unavailable = True
    to_orders(rig, face=False)
    rig.flow.choose_order(rig.central.order.order_id)
    state = rig.flow.state
    assert state.step is Step.REFUSED
    assert state.refusal == Message.of("refusal.recovery_sms_unavailable")
    assert state.refusal_hint == Message.of("hint.try_again_later")


# ---- the account and its orders -----------------------------------------------------------------


def test_the_central_asking_for_id_digits_gets_them_x_only_last(rig: RecoveryRig) -> None:
    rig.central.id_last4 = "123X"
    to_orders(rig)
    state = rig.flow.state
    assert state.step is Step.ID_DIGITS and state.ask_id_digits
    assert state.entry_note == Message.of("recovery.id_digits_required")
    type_digits(rig, "1X23X")  # an X before the last place is not a check digit
    assert rig.flow.state.id_digits == "123X"
    rig.flow.submit()
    assert rig.central.starts[-1][0].id_last4 == "123X" and rig.central.starts[-1][0].phone == PHONE
    assert rig.flow.state.step is Step.ORDERS


def test_config_asks_for_id_digits_before_the_lookup(tmp_path: Path) -> None:
    rig = build_recovery_rig(tmp_path, settings=RecoverySection(ask_id_digits=True))
    to_orders(rig)
    assert rig.flow.state.step is Step.ID_DIGITS and rig.central.starts == []
    type_digits(rig, "4567")
    rig.flow.submit()
    assert rig.central.starts[0][0].id_last4 == "4567"


def test_a_number_that_is_not_a_mobile_is_refused_on_the_keypad(rig: RecoveryRig) -> None:
    to_orders(rig, phone="23812345678")
    assert rig.flow.state.step is Step.PHONE and rig.central.starts == []
    assert rig.flow.state.entry_note == Message.of("recovery.phone_invalid")
    type_digits(rig, "9")  # an 12th digit is not taken
    assert len(rig.flow.state.phone) == 11


def test_no_orders_is_refused_with_a_next_step(rig: RecoveryRig) -> None:
    to_orders(rig, phone="13900000000")
    state = rig.flow.state
    assert state.step is Step.REFUSED
    assert (state.refusal, state.refusal_hint) == (Message.of("refusal.recovery_no_orders"),
                                                  Message.of("hint.recovery_check_phone"))
    rig.flow.back()  # back to the phone, as typed, to correct it
    assert rig.flow.state.step is Step.PHONE and rig.flow.state.phone == "13900000000"


def test_an_order_past_its_deadline_is_shown_but_not_choosable(rig: RecoveryRig) -> None:
    rig.central.closed.add(rig.central.order.order_id)
    to_orders(rig)
    state = rig.flow.state
    assert state.step is Step.ORDERS and len(state.orders) == 1 and state.order_id is None
    assert state.order_note == Message.of("recovery.all_past_deadline")
    rig.flow.choose_order(rig.central.order.order_id)
    state = rig.flow.state
    assert state.step is Step.ORDERS and rig.face.begun == []
    assert state.order_note is not None and state.order_note.key == "recovery.order_past_deadline"
    assert "deadline" in state.order_note.param_dict()


def test_rate_limited_is_refused_with_the_wait(rig: RecoveryRig) -> None:
    rig.central.refuse_start = CentralRefused(ErrorCode.RECOVERY_RATE_LIMITED, "slow down", {"retry_after_s": 125})
    to_orders(rig)
    state = rig.flow.state
    assert state.refusal == Message.of("refusal.recovery_rate_limited", retry_after_min=3, count=3)
    assert state.refusal_hint == Message.of("hint.recovery_wait", minutes=3, count=3)


def test_offline_lookup_is_refused_as_offline(rig: RecoveryRig) -> None:
    rig.central.unreachable = True
    to_orders(rig)
    assert rig.flow.state.refusal == Message.of("refusal.offline")


# ---- delivery -------------------------------------------------------------------------------------


def test_printing_here_is_off_while_the_printer_cannot_print(rig: RecoveryRig) -> None:
    rig.printer.status_now = PAPER_OUT
    to_face(rig)
    rig.face.finish(FaceOutcome.LIVE)
    state = rig.flow.state
    assert state.step is Step.DELIVERY and not state.can_print
    assert state.printer_problem == Message.of("printer.paper_out")
    rig.flow.choose_delivery(RecoveryDelivery.PRINT)
    assert rig.central.completions == [] and rig.flow.state.step is Step.DELIVERY
    rig.flow.choose_delivery(RecoveryDelivery.SMS)
    assert rig.flow.state.step is Step.DONE


def test_a_completion_retried_after_a_timeout_keeps_its_key(rig: RecoveryRig) -> None:
    rig.central.complete_unreachable = 1
    to_face(rig)
    rig.face.finish(FaceOutcome.LIVE)
    rig.flow.choose_delivery(RecoveryDelivery.PRINT)
    # The person is still verified at the central: back to the choice, and the same completion again.
    state = rig.flow.state
    assert state.step is Step.DELIVERY and state.result_note == Message.of("recovery.completion_failed_try_again")
    rig.flow.choose_delivery(RecoveryDelivery.PRINT)
    keys = [key for *_, key in rig.central.completions]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert rig.flow.state.printed == 2


def test_paper_out_during_printing_leaves_tickets_owed_to_staff(rig: RecoveryRig) -> None:
    rig.printer.paper_after = 1
    to_face(rig)
    rig.face.finish(FaceOutcome.LIVE)
    rig.flow.choose_delivery(RecoveryDelivery.PRINT)
    state = rig.flow.state
    assert state.step is Step.DONE and state.printed == 1 and state.owed == 1
    assert state.result_note == Message.of("printer.paper_out")


def test_cancel_while_printing_stops_after_the_ticket(rig: RecoveryRig) -> None:
    to_face(rig)
    rig.face.finish(FaceOutcome.LIVE)
    rig.flow._set(step=Step.PRINTING)
    rig.flow.cancel()
    assert rig.flow.state.stop_requested and rig.flow.state.step is Step.PRINTING
    assert not rig.flow.nav.back_enabled and rig.flow.nav.cancel_key == "print.stopping"


# ---- around the journey ----------------------------------------------------------------------------


def test_a_qr_held_up_during_the_recovery_starts_nothing(rig: RecoveryRig) -> None:
    from devices.camera_api import DecodedCode

    code = DecodedCode("TK1.lost-ticket", b"TK1.lost-ticket", "test")
    assert rig.flow.handle_qr(code) is False  # at home it is not the recovery's
    to_face(rig)
    assert rig.flow.handle_qr(code) is True
    assert rig.flow.state.step is Step.FACE and rig.flow.state.face_running


def test_logs_never_hold_the_phone_number(rig: RecoveryRig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    to_face(rig)
    rig.face.finish(FaceOutcome.LIVE)
    rig.flow.choose_delivery(RecoveryDelivery.SMS)
    assert "138****5678" in caplog.text
    assert PHONE not in caplog.text


def test_the_sms_language_follows_the_kiosk(tmp_path: Path) -> None:
    rig = build_recovery_rig(tmp_path, language="en")
    to_orders(rig)
    assert rig.central.starts[0][0].language == "en"


def test_an_unreachable_face_attempt_is_refused_as_offline(rig: RecoveryRig) -> None:
    to_face(rig)
    rig.central.unreachable = True
    rig.face.finish(FaceOutcome.LIVE)
    assert rig.flow.state.step is Step.REFUSED and rig.flow.state.refusal == Message.of("refusal.offline")


def test_news_of_an_earlier_check_never_reaches_the_next_one(rig: RecoveryRig) -> None:
    to_face(rig)
    first = rig.face._listener
    assert first is not None
    rig.face.finish(FaceOutcome.NO_FACE)
    rig.flow.retry_face()
    assert rig.flow.state.face_running and len(rig.face.begun) == 2
    first(FaceProgress(FacePrompt.TURN_LEFT, None, 1, 99))  # late news of the first check
    rig.face.finish(FaceOutcome.LIVE, listener=first)
    state = rig.flow.state
    assert state.face is None and state.face_running and rig.central.attempts == []
    rig.face.progress(FacePrompt.BLINK, frames=3)  # the current check's news still arrives
    assert rig.flow.state.face is not None and rig.flow.state.face.frames == 3


def test_no_way_of_verifying_here_sends_the_person_to_the_counter(rig: RecoveryRig) -> None:
    rig.central.template = False
    rig.central._session = _without_sms(rig.central._session)  # type: ignore[method-assign]
    to_orders(rig)
    rig.flow.choose_order(rig.central.order.order_id)
    state = rig.flow.state
    assert state.step is Step.REFUSED and rig.central.sms_sent == []
    assert (state.refusal, state.refusal_hint) == (Message.of("refusal.recovery_no_method"),
                                                  Message.of("hint.recovery_counter"))


def _without_sms(view: Any) -> Any:
    def session(sid: str) -> Any:
        answer = view(sid)
        return answer.model_copy(update={"methods": [m for m in answer.methods if m is not RecoveryMethod.SMS]})
    return session
