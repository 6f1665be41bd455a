"""What an operator reads in the kiosk's log: refusals as one line, the status check only on changes."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_client.errors import CentralRefused
from backend_client.wire import ErrorCode
from central.process import free_port
from devices.sim.printer import VirtualPrinter
from kiosk.flows.pickup import Step
from kiosk.flows.runtime import ThreadWorker
from kiosk.services import KioskServices, ServiceHooks
from tests.recording.live import kiosk_config
from tests.support.central_server import RunningCentral
from tests.support.fakes import SERIAL, VERIFICATION, build_rig

OURS = ("kiosk", "devices", "backend_client")


def our_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(OURS)]


def test_a_refusal_is_one_info_line_without_a_traceback(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Before: the worker logged every refusal as ERROR with a full traceback."""
    worker = ThreadWorker(lambda callback: callback(), name="log-test-worker")  # results on the worker's thread
    rig = build_rig(tmp_path, worker=worker)
    rig.central.refuse_with = CentralRefused(ErrorCode.ALREADY_COLLECTED, "collected", {"kiosk": "Lobby-**-03"})
    caplog.set_level(logging.DEBUG)
    try:
        rig.flow.start_code_entry()
        for digit in SERIAL + VERIFICATION:
            rig.flow.press_digit(digit)
        rig.flow.submit_code()
        worker.stop()  # the job and its result are done
    finally:
        rig.journal.close()
    assert rig.flow.state.step is Step.REFUSED
    records = our_records(caplog)
    assert not [r for r in records if r.levelno >= logging.WARNING or r.exc_info], \
        [(r.levelname, r.getMessage()) for r in records]
    assert [r.getMessage() for r in records if "already_collected" in r.getMessage()] == \
        ["pickup refused by the central: already_collected"]


@pytest.fixture
def services(sqlite_central: RunningCentral, tmp_path: Path) -> Iterator[KioskServices]:
    config = kiosk_config(sqlite_central, tmp_path)
    printer = VirtualPrinter(host=config.printer.host, port=config.printer.port, out_dir=tmp_path / "tickets").start()
    kiosk = KioskServices(config, injected_camera=True, hooks=ServiceHooks(background_threads=False))
    try:
        kiosk.start(lambda _code: None)
        yield kiosk
    finally:
        kiosk.stop()
        printer.stop()


def test_the_status_check_logs_only_what_changed(services: KioskServices, caplog: pytest.LogCaptureFixture) -> None:
    """Before: every 5-second round logged the central's hello at INFO (169 lines in a short session)."""
    caplog.set_level(logging.INFO)
    for _ in range(10):
        services.monitor_round()
    assert [r.getMessage() for r in our_records(caplog) if r.levelno >= logging.INFO] == []
    assert services.availability().can_pick_up


def test_a_central_that_stays_down_is_logged_once_not_every_round(sqlite_central: RunningCentral, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """Before: while the central was down, every round logged one WARNING per attempt of its hello (3 each 5 s)."""
    config = kiosk_config(sqlite_central, tmp_path)
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens: the central is down
    config = dataclasses.replace(config, central=dataclasses.replace(config.central, url=nobody))
    printer = VirtualPrinter(host=config.printer.host, port=config.printer.port, out_dir=tmp_path / "tickets").start()
    kiosk = KioskServices(config, injected_camera=True, hooks=ServiceHooks(background_threads=False))
    caplog.set_level(logging.INFO)
    try:
        kiosk.start(lambda _code: None)
        for _ in range(4):
            kiosk.monitor_round()
        assert not kiosk.availability().can_pick_up
    finally:
        kiosk.stop()
        printer.stop()
    loud = [r.getMessage() for r in our_records(caplog) if r.levelno >= logging.WARNING]
    assert [m for m in loud if m.startswith("central unreachable: ")] == loud[:1], loud  # said once, first
    assert not [m for m in loud if " failed: " in m and "/3 " in m], loud  # no line per attempt
    assert len(loud) <= 2, loud  # the outage, and QR keys not fetched ("no copy yet")
