"""The one definition of the kiosk <-> central wire format.

The central (FastAPI) uses these models as request and response schemas; the kiosk's
client parses every answer through them.  A contract test checks that the central's
OpenAPI document and these models agree, so the two sides cannot drift.

Times on the wire are timezone-aware ISO 8601 (UTC).  Money is in fen (1/100 yuan).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

API_PREFIX = "/api/v1"

# A pickup code is a 6-digit serial plus a 6-digit verification code.
SERIAL_PATTERN = r"^[0-9]{6}$"
VERIFICATION_PATTERN = r"^[0-9]{6}$"

IDEMPOTENCY_HEADER = "Idempotency-Key"
# A claim grant is opaque to the kiosk: it hands back what its lookup answer gave it.
CLAIM_GRANT_MAX_LENGTH = 1024
AUTH_SCHEME = "Bearer"
TOKEN_MAX_LENGTH = 2048  # a signed QR token (order or entrance ticket)


class WireModel(BaseModel):
    # Unknown fields from a newer central are ignored, never fatal; objects are immutable.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ErrorCode(str, enum.Enum):
    """Every refusal the central can give.  The kiosk maps each one to a message."""

    UNKNOWN_CODE = "unknown_code"
    ALREADY_COLLECTED = "already_collected"
    BEING_COLLECTED = "being_collected"  # another kiosk holds a live claim lease
    OUTSIDE_WINDOW = "outside_window"  # pickup window not open yet
    SHOW_OVER = "show_over"
    REFUNDED = "refunded"
    REVOKED = "revoked"  # codes revoked, e.g. reported lost
    OTHER_CINEMA = "other_cinema"
    LOCKED_OUT = "locked_out"  # too many wrong codes for this serial / kiosk
    INVALID_TOKEN = "invalid_token"  # QR token forged, expired, malformed, revoked
    TICKET_TOKEN = "ticket_token"  # an entrance ticket's QR, not an order's
    CLAIM_EXPIRED = "claim_expired"  # the claim's lease ran out: print nothing more of it
    CLAIM_NOT_FOUND = "claim_not_found"
    CLAIM_NOT_ALLOWED = "claim_not_allowed"  # no valid grant from this kiosk's own lookup of the order
    TICKET_NOT_AVAILABLE = "ticket_not_available"
    UNAUTHORIZED = "unauthorized"  # kiosk credential missing, wrong or revoked
    BAD_REQUEST = "bad_request"
    INTERNAL = "internal"


class ErrorBody(WireModel):
    code: ErrorCode
    message: str
    # Facts the kiosk may show: collected_at, kiosk (masked), retry_after_s, opens_at, ...
    details: dict[str, Any] = Field(default_factory=dict)


class TicketStatus(str, enum.Enum):
    AVAILABLE = "available"
    CLAIMED = "claimed"  # held by a live claim lease
    PRINTED = "printed"
    IN_DOUBT = "in_doubt"  # sent to a printer but never confirmed: staff decide
    REFUNDED = "refunded"


class TicketView(WireModel):
    ticket_id: str
    row: str
    seat: str
    price_fen: int
    status: TicketStatus
    printed_at: datetime | None = None
    printed_by: str | None = None  # masked kiosk name


class OrderView(WireModel):
    order_id: str
    cinema_id: str
    cinema_name: str
    film_title: str
    film_original_title: str | None = None
    hall_name: str
    show_start: datetime
    show_end: datetime
    pickup_opens_at: datetime
    tickets: list[TicketView]
    # Short-lived proof that this kiosk looked the order up with its code or QR: a claim needs it.
    claim_grant: str = Field(min_length=1, max_length=CLAIM_GRANT_MAX_LENGTH)


class CodeLookupRequest(WireModel):
    serial: str = Field(pattern=SERIAL_PATTERN)
    verification: str = Field(pattern=VERIFICATION_PATTERN)


class TokenLookupRequest(WireModel):
    token: str = Field(max_length=TOKEN_MAX_LENGTH)


class LookupResponse(WireModel):
    order: OrderView


class ClaimRequest(WireModel):
    order_id: str
    ticket_ids: list[str] = Field(min_length=1, max_length=64)
    claim_grant: str = Field(min_length=1, max_length=CLAIM_GRANT_MAX_LENGTH)  # OrderView.claim_grant


class ClaimedTicket(WireModel):
    ticket_id: str
    row: str
    seat: str
    price_fen: int
    entrance_token: str  # signed token printed as the ticket's QR


class ClaimResponse(WireModel):
    claim_id: str
    order_id: str
    lease_expires_at: datetime
    tickets: list[ClaimedTicket]


class PrintNotice(WireModel):
    """Sent before a ticket's bytes go to the printer: the central must allow it first."""

    ticket_id: str = Field(min_length=1, max_length=64)


class PrintPermit(WireModel):
    """The central's leave to print one ticket now; the claim's lease was renewed."""

    claim_id: str
    ticket_id: str
    lease_expires_at: datetime


class TicketOutcome(str, enum.Enum):
    PRINTED = "printed"
    RELEASED = "released"  # never sent to the printer: collectable again
    IN_DOUBT = "in_doubt"


class ClaimReport(WireModel):
    """The kiosk's report of what happened to some of a claim's tickets."""

    outcomes: dict[str, TicketOutcome]  # ticket_id -> outcome
    # ticket_id -> the entrance token the central signed for it, sent with every ticket that is or
    # may be on paper: proof of the claim for a central that has no record of it (restored from a
    # backup), which then records the outcome instead of offering the ticket again.
    entrance_tokens: dict[str, Annotated[str, Field(max_length=TOKEN_MAX_LENGTH)]] = Field(default_factory=dict)


class ClaimStatus(WireModel):
    claim_id: str
    open: bool
    tickets: dict[str, TicketStatus]


class PublicKey(WireModel):
    key_id: str
    public_key: str  # raw Ed25519 public key, base64url without padding
    not_after: datetime | None = None


class KeySet(WireModel):
    keys: list[PublicKey]


class RevocationList(WireModel):
    version: int
    revoked_token_ids: list[str]


class KioskHello(WireModel):
    kiosk_id: str
    cinema_id: str
    server_time: datetime


class Routes:
    """Paths of the central's kiosk API (all under API_PREFIX)."""

    HELLO = API_PREFIX + "/hello"  # GET -> KioskHello
    LOOKUP_CODE = API_PREFIX + "/lookup/code"  # POST CodeLookupRequest -> LookupResponse
    LOOKUP_TOKEN = API_PREFIX + "/lookup/token"  # POST TokenLookupRequest -> LookupResponse
    CLAIMS = API_PREFIX + "/claims"  # POST ClaimRequest (+Idempotency-Key) -> ClaimResponse
    # POST PrintNotice (+Idempotency-Key) -> PrintPermit; refused (claim_expired, ...) means do not print.
    CLAIM_PRINTING = API_PREFIX + "/claims/{claim_id}/printing"
    CLAIM_REPORT = API_PREFIX + "/claims/{claim_id}/report"  # POST ClaimReport (+Idempotency-Key) -> ClaimStatus
    KEYS = API_PREFIX + "/keys"  # GET -> KeySet
    REVOCATIONS = API_PREFIX + "/revocations"  # GET -> RevocationList


# HTTP status the central uses for each refusal; the client relies only on the body's code.
ERROR_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNKNOWN_CODE: 404,
    ErrorCode.ALREADY_COLLECTED: 409,
    ErrorCode.BEING_COLLECTED: 409,
    ErrorCode.OUTSIDE_WINDOW: 409,
    ErrorCode.SHOW_OVER: 410,
    ErrorCode.REFUNDED: 410,
    ErrorCode.REVOKED: 410,
    ErrorCode.OTHER_CINEMA: 403,
    ErrorCode.LOCKED_OUT: 429,
    ErrorCode.INVALID_TOKEN: 400,
    ErrorCode.TICKET_TOKEN: 400,
    ErrorCode.CLAIM_EXPIRED: 410,
    ErrorCode.CLAIM_NOT_FOUND: 404,
    ErrorCode.CLAIM_NOT_ALLOWED: 403,
    ErrorCode.TICKET_NOT_AVAILABLE: 409,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.BAD_REQUEST: 422,
    ErrorCode.INTERNAL: 500,
}
