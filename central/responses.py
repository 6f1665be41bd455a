"""The one way the central's HTTP layer answers a refusal: an ErrorBody with the status of its code.

Shared by the kiosk API (central.api) and the test hooks (central.test_hooks), which must not
import each other.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from backend_client.wire import AUTH_SCHEME, ERROR_HTTP_STATUS, ErrorBody, ErrorCode


def error_response(
    code: ErrorCode, message: str, details: dict[str, Any] | None = None, status_code: int | None = None
) -> JSONResponse:
    """An ErrorBody; the status is the code's own unless the HTTP layer needs a more precise one (413)."""
    body = ErrorBody(code=code, message=message, details=details or {})
    headers = {"WWW-Authenticate": AUTH_SCHEME} if code == ErrorCode.UNAUTHORIZED else None
    status = status_code or ERROR_HTTP_STATUS[code]
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)
