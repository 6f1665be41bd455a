"""A real kiosk for the journey tests: KioskServices on a running central, a virtual printer on TCP.

Nothing here is a stand-in: the kiosk talks HTTP to the central's process, python-escpos talks
TCP to the virtual printer, the journal is the kiosk's SQLite file.  Helpers read the results
the way a person or staff would see them: the printed tickets' images, the central's ticket
states (`central show-order`), the journal on disk.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from backend_client.client import RequestInfo, ResponseInfo
from backend_client.tokens import TokenClaims, parse_unverified
from devices.camera_api import DecodedCode
from devices.qr import decode_frame
from devices.sim.printer import PrintedJob, VirtualPrinter
from kiosk.config import KioskConfig, load_config
from kiosk.flows.pickup import PickupFlow, Step
from kiosk.flows.runtime import InlineWorker, Message
from kiosk.services import KioskServices
from tests.support.central_server import REPO_ROOT, RunningCentral

JOURNAL_FILE = "journal.sqlite3"  # under kiosk.data_dir, as KioskServices names it
CODE_WAIT_S = 10.0


def write_credential(path: Path, credential: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(credential + "\n", encoding="ascii")
    return path


def kiosk_overrides(central_url: str, credential_file: Path, data_dir: Path, printer_port: int,
                    **extra: Any) -> dict[str, Any]:
    """Configuration overrides ("section.key") for a kiosk on this central and printer."""
    return {
        "central.url": central_url,
        "central.credential_file": str(credential_file),
        "kiosk.data_dir": str(data_dir),
        "printer.kind": "network",
        "printer.host": "127.0.0.1",
        "printer.port": printer_port,
        "printer.simulate": False,  # the test owns the virtual printer, to script its faults
        "camera.source": "injected",  # the test holds codes up to the simulated camera
        "card.reader": "sim",
        **extra,
    }


class KioskRig:
    """One started kiosk: its services, a pickup flow on an InlineWorker, and its printer.

    ``calls`` lists the path of every request the kiosk sent to the central; ``codes`` gets
    the QR codes its camera read.
    """

    def __init__(self, overrides: dict[str, Any], printer: VirtualPrinter,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.overrides = overrides
        self.config: KioskConfig = load_config(None, overrides)
        self.printer = printer
        self.calls: list[str] = []
        self.codes: queue.Queue[DecodedCode] = queue.Queue()
        self.services = KioskServices(self.config)
        self.services.client.observer = self._observe
        try:
            self.services.start(self.codes.put)
        except BaseException:
            self.services.stop()
            raise
        self.flow: PickupFlow = self.services.build_flow(InlineWorker(), now=now)

    def _observe(self, request: RequestInfo, _response: ResponseInfo) -> None:
        self.calls.append(request.path)

    @property
    def journal_path(self) -> Path:
        return self.config.data_path(JOURNAL_FILE)

    def stop(self) -> None:
        self.services.stop()

    # -- what a person does ---------------------------------------------------------------

    def enter_code(self, serial: str, verification: str) -> None:
        """Open the keypad, type the twelve digits, press OK."""
        flow = self.flow
        flow.start_code_entry()
        for digit in serial + verification:
            flow.press_digit(digit)
        flow.submit_code()

    def look_up(self, order: dict[str, Any]) -> None:
        self.enter_code(order["serial"], order["verification"])

    def pick_up(self, order: dict[str, Any]) -> None:
        """Type the order's code and confirm every ticket offered; ends on DONE."""
        self.look_up(order)
        assert self.flow.state.step is Step.REVIEW, describe_refusal(self.flow)
        assert self.flow.state.can_confirm, self.flow.state.printer_problem
        self.flow.confirm()
        assert self.flow.state.step is Step.DONE, describe_refusal(self.flow)

    def next_code(self) -> DecodedCode:
        """The next QR code the kiosk's camera read."""
        return self.codes.get(timeout=CODE_WAIT_S)


def describe_refusal(flow: PickupFlow) -> str:
    state = flow.state
    return f"step {state.step.value}, refusal {state.refusal}, hint {state.refusal_hint}"


def message_key(message: Message | None) -> str | None:
    return message.key if message is not None else None


# -- what the central says -------------------------------------------------------------------


def central_ticket_states(central: RunningCentral, order_id: str) -> dict[str, str]:
    """ticket_id -> status as head office sees it (`central show-order`)."""
    tickets: dict[str, str] = central.cli_json("show-order", order_id)["tickets"]
    return tickets


def central_audit_actions(central: RunningCentral, order_id: str) -> list[str]:
    return [entry["action"] for entry in central.cli_json("show-order", order_id)["audit"]]


def enrol_kiosk(central: RunningCentral, name: str) -> str:
    """A new kiosk of the demo cinema; returns its credential."""
    enrolled = central.cli_json("kiosk", "enrol", name, "--cinema", central.demo["cinema_id"])
    credential: str = enrolled["credential"]
    return credential


# -- what was printed -------------------------------------------------------------------------


def qr_codes_in_image(path: Path) -> list[str]:
    """The QR codes a camera would read on this image file."""
    image = cv2.imread(str(path))
    assert image is not None, f"{path} is not an image"
    return [code.text for code in decode_frame(image)]


def ticket_token(job: PrintedJob) -> str:
    """The entrance token a printed ticket carries, read back from its rendered image."""
    assert job.png_path is not None, f"job {job.index} has no image"
    codes = qr_codes_in_image(job.png_path)
    assert len(codes) == 1, f"job {job.index}: expected one QR code on the ticket, read {codes}"
    return codes[0]


def token_claims(token: str) -> TokenClaims:
    return parse_unverified(token)[0]


def printed_ticket_ids(jobs: list[PrintedJob]) -> list[str]:
    """The ticket id behind each printed ticket's QR, in print order."""
    ids = []
    for job in jobs:
        ticket_id = token_claims(ticket_token(job)).ticket_id
        assert ticket_id is not None, f"job {job.index}: the QR is not an entrance ticket"
        ids.append(ticket_id)
    return ids


# -- the journal on disk ----------------------------------------------------------------------


@dataclass(frozen=True)
class JournalRow:
    claim_id: str
    ticket_id: str
    state: str
    entrance_token: str
    claim_closed: bool


def read_journal(path: Path) -> list[JournalRow] | None:
    """The journaled tickets, read-only (safe while another process writes the file in WAL mode).

    None while the file or its tables do not exist yet.
    """
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)) as db:
            rows = db.execute(
                "SELECT t.claim_id, t.ticket_id, t.state, t.content, c.closed_at IS NOT NULL "
                "FROM claim_tickets t JOIN claims c ON c.claim_id = t.claim_id ORDER BY c.created_at, t.position"
            ).fetchall()
    except sqlite3.OperationalError:
        return None  # not created yet, or momentarily locked
    return [JournalRow(row[0], row[1], row[2], json.loads(row[3])["entrance_token"], bool(row[4])) for row in rows]


# -- a kiosk in its own process ---------------------------------------------------------------


def driver_command(config_file: Path, order: dict[str, Any], hold: str | None = None) -> list[str]:
    command = [sys.executable, "-m", "tests.integration.kiosk_driver", str(config_file),
               order["serial"], order["verification"]]
    if hold:
        command += ["--hold", hold]
    return command


def driver_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }
