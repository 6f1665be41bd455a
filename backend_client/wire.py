"""The one definition of the kiosk <-> central wire format.

The central (FastAPI) uses these models as request and response schemas; the kiosk's
client parses every answer through them.  A contract test checks that the central's
OpenAPI document and these models agree, so the two sides cannot drift.

Times on the wire are timezone-aware ISO 8601 (UTC).  Money is in fen (1/100 yuan).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
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
    # -- year-cards --
    CARD_UNKNOWN = "card_unknown"  # not a card of this chain's ledger (never made here)
    CARD_NOT_SOLD = "card_not_sold"  # made, never sold: activate at the counter
    CARD_EXPIRED = "card_expired"  # renew at the counter
    CARD_RECYCLED = "card_recycled"  # its last visit was used; the cinema collects it
    CARD_BLACKLISTED = "card_blacklisted"  # details: reason
    CARD_MISMATCH = "card_mismatch"  # the card's own records contradict the ledger (copied or edited)
    NOT_ENOUGH_VISITS = "not_enough_visits"  # details: visits_left
    NOT_COVERED = "not_covered"  # the card's type does not cover this showing
    TOO_MANY_PEOPLE = "too_many_people"  # details: max_people
    SEATS_TAKEN = "seats_taken"  # details: seats (row+seat strings)
    SHOWING_NOT_FOUND = "showing_not_found"
    REDEMPTION_NOT_FOUND = "redemption_not_found"
    REDEMPTION_EXPIRED = "redemption_expired"  # the seat hold ran out before the debit was announced
    TAC_INVALID = "tac_invalid"  # the debit proof does not verify: nothing recorded
    # -- staff (counter mode, and later maintenance) --
    STAFF_AUTH_FAILED = "staff_auth_failed"  # wrong staff number or password; details: attempts_left
    STAFF_SESSION_EXPIRED = "staff_session_expired"  # log in again
    FORBIDDEN = "forbidden"  # the staff member's role may not do this
    # -- lost-ticket recovery --
    # No account with that phone (and ID digits), or no order of it collectable at this cinema
    # today: one answer for both, so the kiosk never tells whether a phone number has an account.
    RECOVERY_NO_ORDERS = "recovery_no_orders"
    RECOVERY_ID_REQUIRED = "recovery_id_required"  # the chain asks the ID number's last 4 digits too
    RECOVERY_SESSION_EXPIRED = "recovery_session_expired"  # start again
    RECOVERY_NOT_VERIFIED = "recovery_not_verified"  # complete before face or SMS code passed
    RECOVERY_NO_TEMPLATE = "recovery_no_template"  # no face enrolled for the account: use the SMS code
    RECOVERY_ATTEMPTS_EXHAUSTED = "recovery_attempts_exhausted"  # 3 face attempts / 3 SMS codes used: counter
    RECOVERY_RATE_LIMITED = "recovery_rate_limited"  # this phone or this kiosk tried too often; details: retry_after_s
    RECOVERY_DEADLINE_PASSED = "recovery_deadline_passed"  # too close to the show: counter; details: deadline
    SMS_UNAVAILABLE = "sms_unavailable"  # the SMS gateway did not take the message: try the face, or later
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


# ---- year-cards (年票卡) ---------------------------------------------------------------
# A card number is 16 digits, printed on the card; the kiosk shows and logs it masked.
CARD_NUMBER_PATTERN = r"^[0-9]{16}$"
HEX_TAC_PATTERN = r"^[0-9A-F]{8}$"
TERMINAL_ID_PATTERN = r"^[0-9A-F]{12}$"  # a PSAM's terminal id: cinema code (4 bytes) + number (2)
CHALLENGE_PATTERN = r"^[0-9A-F]{8}$"
STAFF_HEADER = "X-Staff-Session"  # a staff session token, beside the kiosk's own credential
MAX_PEOPLE_PER_REDEMPTION = 8


class CardStatus(str, enum.Enum):
    """A card's life at the central (the ledger's word, whatever the card itself says)."""

    MADE = "made"  # personalised at head office, not sold yet
    ACTIVE = "active"
    EXPIRED = "expired"
    RECYCLED = "recycled"  # last visit used and recorded for collection; can be re-issued
    BLACKLISTED = "blacklisted"


class CardUseKind(str, enum.Enum):
    TICKETS = "tickets"  # 影票
    CONCESSIONS = "concessions"  # 卖品
    LOAD = "load"  # visits added at a re-issue


class CardRecordView(WireModel):
    """One record of the card's own cyclic log, as the kiosk read it."""

    card_counter: int = Field(ge=0, le=0xFFFF)
    visits: int = Field(ge=0)
    kind: CardUseKind
    terminal_id: str = Field(pattern=TERMINAL_ID_PATTERN)
    at: datetime  # the card's own wall-clock time (naive, the cinema's local time)
    balance_after: int = Field(ge=0)


class CardTap(WireModel):
    """What a tap read from the card (its public file was verified by the PSAM first)."""

    card_number: str = Field(pattern=CARD_NUMBER_PATTERN)
    card_type: int = Field(ge=0, le=255)
    sold: bool
    activated_on: date | None = None
    expires_on: date | None = None
    balance: int = Field(ge=0)
    records: list[CardRecordView] = Field(default_factory=list, max_length=16)  # newest first


class CardHistoryEntry(WireModel):
    """One use of the card since its current issue (a new holder never sees the old one's)."""

    at: datetime
    cinema_name: str
    visits: int
    kind: CardUseKind
    balance_after: int


class CardView(WireModel):
    card_number: str
    card_type: int
    type_name: str
    status: CardStatus
    visits_left: int  # the ledger's figure, after reconciliation with the card's own log
    expires_on: date | None = None
    max_people: int  # per redemption, by the card's type and visits left
    blacklist_reason: str | None = None
    history: list[CardHistoryEntry] = Field(default_factory=list)
    # A pending redemption settled by this tap (its debit found, or found never made).
    reconciled: list[str] = Field(default_factory=list)  # redemption ids
    # Redemptions debited from this card whose tickets were never printed (a kiosk died between
    # the debit and the printer): the kiosk where the card is tapped offers to print them.
    owed: list[RedemptionView] = Field(default_factory=list)


class ShowingOffer(WireModel):
    """A showing a card's type covers, today at the kiosk's cinema."""

    showing_id: str
    film_title: str
    film_original_title: str | None = None
    hall_name: str
    format: str  # "2D", "3D", "IMAX", ...
    starts_at: datetime
    ends_at: datetime
    visits_per_person: int = Field(ge=1)  # 1, or more where the type charges a surcharge in visits
    seats_free: int
    cinema_name: str | None = None  # printed on the ticket (the kiosk's own cinema)


class CardShowings(WireModel):
    card_number: str
    showings: list[ShowingOffer]


class SeatState(str, enum.Enum):
    FREE = "free"
    TAKEN = "taken"  # sold
    HELD = "held"  # held by a redemption in progress


class SeatView(WireModel):
    row: str
    seat: str
    x: int = Field(ge=0)  # column on the hall's grid (gaps are aisles)
    y: int = Field(ge=0)  # row on the grid, 0 nearest the screen
    state: SeatState
    accessible: bool = False


class SeatMap(WireModel):
    showing_id: str
    hall_name: str
    columns: int
    rows: int
    seats: list[SeatView]


class SeatRef(WireModel):
    row: str = Field(min_length=1, max_length=8)
    seat: str = Field(min_length=1, max_length=8)


class RedemptionRequest(WireModel):
    """Hold seats (tickets) or name visits (concessions at the counter) before the card is debited."""

    card_number: str = Field(pattern=CARD_NUMBER_PATTERN)
    kind: CardUseKind = CardUseKind.TICKETS
    showing_id: str | None = Field(default=None, max_length=64)  # tickets only
    seats: list[SeatRef] = Field(default_factory=list, max_length=MAX_PEOPLE_PER_REDEMPTION)  # tickets only
    visits: int | None = Field(default=None, ge=1, le=99)  # concessions only


class RedemptionState(str, enum.Enum):
    HELD = "held"  # seats held until hold_expires_at; the card not touched yet
    DEBITING = "debiting"  # the kiosk announced the debit: the hold no longer runs out
    CONFIRMED = "confirmed"  # debit proven with a TAC the central verified
    CANCELLED = "cancelled"  # never debited: seats released
    EXPIRED = "expired"  # the hold ran out before any debit was announced


class RedemptionView(WireModel):
    redemption_id: str
    card_number: str
    kind: CardUseKind
    state: RedemptionState
    visits: int  # what the card must be debited
    showing_id: str | None = None
    seats: list[SeatRef] = Field(default_factory=list)
    hold_expires_at: datetime | None = None
    claim_id: str | None = None  # once confirmed, for tickets: print through the claim path
    # The showing, for owed tickets printed at a later tap (film, hall, time on the ticket).
    showing: ShowingOffer | None = None


class DebitNotice(WireModel):
    """Sent just before DEBIT FOR PURCHASE: the debit about to happen (so the hold cannot run out)."""

    card_counter: int = Field(ge=0, le=0xFFFF)
    terminal_id: str = Field(pattern=TERMINAL_ID_PATTERN)
    terminal_seq: int = Field(ge=0, le=0xFFFFFFFF)
    at: datetime  # the debit's wall-clock time as written to the card (naive local)


class DebitProofBody(WireModel):
    """A debit the card made, with its TAC: the central verifies the TAC before recording it."""

    card_number: str = Field(pattern=CARD_NUMBER_PATTERN)
    card_counter: int = Field(ge=0, le=0xFFFF)
    visits: int = Field(ge=1)
    kind: CardUseKind
    terminal_id: str = Field(pattern=TERMINAL_ID_PATTERN)
    terminal_seq: int = Field(ge=0, le=0xFFFFFFFF)
    at: datetime  # naive local, as on the card
    balance_after: int = Field(ge=0)
    tac: str = Field(pattern=HEX_TAC_PATTERN)


class RedemptionCancel(WireModel):
    reason: str = Field(max_length=200)  # e.g. "not_debited", "card_refused", "person_cancelled"


class RedemptionResult(WireModel):
    redemption: RedemptionView
    claim: ClaimResponse | None = None  # tickets to print through the claim path


class CardBlacklist(WireModel):
    version: int
    card_numbers: list[str]


class OfflineDebitBatch(WireModel):
    """Debits made while the central was unreachable (where the policy allows it), sent when back."""

    debits: list[DebitProofBody] = Field(min_length=1, max_length=500)


class OfflineDebitResult(WireModel):
    accepted: int  # newly recorded
    duplicates: int  # already recorded: a repeat never deducts twice
    refused: list[str] = Field(default_factory=list)  # "card_number:card_counter" whose TAC failed


class CardTransactionView(WireModel):
    """A confirmed card transaction, for a kiosk or counter restoring its own journal."""

    card_number: str
    card_counter: int
    visits: int
    kind: CardUseKind
    terminal_id: str
    at: datetime
    balance_after: int
    redemption_id: str | None = None


class CardTransactionPage(WireModel):
    transactions: list[CardTransactionView]
    next_after: int | None = None  # cursor for the next page; None at the end


# ---- staff -------------------------------------------------------------------------------

class StaffRole(str, enum.Enum):
    """The seed's roles.  Head office: admin, statistician, operator; a cinema: the rest."""

    ADMIN = "admin"  # everything, user rights
    STATISTICIAN = "statistician"  # global queries and reports
    OPERATOR = "operator"  # backups, card making
    MANAGER = "manager"  # its cinema's users, blacklist (and everything sales may do)
    LOCAL_STATISTICIAN = "local_statistician"  # its cinema's queries and reports
    CUSTOMER_QUERY = "customer_query"  # a holder's history
    SALES = "sales"  # redeem, sell, renew, recycle at the counter


class StaffLogin(WireModel):
    staff_no: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=128)


class StaffSession(WireModel):
    token: str
    staff_no: str
    name: str
    role: StaffRole
    cinema_id: str | None = None  # None: head office
    expires_at: datetime


class CardUpdateRequest(WireModel):
    """Sell or renew: the card's fresh challenge, so the issuer's secure-update MAC binds to it."""

    challenge: str = Field(pattern=CHALLENGE_PATTERN)
    valid_days: int | None = Field(default=None, ge=1, le=3660)  # default: the type's validity
    # Renewal: the expiry the card itself holds now.  Earlier than the ledger's, a renewal was
    # recorded but never written to the card: the answer writes that date again, not a second year.
    card_expires_on: date | None = None


class CardUpdate(WireModel):
    """The secure UPDATE BINARY data (new public file + the issuer's MAC) to write to the card."""

    update_data: str = Field(pattern=r"^[0-9A-F]{80}$")  # 36-byte file + 4-byte MAC, hex
    card: CardView


CardView.model_rebuild()
CardUpdate.model_rebuild()


class OwedClaimRequest(WireModel):
    """Print a card's owed redemption: only right after that card was tapped at this kiosk."""

    card_number: str = Field(pattern=CARD_NUMBER_PATTERN)


class BlacklistRequest(WireModel):
    reason: str = Field(min_length=1, max_length=200)


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
    # year-cards (kiosk credential; the counter's calls also carry STAFF_HEADER)
    CARD_TAP = API_PREFIX + "/cards/tap"  # POST CardTap -> CardView (reconciles pending redemptions)
    CARD_SHOWINGS = API_PREFIX + "/cards/{card_number}/showings"  # GET -> CardShowings
    SHOWING_SEATS = API_PREFIX + "/showings/{showing_id}/seats"  # GET -> SeatMap
    REDEMPTIONS = API_PREFIX + "/cards/redemptions"  # POST RedemptionRequest (+Idempotency-Key) -> RedemptionView
    REDEMPTION = API_PREFIX + "/cards/redemptions/{redemption_id}"  # GET -> RedemptionView
    # POST DebitNotice (+Idempotency-Key) -> RedemptionView (state debiting)
    REDEMPTION_DEBITING = API_PREFIX + "/cards/redemptions/{redemption_id}/debiting"
    # POST DebitProofBody (+Idempotency-Key) -> RedemptionResult (tickets: a claim to print)
    REDEMPTION_CONFIRM = API_PREFIX + "/cards/redemptions/{redemption_id}/confirm"
    # POST RedemptionCancel -> RedemptionView (seats released; only when the card was never debited)
    REDEMPTION_CANCEL = API_PREFIX + "/cards/redemptions/{redemption_id}/cancel"
    # POST OwedClaimRequest (+Idempotency-Key) -> ClaimResponse: an owed redemption's tickets to print
    REDEMPTION_CLAIM = API_PREFIX + "/cards/redemptions/{redemption_id}/claim"
    CARD_BLACKLIST = API_PREFIX + "/cards/blacklist"  # GET -> CardBlacklist
    OFFLINE_DEBITS = API_PREFIX + "/cards/offline-debits"  # POST OfflineDebitBatch -> OfflineDebitResult
    CARD_TRANSACTIONS = API_PREFIX + "/cards/transactions"  # GET ?after=N -> CardTransactionPage (this kiosk's)
    # staff at the counter (STAFF_HEADER on all but login)
    STAFF_LOGIN = API_PREFIX + "/staff/login"  # POST StaffLogin -> StaffSession
    STAFF_LOGOUT = API_PREFIX + "/staff/logout"  # POST -> 204
    CARD_SELL = API_PREFIX + "/cards/{card_number}/sell"  # POST CardUpdateRequest -> CardUpdate (sales)
    CARD_RENEW = API_PREFIX + "/cards/{card_number}/renew"  # POST CardUpdateRequest -> CardUpdate (sales)
    CARD_RECYCLE = API_PREFIX + "/cards/{card_number}/recycle"  # POST -> CardView (sales)
    # POST BlacklistRequest -> CardView; DELETE -> CardView (manager)
    CARD_BLACKLIST_ENTRY = API_PREFIX + "/cards/{card_number}/blacklist"
    # lost-ticket recovery (kiosk credential)
    RECOVERY_SESSIONS = API_PREFIX + "/recovery/sessions"  # POST RecoveryStart -> RecoverySession
    RECOVERY_SESSION = API_PREFIX + "/recovery/sessions/{session_id}"  # GET -> RecoverySession
    RECOVERY_FACE = API_PREFIX + "/recovery/sessions/{session_id}/face"  # POST FaceAttempt -> FaceVerdict
    RECOVERY_SMS = API_PREFIX + "/recovery/sessions/{session_id}/sms"  # POST -> SmsSent (a new one-time code)
    RECOVERY_SMS_CHECK = API_PREFIX + "/recovery/sessions/{session_id}/sms/check"  # POST SmsCodeCheck -> SmsVerdict
    # POST RecoveryComplete (+Idempotency-Key) -> RecoveryResult: old codes revoked, new claim grant or code by SMS
    RECOVERY_COMPLETE = API_PREFIX + "/recovery/sessions/{session_id}/complete"


# ---- lost-ticket recovery (挂失找回) ---------------------------------------------------------
PHONE_PATTERN = r"^1[0-9]{10}$"  # a mainland mobile number: 11 digits from 1
ID_LAST4_PATTERN = r"^[0-9]{3}[0-9X]$"  # the last 4 characters of a resident ID number (X as a check digit)
SMS_CODE_PATTERN = r"^[0-9]{6}$"
FACE_ENCODING_LENGTH = 128  # face_recognition's descriptor
CONSENT_VERSION_PATTERN = r"^[A-Za-z0-9._-]{1,40}$"


class RecoveryMethod(str, enum.Enum):
    FACE = "face"
    SMS = "sms"


class RecoveryDelivery(str, enum.Enum):
    PRINT = "print"  # a claim grant for this kiosk: the tickets print now
    SMS = "sms"  # a new pickup code goes to the bound phone; nothing prints


class RecoveryStart(WireModel):
    """A person at the kiosk names the phone bound to their ticketing account."""

    phone: str = Field(pattern=PHONE_PATTERN)
    id_last4: str | None = Field(default=None, pattern=ID_LAST4_PATTERN)
    # The version of the face-check consent text the person accepted on this kiosk; None: they
    # declined (or were not asked), and the face path is not offered.
    face_consent: str | None = Field(default=None, pattern=CONSENT_VERSION_PATTERN)
    language: str = Field(default="zh", pattern=r"^[a-z]{2}$")  # for the SMS text


class RecoverableOrder(WireModel):
    """One of the account's orders at this cinema today, as the kiosk may show it (no personal data)."""

    order_id: str
    film_title: str
    film_original_title: str | None = None
    hall_name: str
    show_start: datetime
    tickets: int  # tickets still collectable
    report_deadline: datetime  # after this, recovery at a kiosk is refused (the counter helps)
    open: bool  # before the deadline now


class RecoverySession(WireModel):
    session_id: str
    expires_at: datetime
    phone_masked: str  # 138****5678
    orders: list[RecoverableOrder]
    methods: list[RecoveryMethod]  # face only with a template enrolled and consent given here
    face_attempts_left: int
    sms_codes_left: int
    verified_by: RecoveryMethod | None = None  # None until a face or a code passed


class LivenessReport(WireModel):
    """The kiosk's liveness verdict on the frames the encoding came from."""

    challenge: str = Field(pattern=r"^[a-z_,]{1,64}$")  # the steps asked, e.g. "blink,turn_left"
    passed: bool
    reason: str | None = Field(default=None, pattern=r"^[a-z_]{1,40}$")  # why not: still_image, timed_out, ...


class FaceAttempt(WireModel):
    """One face attempt: counts against the session's attempts whatever its outcome.

    Never a frame: the 128 numbers of the face's encoding, and only when liveness passed."""

    encoding: list[float] | None = Field(default=None, min_length=FACE_ENCODING_LENGTH,
                                         max_length=FACE_ENCODING_LENGTH)
    liveness: LivenessReport


class FaceVerdict(WireModel):
    matched: bool
    distance: float | None = None  # None when liveness failed (nothing was compared)
    threshold: float
    attempts_left: int
    session: RecoverySession


class SmsSent(WireModel):
    sent_to: str  # the masked phone
    codes_left: int  # further codes this session may send
    code_expires_at: datetime


class SmsCodeCheck(WireModel):
    code: str = Field(pattern=SMS_CODE_PATTERN)


class SmsVerdict(WireModel):
    matched: bool
    attempts_left: int  # wrong entries left for this code
    session: RecoverySession


class RecoveryComplete(WireModel):
    order_id: str = Field(min_length=1, max_length=64)
    delivery: RecoveryDelivery


class RecoveryResult(WireModel):
    order_id: str
    revoked_codes: int  # pickup codes (and their QR tokens) revoked now
    delivery: RecoveryDelivery
    # delivery "print": the order as a lookup gives it, with a claim grant for this kiosk
    order: OrderView | None = None
    new_code_sent_to: str | None = None  # delivery "sms": the masked phone


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
    ErrorCode.CARD_UNKNOWN: 404,
    ErrorCode.CARD_NOT_SOLD: 409,
    ErrorCode.CARD_EXPIRED: 410,
    ErrorCode.CARD_RECYCLED: 410,
    ErrorCode.CARD_BLACKLISTED: 403,
    ErrorCode.CARD_MISMATCH: 409,
    ErrorCode.NOT_ENOUGH_VISITS: 409,
    ErrorCode.NOT_COVERED: 409,
    ErrorCode.TOO_MANY_PEOPLE: 409,
    ErrorCode.SEATS_TAKEN: 409,
    ErrorCode.SHOWING_NOT_FOUND: 404,
    ErrorCode.REDEMPTION_NOT_FOUND: 404,
    ErrorCode.REDEMPTION_EXPIRED: 410,
    ErrorCode.TAC_INVALID: 422,
    ErrorCode.STAFF_AUTH_FAILED: 401,
    ErrorCode.STAFF_SESSION_EXPIRED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.RECOVERY_NO_ORDERS: 404,
    ErrorCode.RECOVERY_ID_REQUIRED: 422,
    ErrorCode.RECOVERY_SESSION_EXPIRED: 410,
    ErrorCode.RECOVERY_NOT_VERIFIED: 403,
    ErrorCode.RECOVERY_NO_TEMPLATE: 409,
    ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED: 429,
    ErrorCode.RECOVERY_RATE_LIMITED: 429,
    ErrorCode.RECOVERY_DEADLINE_PASSED: 409,
    ErrorCode.SMS_UNAVAILABLE: 424,
    ErrorCode.BAD_REQUEST: 422,
    ErrorCode.INTERNAL: 500,
}


# ---- partner ticketing platforms (loss reports, accounts, face templates) ---------------------
# Called by a partner platform's servers with a partner credential (`central partners add`),
# never by a kiosk: a kiosk credential is refused here and a partner credential on kiosk routes.
PARTNER_PREFIX = API_PREFIX + "/partner"
FACE_IMAGE_MAX_BYTES = 4 * 1024 * 1024  # an enrolment photo, before base64


class PartnerRoutes:
    # POST LossReport -> LossReportResult: the order's codes revoked at once (every kiosk's revocation list)
    LOSS_REPORT = PARTNER_PREFIX + "/orders/{order_id}/loss-report"
    ACCOUNTS = PARTNER_PREFIX + "/accounts"  # POST AccountBinding -> AccountView (bind orders to a phone)
    FACE_TEMPLATES = PARTNER_PREFIX + "/face-templates"  # POST FaceEnrolment -> FaceTemplateView
    FACE_TEMPLATE_DELETE = PARTNER_PREFIX + "/face-templates/delete"  # POST FaceTemplateDeletion -> FaceTemplateDeleted


class LossReason(str, enum.Enum):
    LOST = "lost"
    STOLEN = "stolen"
    OTHER = "other"


class LossReport(WireModel):
    reason: LossReason
    note: str | None = Field(default=None, max_length=200)
    new_code_by_sms: bool = False  # send a new pickup code to the account's bound phone
    # With new_code_by_sms: the bound phone (the central keeps only its hash, so the partner names it).
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)


class LossReportResult(WireModel):
    order_id: str
    revoked_codes: int
    new_code_sent_to: str | None = None  # the masked phone, when a new code was sent


class AccountBinding(WireModel):
    phone: str = Field(pattern=PHONE_PATTERN)
    id_last4: str | None = Field(default=None, pattern=ID_LAST4_PATTERN)
    order_ids: list[str] = Field(default_factory=list, max_length=50)


class AccountView(WireModel):
    account_id: str
    phone_masked: str
    id_last4_on_file: bool
    face_enrolled: bool
    order_ids: list[str]


class FaceEnrolment(WireModel):
    """The account holder's face, enrolled in the partner's app with their separate consent.

    Either the photo (base64; exactly one face; the central keeps only the encoding) or the
    128 numbers of a face_recognition encoding the partner computed."""

    phone: str = Field(pattern=PHONE_PATTERN)
    consent_version: str = Field(pattern=CONSENT_VERSION_PATTERN)
    consented_at: datetime
    image_base64: str | None = Field(default=None, max_length=(FACE_IMAGE_MAX_BYTES * 4) // 3 + 4)
    encoding: list[float] | None = Field(default=None, min_length=FACE_ENCODING_LENGTH,
                                         max_length=FACE_ENCODING_LENGTH)


class FaceTemplateView(WireModel):
    phone_masked: str
    consent_version: str
    consented_at: datetime
    enrolled_at: datetime


class FaceTemplateDeletion(WireModel):
    phone: str = Field(pattern=PHONE_PATTERN)


class FaceTemplateDeleted(WireModel):
    phone_masked: str
    deleted: bool  # False: there was no template
