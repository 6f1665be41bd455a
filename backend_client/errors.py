"""Exceptions of the central's client. The kiosk maps each to a message for the person."""

from __future__ import annotations

from typing import Any

from backend_client.wire import ErrorCode


class CentralError(Exception):
    """Base of everything the client raises."""


class CentralUnreachable(CentralError):
    """No answer: connection refused, DNS, timeout, or 5xx after the allowed retries."""


class CentralUntrusted(CentralUnreachable):
    """The central's TLS certificate is not the one this kiosk trusts (CA file or pinned fingerprint).

    Unreachable for the person ("system unavailable"); for the operator it means a wrong or
    expired certificate, a wrong ``central.ca_file`` / ``central.cert_sha256``, or someone in
    between. Never retried: the same certificate would be refused again.
    """


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
