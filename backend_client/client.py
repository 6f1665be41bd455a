"""The kiosk's client of the central's kiosk API.

Every call has a connect and a read timeout and a total deadline on reading the answer.
Retries (with exponential backoff) happen only where repeating is safe: GETs, and POSTs
that carry an Idempotency-Key.  A code lookup counts against the guess limit, so it is
repeated only when the connection was refused before anything was sent.

Every answer is parsed through the wire models; the caller sees either a model or one
of the exceptions in ``backend_client.errors``, never a requests or pydantic exception.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload
from urllib.parse import quote

import requests
from pydantic import BaseModel, ValidationError
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from backend_client import wire
from backend_client.errors import (
    CentralBadAnswer,
    CentralError,
    CentralRefused,
    CentralUnreachable,
    CentralUntrusted,
    KioskUnauthorized,
)
from backend_client.masking import mask_card, mask_code, mask_phone, mask_token

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)

# An answer bigger than this is not the wire format; stop reading instead of filling memory.
MAX_ANSWER_BYTES = 1 << 20
_READ_CHUNK = 16 * 1024


class RetryPolicy(enum.Enum):
    SAFE = "safe"  # GET, or POST with an Idempotency-Key: repeat on any transport failure or 5xx
    NOT_SENT_ONLY = "not_sent_only"  # repeat only when the request cannot have reached the central


@dataclass(frozen=True)
class RequestInfo:
    """One attempt as it leaves the client (credential left out)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes | None
    attempt: int  # 1 for the first try


@dataclass(frozen=True)
class ResponseInfo:
    """What came back for one attempt: a status and body, or the transport error."""

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    error: str | None = None  # set when no complete answer arrived
    elapsed_s: float = 0.0


Observer = Callable[[RequestInfo, ResponseInfo], None]


@dataclass(frozen=True)
class _Secrets:
    """What one call sends that no observer (the recorder) may see."""

    staff_token: str | None = None
    body_hidden: bool = False


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes


def normalise_fingerprint(text: str) -> str:
    """A certificate's SHA-256 fingerprint as 64 lower-case hex digits.

    Accepts what ``openssl x509 -noout -fingerprint -sha256`` prints, with or without its
    ``sha256 Fingerprint=`` prefix and colons."""
    digits = text.rpartition("=")[2].replace(":", "").strip().lower()
    if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError("a certificate fingerprint is 64 hex digits (SHA-256), colons allowed")
    return digits


class _TlsAdapter(HTTPAdapter):
    """HTTPS with no urllib3 retries, optionally pinned to one certificate's SHA-256 fingerprint."""

    def __init__(self, pin: str | None) -> None:
        self._pin = pin
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        if self._pin is not None:
            pool_kwargs["assert_fingerprint"] = self._pin
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)


def _untrusted(exc: requests.exceptions.SSLError) -> str | None:
    """Why the central's certificate was refused, or None when the TLS failure was something else."""
    # requests wraps urllib3's MaxRetryError, whose .reason wraps the ssl module's error.
    pending: list[BaseException] = [exc]
    seen = 0
    while pending and seen < 30:
        cause = pending.pop()
        seen += 1
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate not trusted: {cause.verify_message or cause.reason}"
        if "Fingerprints did not match" in str(cause):
            return "certificate not trusted: it is not the pinned certificate (central.cert_sha256)"
        nested = [getattr(cause, "reason", None), *cause.args, cause.__cause__, cause.__context__]
        pending += [item for item in nested if isinstance(item, BaseException)]
    return None


class _TransportFailure(Exception):
    """No complete answer for one attempt."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent  # False only when the request surely never reached the central


class CentralClient:
    """Calls the central's kiosk API; see ``backend_client.wire.Routes``."""

    def __init__(
        self,
        base_url: str,
        credential: str,
        *,
        timeout_s: float = 4.0,
        retries: int = 2,
        backoff_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        observer: Observer | None = None,
        ca_file: str | None = None,
        cert_sha256: str | None = None,
    ) -> None:
        """``ca_file``: PEM of the CA (e.g. the chain's private CA) that the central's certificate must
        chain to, instead of the system's CAs. ``cert_sha256``: the SHA-256 fingerprint (hex, colons
        allowed) the central's certificate must have; with it alone the certificate is pinned and no
        CA is asked. Both apply to https:// only, and to the session this client makes."""
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if retries < 0:
            raise ValueError("retries must not be negative")
        if not credential or not credential.isascii() or not credential.isprintable():
            # It travels in a header: anything else would fail deep inside http.client.
            raise ValueError("the kiosk credential must be printable ASCII")
        self.base_url = base_url.rstrip("/")
        self._credential = credential
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        pin = normalise_fingerprint(cert_sha256) if cert_sha256 else None
        self._owns_session = session is None
        self._session = session if session is not None else self._new_session(ca_file, pin)
        self.observer = observer

    @staticmethod
    def _new_session(ca_file: str | None = None, pin: str | None = None) -> requests.Session:
        session = requests.Session()
        # Retries are this client's decision alone: urllib3 must never repeat a request.
        session.mount("http://", HTTPAdapter(max_retries=0))
        session.mount("https://", _TlsAdapter(pin))
        session.trust_env = False  # a proxy from the environment must not sit between kiosk and central
        # A pinned certificate needs no CA; otherwise the private CA file, else the system's CAs.
        session.verify = ca_file if ca_file else (pin is None)
        return session

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> CentralClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the API -------------------------------------------------------------------------

    def hello(self) -> wire.KioskHello:
        return self._call("GET", wire.Routes.HELLO, wire.KioskHello, policy=RetryPolicy.SAFE)

    def lookup_code(self, serial: str, verification: str) -> wire.OrderView:
        try:
            request = wire.CodeLookupRequest(serial=serial, verification=verification)
        except ValidationError as exc:
            # Checked here so a typo never costs a guess at the central.
            raise CentralRefused(wire.ErrorCode.BAD_REQUEST, "a pickup code is 6 + 6 digits") from exc
        return self._lookup(wire.Routes.LOOKUP_CODE, request, log_subject=f"serial={mask_code(serial)}")

    def lookup_token(self, token: str) -> wire.OrderView:
        try:
            request = wire.TokenLookupRequest(token=token)
        except ValidationError as exc:
            raise CentralRefused(wire.ErrorCode.INVALID_TOKEN, "this code is too long to be ours") from exc
        return self._lookup(wire.Routes.LOOKUP_TOKEN, request, log_subject=f"token={mask_token(token)}")

    def _lookup(self, route: str, request: BaseModel, log_subject: str) -> wire.OrderView:
        # A POST without an Idempotency-Key: not repeated once it may have arrived.
        answer = self._call(
            "POST", route, wire.LookupResponse, body=request, policy=RetryPolicy.NOT_SENT_ONLY, log_subject=log_subject
        )
        return answer.order

    def claim(
        self, order_id: str, ticket_ids: list[str], idempotency_key: str, claim_grant: str
    ) -> wire.ClaimResponse:
        """Claim tickets of an order this kiosk looked up; ``claim_grant`` is that lookup's OrderView.claim_grant."""
        try:
            request = wire.ClaimRequest(order_id=order_id, ticket_ids=ticket_ids, claim_grant=claim_grant)
        except ValidationError as exc:
            raise CentralRefused(
                wire.ErrorCode.BAD_REQUEST, "a claim names 1 to 64 tickets and the grant from its lookup"
            ) from exc
        return self._call(
            "POST",
            wire.Routes.CLAIMS,
            wire.ClaimResponse,
            body=request,
            policy=RetryPolicy.SAFE,
            idempotency_key=idempotency_key,
            log_subject=f"order={order_id} tickets={len(ticket_ids)}",
        )

    def start_printing(self, claim_id: str, ticket_id: str, idempotency_key: str) -> wire.PrintPermit:
        """Ask leave to send one ticket to the printer; a refusal means: print nothing more of this claim."""
        try:
            request = wire.PrintNotice(ticket_id=ticket_id)
        except ValidationError as exc:
            raise CentralRefused(wire.ErrorCode.BAD_REQUEST, "a print notice names one ticket") from exc
        path = wire.Routes.CLAIM_PRINTING.format(claim_id=quote(claim_id, safe=""))
        return self._call(
            "POST",
            path,
            wire.PrintPermit,
            body=request,
            policy=RetryPolicy.SAFE,
            idempotency_key=idempotency_key,
            log_subject=f"claim={claim_id}",
        )

    def report(
        self, claim_id: str, outcomes: dict[str, wire.TicketOutcome], idempotency_key: str,
        entrance_tokens: dict[str, str] | None = None,
    ) -> wire.ClaimStatus:
        try:
            request = wire.ClaimReport(outcomes=outcomes, entrance_tokens=entrance_tokens or {})
        except ValidationError as exc:
            raise CentralRefused(wire.ErrorCode.BAD_REQUEST, "a report maps ticket ids to outcomes") from exc
        path = wire.Routes.CLAIM_REPORT.format(claim_id=quote(claim_id, safe=""))
        return self._call(
            "POST",
            path,
            wire.ClaimStatus,
            body=request,
            policy=RetryPolicy.SAFE,
            idempotency_key=idempotency_key,
            log_subject=f"claim={claim_id}",
        )

    def key_set(self) -> wire.KeySet:
        return self._call("GET", wire.Routes.KEYS, wire.KeySet, policy=RetryPolicy.SAFE)

    def revocations(self) -> wire.RevocationList:
        return self._call("GET", wire.Routes.REVOCATIONS, wire.RevocationList, policy=RetryPolicy.SAFE)

    # -- year-cards ------------------------------------------------------------------------

    def card_tap(self, tap: wire.CardTap, idempotency_key: str, staff_token: str | None = None) -> wire.CardView:
        """What the central knows of a card just read; it settles the card's pending redemptions.

        At the counter the tap carries the staff session (audited with the staff member)."""
        return self._call(
            "POST", wire.Routes.CARD_TAP, wire.CardView, body=tap, policy=RetryPolicy.SAFE,
            idempotency_key=idempotency_key, staff_token=staff_token,
            log_subject=f"card={mask_card(tap.card_number)}",
        )

    def card_showings(self, card_number: str) -> wire.CardShowings:
        path = wire.Routes.CARD_SHOWINGS.format(card_number=quote(card_number, safe=""))
        return self._call("GET", path, wire.CardShowings, policy=RetryPolicy.SAFE,
                          log_subject=f"card={mask_card(card_number)}")

    def seat_map(self, showing_id: str) -> wire.SeatMap:
        path = wire.Routes.SHOWING_SEATS.format(showing_id=quote(showing_id, safe=""))
        return self._call("GET", path, wire.SeatMap, policy=RetryPolicy.SAFE, log_subject=f"showing={showing_id}")

    def hold_redemption(
        self, request: wire.RedemptionRequest, idempotency_key: str, staff_token: str | None = None
    ) -> wire.RedemptionView:
        """Hold seats (or name the visits of concessions) before the card is debited."""
        return self._call(
            "POST", wire.Routes.REDEMPTIONS, wire.RedemptionView, body=request, policy=RetryPolicy.SAFE,
            idempotency_key=idempotency_key, staff_token=staff_token,
            log_subject=f"card={mask_card(request.card_number)} kind={request.kind.value}",
        )

    def redemption(self, redemption_id: str) -> wire.RedemptionView:
        path = wire.Routes.REDEMPTION.format(redemption_id=quote(redemption_id, safe=""))
        return self._call("GET", path, wire.RedemptionView, policy=RetryPolicy.SAFE,
                          log_subject=f"redemption={redemption_id}")

    def announce_debit(
        self, redemption_id: str, notice: wire.DebitNotice, idempotency_key: str, staff_token: str | None = None
    ) -> wire.RedemptionView:
        """Tell the central the card is about to be debited: from now on the hold cannot run out."""
        path = wire.Routes.REDEMPTION_DEBITING.format(redemption_id=quote(redemption_id, safe=""))
        return self._call(
            "POST", path, wire.RedemptionView, body=notice, policy=RetryPolicy.SAFE,
            idempotency_key=idempotency_key, staff_token=staff_token, log_subject=f"redemption={redemption_id}",
        )

    def confirm_redemption(
        self, redemption_id: str, proof: wire.DebitProofBody, idempotency_key: str, staff_token: str | None = None
    ) -> wire.RedemptionResult:
        """The debit's proof (TAC); for tickets the answer holds the claim to print."""
        path = wire.Routes.REDEMPTION_CONFIRM.format(redemption_id=quote(redemption_id, safe=""))
        return self._call(
            "POST", path, wire.RedemptionResult, body=proof, policy=RetryPolicy.SAFE,
            idempotency_key=idempotency_key, staff_token=staff_token,
            log_subject=f"redemption={redemption_id} card={mask_card(proof.card_number)}",
        )

    def cancel_redemption(
        self, redemption_id: str, reason: str, idempotency_key: str, staff_token: str | None = None
    ) -> wire.RedemptionView:
        """Release a redemption whose card was never debited."""
        path = wire.Routes.REDEMPTION_CANCEL.format(redemption_id=quote(redemption_id, safe=""))
        return self._call(
            "POST", path, wire.RedemptionView, body=wire.RedemptionCancel(reason=reason[:200]),
            policy=RetryPolicy.SAFE, idempotency_key=idempotency_key, staff_token=staff_token,
            log_subject=f"redemption={redemption_id}",
        )

    def claim_owed(self, redemption_id: str, card_number: str, idempotency_key: str) -> wire.ClaimResponse:
        """The tickets of a debited redemption never printed: offered at the next tap of that card."""
        path = wire.Routes.REDEMPTION_CLAIM.format(redemption_id=quote(redemption_id, safe=""))
        return self._call(
            "POST", path, wire.ClaimResponse, body=wire.OwedClaimRequest(card_number=card_number),
            policy=RetryPolicy.SAFE, idempotency_key=idempotency_key,
            log_subject=f"redemption={redemption_id} card={mask_card(card_number)}",
        )

    def card_blacklist(self) -> wire.CardBlacklist:
        return self._call("GET", wire.Routes.CARD_BLACKLIST, wire.CardBlacklist, policy=RetryPolicy.SAFE)

    def send_offline_debits(self, batch: wire.OfflineDebitBatch, idempotency_key: str) -> wire.OfflineDebitResult:
        return self._call(
            "POST", wire.Routes.OFFLINE_DEBITS, wire.OfflineDebitResult, body=batch, policy=RetryPolicy.SAFE,
            idempotency_key=idempotency_key, log_subject=f"debits={len(batch.debits)}",
        )

    def card_transactions(self, after: int | None = None) -> wire.CardTransactionPage:
        """This kiosk's confirmed card transactions, oldest first, from after the cursor ``after``."""
        path = wire.Routes.CARD_TRANSACTIONS + ("" if after is None else f"?after={int(after)}")
        return self._call("GET", path, wire.CardTransactionPage, policy=RetryPolicy.SAFE)

    # -- staff at the counter ----------------------------------------------------------------

    def staff_login(self, staff_no: str, password: str) -> wire.StaffSession:
        """A wrong password counts against the staff number: repeated only when surely not sent."""
        try:
            request = wire.StaffLogin(staff_no=staff_no, password=password)
        except ValidationError as exc:
            raise CentralRefused(wire.ErrorCode.BAD_REQUEST, "a staff number and a password are needed") from exc
        return self._call(
            "POST", wire.Routes.STAFF_LOGIN, wire.StaffSession, body=request, policy=RetryPolicy.NOT_SENT_ONLY,
            log_subject=f"staff={staff_no[:32]}", secret_body=True,
        )

    def staff_logout(self, staff_token: str) -> None:
        self._call("POST", wire.Routes.STAFF_LOGOUT, None, policy=RetryPolicy.SAFE, staff_token=staff_token)

    def sell_card(
        self, card_number: str, challenge: str, staff_token: str, idempotency_key: str, valid_days: int | None = None
    ) -> wire.CardUpdate:
        return self._card_update(wire.Routes.CARD_SELL, card_number, challenge, staff_token, idempotency_key,
                                 valid_days)

    def renew_card(
        self, card_number: str, challenge: str, staff_token: str, idempotency_key: str, valid_days: int | None = None,
        card_expires_on: dt.date | None = None,
    ) -> wire.CardUpdate:
        """``card_expires_on``: what the card says now, so a renewal never written is written, not doubled."""
        return self._card_update(wire.Routes.CARD_RENEW, card_number, challenge, staff_token, idempotency_key,
                                 valid_days, card_expires_on)

    def _card_update(
        self, route: str, card_number: str, challenge: str, staff_token: str, idempotency_key: str,
        valid_days: int | None, card_expires_on: dt.date | None = None,
    ) -> wire.CardUpdate:
        try:
            request = wire.CardUpdateRequest(challenge=challenge, valid_days=valid_days,
                                             card_expires_on=card_expires_on)
        except ValidationError as exc:
            raise CentralRefused(wire.ErrorCode.BAD_REQUEST, "a card update needs the card's 4-byte challenge") from exc
        path = route.format(card_number=quote(card_number, safe=""))
        return self._call(
            "POST", path, wire.CardUpdate, body=request, policy=RetryPolicy.SAFE, idempotency_key=idempotency_key,
            staff_token=staff_token, log_subject=f"card={mask_card(card_number)}",
        )

    def recycle_card(self, card_number: str, staff_token: str, idempotency_key: str) -> wire.CardView:
        path = wire.Routes.CARD_RECYCLE.format(card_number=quote(card_number, safe=""))
        return self._call("POST", path, wire.CardView, policy=RetryPolicy.SAFE, idempotency_key=idempotency_key,
                          staff_token=staff_token, log_subject=f"card={mask_card(card_number)}")

    def blacklist_card(self, card_number: str, reason: str, staff_token: str, idempotency_key: str) -> wire.CardView:
        path = wire.Routes.CARD_BLACKLIST_ENTRY.format(card_number=quote(card_number, safe=""))
        return self._call(
            "POST", path, wire.CardView, body=wire.BlacklistRequest(reason=reason[:200]), policy=RetryPolicy.SAFE,
            idempotency_key=idempotency_key, staff_token=staff_token, log_subject=f"card={mask_card(card_number)}",
        )

    def unblacklist_card(self, card_number: str, staff_token: str) -> wire.CardView:
        path = wire.Routes.CARD_BLACKLIST_ENTRY.format(card_number=quote(card_number, safe=""))
        return self._call("DELETE", path, wire.CardView, policy=RetryPolicy.SAFE, staff_token=staff_token,
                          log_subject=f"card={mask_card(card_number)}")

    # -- lost-ticket recovery ------------------------------------------------------------------
    # Phone, ID digits, face encodings and SMS codes never reach the observer (the recorder):
    # those bodies are secret; a replay answers from the recorded responses alone.

    def start_recovery(self, start: wire.RecoveryStart, idempotency_key: str) -> wire.RecoverySession:
        return self._call(
            "POST", wire.Routes.RECOVERY_SESSIONS, wire.RecoverySession, body=start, policy=RetryPolicy.SAFE,
            idempotency_key=idempotency_key, log_subject=f"phone={mask_phone(start.phone)}", secret_body=True,
        )

    def recovery_session(self, session_id: str) -> wire.RecoverySession:
        path = wire.Routes.RECOVERY_SESSION.format(session_id=quote(session_id, safe=""))
        return self._call("GET", path, wire.RecoverySession, policy=RetryPolicy.SAFE)

    def face_attempt(self, session_id: str, attempt: wire.FaceAttempt, idempotency_key: str) -> wire.FaceVerdict:
        """One of the session's face attempts (a retried request is the same attempt, never a second)."""
        path = wire.Routes.RECOVERY_FACE.format(session_id=quote(session_id, safe=""))
        return self._call(
            "POST", path, wire.FaceVerdict, body=attempt, policy=RetryPolicy.SAFE, idempotency_key=idempotency_key,
            log_subject=f"session={session_id} live={attempt.liveness.passed}", secret_body=True,
        )

    def send_recovery_sms(self, session_id: str, idempotency_key: str) -> wire.SmsSent:
        path = wire.Routes.RECOVERY_SMS.format(session_id=quote(session_id, safe=""))
        return self._call(
            "POST", path, wire.SmsSent, policy=RetryPolicy.SAFE, idempotency_key=idempotency_key,
            log_subject=f"session={session_id}",
        )

    def check_recovery_sms(self, session_id: str, code: str, idempotency_key: str) -> wire.SmsVerdict:
        try:
            request = wire.SmsCodeCheck(code=code)
        except ValidationError as exc:
            raise CentralRefused(wire.ErrorCode.BAD_REQUEST, "the code from the SMS is 6 digits") from exc
        path = wire.Routes.RECOVERY_SMS_CHECK.format(session_id=quote(session_id, safe=""))
        return self._call(
            "POST", path, wire.SmsVerdict, body=request, policy=RetryPolicy.SAFE, idempotency_key=idempotency_key,
            log_subject=f"session={session_id}", secret_body=True,
        )

    def complete_recovery(
        self, session_id: str, order_id: str, delivery: wire.RecoveryDelivery, idempotency_key: str
    ) -> wire.RecoveryResult:
        """Revoke the order's lost codes; then a claim grant to print here, or a new code by SMS."""
        try:
            request = wire.RecoveryComplete(order_id=order_id, delivery=delivery)
        except ValidationError as exc:
            raise CentralRefused(wire.ErrorCode.BAD_REQUEST, "recovery completes one order") from exc
        path = wire.Routes.RECOVERY_COMPLETE.format(session_id=quote(session_id, safe=""))
        return self._call(
            "POST", path, wire.RecoveryResult, body=request, policy=RetryPolicy.SAFE,
            idempotency_key=idempotency_key, log_subject=f"session={session_id} order={order_id}",
        )

    # -- one call: attempts, retries, mapping --------------------------------------------

    @overload
    def _call(
        self, method: str, path: str, answer_model: type[ModelT], *, policy: RetryPolicy,
        body: BaseModel | None = None, idempotency_key: str | None = None, log_subject: str = "",
        staff_token: str | None = None, secret_body: bool = False,
    ) -> ModelT: ...

    @overload
    def _call(
        self, method: str, path: str, answer_model: None, *, policy: RetryPolicy,
        body: BaseModel | None = None, idempotency_key: str | None = None, log_subject: str = "",
        staff_token: str | None = None, secret_body: bool = False,
    ) -> None: ...

    def _call(
        self,
        method: str,
        path: str,
        answer_model: type[ModelT] | None,
        *,
        policy: RetryPolicy,
        body: BaseModel | None = None,
        idempotency_key: str | None = None,
        log_subject: str = "",
        staff_token: str | None = None,
        secret_body: bool = False,
    ) -> ModelT | None:
        """``staff_token`` travels like the kiosk's credential: never shown to the observer (the
        recorder); ``secret_body`` (a password) keeps the request body from the observer too."""
        secrets_out = _Secrets(staff_token=staff_token, body_hidden=secret_body)
        headers = {"Accept": "application/json"}
        payload: bytes | None = None
        if body is not None:
            payload = body.model_dump_json().encode()
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            if not idempotency_key.strip():
                raise ValueError("an idempotency key must not be empty")
            headers[wire.IDEMPOTENCY_HEADER] = idempotency_key
        attempts = 1 + self.retries
        last_problem = ""
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                self._sleep(self.backoff_s * 2 ** (attempt - 2))
            try:
                answer = self._send(method, path, headers, payload, attempt, secrets_out)
            except _TransportFailure as failure:
                last_problem = str(failure)
                may_repeat = policy is RetryPolicy.SAFE or not failure.sent
                # A GET is a poll whose caller logs the outcome once (an outage is not a line every 5 s).
                log.log(
                    logging.DEBUG if method == "GET" else logging.WARNING,
                    "central %s %s %s: attempt %d/%d failed: %s",
                    method, path, log_subject, attempt, attempts, failure,
                )
                if may_repeat:
                    continue
                raise CentralUnreachable(f"no answer from the central: {failure}") from None
            if answer.status >= 500:
                last_problem = f"HTTP {answer.status}"
                log.log(
                    logging.DEBUG if method == "GET" else logging.WARNING,
                    "central %s %s %s: attempt %d/%d answered HTTP %d",
                    method, path, log_subject, attempt, attempts, answer.status,
                )
                if policy is RetryPolicy.SAFE:
                    continue
                raise CentralUnreachable(f"the central failed: HTTP {answer.status}")
            # The status poll (GETs every few seconds) must not bury real events: DEBUG for those.
            log.log(logging.DEBUG if method == "GET" else logging.INFO,
                    "central %s %s %s: HTTP %d", method, path, log_subject, answer.status)
            if answer_model is None:
                _raise_refusal(answer)
                return None
            return _parse_answer(answer, answer_model)
        raise CentralUnreachable(f"no answer from the central after {attempts} attempts: {last_problem}")

    def _send(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None, attempt: int,
        secrets_out: _Secrets | None = None,
    ) -> _Answer:
        """One attempt on the wire: the single place every request goes through."""
        secrets_out = secrets_out or _Secrets()
        shown_headers = dict(headers)
        if secrets_out.staff_token is not None:
            shown_headers[wire.STAFF_HEADER] = "***"
        shown_body = b'{"hidden": true}' if secrets_out.body_hidden and body is not None else body
        request_info = RequestInfo(method=method, path=path, headers=shown_headers, body=shown_body, attempt=attempt)
        started = time.monotonic()
        sent_headers = headers if secrets_out.staff_token is None else {
            **headers, wire.STAFF_HEADER: secrets_out.staff_token}
        try:
            answer = self._exchange(method, path, sent_headers, body, started)
        except _TransportFailure as failure:
            self._notify(request_info, ResponseInfo(
                status=None, error=str(failure), elapsed_s=time.monotonic() - started,
            ))
            raise
        self._notify(request_info, ResponseInfo(
            status=answer.status, body=answer.body, elapsed_s=time.monotonic() - started,
        ))
        return answer

    def _exchange(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None, started: float
    ) -> _Answer:
        all_headers = {**headers, "Authorization": f"{wire.AUTH_SCHEME} {self._credential}"}
        try:
            with self._session.request(
                method,
                self.base_url + path,
                headers=all_headers,
                data=body,
                timeout=(self.timeout_s, self.timeout_s),
                stream=True,
                allow_redirects=False,
            ) as response:
                content = self._read_body(response, started)
                return _Answer(status=response.status_code, body=content)
        except requests.exceptions.SSLError as exc:
            untrusted = _untrusted(exc)
            if untrusted is not None:  # not worth a retry: the same certificate comes back
                raise CentralUntrusted(untrusted) from None
            raise _TransportFailure("TLS handshake failed: " + " ".join(str(exc).split()), sent=False) from None
        except requests.RequestException as exc:
            raise _TransportFailure(_describe(exc), sent=not _surely_not_sent(exc)) from None

    def _read_body(self, response: requests.Response, started: float) -> bytes:
        # The read timeout bounds each socket read; this deadline bounds the whole answer,
        # so a central that trickles bytes cannot hold the kiosk forever.
        deadline = started + 2 * self.timeout_s
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_READ_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise _TransportFailure("answer too large", sent=True)
            if time.monotonic() > deadline:
                raise _TransportFailure("answer too slow", sent=True)
        return b"".join(chunks)

    def _notify(self, request_info: RequestInfo, response_info: ResponseInfo) -> None:
        if self.observer is None:
            return
        try:
            self.observer(request_info, response_info)
        except Exception:  # a recorder's fault must never break a pickup
            log.exception("central client observer failed")


def _surely_not_sent(exc: requests.RequestException) -> bool:
    """True when the connection itself failed, so no byte of the request left the kiosk."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):
            return isinstance(reason.reason, NewConnectionError)
    return False


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.Timeout):
        return "read timeout"
    if _surely_not_sent(exc):
        return "connection refused"
    if isinstance(exc, requests.ConnectionError):
        return "connection lost"
    return type(exc).__name__


def _parse_answer(answer: _Answer, answer_model: type[ModelT]) -> ModelT:
    """Turn a non-5xx answer into the wire model, or into the refusal it carries."""
    try:
        document = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested deeper than json can go
        raise CentralBadAnswer(f"the central's answer is not JSON (HTTP {answer.status})") from None
    if 200 <= answer.status < 300:
        try:
            return answer_model.model_validate(document)
        except ValidationError as exc:
            raise CentralBadAnswer(
                f"the central's answer is not a {answer_model.__name__}: {_first_error(exc)}"
            ) from None
    try:
        error = wire.ErrorBody.model_validate(document)
    except ValidationError:
        raise CentralBadAnswer(f"the central refused without a known reason (HTTP {answer.status})") from None
    # A staff member's failed login or lapsed session is theirs, not the kiosk's credential.
    staff_refusal = error.code in (wire.ErrorCode.STAFF_AUTH_FAILED, wire.ErrorCode.STAFF_SESSION_EXPIRED)
    refusal = KioskUnauthorized if (
        (answer.status == 401 and not staff_refusal) or error.code is wire.ErrorCode.UNAUTHORIZED
    ) else CentralRefused
    raise refusal(error.code, error.message, dict(error.details), http_status=answer.status)


def _raise_refusal(answer: _Answer) -> None:
    """For a call whose success carries no body (204): raise the refusal of a non-2xx answer."""
    if not 200 <= answer.status < 300:
        _parse_answer(answer, wire.ErrorBody)


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}"


__all__ = [
    "CentralBadAnswer",
    "CentralClient",
    "CentralError",
    "CentralRefused",
    "CentralUnreachable",
    "CentralUntrusted",
    "KioskUnauthorized",
    "Observer",
    "RequestInfo",
    "ResponseInfo",
    "RetryPolicy",
]
