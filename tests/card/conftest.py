"""Fixtures for the card reader tests: a real pcscd with vsmartcard's vpcd driver and our card emulator.

The pcscd is started here (``pcscd --foreground``) unless one is already running; then that one is
used and the tests that restart pcscd are skipped. Only a pcscd started here is ever stopped.
Without the Debian packages (pcscd, vsmartcard-vpcd), pyscard or root the PC/SC tests skip with
the reason, except under CI=true, where they fail: CI installs all of it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devices.card_api import CardEvent, CardEventKind
from devices.card_reader import PcscCardReader, list_readers
from devices.sim.card_emulator import VIRTUAL_READER, VPCD_DRIVER, CardEmulator, PcscdProcess

READY_TIMEOUT_S = 10.0
EVENT_TIMEOUT_S = 5.0
POLL_S = 0.2


def missing_pcsc_parts() -> str | None:
    if shutil.which("pcscd") is None and not Path("/usr/sbin/pcscd").exists():
        return "pcscd is not installed (apt-get install pcscd)"
    if not VPCD_DRIVER.exists():
        return "the virtual reader driver is not installed (apt-get install vsmartcard-vpcd)"
    if importlib.util.find_spec("smartcard") is None:
        return "pyscard is not installed (apt-get install libpcsclite-dev swig; pip install pyscard)"
    if os.geteuid() != 0 and PcscdProcess.running_pid() is None:
        return "starting pcscd needs root"
    return None


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: the card reader tests must run in CI", pytrace=False)
    pytest.skip(reason)


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


def wait_for_virtual_reader(timeout_s: float = READY_TIMEOUT_S) -> bool:
    return wait_until(lambda: VIRTUAL_READER in list_readers(), timeout_s, interval_s=0.1)


class Pcsc:
    """The pcscd under test and what the tests may do to it."""

    def __init__(self, process: PcscdProcess) -> None:
        self.process = process

    def require_owned(self) -> None:
        if not self.process.owned:
            skip_or_fail("pcscd was already running when the tests started: they do not restart someone else's pcscd")

    def stop(self) -> None:
        self.process.stop()

    def start(self, config_dir: Path | None = None, expect_virtual_reader: bool = True) -> None:
        self.process.start(config_dir=config_dir)
        if expect_virtual_reader and not wait_for_virtual_reader():
            pytest.fail(f"pcscd came back without the reader {VIRTUAL_READER!r}")


@pytest.fixture(scope="session")
def pcsc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcsc]:
    reason = missing_pcsc_parts()
    if reason:
        skip_or_fail(reason)
    process = PcscdProcess(log_path=tmp_path_factory.mktemp("pcscd") / "pcscd.log")
    if PcscdProcess.running_pid() is None:
        process.start()
    if not wait_for_virtual_reader():
        process.stop()
        skip_or_fail(f"pcscd shows no {VIRTUAL_READER!r}: install vsmartcard-vpcd before pcscd starts, then restart it")
    try:
        yield Pcsc(process)
    finally:
        process.stop()


def card_in_virtual_reader(reader: str = VIRTUAL_READER) -> bool:
    """What pcscd believes now (it looks at the virtual reader's socket about every 0.4 s)."""
    from smartcard import scard

    hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return False
    try:
        hr, states = scard.SCardGetStatusChange(context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        return hr == scard.SCARD_S_SUCCESS and bool(states[0][1] & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(context)


@pytest.fixture
def card(pcsc: Pcsc) -> Iterator[CardEmulator]:
    """The default card, not yet inserted; it follows vpcd across pcscd restarts like a real card."""
    # a card taken out and another put in within one of pcscd's polls looks like no change at all:
    # start and end every test with the reader seen empty
    assert wait_until(lambda: not card_in_virtual_reader(), EVENT_TIMEOUT_S), "a card is still in the virtual reader"
    emulator = CardEmulator(auto_reconnect=True)
    yield emulator
    emulator.remove()
    wait_until(lambda: not card_in_virtual_reader(), EVENT_TIMEOUT_S)


class EventLog:
    """Card events as the listener got them (from the reader's thread)."""

    def __init__(self) -> None:
        self.events: list[CardEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: CardEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, kind: CardEventKind, after: int = 0, timeout_s: float = EVENT_TIMEOUT_S) -> CardEvent:
        """The first event of ``kind`` at index ``after`` or later; fails the test after the timeout."""

        def found() -> CardEvent | None:
            return next((e for e in self.events[after:] if e.kind is kind), None)

        with self._changed:
            self._changed.wait_for(lambda: found() is not None, timeout=timeout_s)
            event = found()
        if event is None:
            pytest.fail(f"no {kind.value} event within {timeout_s:.0f} s; events: {self.events}")
        return event

    def __len__(self) -> int:
        with self._changed:
            return len(self.events)


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def reader(pcsc: Pcsc, events: EventLog) -> Iterator[PcscCardReader]:
    card_reader = PcscCardReader(VIRTUAL_READER, poll_s=POLL_S)
    card_reader.start(events)
    yield card_reader
    card_reader.stop()
