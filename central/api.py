"""The kiosk-facing HTTP API.  Schemas come from backend_client.wire; every refusal is an ErrorBody."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend_client.wire import (
    API_PREFIX,
    AUTH_SCHEME,
    ERROR_HTTP_STATUS,
    IDEMPOTENCY_HEADER,
    ClaimReport,
    ClaimRequest,
    ClaimResponse,
    ClaimStatus,
    CodeLookupRequest,
    ErrorBody,
    ErrorCode,
    KeySet,
    KioskHello,
    LookupResponse,
    PrintNotice,
    PrintPermit,
    RevocationList,
    Routes,
    TokenLookupRequest,
)
from central.models import Kiosk
from central.responses import error_response
from central.service import CLAIM_NOT_ALLOWED_MESSAGE, Central, Refusal
from central.test_hooks import install_test_hooks

log = logging.getLogger("central.api")
MAX_BODY_BYTES = 64 * 1024
_KIOSK_STATE = "kiosk"  # request.state attribute: the kiosk RequestGuard authenticated


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
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            await _closing(_too_large())(scope, receive, send)
            return
        api = scope["path"].startswith(API_PREFIX)
        if api:
            central: Central = scope["app"].state.central
            try:
                kiosk = await run_in_threadpool(_authenticate, central, headers.get("authorization"))
            except Refusal as refusal:
                # The body, if any, stays unread: the connection closes after the answer.
                await _closing(error_response(refusal.code, refusal.message, refusal.details))(scope, receive, send)
                return
            scope.setdefault("state", {})[_KIOSK_STATE] = kiosk
        body = bytearray()
        more_body = True
        while more_body:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more_body = message.get("more_body", False)
            if len(body) > MAX_BODY_BYTES:
                await _closing(_too_large())(scope, receive, send)
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


def _too_large() -> JSONResponse:
    return error_response(
        ErrorCode.BAD_REQUEST, "request body too large", {"max_bytes": MAX_BODY_BYTES}, status_code=413
    )


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


def _current_kiosk(request: Request, authorization: Annotated[str | None, Header()] = None) -> Kiosk:
    # RequestGuard authenticated the request before its body was read; this is the fallback.
    kiosk = getattr(request.state, _KIOSK_STATE, None)
    if isinstance(kiosk, Kiosk):
        return kiosk
    return _authenticate(request.app.state.central, authorization)


# Module level: FastAPI resolves these annotations through the module's globals.
CurrentKiosk = Annotated[Kiosk, Depends(_current_kiosk)]
IdempotencyKey = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)]
# Ids the central makes are short ASCII ("claim-<hex>"): anything else (a NUL, which PostgreSQL
# text cannot hold, a path segment of any length) is refused as a bad request before the database.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
ClaimIdPath = Annotated[str, Path(pattern=ID_PATTERN)]


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

    if test_hooks:
        install_test_hooks(app, central)
    app.add_middleware(RequestGuard)
    return app
