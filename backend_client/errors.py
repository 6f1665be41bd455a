"""Exceptions of the central's client. The kiosk maps each to a message for the person."""

from __future__ import annotations

from typing import Any

from backend_client.wire import ErrorCode


class CentralError(Exception):
    """Base of everything the client raises."""


class CentralUnreachable(CentralError):
    """No answer: connection refused, DNS, timeout, or 5xx after the allowed retries."""


class CentralBadAnswer(CentralError):
    """The central answered something that is not the wire format (malformed JSON, wrong shape)."""


class CentralRefused(CentralError):
    """The central answered with a refusal in the wire format (an ErrorBody)."""

    def __init__(
        self, code: ErrorCode, message: str, details: dict[str, Any] | None = None, http_status: int = 0
    ) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}
        self.http_status = http_status


class KioskUnauthorized(CentralRefused):
    """This kiosk's credential is missing, wrong or revoked: staff must re-enrol it."""
