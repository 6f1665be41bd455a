"""Record the year-card scenarios on real parts and keep them here as readable sessions.

Each scenario is a real session: the kiosk runtime (its Kivy app offscreen, the worker thread,
the recorder) on a real central over HTTP (SQLite, the demo data), the card and the PSAM
emulators behind vpcd and a real pcscd (pyscard on both readers), the virtual printer over TCP.
The kiosk's clock is virtual and moves only between steps, so the times the card and the PSAM
see come back the same in a replay.  The recorded session is written with
:func:`kiosk.recording.session.write_plain` (no key in it: the kiosk never sends one, and a
WRITE KEY would be kept without its data), its header marked for any app version and
configuration (the recorded settings stay in it), with the ``# expect:`` line the replay test
checks.  Run under the shared lock (it uses pcscd's two virtual readers):

    flock /work/vpcd.lock python -m tests.scenarios.record_card_scenarios [NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devices.sim.card_emulator import VIRTUAL_READER, VPCD_PORT, CardEmulator
from devices.sim.yearcard import PSAM_READER, YearCardRig
from devices.sim.yearcard_os import personalised_image
from devices.yearcard import crypto
from devices.yearcard import profile as p
from kiosk import demo_card
from kiosk.recording.session import write_plain
from tests.recording.live import LiveKiosk, live_kiosk
from tests.support.central_server import RunningCentral, start_central

HERE = Path(__file__).parent
STEP_TIMEOUT_S = 20.0
SOON = "show-demo-soon"  # today, 2D, at the demo kiosk's cinema


@dataclasses.dataclass
class Scenario:
    name: str
    note: str
    card: str  # a demo card's name, or "foreign" (not a year-card), "forged" (other keys), "unreadable"
    play: Callable[[Recording], None]
    expect_refusal: str = ""  # the refusal key the kiosk must show at the end ("" = a redemption)


@dataclasses.dataclass
class Recording:
    kiosk: LiveKiosk
    card: CardEmulator
    rig: YearCardRig | None
    refusals: list[str] = dataclasses.field(default_factory=list)

    @property
    def ui(self) -> Any:
        return self.kiosk.driver

    def step(self) -> None:
        """A second passes on the kiosk's clock, with nothing in flight."""
        self.kiosk.advance(1.0)
        self.kiosk.tick()

    def put_card(self, until: tuple[str, ...] = ("card.card", "card.refused")) -> None:
        self.card.insert()
        self.ui.wait_for(lambda: self.ui.current_screen_name in until, STEP_TIMEOUT_S)
        flow = self.kiosk.runtime.card_flow
        if flow is not None and flow.state.refusal is not None:
            self.refusals.append(flow.state.refusal.key)
        self.step()

    def take_card(self) -> None:
        self.card.remove()
        flow = self.kiosk.runtime.card_flow
        assert flow is not None
        self.ui.wait_for(lambda: not flow.state.card_present or flow.state.step.value == "idle", STEP_TIMEOUT_S)
        self.step()

    def redeem_to_confirm(self, people: int) -> None:
        ui = self.ui
        ui.wait_for(lambda: ui.is_enabled("redeem"), STEP_TIMEOUT_S)
        ui.tap("redeem")
        button = f"showing_{SOON}"
        ui.wait_for(lambda: ui.current_screen_name == "card.showings" and demo_card._shown(ui, button), STEP_TIMEOUT_S)
        self.step()
        ui.tap(button)
        ui.wait_for("card.people", STEP_TIMEOUT_S)
        for _ in range(people - 1):
            ui.tap("add_person")
        ui.tap("next")
        ui.wait_for(lambda: ui.current_screen_name == "card.seats" and ui.is_enabled("best"), STEP_TIMEOUT_S)
        self.step()
        ui.tap("best")
        ui.wait_for(lambda: ui.is_enabled("next"), STEP_TIMEOUT_S)
        ui.tap("next")
        ui.wait_for(lambda: ui.current_screen_name == "card.confirm" and ui.is_enabled("confirm"), STEP_TIMEOUT_S)
        self.step()

    def finish(self) -> None:
        self.ui.wait_for("card.done", STEP_TIMEOUT_S)
        self.step()
        self.take_card()
        self.ui.tap("finish")
        self.ui.wait_for("home", STEP_TIMEOUT_S)
        self.step()


def _refused(r: Recording) -> None:
    r.put_card()
    r.take_card()
    r.ui.tap("nav_cancel")  # the patron has read the refusal and leaves
    r.ui.wait_for("home", STEP_TIMEOUT_S)
    r.step()


def _redeem_two(r: Recording) -> None:
    r.put_card()
    r.redeem_to_confirm(2)
    r.ui.tap("confirm")
    r.finish()


def _torn_debit(r: Recording) -> None:
    r.put_card()
    r.redeem_to_confirm(2)
    # The card's 5th command of the debit is DEBIT FOR PURCHASE: done on the card, its answer lost.
    r.card.pull_at_command(4, executed=True)
    r.ui.tap("confirm")
    r.ui.wait_for("card.put_card_back", STEP_TIMEOUT_S)
    r.step()
    r.put_card(until=("card.done",))  # the same card comes back
    r.finish()


def _recycled(r: Recording) -> None:
    r.put_card()  # its last visit: a ticket for one, and the central records the card as recycled
    r.redeem_to_confirm(1)
    r.ui.tap("confirm")
    r.finish()
    _refused(r)


SCENARIOS = [
    Scenario("card_redemption_two_tickets", "a year-card on the reader: its view, today's 2D showing for 2 people, "
             "best available, confirm, the card debited through the PSAM, 2 tickets printed, the card taken",
             "active", _redeem_two),
    Scenario("card_torn_debit_recovered", "a year-card pulled right after DEBIT FOR PURCHASE (debited, its answer "
             "lost): the kiosk asks for it back, reads its log, proves the debit (GET TRANSACTION PROVE) and prints "
             "the 2 tickets once", "group", _torn_debit),
    Scenario("card_refusal_blacklisted", "a blacklisted year-card: refused, see staff", "blacklisted", _refused,
             "refusal.card_blacklisted"),
    Scenario("card_refusal_expired", "an expired year-card: refused, renew at the counter", "expired", _refused,
             "refusal.card_expired"),
    Scenario("card_refusal_not_sold", "a year-card made but never sold: refused, activate at the counter", "unsold",
             _refused, "refusal.card_not_sold"),
    Scenario("card_refusal_recycled", "a year-card's last visit redeemed (one ticket), the card recycled by the "
             "central; put on the reader again: refused", "last_visit", _recycled, "refusal.card_recycled"),
    Scenario("card_refusal_unknown", "a smart card that is not one of this chain's year-cards: refused",
             "foreign", _refused, "refusal.card_unknown"),
    Scenario("card_refusal_integrity", "a year-card made with keys that are not the chain's (a copy): its "
             "authentication fails at the PSAM, refused, see staff", "forged", _refused, "refusal.card_mismatch"),
    Scenario("card_refusal_unreadable", "a card that answers every command with 6F00: unreadable, try again",
             "unreadable", _refused, "refusal.card_unreadable"),
]


def _card(name: str, images: dict[str, Path], work: Path) -> tuple[CardEmulator, YearCardRig | None]:
    if name == "foreign":  # the generic test card of the card emulator: another application
        return CardEmulator("127.0.0.1", VPCD_PORT, auto_reconnect=False), None
    if name == "unreadable":
        return CardEmulator("127.0.0.1", VPCD_PORT, atr=p.CARD_ATR, handler=lambda apdu: b"\x6f\x00",
                            auto_reconnect=False), None
    path = images.get(name)
    if name == "forged":
        path = work / "card-forged.json"
        personalised_image(path, crypto.MasterKeys.generate(), "8800000000000011", card_type=1, visits=10,
                           activated=dt.date.today())
    assert path is not None, name
    rig = YearCardRig.from_images(path, images["psam"], auto_reconnect=False)
    return rig.card, rig


def record(scenario: Scenario, central: RunningCentral, images: dict[str, Path], work: Path) -> Path:
    folder = work / scenario.name
    psam = YearCardRig.from_images(images["active"], images["psam"], auto_reconnect=False).psam
    card, rig = _card(scenario.card, images, work)
    psam.insert()
    try:
        settings = {"card.reader": "pcsc", "card.reader_name_pattern": VIRTUAL_READER,
                    "card.psam_reader_name_pattern": PSAM_READER, "card.poll_s": 0.2}
        with live_kiosk(central, work / f"kiosk-{scenario.name}", **settings) as kiosk:
            services = kiosk.runtime.services
            deadline = time.monotonic() + STEP_TIMEOUT_S
            while services.availability().card.critical:  # pyscard's reader thread has found pcscd
                assert time.monotonic() < deadline, services.availability().card
                time.sleep(0.2)
                services.monitor_round()
            kiosk.runtime.recorder.start(float("inf"), folder, from_start=False)
            recording = Recording(kiosk, card, rig)
            recording.step()
            scenario.play(recording)
            if scenario.expect_refusal:
                assert recording.refusals == [scenario.expect_refusal], (scenario.name, recording.refusals)
            else:
                assert recording.refusals == [], (scenario.name, recording.refusals)
            kiosk.runtime.recorder.stop()
            session = kiosk.read(folder)
    finally:
        card.remove()
        psam.remove()
        time.sleep(1.0)  # pcscd sees both readers empty before the next card
    return _keep(scenario, session)


def _keep(scenario: Scenario, session: Any) -> Path:
    header = dataclasses.replace(session.header, app_version="any", config_digest="any", note=scenario.note)
    session = dataclasses.replace(session, header=header)
    screens = [str(e.data.get("screen")) for e in session.events if e.kind == "screen"]
    tickets = sum(1 for e in session.events if e.kind == "printer" and e.data.get("op") == "job")
    path = HERE / f"{scenario.name}.jsonl"
    write_plain(path, session)
    expect = {"screens": [s for i, s in enumerate(screens) if i == 0 or s != screens[i - 1]], "tickets": tickets}
    body = path.read_text(encoding="utf-8")
    path.write_text(f"# {scenario.note} (recorded on real parts: tests/scenarios/record_card_scenarios.py)\n"
                    f"# expect: {json.dumps(expect)}\n" + body, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="scenarios to record (default: all)")
    args = parser.parse_args(argv)
    problem = demo_card.missing_pcsc_parts()
    if problem:
        print(f"record_card_scenarios: {problem}", file=sys.stderr)
        return 1
    chosen = [s for s in SCENARIOS if not args.names or s.name in args.names]
    with tempfile.TemporaryDirectory(prefix="card-scenarios-") as tmp:
        work = Path(tmp)
        central = start_central(f"sqlite:///{work / 'central.db'}", work, test_hooks=True)
        pcscd = _pcscd(work)
        try:
            images = demo_card.card_images(central.db_url, central.workdir, work / "cards")
            for scenario in chosen:
                print(f"recorded {record(scenario, central, images, work)}", file=sys.stderr)
        finally:
            central.stop()
            if pcscd is not None:
                pcscd.stop()
    return 0


def _pcscd(work: Path) -> Any:
    from devices.card_reader import list_readers
    from devices.sim.card_emulator import PcscdProcess

    process = None
    if PcscdProcess.running_pid() is None:
        process = PcscdProcess(log_path=work / "pcscd.log")
        process.start()
    deadline = time.monotonic() + 10
    while {VIRTUAL_READER, PSAM_READER} - set(list_readers()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return process


if __name__ == "__main__":
    sys.exit(main())
