"""The recorded card layer with two reader slots (the patron's card and the kiosk's PSAM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devices.card_api import ApduResponse, CardEvent
from devices.health import HEALTH_OK, Health
from kiosk.recording.card import PSAM_SLOT, RecordingCardReader, ReplayCardReader
from kiosk.recording.compare import first_difference
from kiosk.recording.session import Event
from kiosk.services import ServiceHooks

WRITE_KEY = bytes.fromhex("80D4000110") + bytes(range(16))  # personalisation: a key in clear
SELECT_PSAM = bytes.fromhex("00A40400094F534B505301F04B4900")


class _EchoReader:
    """Answers every command with 9000; records nothing itself."""

    def start(self, listener: Any) -> None:
        """No card events: the slot only answers commands."""

    def stop(self) -> None:
        """Nothing to stop."""

    def transmit(self, apdu: bytes, timeout_s: float = 3.0) -> ApduResponse:
        return ApduResponse(b"", 0x90, 0x00)

    def health(self) -> Health:
        return HEALTH_OK

    def readers(self) -> list[str]:
        return ["echo"]

    @property
    def atr(self) -> bytes | None:
        return None


class _Events:
    def __init__(self) -> None:
        from kiosk.recording.recorder import Recorder

        self.events: list[Event] = []
        self._apdu = Recorder.apdu  # the recorder's own formatting, on this stand-in

    def event(self, kind: str, **data: Any) -> None:
        self.events.append(Event(float(len(self.events)), kind, data))

    def card(self, card_event: CardEvent) -> None:
        self.event("card", event=card_event.kind.value)

    def apdu(self, command: bytes, response: bytes | None, error: str | None = None, slot: str = "card") -> None:
        self._apdu(self, command, response, error, slot)  # type: ignore[arg-type]


def test_psam_commands_are_recorded_in_their_own_slot_and_replay_there() -> None:
    recorder = _Events()
    card = RecordingCardReader(_EchoReader(), recorder)
    psam = RecordingCardReader(_EchoReader(), recorder, slot=PSAM_SLOT)
    card.transmit(bytes.fromhex("00B0950024"))
    psam.transmit(SELECT_PSAM)
    assert [e.data.get("slot") for e in recorder.events] == [None, "psam"]

    notes: list[str] = []
    replay_psam = ReplayCardReader(recorder.events, notes, slot=PSAM_SLOT)
    replay_card = ReplayCardReader(recorder.events, notes)
    assert replay_psam.transmit(SELECT_PSAM).ok and replay_card.transmit(bytes.fromhex("00B0950024")).ok
    assert not notes and replay_psam.unanswered() == 0 == replay_card.unanswered()


def test_a_key_in_clear_never_reaches_a_recording() -> None:
    recorder = _Events()
    RecordingCardReader(_EchoReader(), recorder).transmit(WRITE_KEY)
    (event,) = recorder.events
    assert event.data["command"] == "80d40001" and event.data["redacted"] is True
    assert bytes(range(16)).hex() not in repr(event.data)


def test_the_same_command_sent_to_the_other_slot_is_a_difference() -> None:
    recorded = [Event(1.0, "apdu", {"command": SELECT_PSAM.hex(), "response": "9000", "slot": "psam"})]
    replayed = [Event(1.0, "apdu", {"command": SELECT_PSAM.hex(), "response": "9000"})]
    difference = first_difference(recorded, replayed)
    assert difference is not None and difference.stream == "card"


def test_the_services_record_the_psam_of_the_year_card_journey_in_its_own_slot(tmp_path: Path) -> None:
    """A recorder attached to the kiosk's services sees the card's and the PSAM's commands, each in its slot."""
    import datetime as dt

    from devices.sim.psam import psam_image
    from devices.sim.yearcard_os import personalised_image
    from devices.yearcard import crypto
    from kiosk.config import load_config
    from kiosk.services import KioskServices
    from tests.integration.kiosk_rig import kiosk_overrides, write_credential

    master = crypto.MasterKeys.generate()  # the test's own keys
    personalised_image(tmp_path / "card.json", master, "8800000000000042", visits=10, activated=dt.date.today())
    psam_image(tmp_path / "psam.json", master, bytes.fromhex("000000010001"))
    credential = write_credential(tmp_path / "kiosk.credential", "kiosk-test.secret-of-the-test")
    services = KioskServices(load_config(None, kiosk_overrides(
        "http://127.0.0.1:9", credential, tmp_path / "data", 9, **{
            "card.sim_psam_image": str(tmp_path / "psam.json"), "card.sim_card_image": str(tmp_path / "card.json")})))
    recorder = _Events()
    services.observe_card_traffic(recorder)
    assert services.insert_sim_year_card() and services.year_cards is not None
    reading = services.year_cards.read()  # the PSAM checks the card's authentication
    assert reading.balance == 10
    slots = [e.data.get("slot") for e in recorder.events if e.kind == "apdu"]
    assert None in slots and "psam" in slots

    notes: list[str] = []  # and the recorded PSAM answers a replay as the PSAM did
    replayed = KioskServices(load_config(None, kiosk_overrides(
        "http://127.0.0.1:9", credential, tmp_path / "replayed", 9)), hooks=ServiceHooks(
        card_reader=ReplayCardReader(recorder.events, notes),
        psam_reader=ReplayCardReader(recorder.events, notes, slot=PSAM_SLOT)))
    assert replayed.year_cards is not None and replayed.year_cards.read().balance == 10
    assert not notes
