"""Year-card helpers for the central's integration tests: real cards and a PSAM (the in-process
emulators, personalised with the central's own issuer keys), and a kiosk or counter calling the
real central over HTTP. No pcscd: the terminal talks to the emulators through handler_channel."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from backend_client.wire import (
    ERROR_HTTP_STATUS,
    IDEMPOTENCY_HEADER,
    STAFF_HEADER,
    CardRecordView,
    CardTap,
    CardUseKind,
    DebitNotice,
    DebitProofBody,
    ErrorBody,
    ErrorCode,
    Routes,
)
from central.card_keys import load_issuer_keys
from central.card_ledger import ISSUER_CODE, made_on, register_made_card
from central.config import Settings
from central.demo import DEMO_TERMINAL_ID
from central.models import Card
from central.service import Central
from devices.sim.psam import PsamOS, PsamStore, psam_image
from devices.sim.yearcard import handler_channel
from devices.sim.yearcard_os import ImageStore, YearCardOS, personalised_image
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.terminal import CardReading, DebitProof, PendingDebit, YearCardTerminal
from tests.support.central_server import RunningCentral

TIMEOUT_S = 20
SHANGHAI = ZoneInfo("Asia/Shanghai")
_numbers = itertools.count(1)
KIND_OF_RECORD = {crypto.TRANSACTION_TICKET: CardUseKind.TICKETS,
                  crypto.TRANSACTION_CONCESSION: CardUseKind.CONCESSIONS, crypto.TRANSACTION_LOAD: CardUseKind.LOAD}
KIND_CODE = {CardUseKind.TICKETS: crypto.TRANSACTION_TICKET, CardUseKind.CONCESSIONS: crypto.TRANSACTION_CONCESSION}


def refusal(response: requests.Response, code: ErrorCode) -> dict[str, Any]:
    """Assert ``response`` is the refusal ``code`` with its status; its details."""
    assert response.status_code == ERROR_HTTP_STATUS[code], (response.status_code, response.text[:400])
    body = ErrorBody.model_validate_json(response.content)
    assert body.code == code, body
    return body.details


def ok(response: requests.Response) -> Any:
    assert response.status_code == 200, (response.status_code, response.text[:600])
    return response.json()


@dataclass
class KitCard:
    """A personalised card image and the terminal (card + the kit's PSAM) that reads and debits it."""

    number: str
    path: Path
    kit: CardKit

    def terminal(self, psam: PsamOS | None = None) -> YearCardTerminal:
        card_os = YearCardOS(ImageStore(self.path))
        return YearCardTerminal(handler_channel(card_os), handler_channel(psam or self.kit.psam),
                                clock=self.kit.local_now)

    def read(self) -> CardReading:
        return self.terminal().read()

    def tap_body(self) -> dict[str, Any]:
        return tap_of(self.read()).model_dump(mode="json")


def tap_of(reading: CardReading) -> CardTap:
    public = reading.public
    return CardTap(
        card_number=public.card_number, card_type=public.card_type, sold=public.sold,
        activated_on=public.activated, expires_on=public.expires, balance=reading.balance,
        records=[CardRecordView(card_counter=r.card_counter, visits=r.amount, kind=KIND_OF_RECORD[r.kind],
                                terminal_id=r.terminal_id.hex().upper(), at=r.when, balance_after=r.balance_after)
                 for r in reading.records],
    )


def notice_of(pending: PendingDebit) -> dict[str, Any]:
    return DebitNotice(card_counter=pending.card_counter, terminal_id=pending.terminal_id,
                       terminal_seq=pending.terminal_seq, at=pending.when).model_dump(mode="json")


def proof_of(proof: DebitProof) -> dict[str, Any]:
    pending = proof.pending
    kind = CardUseKind.TICKETS if pending.kind == crypto.TRANSACTION_TICKET else CardUseKind.CONCESSIONS
    return DebitProofBody(card_number=pending.card_number, card_counter=pending.card_counter, visits=pending.amount,
                          kind=kind, terminal_id=pending.terminal_id, terminal_seq=pending.terminal_seq,
                          at=pending.when, balance_after=pending.balance_after, tac=proof.tac).model_dump(mode="json")


@dataclass
class CardKit:
    """Cards made for one running central with its issuer keys, and the demo kiosk's PSAM."""

    central: RunningCentral
    folder: Path
    ledger: Central = field(init=False)
    keys: crypto.MasterKeys = field(init=False)
    psam: PsamOS = field(init=False)

    def __post_init__(self) -> None:
        settings = Settings(db_url=self.central.db_url, secrets_dir=self.central.workdir / "secrets")
        self.keys = load_issuer_keys(settings)
        self.ledger = Central.open(settings)  # the ledger's own functions, as `central cards make` calls them
        self.folder.mkdir(parents=True, exist_ok=True)
        self.psam = self.new_psam(DEMO_TERMINAL_ID)

    def new_psam(self, terminal_id: str) -> PsamOS:
        path = self.folder / f"psam-{terminal_id}-{uuid.uuid4().hex[:6]}.json"
        psam_image(path, self.keys, bytes.fromhex(terminal_id))
        return PsamOS(PsamStore(path))

    def server_now(self) -> dt.datetime:
        return self.central.server_now()

    def local_now(self) -> dt.datetime:
        return self.server_now().astimezone(SHANGHAI).replace(tzinfo=None)

    def make_card(self, visits: int = 10, card_type: int = 1, sold: bool = True, ledger_visits: int | None = None,
                  expired: bool = False) -> KitCard:
        """Make a card as head office would (ledger + personalised image), sold today unless told."""
        number = f"77{uuid.uuid4().int % 10**10:010d}{next(_numbers) % 10000:04d}"
        today = self.local_now().date()
        activated = (today - dt.timedelta(days=400)) if expired else today
        with self.ledger.sessions.begin() as session:
            now = self.server_now()
            card = register_made_card(session, now, number, card_type, visits if ledger_visits is None
                                      else ledger_visits, actor="test")
            if sold:
                card.status = "active"
                card.sold_at = now
                card.sold_cinema_id = "cinema-demo"
                card.activated_on = activated
                card.expires_on = activated + dt.timedelta(days=365)
            made = made_on(card)
        path = self.folder / f"card-{number}.json"
        personalised_image(path, self.keys, number, card_type=card_type, visits=visits, issuer=ISSUER_CODE, made=made,
                           activated=activated if sold else None, valid_days=365)
        return KitCard(number, path, self)

    def card_row(self, number: str) -> Card:
        with self.ledger.sessions() as session:
            card = session.get_one(Card, number)
            session.expunge(card)
            return card


class CardKiosk:
    """A kiosk (or a counter, with a staff session) calling the central's card routes over HTTP."""

    def __init__(self, central: RunningCentral, credential: str | None = None) -> None:
        self.central = central
        self.http = requests.Session()
        self.http.headers.update(central.auth(credential))
        self.staff_token: str | None = None

    def call(self, method: str, path: str, body: Any = None, key: str | None = None,
             staff: str | None = None) -> requests.Response:
        headers = {}
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = key
        token = staff if staff is not None else self.staff_token
        if token is not None:
            headers[STAFF_HEADER] = token
        return self.http.request(method, self.central.base_url + path, json=body, headers=headers, timeout=TIMEOUT_S)

    def login(self, staff_no: str, password: str | None = None) -> requests.Response:
        return self.call("post", Routes.STAFF_LOGIN,
                         {"staff_no": staff_no, "password": password or f"demo-{staff_no.lower()}"})

    def log_in(self, staff_no: str) -> str:
        token = ok(self.login(staff_no))["token"]
        self.staff_token = token
        return str(token)

    def tap(self, card: KitCard) -> requests.Response:
        return self.call("post", Routes.CARD_TAP, card.tap_body())

    def hold(self, card: KitCard, showing_id: str, seats: list[str], key: str | None = None) -> requests.Response:
        body = {"card_number": card.number, "kind": "tickets", "showing_id": showing_id,
                "seats": [{"row": s[0], "seat": s[1:]} for s in seats]}
        return self.call("post", Routes.REDEMPTIONS, body, key=key or uuid.uuid4().hex)

    def debiting(self, redemption_id: str, pending: PendingDebit) -> requests.Response:
        return self.call("post", Routes.REDEMPTION_DEBITING.format(redemption_id=redemption_id), notice_of(pending),
                         key=f"{redemption_id}:debiting")

    def confirm(self, redemption_id: str, proof: dict[str, Any]) -> requests.Response:
        return self.call("post", Routes.REDEMPTION_CONFIRM.format(redemption_id=redemption_id), proof,
                         key=f"{redemption_id}:confirm")

    def cancel(self, redemption_id: str, reason: str = "person_cancelled") -> requests.Response:
        return self.call("post", Routes.REDEMPTION_CANCEL.format(redemption_id=redemption_id), {"reason": reason})

    def redemption(self, redemption_id: str) -> requests.Response:
        return self.call("get", Routes.REDEMPTION.format(redemption_id=redemption_id))

    def seats(self, showing_id: str) -> dict[str, str]:
        seat_map = ok(self.call("get", Routes.SHOWING_SEATS.format(showing_id=showing_id)))
        return {f"{s['row']}{s['seat']}": s["state"] for s in seat_map["seats"]}

    def debit_announced(self, card: KitCard, redemption: dict[str, Any],
                        psam: PsamOS | None = None) -> DebitProof:
        """Announce the debit (as the kiosk journals it), then debit the card through the PSAM."""
        announced: list[requests.Response] = []

        def announce(pending: PendingDebit) -> None:
            announced.append(self.debiting(redemption["redemption_id"], pending))
            ok(announced[-1])

        kind = KIND_CODE[CardUseKind(redemption["kind"])]
        return card.terminal(psam).debit(redemption["visits"], kind=kind, expect_card=card.number,
                                         on_pending=announce)

    def redeem(self, card: KitCard, showing_id: str, seats: list[str]) -> dict[str, Any]:
        """The whole redemption: hold, announce, debit, confirm; the RedemptionResult."""
        held = ok(self.hold(card, showing_id, seats))
        proof = self.debit_announced(card, held)
        return dict(ok(self.confirm(held["redemption_id"], proof_of(proof))))

    def print_claim(self, claim: dict[str, Any]) -> dict[str, Any]:
        """Print every ticket of a claim through the existing claim routes; the ClaimStatus."""
        for ticket in claim["tickets"]:
            ok(self.call("post", Routes.CLAIM_PRINTING.format(claim_id=claim["claim_id"]),
                         {"ticket_id": ticket["ticket_id"]}))
        outcomes = {t["ticket_id"]: "printed" for t in claim["tickets"]}
        return dict(ok(self.call("post", Routes.CLAIM_REPORT.format(claim_id=claim["claim_id"]),
                                 {"outcomes": outcomes})))


def forge(tac: str) -> str:
    return f"{int(tac, 16) ^ 0x1:08X}"


__all__ = ["CardKiosk", "CardKit", "KitCard", "forge", "ok", "p", "proof_of", "refusal", "tap_of"]
