"""The central out of reach: nothing more prints, pickups are refused clearly, reports wait and arrive once.

The kiosk reaches the central through the fault-injecting proxy, which goes down the way a
broken line does (connections refused).  "Down for a minute" is the central's controllable
clock moving on, not a real wait.
"""

from __future__ import annotations

from collections import Counter

from devices.sim.central_proxy import CentralProxy
from kiosk.flows.pickup import PickupState, Step
from kiosk.journal import TicketState
from tests.central.kiosk_api import new_order
from tests.integration.conftest import StartKiosk
from tests.integration.kiosk_rig import (
    central_audit_actions,
    central_ticket_states,
    message_key,
    printed_ticket_ids,
)
from tests.support.central_server import RunningCentral

REPORTS_PATH = r"/claims/[^/]+/report$"
DOWN_FOR_S = 60


def test_offline_kiosk_refuses_pickups_and_delivers_queued_reports_once_when_back(
    module_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    central = module_central
    order = new_order(central, seat_count=2)
    with CentralProxy(central.base_url) as line:
        kiosk = start_kiosk(central, central_url=line.url)
        kiosk.look_up(order)
        assert kiosk.flow.state.can_confirm

        cuts: list[bool] = []

        def cut_the_line_once_printing(state: PickupState) -> None:
            # The claim was granted; the line breaks while the first ticket prints (once).
            if any(ticket.print_state is TicketState.SENT for ticket in state.lines) and not cuts:
                cuts.append(True)
                line.set_down(True)

        kiosk.flow.subscribe(cut_the_line_once_printing)
        kiosk.flow.confirm()
        done = kiosk.flow.state
        # The ticket being printed comes out; the next gets no leave to print without the central.
        assert (done.step, done.printed, done.owed, done.in_doubt) == (Step.DONE, 1, 1, 0)
        assert message_key(done.result_note) == "done.central_unreachable"
        assert printed_ticket_ids(kiosk.printer.wait_for_jobs(1)) == order["ticket_ids"][:1]
        assert kiosk.services.outbox.pending_count() == 2  # ticket 1 printed, ticket 2 released
        assert line.upstream_hits(REPORTS_PATH) == 0
        assert set(central_ticket_states(central, order["order_id"]).values()) == {"claimed"}

        kiosk.look_up(order)
        offline = kiosk.flow.state
        assert (offline.step, message_key(offline.refusal)) == (Step.REFUSED, "refusal.offline")
        assert message_key(offline.refusal_hint) == "hint.offline"
        assert kiosk.services.outbox.flush() == 0  # still down: the reports stay queued
        assert kiosk.services.outbox.pending_count() == 2

        central.advance_clock(DOWN_FOR_S)
        line.set_down(False)
        kiosk.services.outbox.flush()
        kiosk.services.outbox.flush()  # nothing left to send: nothing goes twice
        assert kiosk.services.outbox.pending_count() == 0
        assert line.upstream_hits(REPORTS_PATH) == 2  # one report per ticket, each delivered once
        assert sorted(central_ticket_states(central, order["order_id"]).values()) == ["available", "printed"]

        kiosk.flow.reset()
        kiosk.pick_up(order)  # the owed ticket, now the line is back
        assert kiosk.flow.state.printed == 1
        assert sorted(printed_ticket_ids(kiosk.printer.wait_for_jobs(2))) == sorted(order["ticket_ids"])

    assert set(central_ticket_states(central, order["order_id"]).values()) == {"printed"}
    actions = Counter(central_audit_actions(central, order["order_id"]))
    assert actions["claim"] == 2
    assert actions["report_conflict"] == actions["late_report"] == 0
