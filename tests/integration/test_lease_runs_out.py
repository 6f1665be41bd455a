"""A claim's lease runs out while a kiosk holds it: still, no ticket comes out of two printers.

Three ways a kiosk loses its claim, each with the real central over HTTP (its test clock moved
past the lease), two kiosks with their own virtual printers, on SQLite and PostgreSQL:

- killed (SIGKILL) while ticket 2 is sent, and down past the lease;
- alive but slow: still printing ticket 2 when the lease runs out;
- cut off from the central (the fault proxy goes down) while ticket 2 prints.

In each, the other kiosk is offered only the tickets that never reached a printer, the first
kiosk prints nothing more, the released tickets' entrance tokens are revoked, and the journal
and the central agree once everything is delivered.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backend_client import tokens
from devices.sim.central_proxy import CentralProxy
from devices.sim.printer import PrintedJob
from kiosk.claims import RecoveryReport
from kiosk.flows.pickup import Step
from tests.central.kiosk_api import KioskApi, forget_claims, new_order
from tests.integration.conftest import StartKiosk
from tests.integration.kiosk_rig import (
    JournalRow,
    KioskRig,
    central_audit_actions,
    central_ticket_states,
    enrol_kiosk,
    message_key,
    printed_ticket_ids,
    read_journal,
)
from tests.integration.test_crash_recovery import SLOW_TICKET_S, RunKiosk, run_kiosk, states  # noqa: F401
from tests.support.central_server import RunningCentral

LEASE_S = 120  # the central's default CENTRAL_CLAIM_LEASE_SECONDS
MOMENT_TIMEOUT_S = 60.0
POLL_S = 0.01
JOIN_TIMEOUT_S = 60.0


def completed(jobs: list[PrintedJob]) -> list[PrintedJob]:
    """The jobs that came out whole (cut): what a person could take from the slot."""
    return [job for job in jobs if job.completed]


def token_id(entrance_token: str) -> str:
    return tokens.parse_unverified(entrance_token)[0].token_id


def offered(kiosk: KioskRig) -> set[str]:
    assert kiosk.flow.state.step is Step.REVIEW, kiosk.flow.state
    return {line.ticket_id for line in kiosk.flow.state.lines if line.collectable}


def wait_for_journal(path: Path, moment: Callable[[list[JournalRow]], bool], what: str,
                     running: threading.Thread) -> list[JournalRow]:
    deadline = time.monotonic() + MOMENT_TIMEOUT_S
    while True:
        rows = read_journal(path)
        if rows and moment(rows):
            return rows
        if not running.is_alive():
            raise AssertionError(f"the kiosk finished before {what}; journal {rows}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the kiosk never reached {what}; journal {rows}")
        time.sleep(POLL_S)


def confirm_in_background(kiosk: KioskRig) -> threading.Thread:
    """The person presses Print; the tickets come out while the test goes on."""
    thread = threading.Thread(target=kiosk.flow.confirm, name="printing", daemon=True)
    thread.start()
    return thread


def collect_the_rest(central: RunningCentral, start_kiosk: StartKiosk, order: dict[str, object], name: str,
                     expected: set[str]) -> KioskRig:
    """Another kiosk looks the order up after the lease: offered exactly ``expected``, prints them."""
    other = start_kiosk(central, credential=enrol_kiosk(central, name))
    other.look_up(order)
    assert offered(other) == expected
    other.flow.confirm()
    assert (other.flow.state.step, other.flow.state.printed) == (Step.DONE, len(expected))
    return other


@pytest.fixture
def proxy(module_central: RunningCentral) -> Iterator[CentralProxy]:
    with CentralProxy(module_central.base_url) as running:
        yield running


def test_a_kiosk_killed_mid_ticket_and_down_past_the_lease_lets_nothing_print_twice(
    module_central: RunningCentral, run_kiosk: RunKiosk, start_kiosk: StartKiosk  # noqa: F811
) -> None:
    central = module_central
    order = new_order(central, seat_count=4)
    dead = run_kiosk(central, order, printer_delay_s=SLOW_TICKET_S)
    rows = dead.wait_for(lambda rows: states(rows)[:2] == ["printed", "sent"], "ticket 2 sent")
    dead.kill()
    one, two, three, four = (row.ticket_id for row in rows)
    dead_tokens = {row.ticket_id: token_id(row.entrance_token) for row in rows}

    central.advance_clock(LEASE_S + 1)  # the kiosk stays down past its lease
    other = collect_the_rest(central, start_kiosk, order, "Lobby-07-02", {three, four})

    out_of_both = Counter(printed_ticket_ids(completed(dead.printer.jobs)) +
                          printed_ticket_ids(completed(other.printer.wait_for_jobs(2))))
    assert max(out_of_both.values()) == 1, out_of_both
    assert {one, three, four} <= set(out_of_both) <= {one, two, three, four}
    assert central_ticket_states(central, order["order_id"]) == {
        one: "printed", two: "in_doubt", three: "printed", four: "printed"}
    revoked = KioskApi(central).revoked_token_ids()
    assert {dead_tokens[three], dead_tokens[four]} <= revoked
    assert not {dead_tokens[one], dead_tokens[two]} & revoked

    # The dead kiosk comes back: its recovery prints nothing and changes nothing the other did.
    jobs_before = len(dead.printer.jobs)
    kiosk = dead.restart()
    assert kiosk.services.recovery == RecoveryReport(claims=1, printed=1, released=2, in_doubt=1)
    assert states(read_journal(kiosk.journal_path) or []) == ["printed", "in_doubt", "released", "released"]
    assert kiosk.services.outbox.pending_count() == 0
    assert len(dead.printer.jobs) == jobs_before
    assert central_ticket_states(central, order["order_id"]) == {
        one: "printed", two: "in_doubt", three: "printed", four: "printed"}
    # Its late reports agree with what the central decided: no conflict for staff to untangle.
    assert "late_report_conflict" not in central_audit_actions(central, order["order_id"])


def test_a_slow_kiosk_whose_lease_runs_out_stops_and_says_so(
    module_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    central = module_central
    order = new_order(central, seat_count=4)
    slow = start_kiosk(central, credential=enrol_kiosk(central, "Lobby-07-04"))
    slow.printer.set_delay(SLOW_TICKET_S)
    slow.look_up(order)
    assert slow.flow.state.can_confirm
    printing = confirm_in_background(slow)
    rows = wait_for_journal(slow.journal_path, lambda rows: states(rows)[:2] == ["printed", "sent"],
                            "ticket 2 sent", printing)
    one, two, three, four = (row.ticket_id for row in rows)
    slow_tokens = {row.ticket_id: token_id(row.entrance_token) for row in rows}

    central.advance_clock(LEASE_S + 1)  # the lease runs out while ticket 2 is still printing
    other = collect_the_rest(central, start_kiosk, order, "Lobby-07-05", {three, four})
    printing.join(JOIN_TIMEOUT_S)
    assert not printing.is_alive()

    state = slow.flow.state
    assert (state.step, state.printed) == (Step.DONE, 2)
    assert message_key(state.result_note) == "done.claim_lost"  # not "4 printed"
    assert states(read_journal(slow.journal_path) or []) == ["printed", "printed", "released", "released"]
    out_of_both = Counter(printed_ticket_ids(completed(slow.printer.wait_for_jobs(2))) +
                          printed_ticket_ids(completed(other.printer.wait_for_jobs(2))))
    assert out_of_both == Counter({one: 1, two: 1, three: 1, four: 1})
    assert len(slow.printer.jobs) == 2
    assert slow.services.outbox.pending_count() == 0
    assert central_ticket_states(central, order["order_id"]) == dict.fromkeys((one, two, three, four), "printed")
    revoked = KioskApi(central).revoked_token_ids()
    assert {slow_tokens[three], slow_tokens[four]} <= revoked
    assert not {slow_tokens[one], slow_tokens[two]} & revoked


def test_a_network_cut_mid_claim_stops_printing_and_nothing_prints_twice(
    module_central: RunningCentral, start_kiosk: StartKiosk, proxy: CentralProxy
) -> None:
    central = module_central
    order = new_order(central, seat_count=4)
    cut = start_kiosk(central, credential=enrol_kiosk(central, "Lobby-07-06"), central_url=proxy.url)
    cut.printer.set_delay(SLOW_TICKET_S)
    cut.look_up(order)
    assert cut.flow.state.can_confirm
    printing = confirm_in_background(cut)
    rows = wait_for_journal(cut.journal_path, lambda rows: states(rows)[:2] == ["printed", "sent"],
                            "ticket 2 sent", printing)
    one, two, three, four = (row.ticket_id for row in rows)

    proxy.set_down(True)  # the network goes while ticket 2 prints
    printing.join(JOIN_TIMEOUT_S)
    assert not printing.is_alive()
    state = cut.flow.state
    assert (state.step, state.printed) == (Step.DONE, 2)
    assert message_key(state.result_note) == "done.central_unreachable"
    assert states(read_journal(cut.journal_path) or []) == ["printed", "printed", "released", "released"]
    assert cut.services.journal.open_claim_ids() == []
    assert cut.services.outbox.pending_count() == 3  # ticket 2 printed, 3 and 4 released: waiting

    central.advance_clock(LEASE_S + 1)
    other = collect_the_rest(central, start_kiosk, order, "Lobby-07-07", {three, four})

    proxy.set_down(False)  # the network is back: the queued reports are delivered
    cut.services.outbox.flush()
    assert cut.services.outbox.pending_count() == 0
    assert central_ticket_states(central, order["order_id"]) == dict.fromkeys((one, two, three, four), "printed")
    out_of_both = Counter(printed_ticket_ids(completed(cut.printer.wait_for_jobs(2))) +
                          printed_ticket_ids(completed(other.printer.wait_for_jobs(2))))
    assert out_of_both == Counter({one: 1, two: 1, three: 1, four: 1})
    assert len(cut.printer.jobs) == 2
    # What a restart would find: nothing open, nothing to print or report again.
    assert cut.services.claim_printer.recover() == RecoveryReport(claims=0, printed=0, released=0, in_doubt=0)
    assert len(cut.printer.jobs) == 2


def test_a_central_restored_from_a_backup_still_learns_what_was_printed(
    module_central: RunningCentral, run_kiosk: RunKiosk  # noqa: F811
) -> None:
    central = module_central
    order = new_order(central, seat_count=2)
    dead = run_kiosk(central, order, hold="before-reports")
    dead.wait_for(lambda rows: states(rows) == ["printed", "printed"] and all(row.claim_closed for row in rows),
                  "every ticket printed, no report sent")
    dead.kill()
    forget_claims(central, order["order_id"])  # head office restores a backup from before the claim
    assert set(central_ticket_states(central, order["order_id"]).values()) == {"available"}

    kiosk = dead.restart()  # its queued reports reach a central that never heard of the claim
    assert kiosk.services.outbox.pending_count() == 0
    assert kiosk.services.outbox.undeliverable() == []
    assert set(central_ticket_states(central, order["order_id"]).values()) == {"printed"}
    kiosk.look_up(order)
    assert message_key(kiosk.flow.state.refusal) == "refusal.already_collected"
    assert len(dead.printer.jobs) == 2
