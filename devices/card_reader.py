"""The real IC card reader driver: pyscard's low-level PC/SC calls through pcscd.

Threads (see docs/devices.md, "Card reader"):

* the monitor owns one PC/SC context: it lists the readers, picks the first whose name contains
  ``reader_name_pattern``, and waits on SCardGetStatusChange (``poll_s`` at a time) for cards to
  come and go; it sends CardEvents to the listener. Any PC/SC answer that means "this context is
  dead" (pcscd stopped or restarted) drops the context and builds a new one each ``poll_s``.
* the supervisor restarts the monitor when it died (an unexpected exception) or hangs, and
  counts the restarts; health shows them.
* card commands run on a card worker with its own context and card connection, so a command
  never waits behind the monitor's blocking wait. The caller waits at most ``timeout_s``: a
  card that does not answer raises CardUnresponsive and its worker is abandoned (it cleans up
  when the card finally answers); the next command gets a new worker and a new connection.

The module does not import pyscard until a reader is built, and takes the pyscard layer as a
parameter so its logic can be unit-tested with a fake one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

from devices.card_api import (
    ApduResponse,
    CardError,
    CardEvent,
    CardEventKind,
    CardListener,
    CardRemoved,
    CardUnresponsive,
    NoCard,
    PcscUnavailable,
    ReaderGone,
    check_transmit_args,
)
from devices.health import HEALTH_OK, Health, HealthLevel

log = logging.getLogger(__name__)

T = TypeVar("T")

# PC/SC values (winscard.h; the same in pcsc-lite and pyscard)
SCARD_S_SUCCESS = 0
SCARD_SCOPE_USER = 0
SCARD_SHARE_SHARED = 2
SCARD_PROTOCOL_ANY = 0x1 | 0x2  # T=0 or T=1
SCARD_LEAVE_CARD = 0
SCARD_STATE_UNAWARE = 0x0
SCARD_STATE_IGNORE = 0x1
SCARD_STATE_CHANGED = 0x2
SCARD_STATE_UNKNOWN = 0x4
SCARD_STATE_UNAVAILABLE = 0x8
SCARD_STATE_EMPTY = 0x10
SCARD_STATE_PRESENT = 0x20
SCARD_STATE_MUTE = 0x200

SCARD_E_CANCELLED = 0x80100002
SCARD_E_INVALID_HANDLE = 0x80100003
SCARD_E_UNKNOWN_READER = 0x80100009
SCARD_E_TIMEOUT = 0x8010000A
SCARD_E_SHARING_VIOLATION = 0x8010000B
SCARD_E_NO_SMARTCARD = 0x8010000C
SCARD_F_COMM_ERROR = 0x80100013
SCARD_E_NOT_TRANSACTED = 0x80100016
SCARD_E_READER_UNAVAILABLE = 0x80100017
SCARD_E_NO_SERVICE = 0x8010001D
SCARD_E_SERVICE_STOPPED = 0x8010001E
SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
SCARD_W_UNRESPONSIVE_CARD = 0x80100066
SCARD_W_UNPOWERED_CARD = 0x80100067
SCARD_W_RESET_CARD = 0x80100068
SCARD_W_REMOVED_CARD = 0x80100069

# the context is dead: pcscd stopped, or restarted since the context was made
STALE_CONTEXT = frozenset({SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED, SCARD_E_INVALID_HANDLE, SCARD_F_COMM_ERROR})
READER_MISSING = frozenset({SCARD_E_UNKNOWN_READER, SCARD_E_READER_UNAVAILABLE})
# a command went wrong on the wire: the card may have left, or answered nothing
COMMAND_LOST = frozenset({SCARD_E_NOT_TRANSACTED})

REASON_STOPPED = "stopped"
REASON_PCSCD_DOWN = "pcscd_down"
REASON_NO_READER = "no_reader"
REASON_READER_GONE = "reader_gone"
REASON_CARD_ERROR = "card_error"
REASON_MONITOR_DOWN = "monitor_down"
REASON_MONITOR_RESTARTED = "monitor_restarted"

MONITOR_RESTART_WARNING_S = 60.0  # health warns this long after the monitor had to be restarted
MONITOR_HANG_GRACE_S = 3.0  # a monitor silent for poll_s * 2 + this is considered hung
# pcscd looks at a reader's card about every 0.4 s: how long a failed command waits to learn
# whether the card left (CardRemoved) or stayed (CardUnresponsive)
REMOVAL_CHECK_S = 1.5
READERS_TIMEOUT_S = 2.0
STOP_JOIN_S = 1.0


def code(hr: int) -> int:
    """pyscard hands back PC/SC codes as signed or unsigned ints depending on the platform."""
    return hr & 0xFFFFFFFF


def describe(hr: int) -> str:
    return f"PC/SC 0x{code(hr):08X}"


def load_pyscard() -> Any:
    try:
        from smartcard import scard
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "pyscard is not installed: install pcscd, libpcsclite-dev and swig, then pip install pyscard"
        ) from exc
    return scard


class _Worker:
    """One daemon thread that runs card calls in order and owns a card connection.

    Abandoned, not joined, when a call hangs: Python cannot interrupt a blocked C call.
    """

    def __init__(self, name: str) -> None:
        self.session: _Session | None = None
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._jobs.put((future, job))
        return future

    def finish(self, last_job: Callable[[], object]) -> None:
        """Run ``last_job`` after whatever is queued, then end the thread."""
        self.submit(last_job)
        self._jobs.put(None)

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            future, job = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the waiting caller
                future.set_exception(exc)


@dataclass
class _Session:
    context: int
    reader: str
    handle: int | None = None
    protocol: int = 0
    epoch: int = 0  # the card insertion this connection belongs to
    reader_state: int = SCARD_STATE_UNAWARE  # at connect time, for the removal check


def run_bounded(job: Callable[[], T], timeout_s: float, name: str) -> T:
    """Run a PC/SC call that has no timeout of its own on a throwaway thread."""
    worker = _Worker(name)
    future = worker.submit(job)
    worker.finish(lambda: None)
    return future.result(timeout=timeout_s)


def list_readers(scard: Any = None, timeout_s: float = READERS_TIMEOUT_S) -> list[str]:
    """Names of the readers pcscd knows now; empty when there are none or pcscd does not answer."""
    layer = scard if scard is not None else load_pyscard()

    def once() -> list[str]:
        hr, context = layer.SCardEstablishContext(SCARD_SCOPE_USER)
        if code(hr) != SCARD_S_SUCCESS:
            return []
        try:
            hr, names = layer.SCardListReaders(context, [])
            return list(names) if code(hr) == SCARD_S_SUCCESS else []
        finally:
            layer.SCardReleaseContext(context)

    try:
        return run_bounded(once, timeout_s, "card-readers")
    except FutureTimeout:
        return []


class PcscCardReader:
    """:class:`devices.card_api.CardReader` on pyscard and pcscd."""

    def __init__(
        self,
        reader_name_pattern: str = "",
        poll_s: float = 0.5,
        removal_check_s: float = REMOVAL_CHECK_S,
        hang_grace_s: float = MONITOR_HANG_GRACE_S,
        scard: Any = None,
    ) -> None:
        if poll_s <= 0:
            raise ValueError("card reader poll_s must be positive")
        self.reader_name_pattern = reader_name_pattern
        self.poll_s = poll_s
        self.removal_check_s = removal_check_s
        self.hang_grace_s = hang_grace_s
        self._scard = scard if scard is not None else load_pyscard()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: CardListener | None = None
        self._started = False
        # what the monitor knows
        self._pcscd_up = False
        self._reader: str | None = None
        self._ever_had_reader = False
        self._card_present = False
        self._atr: bytes | None = None
        self._card_epoch = 0  # +1 on every insert/remove: connections from another epoch are stale
        self._counter = 0  # pcscd's per-reader card event counter, to spot a swap between two waits
        self._card_error: str | None = None
        # monitor supervision
        self._generation = 0
        self._monitor: threading.Thread | None = None
        self._monitor_context: int | None = None
        self._heartbeat = 0.0
        self._supervisor: threading.Thread | None = None
        self.monitor_restarts = 0
        self._last_restart = 0.0
        # card commands
        self._worker: _Worker | None = None
        self._command_lock = threading.Lock()

    # ---- CardReader ----

    def start(self, listener: CardListener) -> None:
        with self._lock:
            if self._started:
                raise RuntimeError("card reader already started")
            self._started = True
            self._listener = listener
        self._stop.clear()
        self._start_monitor()
        self._supervisor = threading.Thread(target=self._supervise, name="card-supervisor", daemon=True)
        self._supervisor.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._started = False
            self._generation += 1
            monitor, supervisor = self._monitor, self._supervisor
            self._monitor = self._supervisor = None
        self._cancel_monitor_wait()
        for thread in (monitor, supervisor):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=STOP_JOIN_S)
        self.disconnect()

    def disconnect(self) -> None:
        """End the card connection (the card stays powered); the next command opens a new one."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.finish(lambda: self._close_session(worker))

    def readers(self) -> list[str]:
        return list_readers(self._scard)

    @property
    def atr(self) -> bytes | None:
        with self._lock:
            return self._atr if self._card_present else None

    def health(self) -> Health:
        with self._lock:
            if not self._started:
                return Health(HealthLevel.CRITICAL, REASON_STOPPED)
            if not self._monitor_healthy():
                return Health(HealthLevel.CRITICAL, REASON_MONITOR_DOWN)
            if not self._pcscd_up:
                return Health(HealthLevel.CRITICAL, REASON_PCSCD_DOWN)
            if self._reader is None:
                return Health(HealthLevel.CRITICAL, REASON_READER_GONE if self._ever_had_reader else REASON_NO_READER)
            if self._card_error is not None:
                return Health(HealthLevel.WARNING, REASON_CARD_ERROR)
            if self.monitor_restarts and time.monotonic() - self._last_restart < MONITOR_RESTART_WARNING_S:
                return Health(HealthLevel.WARNING, REASON_MONITOR_RESTARTED)
            return HEALTH_OK

    def transmit(self, apdu: bytes, timeout_s: float = 3.0) -> ApduResponse:
        check_transmit_args(apdu, timeout_s)
        deadline = time.monotonic() + timeout_s
        # one command at a time: APDUs of two threads must not interleave on one card dialogue
        if not self._command_lock.acquire(timeout=timeout_s):
            raise CardUnresponsive(f"the card is still busy with another command after {timeout_s:.1f} s")
        try:
            worker = self._current_worker()
            future = worker.submit(lambda: self._transmit_on(worker, bytes(apdu), deadline))
            try:
                response = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                self._abandon(worker)
                self._set_card_error("card did not answer")
                raise CardUnresponsive(f"the card did not answer within {timeout_s:.1f} s") from None
            except (CardUnresponsive, CardRemoved) as exc:
                self._set_card_error(str(exc) if isinstance(exc, CardUnresponsive) else None)
                raise
            self._set_card_error(None)
            return response
        finally:
            self._command_lock.release()

    # ---- card commands (run on the card worker) ----

    def _current_worker(self) -> _Worker:
        with self._lock:
            if self._worker is None:
                self._worker = _Worker("card-worker")
            return self._worker

    def _abandon(self, worker: _Worker) -> None:
        with self._lock:
            if self._worker is worker:
                self._worker = None
        worker.finish(lambda: self._close_session(worker))

    def _transmit_on(self, worker: _Worker, apdu: bytes, deadline: float) -> ApduResponse:
        session = self._session_for(worker)
        assert session.handle is not None
        hr, response = self._scard.SCardTransmit(session.handle, session.protocol, list(apdu))
        hr = code(hr)
        if hr == SCARD_S_SUCCESS and len(response) >= 2:
            return ApduResponse.from_bytes(bytes(response))
        self._close_session(worker)
        if hr == SCARD_S_SUCCESS or hr in COMMAND_LOST:
            # vpcd answers an empty response when the card leaves mid-command; readers say NOT_TRANSACTED
            raise self._removed_or_unresponsive(session, deadline, "the card answered no status word")
        raise self._error_for(hr, "transmit")

    def _session_for(self, worker: _Worker) -> _Session:
        """The worker's connection to the card now in the reader, made on first use."""
        with self._lock:
            epoch, reader = self._card_epoch, self._reader
        session = worker.session
        if session is not None and session.epoch != epoch:
            self._close_session(worker)  # another card (or none) since: do not talk to it on an old handle
            session = None
        if session is not None:
            return session
        hr, context = self._scard.SCardEstablishContext(SCARD_SCOPE_USER)
        if code(hr) != SCARD_S_SUCCESS:
            raise PcscUnavailable(f"cannot reach pcscd ({describe(hr)})")
        session = _Session(context=context, reader=reader or "", epoch=epoch)
        worker.session = session
        try:
            if not session.reader:
                session.reader = self._pick_reader(context)
            hr, handle, protocol = self._scard.SCardConnect(
                context, session.reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_ANY
            )
            hr = code(hr)
            if hr != SCARD_S_SUCCESS:
                raise self._error_for(hr, "connect")
            session.handle, session.protocol = handle, protocol
            session.reader_state = self._reader_state(context, session.reader)
        except BaseException:
            self._close_session(worker)
            raise
        return session

    def _pick_reader(self, context: int) -> str:
        hr, names = self._scard.SCardListReaders(context, [])
        hr = code(hr)
        if hr in STALE_CONTEXT:
            raise PcscUnavailable(f"pcscd is not running ({describe(hr)})")
        if hr not in (SCARD_S_SUCCESS, SCARD_E_NO_READERS_AVAILABLE):
            raise ReaderGone(f"cannot list readers ({describe(hr)})")
        name = self._match_reader(names if hr == SCARD_S_SUCCESS else [])
        if name is None:
            raise ReaderGone(f"no reader matching {self.reader_name_pattern!r}")
        return name

    def _reader_state(self, context: int, reader: str) -> int:
        hr, states = self._scard.SCardGetStatusChange(context, 0, [(reader, SCARD_STATE_UNAWARE)])
        return int(states[0][1]) & ~SCARD_STATE_CHANGED if code(hr) == SCARD_S_SUCCESS and states else 0

    def _removed_or_unresponsive(self, session: _Session, deadline: float, what: str) -> CardError:
        """After a lost command: wait briefly for pcscd to see whether the card left."""
        hr, context = self._scard.SCardEstablishContext(SCARD_SCOPE_USER)
        if code(hr) != SCARD_S_SUCCESS:
            return PcscUnavailable(f"{what}; pcscd is not running ({describe(hr)})")
        try:
            known = session.reader_state
            end = min(deadline - 0.05, time.monotonic() + self.removal_check_s)
            while (remaining := end - time.monotonic()) > 0:
                hr, states = self._scard.SCardGetStatusChange(context, int(remaining * 1000), [(session.reader, known)])
                hr = code(hr)
                if hr == SCARD_E_TIMEOUT:
                    break
                if hr != SCARD_S_SUCCESS or not states:
                    return self._error_for(hr, "status")
                state = int(states[0][1])
                if not state & SCARD_STATE_PRESENT or (state >> 16) != (session.reader_state >> 16):
                    return CardRemoved(f"the card left the reader during the command ({what})")
                known = state & ~SCARD_STATE_CHANGED
        finally:
            self._scard.SCardReleaseContext(context)
        return CardUnresponsive(what)

    def _close_session(self, worker: _Worker) -> None:
        session, worker.session = worker.session, None
        if session is None:
            return
        if session.handle is not None:
            self._scard.SCardDisconnect(session.handle, SCARD_LEAVE_CARD)
        self._scard.SCardReleaseContext(session.context)

    def _error_for(self, hr: int, what: str) -> CardError:
        hr = code(hr)
        detail = f"{what} failed ({describe(hr)})"
        if hr in (SCARD_W_REMOVED_CARD, SCARD_W_RESET_CARD):
            return CardRemoved(f"the card was removed or reset since it was connected: {detail}")
        if hr == SCARD_E_NO_SMARTCARD:
            return NoCard(f"no card in the reader: {detail}")
        if hr in (SCARD_W_UNRESPONSIVE_CARD, SCARD_W_UNPOWERED_CARD, SCARD_E_SHARING_VIOLATION):
            return CardUnresponsive(f"the card cannot be used: {detail}")
        if hr in READER_MISSING:
            return ReaderGone(f"the reader is gone: {detail}")
        if hr in STALE_CONTEXT:
            return PcscUnavailable(f"pcscd is not running or was restarted: {detail}")
        return CardUnresponsive(detail)

    def _set_card_error(self, error: str | None) -> None:
        with self._lock:
            self._card_error = error

    def _match_reader(self, names: list[str]) -> str | None:
        wanted = self.reader_name_pattern.casefold()
        return next((name for name in names if wanted in name.casefold()), None)

    # ---- monitor and supervisor ----

    def _start_monitor(self) -> None:
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._heartbeat = time.monotonic()
            self._monitor = threading.Thread(
                target=self._monitor_run, args=(generation,), name=f"card-monitor-{generation}", daemon=True
            )
            self._monitor.start()

    def _monitor_healthy(self) -> bool:
        """Caller holds the lock."""
        if self._monitor is None or not self._monitor.is_alive():
            return False
        return time.monotonic() - self._heartbeat < self.poll_s * 2 + self.hang_grace_s

    def _supervise(self) -> None:
        while not self._stop.wait(self.poll_s):
            with self._lock:
                healthy = self._monitor_healthy()
            if healthy or self._stop.is_set():
                continue
            log.error("card monitor died or hangs; restarting it")
            self._cancel_monitor_wait()
            with self._lock:
                self.monitor_restarts += 1
                self._last_restart = time.monotonic()
            self._start_monitor()

    def _cancel_monitor_wait(self) -> None:
        with self._lock:
            context = self._monitor_context
        if context is not None:
            self._scard.SCardCancel(context)

    def _current(self, generation: int) -> bool:
        return generation == self._generation and not self._stop.is_set()

    def _monitor_run(self, generation: int) -> None:
        context: int | None = None
        watched: str | None = None
        known_state = SCARD_STATE_UNAWARE
        try:
            while self._current(generation):
                with self._lock:
                    self._heartbeat = time.monotonic()
                if context is None:
                    context = self._monitor_connect(generation)
                    if context is None:
                        self._stop.wait(self.poll_s)
                        continue
                hr, names = self._scard.SCardListReaders(context, [])
                hr = code(hr)
                if hr in STALE_CONTEXT:
                    self._monitor_lost_pcscd(context, generation, hr)
                    context, watched = None, None  # a new pcscd: its reader states start afresh
                    continue
                name = self._match_reader(list(names) if hr == SCARD_S_SUCCESS else [])
                if name is None:
                    self._reader_missing(generation)
                    watched = None
                    self._stop.wait(self.poll_s)
                    continue
                if name != watched:
                    watched, known_state = name, SCARD_STATE_UNAWARE
                hr, states = self._scard.SCardGetStatusChange(context, int(self.poll_s * 1000), [(name, known_state)])
                hr = code(hr)
                if hr in (SCARD_E_TIMEOUT, SCARD_E_CANCELLED):
                    continue
                if hr in STALE_CONTEXT:
                    self._monitor_lost_pcscd(context, generation, hr)
                    context, watched = None, None  # a new pcscd: its reader states start afresh
                    continue
                if hr in READER_MISSING:
                    self._reader_missing(generation)
                    watched = None
                    continue
                if hr != SCARD_S_SUCCESS or not states:
                    log.warning("card monitor: status change failed (%s)", describe(hr))
                    self._stop.wait(self.poll_s)
                    continue
                _, state, atr = states[0]
                state = int(state)
                if state & (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE):
                    self._reader_missing(generation)
                    watched = None
                    continue
                known_state = state & ~SCARD_STATE_CHANGED
                self._card_state(generation, name, state, bytes(atr))
        except Exception:  # the thread ends here; the supervisor sees it and starts a new monitor
            log.exception("card monitor stopped on an unexpected error")
        finally:
            with self._lock:
                if self._monitor_context == context:
                    self._monitor_context = None
            if context is not None:
                self._scard.SCardReleaseContext(context)

    def _monitor_connect(self, generation: int) -> int | None:
        hr, context = self._scard.SCardEstablishContext(SCARD_SCOPE_USER)
        if code(hr) != SCARD_S_SUCCESS:
            self._lost_pcscd(generation)
            return None
        with self._lock:
            if generation != self._generation:
                self._scard.SCardReleaseContext(context)
                return None
            if not self._pcscd_up:
                log.info("card reader: connected to pcscd")
            self._pcscd_up = True
            self._monitor_context = context
        return int(context)

    def _monitor_lost_pcscd(self, context: int, generation: int, hr: int) -> None:
        log.warning("card monitor: pcscd went away (%s); reconnecting every %.1f s", describe(hr), self.poll_s)
        with self._lock:
            self._monitor_context = None
        self._scard.SCardReleaseContext(context)
        self._lost_pcscd(generation)

    def _lost_pcscd(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._pcscd_up = False
        self._reader_missing(generation, now_gone=False)

    def _reader_missing(self, generation: int, now_gone: bool = True) -> None:
        """The reader (or all of pcscd) went away: a card in it counts as removed."""
        events: list[CardEvent] = []
        with self._lock:
            if generation != self._generation:
                return
            reader, self._reader = self._reader, None
            if reader is not None and now_gone:
                log.warning("card reader %r is gone", reader)
            if reader is not None and self._card_present:
                events.append(CardEvent(CardEventKind.REMOVED, reader, b""))
                self._card_epoch += 1
            self._card_present, self._atr, self._card_error = False, None, None
            listener = self._listener
        self._emit(events, listener)

    def _card_state(self, generation: int, reader: str, state: int, atr: bytes) -> None:
        present = bool(state & SCARD_STATE_PRESENT) and not state & SCARD_STATE_MUTE
        events: list[CardEvent] = []
        with self._lock:
            if generation != self._generation:
                return
            if self._reader != reader:
                self._reader, self._ever_had_reader = reader, True
                log.info("card reader %r ready", reader)
            counter = state >> 16
            swapped = present and self._card_present and (atr != self._atr or counter != self._counter)
            if self._card_present and (not present or swapped):
                events.append(CardEvent(CardEventKind.REMOVED, reader, b""))
            if present and (not self._card_present or swapped):
                events.append(CardEvent(CardEventKind.INSERTED, reader, atr))
            if events:
                self._card_epoch += 1
                self._card_error = None
            if state & SCARD_STATE_MUTE:
                self._card_error = "the card in the reader does not answer (mute)"
            self._card_present, self._atr, self._counter = present, (atr if present else None), counter
            listener = self._listener
        self._emit(events, listener)

    @staticmethod
    def _emit(events: list[CardEvent], listener: CardListener | None) -> None:
        for event in events:
            log.info("card %s on %r", event.kind.value, event.reader)
            if listener is None:
                continue
            try:
                listener(event)
            except Exception:  # a broken listener must not stop card monitoring
                log.exception("card event listener failed")
