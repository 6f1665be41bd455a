"""Head office's and the cinemas' card operations from the central's host (`central cards ...`).

Card types, making (the card is registered MADE with its first issue only after it verified),
sale and renewal and re-issue through a reader (the card first, then the ledger: a ledger that
failed to commit is corrected at the card's next tap or by `cards rebuild`), recycling, the
blacklist with its versions, cards to collect, a card's history. Each function takes a
:class:`central.staff_cli.CommandContext`, checks the role, audits with the staff number and
returns plain JSON-able data for the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select

from backend_client.wire import MAX_PEOPLE_PER_REDEMPTION, CardUpdateRequest, ErrorCode
from central import card_ledger
from central.card_making import CardMakingError, CardSlot, MadeCard, MakeSpec, authenticate, make_on_slot, probe
from central.common import Refusal
from central.models import (
    Card,
    CardBlacklistEntry,
    CardIssue,
    CardTransaction,
    CardType,
    CardTypePrice,
    Cinema,
    Kiosk,
    Psam,
)
from central.staff import Permission
from central.staff_cli import CommandContext
from devices.card_api import ApduResponse
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.personalise import PersonalisationError, load, rewrite_public

CHAIN_ISSUER = card_ledger.ISSUER_CODE  # the issuer id written on this chain's cards
HEAD_OFFICE_TERMINAL = bytes(6)  # the terminal id of head office's loads (re-issue)
DEFAULT_VALIDITY_DAYS = 365
DEFAULT_MAX_PEOPLE = 1

Say = Callable[[str], None]
T = TypeVar("T")


def _bad(message: str) -> Refusal:
    return Refusal(ErrorCode.BAD_REQUEST, message)


def masked(number: str) -> str:
    return p.mask_card_number(number)


# ---- card types ----


def _type_view(session: Any, row: CardType) -> dict[str, Any]:
    prices = session.scalars(select(CardTypePrice).where(CardTypePrice.card_type == row.code)
                             .order_by(CardTypePrice.cinema_id))
    return {
        "code": row.code, "name": row.name, "visits": row.default_visits, "valid_days": row.validity_days,
        "max_people": row.max_people, "formats": json.loads(row.formats or "{}"),
        "price_yuan": f"{row.settlement_fen / 100:.2f}",
        "cinema_prices": {price.cinema_id: f"{price.settlement_fen / 100:.2f}" for price in prices},
    }


def list_types(ctx: CommandContext) -> dict[str, Any]:
    rows = ctx.session.scalars(select(CardType).order_by(CardType.code))
    return {"card_types": [_type_view(ctx.session, row) for row in rows]}


def save_type(ctx: CommandContext, code: int, new: bool, name: str | None, visits: int | None,
              valid_days: int | None, max_people: int | None, formats: list[tuple[str, int]] | None,
              price_fen: int | None, cinema_prices: list[tuple[str, int]] | None) -> dict[str, Any]:
    ctx.require(Permission.MAKE_CARDS)
    row = ctx.session.get(CardType, code)
    if new and row is not None:
        raise _bad(f"card type {code} exists ({row.name}): change it with `cards types set`")
    if not new and row is None:
        raise _bad(f"no card type {code}: add it with `cards types add`")
    if row is None:
        try:
            row = card_ledger.create_card_type(
                ctx.session, ctx.now, code, name or "", dict(formats or [("2D", 1)]),
                default_visits=visits or ctx.central.settings.card_default_visits,
                validity_days=valid_days or DEFAULT_VALIDITY_DAYS, max_people=max_people or DEFAULT_MAX_PEOPLE,
                settlement_fen=price_fen or 0, actor=ctx.actor.staff_no)
        except ValueError as exc:
            raise _bad(str(exc)) from None
    if name is not None:
        if not name.strip():
            raise _bad("a card type needs a name")
        row.name = name.strip()
    if visits is not None:
        if visits > p.MAX_VISITS:
            raise _bad(f"a card holds at most {p.MAX_VISITS} visits")
        row.default_visits = visits
    if valid_days is not None:
        row.validity_days = valid_days
    if max_people is not None:
        if max_people > MAX_PEOPLE_PER_REDEMPTION:
            raise _bad(f"at most {MAX_PEOPLE_PER_REDEMPTION} people per redemption")
        row.max_people = max_people
    if formats is not None:
        row.formats = json.dumps(dict(formats))
    if price_fen is not None:
        row.settlement_fen = price_fen
    ctx.session.flush()
    for cinema_id, fen in cinema_prices or []:
        if ctx.session.get(Cinema, cinema_id) is None:
            raise _bad(f"no cinema {cinema_id!r} for --cinema-price")
        card_ledger.set_settlement_price(ctx.session, ctx.now, code, cinema_id, fen, actor=ctx.actor.staff_no)
    ctx.session.flush()
    view = _type_view(ctx.session, row)
    if not new:
        ctx.audit("card_type_changed", card_type=code, **{k: v for k, v in view.items() if k != "code"})
    return {"card_type": view}


def _card_type(ctx: CommandContext, code: int) -> CardType:
    row = ctx.session.get(CardType, code)
    if row is None:
        raise _bad(f"no card type {code} (see `central cards types list`)")
    return row


# ---- making ----


def card_numbers(number: str | None, first_count: tuple[str, int] | None) -> list[str]:
    if number is not None:
        return [number]
    assert first_count is not None
    first, count = first_count
    return [f"{int(first) + offset:016d}" for offset in range(count)]


def register_made(session: Any, now: dt.datetime, staff_no: str, made: MadeCard) -> None:
    """A verified card enters the ledger: MADE, issue 1 started now (the ledger's own registration)."""
    spec = made.spec
    card_ledger.register_made_card(session, now, spec.card_number, spec.card_type, made.balance, actor=staff_no)


def make_cards(ctx: CommandContext, reader: str, type_code: int, visits: int | None, numbers: list[str],
               wait_s: float, say: Say) -> dict[str, Any]:
    """Make each card in turn on the reader; each one is committed to the ledger as soon as it is made."""
    ctx.require(Permission.MAKE_CARDS)
    card_type = _card_type(ctx, type_code)
    visits = visits or card_type.default_visits
    if visits > p.MAX_VISITS:
        raise _bad(f"a card holds at most {p.MAX_VISITS} visits")
    known = list(ctx.session.scalars(select(Card.card_number).where(Card.card_number.in_(numbers))))
    if known:
        raise _bad(f"{len(known)} of these numbers are made already, e.g. {masked(sorted(known)[0])}: "
                   "nothing made")
    ctx.session.commit()  # no database lock held while the operator fetches cards
    made: list[str] = []
    today = ctx.now.astimezone(ZoneInfo(card_ledger.CHAIN_TIMEZONE)).date()  # as the ledger dates it
    with CardSlot(reader) as slot:
        for index, number in enumerate(numbers):
            spec = MakeSpec(number, type_code, visits, CHAIN_ISSUER, today)
            try:
                card = make_on_slot(slot, ctx.central.issuer_keys, spec, say, wait_s)
            except CardMakingError as exc:
                raise CardMakingError(f"{exc} ({len(made)} of {len(numbers)} made)") from None
            # each card committed at once: the cards made so far stay registered whatever comes next
            register_made(ctx.session, ctx.central.clock.now(), ctx.actor.staff_no, card)
            ctx.session.commit()
            made.append(number)
            say(f"made {masked(number)}: type {type_code}, {card.balance} visits ({index + 1} of {len(numbers)})")
            if index + 1 < len(numbers):
                say(f"take the card away from {slot.name}")
                if not slot.wait(False, wait_s):
                    raise CardMakingError(f"the card stayed on {slot.name}; {len(made)} of {len(numbers)} made")
    return {"made": len(made), "card_type": type_code, "visits": visits,
            "first": made[0] if made else None, "last": made[-1] if made else None}


def make_psam(ctx: CommandContext, terminal_id: bytes, cinema_id: str, kiosk_id: str | None,
              image: Path | None, reader: str | None) -> dict[str, Any]:
    ctx.require(Permission.MAKE_CARDS)
    if ctx.session.get(Cinema, cinema_id) is None:
        raise _bad(f"no cinema {cinema_id!r}")
    if kiosk_id is not None:
        kiosk = ctx.session.get(Kiosk, kiosk_id)
        if kiosk is None or kiosk.cinema_id != cinema_id:
            raise _bad(f"no kiosk {kiosk_id!r} at cinema {cinema_id}")
    tid = terminal_id.hex().upper()
    existing = ctx.session.get(Psam, tid)
    if existing is not None:
        raise _bad(f"terminal id {tid} is registered already (cinema {existing.cinema_id}): every PSAM has its own")
    master: crypto.MasterKeys = ctx.central.issuer_keys
    if image is not None:
        from devices.sim.psam import psam_image

        if image.exists():
            raise _bad(f"{image} exists; not overwriting a PSAM")
        psam_image(image, master, terminal_id)
        how = f"image {image}"
    else:
        assert reader is not None
        with CardSlot(reader) as slot:
            if not slot.wait(True, 10):
                raise CardMakingError(f"no PSAM on {reader}")
            check_psam(slot.transmit, master, terminal_id)
        how = f"checked on {reader}"
    card_ledger.register_psam(ctx.session, ctx.now, tid, cinema_id, kiosk_id, actor=ctx.actor.staff_no)
    return {"psam": {"terminal_id": tid, "cinema": cinema_id, "kiosk": kiosk_id, "made": how}}


def check_psam(transmit: Callable[[bytes], ApduResponse], master: crypto.MasterKeys, terminal_id: bytes) -> None:
    """The PSAM answers with this terminal id and accepts a public file MACed with this chain's keys."""
    from devices.yearcard.personalise import public_file

    if not transmit(p.select_aid(p.PSAM_AID)).ok:
        raise CardMakingError("the card on the reader is not a PSAM of this profile")
    try:
        found = p.parse_terminal_id(transmit(p.read_terminal_id()))
    except p.ProfileError as exc:
        raise CardMakingError(f"the PSAM's terminal id cannot be read: {exc}") from None
    if found != terminal_id:
        raise CardMakingError(f"the PSAM's terminal id is {found.hex().upper()}, not {terminal_id.hex().upper()}")
    sample = public_file(master, "0000000000000000", 0, dt.date(2000, 1, 1), CHAIN_ISSUER)
    if transmit(p.verify_public(sample)).sw != p.SW_OK:
        raise CardMakingError("the PSAM does not hold this chain's keys (it refuses a public file the issuer MACed)")


# ---- sale, renewal, re-issue: the card on a reader, then the ledger ----


def _card(ctx: CommandContext, number: str) -> Card:
    card = ctx.session.get(Card, number)
    if card is None:
        raise Refusal(ErrorCode.CARD_UNKNOWN, f"card {masked(number)} is not in the ledger")
    return card


def _cinema_day(ctx: CommandContext, cinema_id: str) -> dt.date:
    cinema = ctx.session.get(Cinema, cinema_id)
    if cinema is None:
        raise _bad(f"no cinema {cinema_id!r}")
    return ctx.now.astimezone(ZoneInfo(cinema.timezone)).date()


def _card_on_reader(slot: CardSlot, master: crypto.MasterKeys, number: str) -> p.PublicInfo:
    if not slot.wait(True, 10):
        raise CardMakingError(f"no card on {slot.name}")
    found = probe(slot.transmit)
    if found.public is None:
        raise CardMakingError("the card on the reader is blank")
    if found.public.card_number != number:
        raise CardMakingError(f"the card on the reader is {found.public.masked_number}, not {masked(number)}")
    if not authenticate(slot.transmit, master, found.public):
        raise Refusal(ErrorCode.CARD_MISMATCH, f"card {masked(number)} fails the issuer's checks (edited or copied)")
    return found.public


def _blacklisted(ctx: CommandContext, number: str) -> None:
    entry = ctx.session.get(CardBlacklistEntry, number)
    if entry is not None:
        raise Refusal(ErrorCode.CARD_BLACKLISTED, f"card {masked(number)} is blacklisted: {entry.reason}")


def _card_view(card: Card) -> dict[str, Any]:
    return {"card": card.card_number, "status": card.status, "card_type": card.card_type,
            "issue": card.issue_no, "visits_left": card.visits_left,
            "activated_on": card.activated_on.isoformat() if card.activated_on else None,
            "expires_on": card.expires_on.isoformat() if card.expires_on else None}


def _cinema(ctx: CommandContext, cinema_id: str) -> Cinema:
    cinema = ctx.session.get(Cinema, cinema_id)
    if cinema is None:
        raise _bad(f"no cinema {cinema_id!r}")
    return cinema


def _update_on_reader(ctx: CommandContext, number: str, reader: str,
                      ledger_update: Callable[[CardUpdateRequest], str]) -> None:
    """The card's challenge, the ledger's update (signed by the issuer over it), written to the card.

    The ledger changes only in this command's transaction, committed after the card took the write.
    """
    with CardSlot(reader) as slot:
        _card_on_reader(slot, ctx.central.issuer_keys, number)
        challenge = _write(lambda: p.parse_challenge(slot.transmit(p.get_challenge())))
        data = bytes.fromhex(ledger_update(CardUpdateRequest(challenge=challenge.hex().upper())))
        answer = _write(lambda: slot.transmit(p.SECURE_UPDATE_HEADER + data))
        if not answer.ok:
            raise CardMakingError(f"the card refused the update: SW {answer.sw:04X}; nothing recorded")


def sell_card(ctx: CommandContext, number: str, reader: str, cinema_id: str, valid_days: int | None) -> dict[str, Any]:
    ctx.require(Permission.SELL, cinema_id)
    card = _card(ctx, number)
    _blacklisted(ctx, number)
    cinema = _cinema(ctx, cinema_id)

    def update(request: CardUpdateRequest) -> str:
        request = CardUpdateRequest(challenge=request.challenge, valid_days=valid_days)
        return card_ledger.sell_card(ctx.session, ctx.now, ctx.central.issuer_keys, card, cinema, request,
                                     actor=ctx.actor.staff_no, staff_no=ctx.actor.staff_no)

    _update_on_reader(ctx, number, reader, update)
    issue = ctx.session.get(CardIssue, (number, card.issue_no))
    if issue is not None and card.sold_at == ctx.now:
        issue.started_at = ctx.now  # the holder's history starts at the sale
    return {"sold": _card_view(card)}


def renew_card(ctx: CommandContext, number: str, reader: str, cinema_id: str, days: int | None) -> dict[str, Any]:
    ctx.require(Permission.RENEW, cinema_id)
    card = _card(ctx, number)
    _blacklisted(ctx, number)
    cinema = _cinema(ctx, cinema_id)

    def update(request: CardUpdateRequest) -> str:
        request = CardUpdateRequest(challenge=request.challenge, valid_days=days)
        return card_ledger.renew_card(ctx.session, ctx.now, ctx.central.issuer_keys, card, cinema, request,
                                      actor=ctx.actor.staff_no, staff_no=ctx.actor.staff_no)

    _update_on_reader(ctx, number, reader, update)
    return {"renewed": _card_view(card)}


def _write(step: Callable[[], T]) -> T:
    from devices.card_api import CardError

    try:
        return step()
    except CardError as exc:
        raise CardMakingError(f"the card left during the write ({exc}): put it back and run the command again; "
                              "the card holds its old or its new state") from None
    except (PersonalisationError, p.ProfileError, ValueError) as exc:
        raise CardMakingError(f"the card refused: {exc}") from None


def recycle_card(ctx: CommandContext, number: str, cinema_id: str) -> dict[str, Any]:
    """The cinema has the used-up card in hand (回收): recorded as recycled and collected."""
    ctx.require(Permission.RECYCLE, cinema_id)
    card = _card(ctx, number)
    _cinema(ctx, cinema_id)
    card_ledger.recycle_card(ctx.session, ctx.now, card, cinema_id, actor=ctx.actor.staff_no,
                             staff_no=ctx.actor.staff_no)
    return {"recycled": _card_view(card)}


def reissue_card(ctx: CommandContext, number: str, reader: str, type_code: int, visits: int | None) -> dict[str, Any]:
    """A recycled card for a new holder: new type, visits loaded, unsold; the old history stays."""
    ctx.require(Permission.MAKE_CARDS)
    card = _card(ctx, number)
    _blacklisted(ctx, number)
    if card.status != "recycled":
        raise _bad(f"card {masked(number)} is {card.status}: only a recycled card is re-issued")
    new_type = _card_type(ctx, type_code)
    visits = visits or new_type.default_visits
    master: crypto.MasterKeys = ctx.central.issuer_keys
    with CardSlot(reader) as slot:
        public = _card_on_reader(slot, master, number)
        balance = p.parse_balance(slot.transmit(p.get_balance()))
        if balance + visits > p.MAX_VISITS:
            raise _bad(f"the card holds {balance} visits: {visits} more is past {p.MAX_VISITS}")
        _write(lambda: rewrite_public(slot.transmit, master, public, card_type=type_code, sold=False,
                                      activated=None, expires=None))
        local = ctx.now.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
        _write(lambda: load(slot.transmit, master, number, visits, HEAD_OFFICE_TERMINAL, local))
    old = ctx.session.get(CardIssue, (number, card.issue_no))
    if old is not None:
        old.ended_at = ctx.now
    card.issue_no += 1
    card.card_type, card.status, card.visits_left = type_code, "made", balance + visits
    card.sold_at = card.sold_cinema_id = card.activated_on = card.expires_on = None
    card.recycled_at = card.recycled_cinema_id = card.collected_at = None
    ctx.session.add(CardIssue(card_number=number, issue_no=card.issue_no, card_type=type_code, started_at=ctx.now))
    ctx.audit("card_reissued", card=masked(number), card_type=type_code, visits=visits, issue=card.issue_no)
    return {"reissued": _card_view(card)}


# ---- blacklist ----


def blacklist_add(ctx: CommandContext, number: str, reason: str) -> dict[str, Any]:
    ctx.require(Permission.BLACKLIST)
    if not reason.strip():
        raise _bad("a blacklist entry needs a reason")
    # a card not (yet) in the ledger may be blacklisted too: a lost card from before a rebuild
    if not card_ledger.add_to_blacklist(ctx.session, ctx.now, number, reason.strip(), by=ctx.actor.staff_no,
                                        actor=ctx.actor.staff_no):
        raise _bad(f"card {masked(number)} is blacklisted already")
    return {"blacklisted": number, "reason": reason.strip(), "version": card_ledger.blacklist_version(ctx.session)}


def blacklist_remove(ctx: CommandContext, number: str) -> dict[str, Any]:
    ctx.require(Permission.BLACKLIST)
    if not card_ledger.remove_from_blacklist(ctx.session, ctx.now, number, by=ctx.actor.staff_no,
                                             actor=ctx.actor.staff_no):
        raise _bad(f"card {masked(number)} is not blacklisted")
    return {"removed": number, "version": card_ledger.blacklist_version(ctx.session)}


def blacklist_list(ctx: CommandContext) -> dict[str, Any]:
    if not ({Permission.BLACKLIST, Permission.QUERY_HISTORY, Permission.GLOBAL_REPORTS} & ctx.actor.permissions):
        ctx.require(Permission.BLACKLIST)
    entries = ctx.session.scalars(select(CardBlacklistEntry).order_by(CardBlacklistEntry.added_at))
    return {"version": card_ledger.blacklist_version(ctx.session), "cards": [
        {"card": e.card_number, "reason": e.reason, "by": e.added_by, "at": e.added_at.isoformat()}
        for e in entries]}


# ---- collection and history ----


def cards_to_collect(ctx: CommandContext, cinema_id: str | None, day: dt.date | None) -> dict[str, Any]:
    """Used-up cards the cinemas should collect, by the cinema where the last visit was used (that day)."""
    if not ({Permission.RECYCLE, Permission.LOCAL_REPORTS, Permission.GLOBAL_REPORTS} & ctx.actor.permissions):
        ctx.require(Permission.RECYCLE)
    scope = ctx.cinema_scope
    if scope is not None:
        if cinema_id not in (None, scope):
            raise Refusal(ErrorCode.FORBIDDEN, "a cinema's staff act only for their own cinema")
        cinema_id = scope
    by_cinema: dict[str, list[dict[str, Any]]] = {}
    for card in card_ledger.cards_to_collect(ctx.session, cinema_id):
        assert card.recycled_at is not None and card.recycled_cinema_id is not None
        cinema = ctx.session.get(Cinema, card.recycled_cinema_id)
        used_up = card.recycled_at.astimezone(ZoneInfo(cinema.timezone if cinema else card_ledger.CHAIN_TIMEZONE))
        if day is not None and used_up.date() != day:
            continue
        by_cinema.setdefault(card.recycled_cinema_id, []).append(
            {"card": card.card_number, "used_up": used_up.replace(tzinfo=None, microsecond=0).isoformat(sep=" ")})
    return {"day": day.isoformat() if day else None,
            "cinemas": [{"cinema": cinema, "count": len(cards), "cards": sorted(cards, key=lambda c: c["card"])}
                        for cinema, cards in sorted(by_cinema.items())]}


def card_history(ctx: CommandContext, number: str, every_issue: bool) -> dict[str, Any]:
    if every_issue:
        if ctx.actor.cinema_id is not None:
            raise Refusal(ErrorCode.FORBIDDEN, "every issue's history is head office's (--all)")
        if not ({Permission.QUERY_HISTORY, Permission.GLOBAL_REPORTS} & ctx.actor.permissions):
            ctx.require(Permission.QUERY_HISTORY)
    else:
        ctx.require(Permission.QUERY_HISTORY)
    card = _card(ctx, number)
    query = select(CardTransaction).where(CardTransaction.card_number == number)
    if not every_issue:
        query = query.where(CardTransaction.issue_no == card.issue_no)
    names = {cid: name for cid, name in ctx.session.execute(select(Cinema.id, Cinema.name))}
    rows = ctx.session.scalars(query.order_by(CardTransaction.card_local_time, CardTransaction.id))
    return {**_card_view(card), "history": [
        {"issue": t.issue_no, "at": t.card_local_time.isoformat(sep=" "), "cinema": names.get(t.cinema_id, t.cinema_id),
         "kind": t.kind, "visits": t.visits, "balance_after": t.balance_after, "staff": t.staff_no}
        for t in rows]}
