"""Pickups through scripted faults: what the moviegoer sees, and that nothing prints twice.

Each test runs a real kiosk (KioskServices and the pickup flow on an InlineWorker) against the
real central over HTTP, through the fault-injecting proxy where the network is at fault, with
its own virtual printer on TCP and the in-process card reader. The faults come from
devices.sim.faults scripts on a virtual clock: "down for 60 s" moves the central's test clock,
it does not wait.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devices.card_api import CardRemoved
from devices.health import HealthLevel
from devices.sim.card_reader_sim import SimCardReader
from devices.sim.central_proxy import CentralProxy
from devices.sim.faults import FaultRunner, FaultScript, FaultTargets
from kiosk.demo import qr_frame
from kiosk.flows.pickup import PickupState, Step
from kiosk.journal import TicketState
from tests.central.kiosk_api import new_order
from tests.faults.test_sim_card_reader import SELECT_APP
from tests.integration.conftest import StartKiosk
from tests.integration.kiosk_rig import (
    KioskRig,
    central_audit_actions,
    central_ticket_states,
    describe_refusal,
    message_key,
    printed_ticket_ids,
)
from tests.support.central_server import RunningCentral

REPORTS_PATH = r"/claims/[^/]+/report$"
WAIT_S = 10.0


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def faults(*steps: dict[str, object]) -> FaultScript:
    return FaultScript.parse({"step": list(steps)})


def refusal_of(kiosk: KioskRig) -> str | None:
    assert kiosk.flow.state.step is Step.REFUSED, describe_refusal(kiosk.flow)
    return message_key(kiosk.flow.state.refusal)


@pytest.fixture
def line(sqlite_central: RunningCentral) -> Iterator[CentralProxy]:
    """The kiosk's network line: a proxy in front of the real central."""
    with CentralProxy(sqlite_central.base_url) as proxy:
        yield proxy


# -- camera --------------------------------------------------------------------------------------


def test_camera_unplugged_turns_qr_off_and_code_pickup_still_works(
    sqlite_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    order = new_order(sqlite_central, seat_count=1)
    kiosk = start_kiosk(sqlite_central)
    assert kiosk.services.camera_frames is not None
    FaultRunner(faults({"at": 0, "do": "camera.unplug"}), FaultTargets(camera=kiosk.services.camera_frames)).start()

    wait_until(lambda: kiosk.services.refresh_availability().camera.critical, "the camera to be seen as gone")
    availability = kiosk.services.availability()
    assert availability.camera.reason in ("camera_lost", "camera_missing")
    assert not availability.can_scan  # the idle screen says QR is unavailable, and shows no QR hint
    assert availability.can_pick_up and availability.out_of_service_reason == ""

    kiosk.pick_up(order)
    assert kiosk.flow.state.printed == 1
    assert printed_ticket_ids(kiosk.printer.wait_for_jobs(1)) == order["ticket_ids"]


def test_black_frames_and_glare_are_never_read_as_codes(
    sqlite_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    order = new_order(sqlite_central, seat_count=1)
    kiosk = start_kiosk(sqlite_central)
    camera, scanner = kiosk.services.camera_frames, kiosk.services.scanner
    assert camera is not None and scanner is not None
    seen_before = scanner.frames_seen
    FaultRunner(faults({"at": 0, "do": "camera.black", "count": 20}),
                FaultTargets(camera=camera)).start()
    wait_until(lambda: scanner.frames_seen >= seen_before + 20, "the black frames to be decoded")
    assert (scanner.health().level, scanner.health().reason) == (HealthLevel.WARNING, "black_frames")
    FaultRunner(faults({"at": 0, "do": "camera.glare", "count": 20}), FaultTargets(camera=camera)).start()
    wait_until(lambda: scanner.frames_seen >= seen_before + 40, "the glare frames to be decoded")
    assert kiosk.codes.empty(), "a code was read from a black or saturated frame"

    camera.push(qr_frame(order["qr_token"]))  # then a real phone: the first code read is the order's
    code = kiosk.next_code()
    assert code.text == order["qr_token"]
    kiosk.flow.qr_scanned(code)
    assert kiosk.flow.state.step is Step.REVIEW


# -- central -------------------------------------------------------------------------------------


def test_central_down_for_a_minute_refuses_then_works_and_delivers_reports_once(
    sqlite_central: RunningCentral, start_kiosk: StartKiosk, line: CentralProxy, tmp_path: Path
) -> None:
    script_file = tmp_path / "down-a-minute.toml"
    script_file.write_text('[[step]]\nafter = "printing"\ndo = "central.down"\nfor_s = 60\n')
    first, second = new_order(sqlite_central, seat_count=2), new_order(sqlite_central, seat_count=1)
    kiosk = start_kiosk(sqlite_central, central_url=line.url)
    runner = FaultRunner(FaultScript.load(script_file),
                         FaultTargets(central=line, central_clock=sqlite_central.advance_clock))
    runner.start()

    def line_breaks_while_printing(state: PickupState) -> None:
        if any(ticket.print_state is TicketState.SENT for ticket in state.lines):
            runner.event("printing")  # fires once: later calls find no step left

    kiosk.flow.subscribe(line_breaks_while_printing)
    kiosk.pick_up(first)
    # Ticket 1 was printing when the line broke; ticket 2 gets no leave to print without the central.
    assert (kiosk.flow.state.printed, kiosk.flow.state.owed, kiosk.flow.state.in_doubt) == (1, 1, 0)
    assert message_key(kiosk.flow.state.result_note) == "done.central_unreachable"
    assert line.is_down and kiosk.services.outbox.pending_count() == 2

    kiosk.look_up(second)
    assert refusal_of(kiosk) == "refusal.offline"
    assert message_key(kiosk.flow.state.refusal_hint) == "hint.offline"
    runner.advance(59)
    kiosk.flow.reset()
    kiosk.look_up(second)
    assert refusal_of(kiosk) == "refusal.offline"
    assert kiosk.services.outbox.flush() == 0 and kiosk.services.outbox.pending_count() == 2

    runner.advance(1)  # a minute later the line is back
    assert not line.is_down and runner.log == ["t=0.0 central.down", "t=60.0 central.up"]
    kiosk.services.outbox.flush()
    kiosk.services.outbox.flush()
    assert kiosk.services.outbox.pending_count() == 0
    assert line.upstream_hits(REPORTS_PATH) == 2  # one report per ticket, each delivered once
    kiosk.flow.reset()
    kiosk.pick_up(second)
    assert kiosk.flow.state.printed == 1
    kiosk.flow.reset()
    kiosk.pick_up(first)  # the ticket owed from the first visit
    assert kiosk.flow.state.printed == 1

    jobs = kiosk.printer.wait_for_jobs(3)
    assert Counter(printed_ticket_ids(jobs)) == Counter(first["ticket_ids"] + second["ticket_ids"])
    for order in (first, second):
        assert set(central_ticket_states(sqlite_central, order["order_id"]).values()) == {"printed"}
    assert Counter(central_audit_actions(sqlite_central, first["order_id"]))["claim"] == 2


@pytest.mark.parametrize("step, refusal", [
    # The client treats a 5xx like no answer at all (nothing can be known of the central's
    # state), so the moviegoer sees the offline refusal; an answer it cannot read is a central error.
    ({"at": 0, "do": "central.error_5xx", "status": 503}, "refusal.offline"),
    ({"at": 0, "do": "central.malformed", "kind": "truncated_json"}, "refusal.central_error"),
    ({"at": 0, "do": "central.malformed", "kind": "html_page"}, "refusal.central_error"),
    ({"at": 0, "do": "central.malformed", "kind": "wrong_shape"}, "refusal.central_error"),
])
def test_central_errors_and_garbage_are_refused_clearly_and_nothing_prints(
    sqlite_central: RunningCentral, start_kiosk: StartKiosk, line: CentralProxy, step: dict[str, object],
    refusal: str
) -> None:
    order = new_order(sqlite_central, seat_count=1)
    kiosk = start_kiosk(sqlite_central, central_url=line.url)
    runner = FaultRunner(faults({**step, "path": "/lookup"}, {"at": 10, "do": "central.clear"}),
                         FaultTargets(central=line))
    runner.start()
    kiosk.look_up(order)
    assert refusal_of(kiosk) == refusal
    assert kiosk.printer.jobs == []

    runner.advance(10)
    kiosk.flow.reset()
    kiosk.pick_up(order)
    assert printed_ticket_ids(kiosk.printer.wait_for_jobs(1)) == order["ticket_ids"]


def test_slow_central_within_the_timeout_still_serves_the_pickup(
    sqlite_central: RunningCentral, start_kiosk: StartKiosk, line: CentralProxy
) -> None:
    order = new_order(sqlite_central, seat_count=1)
    kiosk = start_kiosk(sqlite_central, central_url=line.url)
    FaultRunner(faults({"at": 0, "do": "central.slow", "delay_s": 0.3, "count": 3}), FaultTargets(central=line)).start()
    kiosk.pick_up(order)
    assert kiosk.flow.state.printed == 1


# -- printer -------------------------------------------------------------------------------------


def test_slow_printer_leaves_the_ticket_in_doubt_and_it_is_never_printed_again(
    sqlite_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    order = new_order(sqlite_central, seat_count=1)
    kiosk = start_kiosk(sqlite_central, settings={"printer.print_timeout_s": 0.3})
    runner = FaultRunner(faults({"at": 0, "do": "printer.slow", "seconds": 1.5}), FaultTargets(printer=kiosk.printer))
    runner.start()

    kiosk.pick_up(order)
    done = kiosk.flow.state
    assert (done.printed, done.in_doubt, done.owed) == (0, 1, 0)
    job = kiosk.printer.wait_for_jobs(1)[0]  # the slow printer did finish it, after the kiosk stopped waiting
    assert job.completed

    kiosk.printer.set_delay(0)
    kiosk.flow.reset()
    kiosk.look_up(order)  # the same code again: the ticket is not offered a second time
    assert refusal_of(kiosk) == "refusal.ticket_not_available"  # staff decide on tickets in doubt
    assert message_key(kiosk.flow.state.refusal_hint) == "hint.see_staff"
    assert set(central_ticket_states(sqlite_central, order["order_id"]).values()) == {"in_doubt"}
    report = kiosk.services.claim_printer.recover()  # a restart resolves nothing by printing
    assert report.printed == 0
    assert len(kiosk.printer.jobs) == 1


def test_paper_out_after_ticket_two_of_four_owes_two_and_prints_each_once(
    sqlite_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    order = new_order(sqlite_central, seat_count=4)
    kiosk = start_kiosk(sqlite_central)
    runner = FaultRunner(faults({"at": 0, "do": "printer.paper_out_after", "tickets": 2},
                                {"after": "staff_refilled", "do": "printer.clear"}),
                         FaultTargets(printer=kiosk.printer))
    runner.start()
    kiosk.pick_up(order)
    state = kiosk.flow.state
    assert (state.printed, state.owed, state.in_doubt) == (2, 2, 0)
    assert message_key(state.result_note) == "printer.paper_out"

    kiosk.flow.reset()
    kiosk.look_up(order)
    assert kiosk.flow.state.printer_problem is not None and not kiosk.flow.state.can_confirm
    runner.event("staff_refilled")
    kiosk.flow.check_printer()
    assert kiosk.flow.state.can_confirm
    kiosk.flow.confirm()
    assert kiosk.flow.state.printed == 2

    ids = printed_ticket_ids(kiosk.printer.wait_for_jobs(4))
    assert sorted(ids) == sorted(order["ticket_ids"]) and len(set(ids)) == 4


# -- card reader ---------------------------------------------------------------------------------


def test_card_faults_show_in_health_and_never_stop_pickups(
    sqlite_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    order = new_order(sqlite_central, seat_count=1)
    kiosk = start_kiosk(sqlite_central)
    reader = kiosk.services.card_reader
    assert isinstance(reader, SimCardReader)
    runner = FaultRunner(faults(
        {"at": 0, "do": "card.insert"},
        {"at": 1, "do": "card.pull_mid_command"},
        {"at": 2, "do": "card.unreadable"},
        {"at": 3, "do": "card.reader_gone"},
        {"at": 4, "do": "card.reader_back"},
    ), FaultTargets(card=reader))
    runner.start()
    assert reader.transmit(SELECT_APP).ok
    runner.advance(1)
    with pytest.raises(CardRemoved):
        reader.transmit(SELECT_APP)
    runner.advance(1)
    assert reader.transmit(SELECT_APP).sw == 0x6F00

    runner.advance(1)
    availability = kiosk.services.refresh_availability()
    assert (availability.card.level, availability.card.reason) == (HealthLevel.CRITICAL, "reader_gone")
    assert availability.can_pick_up  # no journey needs the card yet
    kiosk.pick_up(order)
    assert kiosk.flow.state.printed == 1

    runner.advance(1)
    assert kiosk.services.refresh_availability().card.ok
