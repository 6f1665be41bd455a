"""A card reader simulated in-process: the kiosk with no reader hardware and no pcscd.

:class:`SimCardReader` implements :class:`devices.card_api.CardReader` with the same errors and
health reasons as the real driver (:class:`devices.card_reader.PcscCardReader`), so flows and
staff screens cannot tell the two apart. Cards are the emulator's handlers
(:class:`devices.sim.card_emulator.MemoryCard` by default, or prefix rules). Scripting::

    reader = SimCardReader()
    reader.start(listener)
    reader.insert()                         # the default card; listener gets INSERTED
    reader.insert(atr, [(b"\\x00\\xa4", b"\\x90\\x00")])   # a card of given ATR and answers
    reader.stall_next(2.0)                  # the next command is answered 2 s late
    reader.pull_on_next_command()           # the card leaves during the next command
    reader.pull_at_command(3, executed=True)  # ... during the 4th command from now, after doing it
    reader.fail_next(b"\\x6f\\x00")           # the next command is answered with this status word
    reader.unplug() / reader.plug()         # the reader disappears and comes back
    reader.remove()
    reader.put_back()                       # the card that was taken out (or pulled) comes back

Events are delivered on the thread that caused them (the one calling insert, remove, unplug,
or the command that pulled the card); the kiosk moves them onto its main loop anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from devices.card_api import (
    ApduResponse,
    CardEvent,
    CardEventKind,
    CardListener,
    CardRemoved,
    CardUnresponsive,
    NoCard,
    ReaderGone,
    check_transmit_args,
)
from devices.card_reader import (
    REASON_CARD_ERROR,
    REASON_READER_GONE,
    REASON_STOPPED,
)
from devices.health import HEALTH_OK, Health, HealthLevel
from devices.sim.card_emulator import (
    DEFAULT_ATR,
    SW_NO_PRECISE_DIAGNOSIS,
    Handler,
    Rule,
    default_card,
    rules_handler,
)

log = logging.getLogger(__name__)

SIM_READER_NAME = "Simulated Card Reader 00"
# An answer to reset that no ISO 7816-3 card gives (TS must be 3B or 3F): an unreadable card.
GARBAGE_ATR = bytes.fromhex("FF00FF00")


def unreadable_card(apdu: bytes) -> bytes:
    """A card that answers every command with "no precise diagnosis" (6F00)."""
    return SW_NO_PRECISE_DIAGNOSIS


class SimCardReader:
    """:class:`devices.card_api.CardReader` in-process; all methods are safe from any thread."""

    def __init__(self, name: str = SIM_READER_NAME) -> None:
        self.name = name
        self.commands: list[bytes] = []  # every APDU the card received, in order
        self._lock = threading.Lock()
        self._listener: CardListener | None = None
        self._started = False
        self._plugged = True
        self._atr: bytes | None = None
        self._handler: Handler | None = None
        self._card_error = False
        self._stall_s = 0.0
        self._last_card: tuple[bytes, Handler | None] | None = None
        self._pull_next = False
        self._pull_skip = 0
        self._pull_executed = False
        self._fail_sw: bytes | None = None
        self._epoch = 0  # +1 per insert/remove: a stalled command notices its card left
        self._changed = threading.Condition(self._lock)

    # ---- scripting ----

    def insert(self, atr: bytes = DEFAULT_ATR, handler: Handler | Sequence[Rule] | None = None) -> None:
        """Put a card on the reader (replacing any card there); None: the default memory card."""
        card: Handler = default_card() if handler is None else handler if callable(handler) else rules_handler(handler)
        events: list[CardEvent] = []
        with self._lock:
            if not self._plugged:
                raise ReaderGone("the simulated reader is unplugged: plug() it first")
            if self._atr is not None:
                events.append(CardEvent(CardEventKind.REMOVED, self.name, b""))
            self._atr, self._handler = bytes(atr), card
            self._card_changed_locked()
            events.append(CardEvent(CardEventKind.INSERTED, self.name, self._atr))
        self._emit(events)

    def insert_unreadable(self) -> None:
        """A card whose ATR is garbage and which answers every command with 6F00."""
        self.insert(GARBAGE_ATR, unreadable_card)

    def remove(self) -> None:
        self._take_card_out()

    def put_back(self) -> None:
        """The card that was taken out (or pulled) comes back, as it is; the default card if none was."""
        with self._lock:
            last = self._last_card
        if last is None:
            self.insert()
        else:
            self.insert(last[0], last[1])

    def stall_next(self, seconds: float) -> None:
        with self._lock:
            self._stall_s = max(0.0, seconds)

    def pull_on_next_command(self) -> None:
        self.pull_at_command(0)

    def pull_at_command(self, skip: int, executed: bool = False) -> None:
        """Let ``skip`` commands through, then the card leaves during the next one: before the card
        gets it, or (``executed``) after the card did it and before its answer came back."""
        if skip < 0:
            raise ValueError("skip is zero or more")
        with self._lock:
            self._pull_next, self._pull_skip, self._pull_executed = True, skip, executed

    def fail_next(self, sw: bytes = SW_NO_PRECISE_DIAGNOSIS) -> None:
        if len(sw) != 2:
            raise ValueError("a status word is 2 bytes")
        with self._lock:
            self._fail_sw = bytes(sw)

    def unplug(self) -> None:
        """The reader disappears (USB cable pulled): a card on it counts as removed."""
        with self._lock:
            self._plugged = False
        self._take_card_out()

    def plug(self) -> None:
        with self._lock:
            self._plugged = True
            self._changed.notify_all()

    @property
    def card_present(self) -> bool:
        with self._lock:
            return self._atr is not None

    # ---- CardReader ----

    def start(self, listener: CardListener) -> None:
        with self._lock:
            if self._started:
                raise RuntimeError("card reader already started")
            self._started, self._listener = True, listener
            atr = self._atr
        if atr is not None:  # as the real driver: a card already there is announced at once
            self._emit([CardEvent(CardEventKind.INSERTED, self.name, atr)])

    def stop(self) -> None:
        with self._lock:
            self._started, self._listener = False, None
            self._changed.notify_all()  # a stalled command gives up

    def readers(self) -> list[str]:
        with self._lock:
            return [self.name] if self._plugged else []

    @property
    def atr(self) -> bytes | None:
        with self._lock:
            return self._atr

    def health(self) -> Health:
        with self._lock:
            if not self._started:
                return Health(HealthLevel.CRITICAL, REASON_STOPPED)
            if not self._plugged:
                return Health(HealthLevel.CRITICAL, REASON_READER_GONE)
            if self._card_error:
                return Health(HealthLevel.WARNING, REASON_CARD_ERROR)
            return HEALTH_OK

    def transmit(self, apdu: bytes, timeout_s: float = 3.0) -> ApduResponse:
        check_transmit_args(apdu, timeout_s)
        with self._lock:
            if not self._plugged:
                raise ReaderGone("the reader is gone (simulated)")
            if self._atr is None or self._handler is None:
                raise NoCard("no card in the reader (simulated)")
            self.commands.append(bytes(apdu))
            handler, epoch = self._handler, self._epoch
            stall, self._stall_s = self._stall_s, 0.0
            pull = self._pull_next and self._pull_skip == 0
            if self._pull_next and not pull:
                self._pull_skip -= 1
            else:
                self._pull_next = False
            executed = self._pull_executed
            fail, self._fail_sw = self._fail_sw, None
            if stall:
                # waits like a card that does not answer; a removal or stop ends the wait early
                self._changed.wait_for(lambda: self._epoch != epoch or not self._started, min(stall, timeout_s))
                if self._epoch != epoch:
                    raise CardRemoved("the card left the reader during the command (simulated)")
                if stall >= timeout_s:
                    self._card_error = True
                    raise CardUnresponsive(f"the card did not answer within {timeout_s:.1f} s (simulated)")
        if pull and not executed:
            self._take_card_out()
            raise CardRemoved("the card left the reader during the command (simulated)")
        try:
            response = fail if fail is not None else handler(bytes(apdu))
        except Exception:  # a broken handler is a card answering nonsense, not a crash
            log.exception("simulated card handler failed on a %d-byte command", len(apdu))
            response = SW_NO_PRECISE_DIAGNOSIS
        if pull:
            self._take_card_out()
            raise CardRemoved("the card left the reader before answering (simulated)")
        try:
            answer = ApduResponse.from_bytes(response)
        except CardUnresponsive:
            with self._lock:
                self._card_error = True
            raise
        with self._lock:
            self._card_error = False
        return answer

    # ---- internals ----

    def _take_card_out(self) -> None:
        with self._lock:
            if self._atr is None:
                return
            self._last_card = (self._atr, self._handler)
            self._atr, self._handler = None, None
            self._card_changed_locked()
        self._emit([CardEvent(CardEventKind.REMOVED, self.name, b"")])

    def _card_changed_locked(self) -> None:
        self._epoch += 1
        self._card_error = False
        self._changed.notify_all()

    def _emit(self, events: list[CardEvent]) -> None:
        with self._lock:
            listener = self._listener
        for event in events:
            log.info("card %s on %r (simulated)", event.kind.value, event.reader)
            if listener is None:
                continue
            try:
                listener(event)
            except Exception:  # a broken listener must not break the simulator's caller
                log.exception("card event listener failed")
