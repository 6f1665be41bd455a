"""A printer that cannot print is found before the person confirms: nothing is claimed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backend_client.wire import Routes
from devices.printer_api import PaperLevel
from devices.sim.printer import VirtualPrinter
from kiosk.flows.pickup import Step
from tests.central.kiosk_api import new_order
from tests.integration.conftest import StartKiosk
from tests.integration.kiosk_rig import central_ticket_states, message_key
from tests.support.central_server import RunningCentral

PRINTER_FAULTS: dict[str, tuple[Callable[[VirtualPrinter], None], str]] = {
    "cover_open": (lambda printer: printer.set_cover_open(True), "printer.cover_open"),
    "offline": (lambda printer: printer.set_offline(True), "printer.printer_offline"),
    "paper_out": (lambda printer: printer.set_paper(PaperLevel.OUT), "printer.paper_out"),
}


@pytest.mark.parametrize("fault", list(PRINTER_FAULTS))
def test_review_shows_the_printer_problem_and_confirm_claims_nothing(
    sqlite_central: RunningCentral, start_kiosk: StartKiosk, fault: str
) -> None:
    break_printer, problem = PRINTER_FAULTS[fault]
    order = new_order(sqlite_central, seat_count=2)
    kiosk = start_kiosk(sqlite_central)
    break_printer(kiosk.printer)

    kiosk.look_up(order)
    review = kiosk.flow.state
    assert review.step is Step.REVIEW
    assert message_key(review.printer_problem) == problem
    assert not review.can_confirm
    kiosk.flow.confirm()
    assert kiosk.flow.state.step is Step.REVIEW
    assert Routes.CLAIMS not in kiosk.calls
    assert kiosk.printer.jobs == []
    assert set(central_ticket_states(sqlite_central, order["order_id"]).values()) == {"available"}

    kiosk.printer.clear_faults()  # staff fixed it while the person waits
    kiosk.flow.check_printer()
    assert kiosk.flow.state.printer_problem is None and kiosk.flow.state.can_confirm


def test_printer_failing_between_review_and_confirm_claims_nothing(
    sqlite_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    order = new_order(sqlite_central, seat_count=1)
    kiosk = start_kiosk(sqlite_central)
    kiosk.look_up(order)
    assert kiosk.flow.state.can_confirm

    kiosk.printer.set_cover_open(True)
    kiosk.flow.confirm()
    state = kiosk.flow.state
    assert (state.step, message_key(state.printer_problem)) == (Step.REVIEW, "printer.cover_open")
    assert Routes.CLAIMS not in kiosk.calls
    assert set(central_ticket_states(sqlite_central, order["order_id"]).values()) == {"available"}
