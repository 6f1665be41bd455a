"""The kiosk-facing HTTP API.  Schemas come from backend_client.wire; every refusal is an ErrorBody."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend_client.wire import (
    API_PREFIX,
    AUTH_SCHEME,
    CARD_NUMBER_PATTERN,
    ERROR_HTTP_STATUS,
    FACE_IMAGE_MAX_BYTES,
    IDEMPOTENCY_HEADER,
    PARTNER_PREFIX,
    STAFF_HEADER,
    AccountBinding,
    AccountView,
    BlacklistRequest,
    CardBlacklist,
    CardShowings,
    CardTap,
    CardTransactionPage,
    CardUpdate,
    CardUpdateRequest,
    CardView,
    ClaimReport,
    ClaimRequest,
    ClaimResponse,
    ClaimStatus,
    CodeLookupRequest,
    DebitNotice,
    DebitProofBody,
    ErrorBody,
    ErrorCode,
    FaceAttempt,
    FaceEnrolment,
    FaceTemplateDeleted,
    FaceTemplateDeletion,
    FaceTemplateView,
    FaceVerdict,
    KeySet,
    KioskHello,
    LookupResponse,
    LossReport,
    LossReportResult,
    OfflineDebitBatch,
    OfflineDebitResult,
    OwedClaimRequest,
    PartnerRoutes,
    PrintNotice,
    PrintPermit,
    RecoveryComplete,
    RecoveryResult,
    RecoverySession,
    RecoveryStart,
    RedemptionCancel,
    RedemptionRequest,
    RedemptionResult,
    RedemptionView,
    RevocationList,
    Routes,
    SeatMap,
    SmsCodeCheck,
    SmsSent,
    SmsVerdict,
    StaffLogin,
    StaffSession,
    TokenLookupRequest,
)
from central.models import Kiosk, Partner
from central.responses import error_response
from central.service import CLAIM_NOT_ALLOWED_MESSAGE, Central, Refusal
from central.staff import StaffActor
from central.test_hooks import install_test_hooks

log = logging.getLogger("central.api")
MAX_BODY_BYTES = 64 * 1024
# A full OfflineDebitBatch (500 debits, about 205 bytes each at their widest) is about 100 KB:
# that route alone may carry more.
MAX_OFFLINE_DEBITS_BODY_BYTES = 160 * 1024
# A partner's enrolment photo travels as base64 in JSON.
MAX_FACE_ENROLMENT_BODY_BYTES = (FACE_IMAGE_MAX_BYTES * 4) // 3 + 16 * 1024
_KIOSK_STATE = "kiosk"  # request.state attribute: the kiosk RequestGuard authenticated
_PARTNER_STATE = "partner"  # request.state attribute: the partner RequestGuard authenticated
_BODY_CAPS = {Routes.OFFLINE_DEBITS: MAX_OFFLINE_DEBITS_BODY_BYTES,
              PartnerRoutes.FACE_TEMPLATES: MAX_FACE_ENROLMENT_BODY_BYTES}


class RequestGuard:
    """Hardening in front of every route, before anything parses a body.

    - A kiosk API request is authenticated before its body is read: without a credential
      nobody can make the central read, let alone buffer, anything.  The kiosk found here
      reaches the routes' credential dependency through the request state.
    - The body is capped while it streams: a declared Content-Length over the cap, or a chunked
      body that passes it, gets 413 and the rest is never read (the connection is closed
      instead of drained).
    - A JSON body of the kiosk API may not hold text a database cannot store (NUL, which
      PostgreSQL text refuses, or half a surrogate pair): refused as a bad request, whatever
      the field.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cap = _BODY_CAPS.get(scope["path"], MAX_BODY_BYTES)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > cap):
            await _closing(_too_large(cap))(scope, receive, send)
            return
        api = scope["path"].startswith(API_PREFIX)
        if api:
            central: Central = scope["app"].state.central
            # Partner platforms and kiosks have credentials of their own: neither reaches the other's routes.
            partner = scope["path"] == PARTNER_PREFIX or scope["path"].startswith(PARTNER_PREFIX + "/")
            who = _authenticate_partner if partner else _authenticate
            try:
                caller = await run_in_threadpool(who, central, headers.get("authorization"))
            except Refusal as refusal:
                # The body, if any, stays unread: the connection closes after the answer.
                await _closing(error_response(refusal.code, refusal.message, refusal.details))(scope, receive, send)
                return
            scope.setdefault("state", {})[_PARTNER_STATE if partner else _KIOSK_STATE] = caller
        body = bytearray()
        more_body = True
        while more_body:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more_body = message.get("more_body", False)
            if len(body) > cap:
                await _closing(_too_large(cap))(scope, receive, send)
                return
        problem = _body_problem(bytes(body)) if api else None
        if problem is not None:
            details = {"errors": [{"loc": "body", "msg": problem}]}
            await error_response(ErrorCode.BAD_REQUEST, "request is not valid", details)(scope, receive, send)
            return
        await self.app(scope, _replay(bytes(body), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, then the client's own messages (a disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _body_problem(body: bytes) -> str | None:
    """What makes a JSON body unusable before any model sees it, or None."""
    try:
        data = json.loads(body)
    except ValueError:
        return None  # not JSON: the route's own validation refuses it
    except RecursionError:
        return "JSON nested too deeply"
    return None if _storable(data) else "text must not contain NUL or unpaired surrogate characters"


def _storable(data: Any) -> bool:
    """False when a string (or key) holds NUL or an unpaired surrogate."""
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return False
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


def _too_large(cap: int) -> JSONResponse:
    return error_response(ErrorCode.BAD_REQUEST, "request body too large", {"max_bytes": cap}, status_code=413)


def _closing(response: JSONResponse) -> JSONResponse:
    # An answer given before the body was read: uvicorn closes the connection rather than drain it.
    response.headers["Connection"] = "close"
    return response


def _simple_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    # Only location and message: the raw error may carry the input (a code) or unserialisable objects.
    return [{"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]


def _authenticate(central: Central, authorization: str | None) -> Kiosk:
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme != AUTH_SCHEME:
        raise Refusal(ErrorCode.UNAUTHORIZED, f"send Authorization: {AUTH_SCHEME} <kiosk credential>")
    return central.authenticate(credential.strip())


def _authenticate_partner(central: Central, authorization: str | None) -> Partner:
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme != AUTH_SCHEME:
        raise Refusal(ErrorCode.UNAUTHORIZED, f"send Authorization: {AUTH_SCHEME} <partner credential>")
    return central.authenticate_partner(credential.strip())


def _current_partner(request: Request, authorization: Annotated[str | None, Header()] = None) -> Partner:
    partner = getattr(request.state, _PARTNER_STATE, None)
    if isinstance(partner, Partner):
        return partner
    return _authenticate_partner(request.app.state.central, authorization)


def _current_kiosk(request: Request, authorization: Annotated[str | None, Header()] = None) -> Kiosk:
    # RequestGuard authenticated the request before its body was read; this is the fallback.
    kiosk = getattr(request.state, _KIOSK_STATE, None)
    if isinstance(kiosk, Kiosk):
        return kiosk
    return _authenticate(request.app.state.central, authorization)


# Module level: FastAPI resolves these annotations through the module's globals.
CurrentKiosk = Annotated[Kiosk, Depends(_current_kiosk)]
CurrentPartner = Annotated[Partner, Depends(_current_partner)]
IdempotencyKey = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)]
# Ids the central makes are short ASCII ("claim-<hex>"): anything else (a NUL, which PostgreSQL
# text cannot hold, a path segment of any length) is refused as a bad request before the database.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
ClaimIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
RedemptionIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
ShowingIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
CardNumberPath = Annotated[str, Path(pattern=CARD_NUMBER_PATTERN)]
SessionIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
OrderIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
StaffToken = Annotated[str | None, Header(alias=STAFF_HEADER)]


def _optional_staff(request: Request, k: CurrentKiosk, token: StaffToken = None) -> StaffActor | None:
    # A counter's calls carry a staff session; a patron's at a kiosk carry none.
    return None if token is None else request.app.state.central.staff_actor(k, token)


def _staff(request: Request, k: CurrentKiosk, token: StaffToken = None) -> StaffActor:
    actor: StaffActor = request.app.state.central.staff_actor(k, token)
    return actor


OptionalStaff = Annotated[StaffActor | None, Depends(_optional_staff)]
Staff = Annotated[StaffActor, Depends(_staff)]


def create_app(central: Central, test_hooks: bool = False) -> FastAPI:
    app = FastAPI(
        title="Ticket kiosk central",
        version="1",
        description="The central ticketing service that the cinema kiosks call.",
    )
    app.state.central = central
    refusals: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorBody} for status in sorted(set(ERROR_HTTP_STATUS.values()))
    }

    @app.exception_handler(Refusal)
    async def _refusal(_request: Request, exc: Refusal) -> JSONResponse:
        return error_response(exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _simple_errors(exc)
        if request.url.path == Routes.CLAIMS and errors and all(e["loc"] == "body.claim_grant" for e in errors):
            # A claim with no usable grant is a claim without a lookup, whatever its shape.
            reason = "missing" if all(e.get("type") == "missing" for e in exc.errors()) else "malformed"
            return error_response(ErrorCode.CLAIM_NOT_ALLOWED, CLAIM_NOT_ALLOWED_MESSAGE, {"reason": reason})
        return error_response(ErrorCode.BAD_REQUEST, "request is not valid", {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The wire's code for the body, the HTTP layer's own status (404, 405) for proxies and monitors.
        return error_response(
            ErrorCode.BAD_REQUEST, str(exc.detail), {"http_status": exc.status_code}, status_code=exc.status_code
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(ErrorCode.INTERNAL, "internal error")

    @app.get(Routes.HELLO, response_model=KioskHello, responses=refusals)
    def hello(k: CurrentKiosk) -> KioskHello:
        return central.hello(k)

    @app.post(Routes.LOOKUP_CODE, response_model=LookupResponse, responses=refusals)
    def lookup_code(body: CodeLookupRequest, k: CurrentKiosk) -> LookupResponse:
        return central.lookup_code(k, body.serial, body.verification)

    @app.post(Routes.LOOKUP_TOKEN, response_model=LookupResponse, responses=refusals)
    def lookup_token(body: TokenLookupRequest, k: CurrentKiosk) -> LookupResponse:
        return central.lookup_token(k, body.token)

    @app.post(Routes.CLAIMS, response_model=ClaimResponse, responses=refusals)
    def claim(body: ClaimRequest, k: CurrentKiosk, idempotency_key: IdempotencyKey = None) -> ClaimResponse:
        return central.claim(k, body, idempotency_key)

    @app.post(Routes.CLAIM_PRINTING, response_model=PrintPermit, responses=refusals)
    def start_printing(
        claim_id: ClaimIdPath, body: PrintNotice, k: CurrentKiosk, idempotency_key: IdempotencyKey = None
    ) -> PrintPermit:
        # Idempotent by content (claim, ticket); the header is accepted for symmetry with claims.
        return central.start_printing(k, claim_id, body)

    @app.post(Routes.CLAIM_REPORT, response_model=ClaimStatus, responses=refusals)
    def report(
        claim_id: ClaimIdPath, body: ClaimReport, k: CurrentKiosk, idempotency_key: IdempotencyKey = None
    ) -> ClaimStatus:
        # Reports are idempotent by content; the header is accepted for symmetry with claims.
        return central.report(k, claim_id, body)

    @app.get(Routes.KEYS, response_model=KeySet, responses=refusals)
    def keys(_k: CurrentKiosk) -> KeySet:
        return central.key_set()

    @app.get(Routes.REVOCATIONS, response_model=RevocationList, responses=refusals)
    def revocations(_k: CurrentKiosk) -> RevocationList:
        return central.revocation_list()

    _card_routes(app, central, refusals)
    _recovery_routes(app, central, refusals)
    _partner_routes(app, central, refusals)
    if test_hooks:
        install_test_hooks(app, central)
    app.add_middleware(RequestGuard)
    return app


def _card_routes(app: FastAPI, central: Central, refusals: dict[int | str, dict[str, Any]]) -> None:
    """Year-cards: taps, showings and seats, redemptions, the blacklist, offline debits, the counter."""

    @app.post(Routes.CARD_TAP, response_model=CardView, responses=refusals)
    def card_tap(body: CardTap, k: CurrentKiosk, staff: OptionalStaff) -> CardView:
        return central.tap(k, body, staff)

    @app.get(Routes.CARD_SHOWINGS, response_model=CardShowings, responses=refusals)
    def card_showings(card_number: CardNumberPath, k: CurrentKiosk) -> CardShowings:
        return central.card_showings(k, card_number)

    @app.get(Routes.SHOWING_SEATS, response_model=SeatMap, responses=refusals)
    def showing_seats(showing_id: ShowingIdPath, k: CurrentKiosk) -> SeatMap:
        return central.seat_map(k, showing_id)

    @app.post(Routes.REDEMPTIONS, response_model=RedemptionView, responses=refusals)
    def create_redemption(
        body: RedemptionRequest, k: CurrentKiosk, staff: OptionalStaff, idempotency_key: IdempotencyKey = None
    ) -> RedemptionView:
        return central.create_redemption(k, body, idempotency_key, staff)

    @app.get(Routes.REDEMPTION, response_model=RedemptionView, responses=refusals)
    def get_redemption(redemption_id: RedemptionIdPath, k: CurrentKiosk) -> RedemptionView:
        return central.get_redemption(k, redemption_id)

    @app.post(Routes.REDEMPTION_DEBITING, response_model=RedemptionView, responses=refusals)
    def redemption_debiting(
        redemption_id: RedemptionIdPath, body: DebitNotice, k: CurrentKiosk, staff: OptionalStaff,
        idempotency_key: IdempotencyKey = None,
    ) -> RedemptionView:
        # Idempotent by content (the announced debit); the header is accepted for symmetry.
        return central.announce_debit(k, redemption_id, body, staff)

    @app.post(Routes.REDEMPTION_CONFIRM, response_model=RedemptionResult, responses=refusals)
    def redemption_confirm(
        redemption_id: RedemptionIdPath, body: DebitProofBody, k: CurrentKiosk, staff: OptionalStaff,
        idempotency_key: IdempotencyKey = None,
    ) -> RedemptionResult:
        # Idempotent by content (the card's counter); the header is accepted for symmetry.
        return central.confirm(k, redemption_id, body, staff)

    @app.post(Routes.REDEMPTION_CANCEL, response_model=RedemptionView, responses=refusals)
    def redemption_cancel(
        redemption_id: RedemptionIdPath, body: RedemptionCancel, k: CurrentKiosk, staff: OptionalStaff
    ) -> RedemptionView:
        return central.cancel(k, redemption_id, body, staff)

    @app.post(Routes.REDEMPTION_CLAIM, response_model=ClaimResponse, responses=refusals)
    def redemption_claim(
        redemption_id: RedemptionIdPath, body: OwedClaimRequest, k: CurrentKiosk,
        idempotency_key: IdempotencyKey = None,
    ) -> ClaimResponse:
        return central.owed_claim(k, redemption_id, body.card_number, idempotency_key)

    @app.get(Routes.CARD_BLACKLIST, response_model=CardBlacklist, responses=refusals)
    def card_blacklist(_k: CurrentKiosk) -> CardBlacklist:
        return central.card_blacklist()

    @app.post(Routes.OFFLINE_DEBITS, response_model=OfflineDebitResult, responses=refusals)
    def offline_debits(body: OfflineDebitBatch, k: CurrentKiosk) -> OfflineDebitResult:
        return central.offline_debits(k, body)

    @app.get(Routes.CARD_TRANSACTIONS, response_model=CardTransactionPage, responses=refusals)
    def card_transactions(k: CurrentKiosk, after: Annotated[int, Query(ge=0)] = 0) -> CardTransactionPage:
        return central.card_transactions(k, after)

    @app.post(Routes.STAFF_LOGIN, response_model=StaffSession, responses=refusals)
    def staff_login(body: StaffLogin, k: CurrentKiosk) -> StaffSession:
        return central.staff_login(k, body)

    @app.post(Routes.STAFF_LOGOUT, status_code=204, response_class=Response, responses=refusals)
    def staff_logout(k: CurrentKiosk, token: StaffToken = None) -> Response:
        central.staff_logout(k, token)
        return Response(status_code=204)

    @app.post(Routes.CARD_SELL, response_model=CardUpdate, responses=refusals)
    def card_sell(card_number: CardNumberPath, body: CardUpdateRequest, k: CurrentKiosk, staff: Staff) -> CardUpdate:
        return central.sell(k, staff, card_number, body)

    @app.post(Routes.CARD_RENEW, response_model=CardUpdate, responses=refusals)
    def card_renew(card_number: CardNumberPath, body: CardUpdateRequest, k: CurrentKiosk, staff: Staff) -> CardUpdate:
        return central.renew(k, staff, card_number, body)

    @app.post(Routes.CARD_RECYCLE, response_model=CardView, responses=refusals)
    def card_recycle(card_number: CardNumberPath, k: CurrentKiosk, staff: Staff) -> CardView:
        return central.recycle(k, staff, card_number)

    @app.post(Routes.CARD_BLACKLIST_ENTRY, response_model=CardView, responses=refusals)
    def card_blacklist_add(
        card_number: CardNumberPath, body: BlacklistRequest, k: CurrentKiosk, staff: Staff
    ) -> CardView:
        return central.set_blacklisted(k, staff, card_number, body.reason)

    @app.delete(Routes.CARD_BLACKLIST_ENTRY, response_model=CardView, responses=refusals)
    def card_blacklist_remove(card_number: CardNumberPath, k: CurrentKiosk, staff: Staff) -> CardView:
        return central.set_blacklisted(k, staff, card_number, None)


def _recovery_routes(app: FastAPI, central: Central, refusals: dict[int | str, dict[str, Any]]) -> None:
    """Lost-ticket recovery at a kiosk: a session, a face or SMS check, then completion."""

    @app.post(Routes.RECOVERY_SESSIONS, response_model=RecoverySession, responses=refusals)
    def recovery_start(
        body: RecoveryStart, k: CurrentKiosk, idempotency_key: IdempotencyKey = None
    ) -> RecoverySession:
        return central.start_recovery(k, body, idempotency_key)

    @app.get(Routes.RECOVERY_SESSION, response_model=RecoverySession, responses=refusals)
    def recovery_session(session_id: SessionIdPath, k: CurrentKiosk) -> RecoverySession:
        return central.recovery_session(k, session_id)

    @app.post(Routes.RECOVERY_FACE, response_model=FaceVerdict, responses=refusals)
    def recovery_face(
        session_id: SessionIdPath, body: FaceAttempt, k: CurrentKiosk, idempotency_key: IdempotencyKey = None
    ) -> FaceVerdict:
        return central.recovery_face(k, session_id, body, idempotency_key)

    @app.post(Routes.RECOVERY_SMS, response_model=SmsSent, responses=refusals)
    def recovery_sms(session_id: SessionIdPath, k: CurrentKiosk, idempotency_key: IdempotencyKey = None) -> SmsSent:
        return central.recovery_send_sms(k, session_id, idempotency_key)

    @app.post(Routes.RECOVERY_SMS_CHECK, response_model=SmsVerdict, responses=refusals)
    def recovery_sms_check(
        session_id: SessionIdPath, body: SmsCodeCheck, k: CurrentKiosk, idempotency_key: IdempotencyKey = None
    ) -> SmsVerdict:
        return central.recovery_check_sms(k, session_id, body.code, idempotency_key)

    @app.post(Routes.RECOVERY_COMPLETE, response_model=RecoveryResult, responses=refusals)
    def recovery_complete(
        session_id: SessionIdPath, body: RecoveryComplete, k: CurrentKiosk, idempotency_key: IdempotencyKey = None
    ) -> RecoveryResult:
        return central.complete_recovery(k, session_id, body, idempotency_key)


def _partner_routes(app: FastAPI, central: Central, refusals: dict[int | str, dict[str, Any]]) -> None:
    """Partner ticketing platforms (their own credentials): loss reports, accounts, face templates."""

    @app.post(PartnerRoutes.LOSS_REPORT, response_model=LossReportResult, responses=refusals)
    def loss_report(order_id: OrderIdPath, body: LossReport, p: CurrentPartner) -> LossReportResult:
        return central.partner_loss_report(p, order_id, body)

    @app.post(PartnerRoutes.ACCOUNTS, response_model=AccountView, responses=refusals)
    def bind_account(body: AccountBinding, p: CurrentPartner) -> AccountView:
        return central.partner_bind_account(p, body)

    @app.post(PartnerRoutes.FACE_TEMPLATES, response_model=FaceTemplateView, responses=refusals)
    def enrol_face(body: FaceEnrolment, p: CurrentPartner) -> FaceTemplateView:
        return central.partner_enrol_face(p, body)

    @app.post(PartnerRoutes.FACE_TEMPLATE_DELETE, response_model=FaceTemplateDeleted, responses=refusals)
    def delete_face(body: FaceTemplateDeletion, p: CurrentPartner) -> FaceTemplateDeleted:
        return central.partner_delete_face(p, body)
