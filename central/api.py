"""The kiosk-facing HTTP API.  Schemas come from backend_client.wire; every refusal is an ErrorBody."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from backend_client.wire import (
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


class BodyLimit:
    """Refuses oversized bodies before anything parses them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
                await error_response(ErrorCode.BAD_REQUEST, "request body too large")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _simple_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    # Only location and message: the raw error may carry the input (a code) or unserialisable objects.
    return [{"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]


def _current_kiosk(request: Request, authorization: Annotated[str | None, Header()] = None) -> Kiosk:
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme != AUTH_SCHEME:
        raise Refusal(ErrorCode.UNAUTHORIZED, f"send Authorization: {AUTH_SCHEME} <kiosk credential>")
    central: Central = request.app.state.central
    return central.authenticate(credential.strip())


# Module level: FastAPI resolves these annotations through the module's globals.
CurrentKiosk = Annotated[Kiosk, Depends(_current_kiosk)]
IdempotencyKey = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)]


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
        return error_response(ErrorCode.BAD_REQUEST, str(exc.detail), {"http_status": exc.status_code})

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
        claim_id: str, body: PrintNotice, k: CurrentKiosk, idempotency_key: IdempotencyKey = None
    ) -> PrintPermit:
        # Idempotent by content (claim, ticket); the header is accepted for symmetry with claims.
        return central.start_printing(k, claim_id, body)

    @app.post(Routes.CLAIM_REPORT, response_model=ClaimStatus, responses=refusals)
    def report(
        claim_id: str, body: ClaimReport, k: CurrentKiosk, idempotency_key: IdempotencyKey = None
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
    app.add_middleware(BodyLimit)
    return app
