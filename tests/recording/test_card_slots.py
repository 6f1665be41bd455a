"""The recorded card layer with two reader slots (the patron's card and the kiosk's PSAM)."""

from __future__ import annotations

from typing import Any

from devices.card_api import ApduResponse, CardEvent
from devices.health import HEALTH_OK, Health
from kiosk.recording.card import PSAM_SLOT, RecordingCardReader, ReplayCardReader
from kiosk.recording.compare import first_difference
from kiosk.recording.session import Event

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
