"""Collecting tickets by holding the order's QR code to the camera."""

from __future__ import annotations

from backend_client.tokens import KIND_ORDER
from backend_client.wire import Routes
from kiosk.demo import qr_frame
from kiosk.flows.pickup import Step
from tests.central.kiosk_api import new_order
from tests.integration.conftest import StartKiosk
from tests.integration.kiosk_rig import central_ticket_states, message_key, printed_ticket_ids, ticket_token
from tests.support.central_server import RunningCentral


def test_qr_pickup_then_a_printed_ticket_held_up_is_refused_without_asking_the_central(
    sqlite_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    order = new_order(sqlite_central, seat_count=2)
    kiosk = start_kiosk(sqlite_central)
    frames = kiosk.services.camera_frames
    assert frames is not None
    assert kiosk.services.trust.verify(order["qr_token"]).kind == KIND_ORDER

    frames.push(qr_frame(order["qr_token"]))  # a phone showing the order's QR code
    order_code = kiosk.next_code()
    assert order_code.text == order["qr_token"]
    kiosk.flow.qr_scanned(order_code)
    review = kiosk.flow.state
    assert (review.step, review.source) == (Step.REVIEW, "qr")
    assert sorted(line.ticket_id for line in review.lines if line.selected) == sorted(order["ticket_ids"])
    kiosk.flow.confirm()
    assert (kiosk.flow.state.step, kiosk.flow.state.printed) == (Step.DONE, 2)
    jobs = kiosk.printer.wait_for_jobs(2)
    assert sorted(printed_ticket_ids(jobs)) == sorted(order["ticket_ids"])
    assert set(central_ticket_states(sqlite_central, order["order_id"]).values()) == {"printed"}

    assert jobs[0].png_path is not None
    calls_before = len(kiosk.calls)
    frames.push(jobs[0].png_path)  # the printed ticket held up to the camera
    ticket_code = kiosk.next_code()
    assert ticket_code.text == ticket_token(jobs[0])
    kiosk.flow.qr_scanned(ticket_code)
    refused = kiosk.flow.state
    assert (refused.step, message_key(refused.refusal)) == (Step.REFUSED, "refusal.ticket_token")
    assert message_key(refused.refusal_hint) == "hint.ticket_is_valid"
    # Decided on the kiosk from the token's signed kind: only the monitor's health checks went out.
    assert [path for path in kiosk.calls[calls_before:] if path != Routes.HELLO] == []
    assert len(kiosk.printer.jobs) == 2
