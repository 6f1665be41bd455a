"""Property-based tests (hypothesis) of every parser of outside input: whatever arrives, the result
is the parsed value or the parser's own defined error, never another exception.

Config loaders have theirs next to their other tests (tests/kiosk/test_config_validation.py,
tests/central/test_settings.py)."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from requests.adapters import BaseAdapter

from backend_client import wire
from backend_client.client import CentralClient
from backend_client.errors import CentralError
from backend_client.tokens import (
    KIND_ORDER,
    TokenClaims,
    TokenError,
    b64url_encode,
    parse_unverified,
    sign_token,
    verify_token,
)
from devices.sim.escpos_parser import EscposParseError, EscposParser, parse_all
from kiosk.recording.session import MAGIC, SessionError, read_session

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 12, 1, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
KEYS = {"k1": KEY.public_key()}

# JSON documents of any shape, with the wire's field names showing up often.
_NAMES = st.sampled_from(["order", "order_id", "tickets", "code", "message", "details", "claim_id", "keys",
                          "lease_expires_at", "status", "ticket_id", "kiosk_id", "server_time", "x"])
_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
                    st.sampled_from([e.value for e in wire.ErrorCode]))
JSON = st.recursive(_LEAVES, lambda children: st.one_of(st.lists(children, max_size=4),
                                                         st.dictionaries(_NAMES, children, max_size=5)),
                    max_leaves=20)


def _token_payload(document: Any) -> str:
    return "TK1." + b64url_encode(json.dumps(document).encode()) + "." + "A" * 86


# -- the QR token parser (backend_client/tokens.py), also the pickup flow's QR entry point ----


@FAST
@given(text=st.one_of(st.text(max_size=300), st.text(max_size=300).map(lambda t: "TK1." + t),
                      JSON.map(_token_payload)))
@example(text="TK1." + b64url_encode(b"[" * 600) + "." + "A" * 86)  # nesting as deep as the length allows
@example(text="TK1." + b64url_encode(b'{"exp": 1e999}') + "." + "A" * 86)
def test_any_text_is_a_token_or_a_token_error(text: str) -> None:
    try:
        claims = verify_token(text, KEYS, set(), NOW)
    except TokenError as exc:
        assert exc.reason in ("not_a_token", "malformed", "unknown_key", "bad_signature", "expired", "revoked")
        return
    raise AssertionError(f"an unsigned text was accepted: {claims}")


@FAST
@given(payload=JSON)
def test_a_signed_token_with_any_payload_never_crashes_the_parser(payload: Any) -> None:
    # The key's own signature over whatever the payload holds: parsing must still be defined.
    good = sign_token(KEY, TokenClaims(KIND_ORDER, "k1", "jti", "ord", "cin", NOW + timedelta(days=1)))
    signed = "TK1." + b64url_encode(json.dumps(payload).encode())
    token = f"{signed}.{b64url_encode(KEY.sign(signed.encode()))}"
    with contextlib.suppress(TokenError):
        parse_unverified(token)
    assert verify_token(good, KEYS, set(), NOW).order_id == "ord"


# -- the client's parsing of the central's answers (backend_client/client.py) -----------------


class _Canned(BaseAdapter):
    """A transport that answers every request with one status and body (a unit test of the client)."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__()
        self.status, self.body = status, body

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = self.status
        response.raw = io.BytesIO(self.body)
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


def _client(status: int, body: bytes) -> CentralClient:
    session = requests.Session()
    session.mount("http://", _Canned(status, body))
    return CentralClient("http://central.test", "kiosk-1.secret", retries=0, session=session, sleep=lambda _s: None)


CALLS = {
    "hello": lambda c: c.hello(),
    "lookup_code": lambda c: c.lookup_code("123456", "654321"),
    "lookup_token": lambda c: c.lookup_token("TK1.x"),
    "claim": lambda c: c.claim(order_id="ord-1", ticket_ids=["t-1"], idempotency_key="k", claim_grant="grant"),
    "report": lambda c: c.report("clm-1", {"t-1": wire.TicketOutcome.PRINTED}, idempotency_key="k"),
    "keys": lambda c: c.key_set(),
    "revocations": lambda c: c.revocations(),
}


@FAST
@given(status=st.sampled_from([200, 201, 400, 401, 403, 404, 409, 410, 413, 422, 429, 500, 503]),
       body=st.one_of(JSON.map(lambda d: json.dumps(d).encode()), st.binary(max_size=100)),
       call=st.sampled_from(sorted(CALLS)))
@example(status=200, body=b"[" * 100_000, call="hello")  # deeper than json.loads can go
@example(status=409, body=b'{"code": "being_collected", "message": "x", "details": {"retry_after_s": 1e999}}',
         call="lookup_code")
def test_any_answer_is_a_model_or_a_defined_client_error(status: int, body: bytes, call: str) -> None:
    client = _client(status, body)
    with contextlib.suppress(CentralError):
        CALLS[call](client)


# -- the virtual printer's ESC/POS parser (devices/sim/escpos_parser.py) -----------------------

_ESC_POS = st.lists(st.one_of(
    st.binary(max_size=8),
    st.sampled_from([b"\x1b@", b"\x1ba\x01", b"\x1d!\x11", b"\x1dV\x00", b"\x1dVA\x10", b"\x10\x04\x01", b"\x1dr\x01",
                     b"\x1c&", b"\x1d(k", b"\x1dv0\x00", b"\x1b*", b"\x1bd\x03", b"\x1d*", b"\x1dk", b"\x10\x14"]),
), max_size=12).map(b"".join)


@FAST
@given(data=st.one_of(st.binary(max_size=400), _ESC_POS), cuts=st.lists(st.integers(0, 400), max_size=4))
def test_any_bytes_parse_or_give_a_parse_error_in_any_chunking(data: bytes, cuts: list[int]) -> None:
    try:
        whole: list[Any] | None = parse_all(data)
    except EscposParseError:
        whole = None
    parser = EscposParser()
    streamed: list[Any] = []
    try:
        bounds = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
        for start, end in itertools.pairwise(bounds):
            streamed += parser.feed(data[start:end])
        streamed += parser.finish()
    except EscposParseError:
        assert whole is None  # the stream refuses exactly what the whole job refuses
        return
    assert whole is not None and streamed == whole


# -- the recording session reader (kiosk/recording/session.py), plain JSON lines ---------------


@FAST
@given(lines=st.lists(st.one_of(JSON.map(json.dumps), st.text(max_size=60)), max_size=6))
@example(lines=['{"kind": "header", "format": 1}', "[" * 50_000])
def test_any_session_file_reads_or_gives_a_session_error(tmp_path_factory: pytest.TempPathFactory,
                                                         lines: list[str]) -> None:
    path: Path = tmp_path_factory.getbasetemp() / "session.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        read_session(path, None)
    except SessionError as exc:
        assert str(path) in str(exc)


_HEADER_VALUES = st.one_of(_LEAVES, st.lists(_LEAVES, max_size=2), st.dictionaries(st.text(max_size=5), _LEAVES,
                                                                                  max_size=2),
                           st.sampled_from(["2026-11-20T10:00:00+00:00", "inline", "virtual", 1]))
_HEADERS = st.fixed_dictionaries(
    {"kind": st.just("header"), "format": st.sampled_from([1, 1, 2, "1", None])},
    optional={name: _HEADER_VALUES for name in ("app_version", "config_digest", "started_at", "config", "devices",
                                                 "worker", "printer", "from_start", "snapshot", "note")},
)
_EVENTS = st.fixed_dictionaries(
    {"t": st.one_of(st.floats(), st.integers(), st.none(), st.text(max_size=3)), "kind": st.one_of(
        st.sampled_from(["code", "printer", "central", "touch"]), _LEAVES)},
    optional={"data": _LEAVES},
)


@FAST
@given(header=_HEADERS, events=st.lists(_EVENTS, max_size=4))
@example(header={"kind": "header", "format": 1, "app_version": "a", "config_digest": "any",
                 "started_at": "2026-11-20T10:00:00+00:00"}, events=[{"t": float("nan"), "kind": "touch"}])
@example(header={"kind": "header", "format": 1, "app_version": 5, "config_digest": [], "config": "x",
                 "started_at": "2026-11-20T10:00:00+00:00"}, events=[])
def test_any_header_and_events_read_as_a_session_or_a_session_error(
    tmp_path_factory: pytest.TempPathFactory, header: dict[str, Any], events: list[dict[str, Any]]
) -> None:
    path: Path = tmp_path_factory.getbasetemp() / "shaped.jsonl"
    path.write_text("\n".join(json.dumps(doc) for doc in [header, *events]), encoding="utf-8")
    try:
        session = read_session(path, None)
    except SessionError as exc:
        assert str(path) in str(exc)
        return
    # What a replay relies on: text where text is expected, finite times in order.
    assert all(isinstance(getattr(session.header, name), str) for name in ("app_version", "config_digest", "worker"))
    assert isinstance(session.header.config, dict) and isinstance(session.header.snapshot, dict)
    assert all(math.isfinite(event.t) for event in session.events)


@FAST
@given(records=st.lists(st.one_of(JSON.map(lambda d: json.dumps(d).encode()), st.binary(max_size=40)),
                        min_size=1, max_size=4),
       tail=st.binary(max_size=30))
@example(records=[b"[1, 2]"], tail=b"")
def test_encrypted_parts_with_any_content_read_or_give_a_session_error(
    tmp_path_factory: pytest.TempPathFactory, records: list[bytes], tail: bytes
) -> None:
    # Records sealed with the right key (a kiosk of another version, a writer's bug), then any bytes.
    folder: Path = tmp_path_factory.mktemp("krec")
    key = bytes(range(32))
    session_id = b"s" * 16
    aead = AESGCM(key)
    data = MAGIC + struct.pack(">16sI", session_id, 1)
    for index, plaintext in enumerate(records):
        nonce = bytes([index]) * 12
        sealed = nonce + aead.encrypt(nonce, plaintext, MAGIC + session_id + struct.pack(">II", 1, index))
        data += struct.pack(">I", len(sealed)) + sealed
    (folder / "part-0001.krec").write_bytes(data + tail)
    try:
        read_session(folder, key)
    except SessionError as exc:
        assert str(folder) in str(exc)
