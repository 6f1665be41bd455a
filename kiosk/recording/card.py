"""The card reader as recorded and as replayed: two small :class:`devices.card_api.CardReader`\\ s.

:class:`RecordingCardReader` wraps the configured reader (the services install it when a recorder
is attached): every card inserted or removed and every APDU with its response, or the error
instead, goes to the recorder on the thread where it happened.  :class:`ReplayCardReader` stands
in for the reader in a replay: the replayer feeds it the session's card events at their recorded
instants, and it answers each APDU with the recorded response (or raises the recorded error).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Protocol

from devices.card_api import (
    ApduResponse,
    CardError,
    CardEvent,
    CardEventKind,
    CardListener,
    CardReader,
    CardRemoved,
    CardUnresponsive,
    NoCard,
    PcscUnavailable,
    ReaderGone,
)
from devices.health import HEALTH_OK, Health
from kiosk.recording.session import Event

# Recorded as the error's class name; a replay raises the same class again.
_CARD_ERRORS: dict[str, type[CardError]] = {
    cls.__name__: cls for cls in (CardError, NoCard, CardRemoved, CardUnresponsive, ReaderGone, PcscUnavailable)
}
REPLAYED_READER_NAME = "replayed card reader"


CARD_SLOT = "card"  # the patron's card; the kiosk's PSAM sits in slot "psam"
PSAM_SLOT = "psam"

# Commands whose data is a key in clear (personalisation's WRITE KEY): a recording keeps only the
# header.  The kiosk never sends them (cards are made at head office); a recorder there must not
# keep them either.
_KEY_BEARING = frozenset({(0x80, 0xD4)})


def recorded_command(command: bytes) -> tuple[str, bool]:
    """The command as a recording keeps it (hex) and whether its data was left out."""
    if len(command) >= 4 and (command[0], command[1]) in _KEY_BEARING:
        return command[:4].hex(), True
    return command.hex(), False


class CardTrafficObserver(Protocol):
    """Where a recording card reader reports (the recorder)."""

    def card(self, card_event: CardEvent) -> None: ...

    def apdu(self, command: bytes, response: bytes | None, error: str | None = None, slot: str = CARD_SLOT) -> None:
        ...


def describe_card_error(error: CardError) -> str:
    """``"CardRemoved: the card left ..."``: the class name first, so a replay raises the same kind."""
    return f"{type(error).__name__}: {error}"


def card_error_from(description: str) -> CardError:
    name, _, message = description.partition(": ")
    return _CARD_ERRORS.get(name, CardError)(message or description)


def reader_identity(reader: CardReader) -> str:
    """The reader's own name when it has one (the simulator's, the PC/SC reader it found)."""
    for attribute in ("reader_name", "name"):
        name = getattr(reader, attribute, None)
        if isinstance(name, str) and name:
            return name
    readers = reader.readers()
    return readers[0] if readers else type(reader).__name__


class RecordingCardReader:
    """The configured reader, with each card event and APDU exchange told to ``observer``."""

    def __init__(self, inner: CardReader, observer: CardTrafficObserver, slot: str = CARD_SLOT) -> None:
        self.inner = inner
        self._observer = observer
        self.slot = slot

    @property
    def reader_name(self) -> str:
        return reader_identity(self.inner)

    def start(self, listener: CardListener) -> None:
        def recorded(event: CardEvent) -> None:
            self._observer.card(event)  # before the kiosk reacts, as every input is recorded
            listener(event)

        self.inner.start(recorded)

    def stop(self) -> None:
        self.inner.stop()

    def transmit(self, apdu: bytes, timeout_s: float = 3.0) -> ApduResponse:
        try:
            answer = self.inner.transmit(apdu, timeout_s)
        except CardError as exc:
            self._observer.apdu(bytes(apdu), None, describe_card_error(exc), slot=self.slot)
            raise
        self._observer.apdu(bytes(apdu), answer.data + bytes((answer.sw1, answer.sw2)), slot=self.slot)
        return answer

    def health(self) -> Health:
        return self.inner.health()

    def readers(self) -> list[str]:
        return self.inner.readers()

    @property
    def atr(self) -> bytes | None:
        return self.inner.atr


def apdu_slot(event: Event) -> str:
    """Which reader slot an ``apdu`` event came from (sessions before the PSAM have only the card)."""
    return str(event.data.get("slot") or CARD_SLOT)


class ReplayCardReader:
    """A reader that plays a session back: card events fed by the replayer, APDUs answered as recorded.

    Answers go in recorded order.  A command that is not the recorded one is still answered with
    the recorded answer (the comparison after the replay names the first command that differs)
    and noted.  It is always healthy: recorded failures come back as the recorded errors.
    """

    def __init__(self, events: Iterable[Event], notes: list[str], slot: str = CARD_SLOT) -> None:
        events = list(events)
        self.slot = slot
        self._exchanges = collections.deque(e for e in events if e.kind == "apdu" and apdu_slot(e) == slot)
        names = [str(e.data["reader"]) for e in events if e.kind == "card" and e.data.get("reader")]
        self.reader_name = names[0] if names else REPLAYED_READER_NAME
        self._notes = notes
        self._listener: CardListener | None = None
        self._atr: bytes | None = None

    def feed(self, event: Event) -> None:
        """A recorded card event reaches the kiosk, as the reader would have delivered it."""
        try:
            kind = CardEventKind(str(event.data.get("event")))
            atr = bytes.fromhex(str(event.data.get("atr") or ""))
        except ValueError:
            self._notes.append(f"t={event.t:.3f}: a card event that cannot be replayed: {event.describe()}")
            return
        self._atr = atr if kind is CardEventKind.INSERTED else None
        listener = self._listener
        if listener is not None:
            listener(CardEvent(kind, str(event.data.get("reader") or self.reader_name), atr))

    def unanswered(self) -> int:
        return len(self._exchanges)

    # ---- CardReader ----

    def start(self, listener: CardListener) -> None:
        self._listener = listener

    def stop(self) -> None:
        self._listener = None

    def transmit(self, apdu: bytes, timeout_s: float = 3.0) -> ApduResponse:
        if not self._exchanges:
            self._notes.append(f"the app sent APDU {bytes(apdu).hex()}, which the session has no answer for")
            raise CardUnresponsive("the session has no answer for this command")
        recorded = self._exchanges.popleft()
        if recorded.data.get("command") != recorded_command(bytes(apdu))[0]:
            self._notes.append(f"the app sent APDU {bytes(apdu).hex()} where the session has "
                               f"{recorded.data.get('command')}")
        error = recorded.data.get("error")
        if error:
            raise card_error_from(str(error))
        try:
            return ApduResponse.from_bytes(bytes.fromhex(str(recorded.data.get("response") or "")))
        except ValueError:
            raise CardUnresponsive("the recorded answer is not hex") from None

    def health(self) -> Health:
        return HEALTH_OK

    def readers(self) -> list[str]:
        return [self.reader_name]

    @property
    def atr(self) -> bytes | None:
        return self._atr
