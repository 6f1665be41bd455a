"""Two kiosks confirm the same order at the same moment: one prints, the other refuses."""

from __future__ import annotations

import threading

from kiosk.flows.pickup import Step
from tests.central.kiosk_api import new_order
from tests.integration.conftest import StartKiosk
from tests.integration.kiosk_rig import (
    KioskRig,
    central_ticket_states,
    enrol_kiosk,
    message_key,
    printed_ticket_ids,
)
from tests.support.central_server import RunningCentral

BARRIER_TIMEOUT_S = 30.0
# The winner's tickets print slowly, so the loser's claim meets them still held, not yet printed.
SLOW_TICKET_S = 0.5


def test_two_kiosks_confirming_one_order_at_once_print_it_once(
    module_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    central = module_central
    order = new_order(central, seat_count=2)
    kiosks = [start_kiosk(central, credential=enrol_kiosk(central, f"Lobby-06-0{n}")) for n in (1, 2)]
    for kiosk in kiosks:
        kiosk.printer.set_delay(SLOW_TICKET_S)
        kiosk.look_up(order)
        assert kiosk.flow.state.can_confirm  # both show the order as collectable

    barrier = threading.Barrier(len(kiosks), timeout=BARRIER_TIMEOUT_S)
    errors: list[BaseException] = []

    def confirm(kiosk: KioskRig) -> None:
        try:
            barrier.wait()
            kiosk.flow.confirm()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=confirm, args=(kiosk,)) for kiosk in kiosks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and not any(thread.is_alive() for thread in threads)

    winners = [kiosk for kiosk in kiosks if kiosk.flow.state.step is Step.DONE]
    losers = [kiosk for kiosk in kiosks if kiosk.flow.state.step is Step.REFUSED]
    assert len(winners) == 1 and len(losers) == 1, [kiosk.flow.state for kiosk in kiosks]
    winner, loser = winners[0], losers[0]
    assert winner.flow.state.printed == 2
    assert message_key(loser.flow.state.refusal) == "refusal.being_collected"
    assert message_key(loser.flow.state.refusal_hint) == "hint.wait_and_retry"
    assert sorted(printed_ticket_ids(winner.printer.wait_for_jobs(2))) == sorted(order["ticket_ids"])
    assert loser.printer.jobs == []
    assert loser.services.journal.open_claim_ids() == []
    assert set(central_ticket_states(central, order["order_id"]).values()) == {"printed"}
