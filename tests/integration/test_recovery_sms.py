"""Recovering lost tickets by SMS code: the real kiosk services, the real central over HTTP (SQLite and
PostgreSQL), the SMS simulator's spool read as the person's phone, the virtual printer on TCP."""

from __future__ import annotations

import pytest

from backend_client.wire import RecoveryDelivery, RecoveryMethod
from central.sms import latest_code, read_inbox
from kiosk.flows.pickup import Step as PickupStep
from kiosk.flows.recovery import Step
from tests.integration.conftest import StartKiosk
from tests.integration.kiosk_rig import KioskRig, central_ticket_states, message_key, printed_ticket_ids
from tests.integration.recovery_support import (
    bound_order,
    new_phone,
    recovery_flow,
    sms_central,
    spool_of,
    to_sms_code,
    type_digits,
)
from tests.support.central_server import RunningCentral

__all__ = ["sms_central"]  # the module's central (a fixture)

@pytest.fixture
def kiosk(sms_central: RunningCentral, start_kiosk: StartKiosk) -> KioskRig:
    return start_kiosk(sms_central, settings={"recovery.face": False})


def test_sms_code_then_printed_here_and_the_lost_code_refused(sms_central: RunningCentral, kiosk: KioskRig) -> None:
    central, phone = sms_central, new_phone()
    order = bound_order(central, phone)
    flow = recovery_flow(kiosk)

    to_sms_code(flow, phone, order["order_id"])
    state = flow.state
    (listed,) = state.orders
    assert (listed.order_id, listed.tickets, listed.open) == (order["order_id"], 2, True)
    assert listed.film_title == central.demo["showings"]["soon"]["film_title"]
    assert state.sms_sent_to == phone[:3] + "****" + phone[-4:]
    code = latest_code(spool_of(central), phone, kind="recovery_code")
    assert code is not None
    type_digits(flow, code)
    flow.submit()
    assert flow.state.step is Step.DELIVERY and flow.state.verified_by is RecoveryMethod.SMS
    assert flow.state.can_print

    flow.choose_delivery(RecoveryDelivery.PRINT)
    done = flow.state
    assert (done.step, done.printed, done.owed, done.in_doubt, done.revoked_codes) == (Step.DONE, 2, 0, 0, 1)
    jobs = kiosk.printer.wait_for_jobs(2)
    assert sorted(printed_ticket_ids(jobs)) == sorted(order["ticket_ids"])
    assert set(central_ticket_states(central, order["order_id"]).values()) == {"printed"}

    # Whoever holds the lost phone: the old pickup code is refused at once.
    kiosk.look_up(order)
    assert kiosk.flow.state.step is PickupStep.REFUSED
    assert message_key(kiosk.flow.state.refusal) == "refusal.revoked"


def test_a_new_code_by_sms_instead_of_printing(sms_central: RunningCentral, kiosk: KioskRig) -> None:
    central, phone = sms_central, new_phone()
    order = bound_order(central, phone)
    flow = recovery_flow(kiosk, language="en")

    to_sms_code(flow, phone, order["order_id"])
    type_digits(flow, latest_code(spool_of(central), phone, kind="recovery_code") or "")
    flow.submit()
    flow.choose_delivery(RecoveryDelivery.SMS)
    done = flow.state
    assert done.step is Step.DONE and done.printed == 0 and kiosk.printer.jobs == []
    assert message_key(done.result_note) == "recovery.new_code_sent" and done.sms_sent_to.endswith(phone[-4:])

    (message,) = [m for m in read_inbox(spool_of(central), phone) if m["kind"] == "pickup_code"]
    assert message["serial"] != order["serial"]
    kiosk.look_up(order)  # the lost code
    assert message_key(kiosk.flow.state.refusal) == "refusal.revoked"
    kiosk.flow.back()
    kiosk.flow.reset()
    kiosk.enter_code(message["serial"], message["code"])  # the new one, from the phone's SMS
    assert kiosk.flow.state.step is PickupStep.REVIEW
    assert sorted(line.ticket_id for line in kiosk.flow.state.lines) == sorted(order["ticket_ids"])


def test_a_wrong_code_first_then_the_right_one(sms_central: RunningCentral, kiosk: KioskRig) -> None:
    central, phone = sms_central, new_phone()
    order = bound_order(central, phone, seats=1)
    flow = recovery_flow(kiosk)
    to_sms_code(flow, phone, order["order_id"])
    code = latest_code(spool_of(central), phone, kind="recovery_code") or ""
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    type_digits(flow, wrong)
    flow.submit()
    state = flow.state
    assert state.step is Step.SMS_CODE and message_key(state.code_note) == "recovery.code_wrong"
    assert state.code_note is not None and state.code_note.param_dict()["attempts_left"] == 2
    type_digits(flow, code)
    flow.submit()
    assert flow.state.step is Step.DELIVERY


def test_send_again_waits_for_the_central_then_only_the_newest_code_works(
    sms_central: RunningCentral, kiosk: KioskRig
) -> None:
    central, phone = sms_central, new_phone()
    order = bound_order(central, phone, seats=1)
    flow = recovery_flow(kiosk)
    to_sms_code(flow, phone, order["order_id"])
    first = latest_code(spool_of(central), phone, kind="recovery_code")
    flow.resend_code()  # too soon: the first code is still on its way
    assert message_key(flow.state.code_note) == "recovery.code_resend_wait" and flow.state.step is Step.SMS_CODE
    central.advance_clock(31)
    flow.resend_code()
    assert flow.state.step is Step.SMS_CODE and flow.state.sms_codes_left == 1
    codes = [m["code"] for m in read_inbox(spool_of(central), phone) if m["kind"] == "recovery_code"]
    assert len(codes) == 2 and codes[0] == first
    if codes[0] != codes[1]:  # the older code no longer works (1 in a million they are the same)
        type_digits(flow, codes[0])
        flow.submit()
        assert message_key(flow.state.code_note) == "recovery.code_wrong"
    type_digits(flow, codes[1])
    flow.submit()
    assert flow.state.step is Step.DELIVERY


def test_a_phone_without_orders_is_refused_without_saying_whether_it_has_an_account(
    sms_central: RunningCentral, kiosk: KioskRig
) -> None:
    flow = recovery_flow(kiosk)
    flow.start()
    type_digits(flow, new_phone())
    flow.submit()
    state = flow.state
    assert state.step is Step.REFUSED
    assert (message_key(state.refusal), message_key(state.refusal_hint)) == \
        ("refusal.recovery_no_orders", "hint.recovery_check_phone")


def test_the_kiosk_log_never_holds_the_phone(sms_central: RunningCentral, kiosk: KioskRig,
                                            caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    central, phone = sms_central, new_phone()
    order = bound_order(central, phone, seats=1)
    flow = recovery_flow(kiosk)
    to_sms_code(flow, phone, order["order_id"])
    type_digits(flow, latest_code(spool_of(central), phone, kind="recovery_code") or "")
    flow.submit()
    flow.choose_delivery(RecoveryDelivery.PRINT)
    assert flow.state.step is Step.DONE
    assert phone not in caplog.text and phone[-4:] in caplog.text
