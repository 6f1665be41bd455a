"""A kiosk killed (SIGKILL, as by a power cut) in the middle of a pickup, then started again.

The kiosk runs in its own process (tests/integration/kiosk_driver.py); the test reads its
journal from disk, read-only, to kill it at the wanted moment.  After the restart nothing is
printed twice, nothing owed is lost, and the central agrees with the journal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devices.sim.printer import VirtualPrinter
from kiosk.claims import RecoveryReport
from kiosk.flows.pickup import Step
from tests.central.kiosk_api import new_order
from tests.integration.kiosk_rig import (
    JOURNAL_FILE,
    JournalRow,
    KioskRig,
    central_ticket_states,
    driver_command,
    driver_env,
    kiosk_overrides,
    message_key,
    printed_ticket_ids,
    read_journal,
    write_credential,
)
from tests.support.central_server import REPO_ROOT, RunningCentral

MOMENT_TIMEOUT_S = 60.0
POLL_S = 0.01
# Each ticket takes this long to print on the virtual printer: the "sent, not yet confirmed"
# window the test must catch by polling the journal is at least this long.
SLOW_TICKET_S = 1.0


@dataclass
class KioskProcess:
    """A kiosk collecting one order in its own process, on a given printer."""

    process: subprocess.Popen[bytes]
    overrides: dict[str, Any]
    printer: VirtualPrinter
    output: Path
    restarted: list[KioskRig] = field(default_factory=list)

    @property
    def journal(self) -> Path:
        return Path(self.overrides["kiosk.data_dir"]) / JOURNAL_FILE

    def wait_for(self, moment: Callable[[list[JournalRow]], bool], what: str) -> list[JournalRow]:
        """Poll the journal until ``moment`` holds; fail if the kiosk ends first."""
        deadline = time.monotonic() + MOMENT_TIMEOUT_S
        while True:
            rows = read_journal(self.journal)
            if rows and moment(rows):
                return rows
            if self.process.poll() is not None:
                raise AssertionError(f"the kiosk ended before {what}:\n{self.output_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the kiosk never reached {what}; journal {rows}:\n{self.output_text()}")
            time.sleep(POLL_S)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def restart(self) -> KioskRig:
        """The kiosk starting again on the same journal and printer (recovery runs first)."""
        rig = KioskRig(self.overrides, self.printer)
        self.restarted.append(rig)
        return rig

    def output_text(self) -> str:
        return self.output.read_text(errors="replace")[-3000:]


RunKiosk = Callable[..., KioskProcess]


@pytest.fixture
def run_kiosk(tmp_path: Path, start_printer: Callable[[], VirtualPrinter]) -> Iterator[RunKiosk]:
    """``run_kiosk(central, order, hold=None, printer_delay_s=0)``: a kiosk process collecting ``order``."""
    started: list[KioskProcess] = []

    def run(central: RunningCentral, order: dict[str, Any], hold: str | None = None,
            printer_delay_s: float = 0.0) -> KioskProcess:
        workdir = tmp_path / f"kiosk-process-{len(started) + 1}"
        printer = start_printer()
        printer.set_delay(printer_delay_s)
        credential_file = write_credential(workdir / "kiosk.credential", central.kiosk_credential)
        overrides = kiosk_overrides(central.base_url, credential_file, workdir / "data", printer.port)
        config_file = workdir / "config.json"
        config_file.write_text(json.dumps(overrides), encoding="utf-8")
        output = workdir / "output.txt"
        with output.open("wb") as sink:
            process = subprocess.Popen(driver_command(config_file, order, hold), cwd=REPO_ROOT, env=driver_env(),
                                       stdout=sink, stderr=subprocess.STDOUT)
        kiosk = KioskProcess(process, overrides, printer, output)
        started.append(kiosk)
        return kiosk

    yield run
    for kiosk in started:
        if kiosk.process.poll() is None:
            kiosk.kill()
        for rig in kiosk.restarted:
            rig.stop()


def states(rows: list[JournalRow]) -> list[str]:
    return [row.state for row in rows]


def test_killed_while_a_ticket_prints_leaves_it_in_doubt_and_owes_the_unsent(
    module_central: RunningCentral, run_kiosk: RunKiosk
) -> None:
    central = module_central
    order = new_order(central, seat_count=4)
    dead = run_kiosk(central, order, printer_delay_s=SLOW_TICKET_S)
    rows = dead.wait_for(lambda rows: states(rows)[:2] == ["printed", "sent"], "ticket 2 sent")
    dead.kill()
    assert states(rows) == ["printed", "sent", "claimed", "claimed"]
    printed, doubtful = rows[0].ticket_id, rows[1].ticket_id
    never_sent = {rows[2].ticket_id, rows[3].ticket_id}
    dead.printer.set_delay(0)

    kiosk = dead.restart()
    assert kiosk.services.recovery == RecoveryReport(claims=1, printed=1, released=2, in_doubt=1)
    assert [ticket.ticket_id for ticket in kiosk.services.claim_printer.in_doubt()] == [doubtful]
    assert states(read_journal(kiosk.journal_path) or []) == ["printed", "in_doubt", "released", "released"]
    assert central_ticket_states(central, order["order_id"]) == {
        printed: "printed", doubtful: "in_doubt", **dict.fromkeys(never_sent, "available")}
    assert kiosk.services.outbox.pending_count() == 0

    # The person tries again: only the never-sent tickets are offered; the one in doubt goes to staff.
    kiosk.look_up(order)
    assert {line.ticket_id for line in kiosk.flow.state.lines if line.collectable} == never_sent
    kiosk.flow.confirm()
    assert (kiosk.flow.state.step, kiosk.flow.state.printed) == (Step.DONE, 2)
    assert set(central_ticket_states(central, order["order_id"]).values()) == {"printed", "in_doubt"}
    # Ticket 2 may or may not have reached the paper before the power cut: never more than once.
    printed_ids = Counter(printed_ticket_ids(kiosk.printer.jobs))
    assert max(printed_ids.values()) == 1
    assert {printed, *never_sent} <= set(printed_ids) <= {printed, doubtful, *never_sent}


def test_killed_after_the_claim_before_printing_releases_every_ticket(
    sqlite_central: RunningCentral, run_kiosk: RunKiosk
) -> None:
    order = new_order(sqlite_central, seat_count=3)
    dead = run_kiosk(sqlite_central, order, hold="after-claim")
    rows = dead.wait_for(lambda rows: len(rows) == 3, "the claim journaled")
    dead.kill()
    assert states(rows) == ["claimed"] * 3
    # Until the kiosk is back, the central holds the tickets for the claim's lease.
    assert set(central_ticket_states(sqlite_central, order["order_id"]).values()) == {"claimed"}

    kiosk = dead.restart()
    assert kiosk.services.recovery == RecoveryReport(claims=1, printed=0, released=3, in_doubt=0)
    assert set(central_ticket_states(sqlite_central, order["order_id"]).values()) == {"available"}
    kiosk.look_up(order)
    assert kiosk.flow.state.step is Step.REVIEW
    assert sorted(kiosk.flow.state.selected_ids) == sorted(order["ticket_ids"])
    assert kiosk.printer.jobs == []


def test_killed_before_the_reports_left_reports_them_after_restart_without_printing_again(
    sqlite_central: RunningCentral, run_kiosk: RunKiosk
) -> None:
    order = new_order(sqlite_central, seat_count=2)
    dead = run_kiosk(sqlite_central, order, hold="before-reports")
    dead.wait_for(lambda rows: states(rows) == ["printed", "printed"] and all(row.claim_closed for row in rows),
                  "every ticket printed")
    dead.kill()
    assert sorted(printed_ticket_ids(dead.printer.wait_for_jobs(2))) == sorted(order["ticket_ids"])
    assert set(central_ticket_states(sqlite_central, order["order_id"]).values()) == {"claimed"}

    sqlite_central.restart()  # the central goes down and up meanwhile: its state is in its database
    assert set(central_ticket_states(sqlite_central, order["order_id"]).values()) == {"claimed"}

    kiosk = dead.restart()
    assert kiosk.services.outbox.pending_count() == 0
    assert set(central_ticket_states(sqlite_central, order["order_id"]).values()) == {"printed"}
    kiosk.look_up(order)
    assert message_key(kiosk.flow.state.refusal) == "refusal.already_collected"
    assert len(kiosk.printer.jobs) == 2
