"""Redemptions (兑换): today's showings a card covers, seat maps, seat holds, the debit and its proof.

A ticket redemption holds its seats as an order (``source`` "card", status "held") whose Ticket
rows take the seats through ``uq_ticket_seat``: of two kiosks after the same seat one wins. The
hold runs out at ``hold_expires_at`` (settled lazily, like claim leases) until the kiosk announces
the debit (DEBITING); from then on only the card decides: a verified TAC confirms it, the card's
own log at the next tap confirms or voids it (card_ledger.CardLedgerArea.tap). A confirmed
redemption pays its order and opens a claim exactly as a pickup does, so the kiosk prints through
the claim routes. Every change is audited with the kiosk id and the staff number.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend_client.wire import (
    IDEMPOTENCY_HEADER,
    MAX_PEOPLE_PER_REDEMPTION,
    CardRecordView,
    CardShowings,
    CardTap,
    CardUseKind,
    CardView,
    ClaimRequest,
    ClaimResponse,
    DebitNotice,
    DebitProofBody,
    ErrorCode,
    RedemptionCancel,
    RedemptionRequest,
    RedemptionResult,
    RedemptionState,
    RedemptionView,
    SeatMap,
    SeatState,
    SeatView,
    ShowingOffer,
    TicketStatus,
)
from central.card_ledger import (
    Debit,
    card_view,
    get_card,
    known_terminal,
    local_today,
    mask,
    record_debit,
    redemption_view,
    refuse,
    require_usable,
    settlement_per_visit,
    tac_valid,
    type_formats,
)
from central.claims import ClaimsArea
from central.common import MAX_IDEMPOTENCY_KEY, Refusal, audit, effective_status, iso, new_id
from central.models import (
    Card,
    CardTransaction,
    Cinema,
    Claim,
    Film,
    Hall,
    HallSeat,
    Kiosk,
    Order,
    Redemption,
    Showing,
    Ticket,
)
from central.models import LastCardTap as CardTapRow
from central.staff import Permission, StaffActor, require

CARD_ORDER_SOURCE = "card"
HELD_ORDER = "held"
LIVE_STATES = (RedemptionState.HELD.value, RedemptionState.DEBITING.value)


class _SeatsLost(Exception):
    """Rolls a redemption's transaction back when its seats were taken meanwhile."""


class _Settled:
    """A change to commit that must still answer a refusal (an expired hold, a debit after release)."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal


class _Mismatch(Exception):
    """The card's own records contradict the ledger (copied or edited): the tap is refused."""

    def __init__(self, reason: str, details: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


# ---- holds ---------------------------------------------------------------------------------


def release_redemption(session: Session, redemption: Redemption, state: RedemptionState, reason: str,
                       now: datetime, actor: str, staff_no: str | None = None) -> None:
    """End a redemption that was never debited: its seats are freed (tickets deleted, order cancelled)."""
    seats: list[str] = []
    if redemption.order_id is not None:
        tickets = session.scalars(select(Ticket).where(Ticket.order_id == redemption.order_id)).all()
        seats = [f"{t.row}{t.seat}" for t in tickets]
        session.execute(delete(Ticket).where(Ticket.order_id == redemption.order_id)
                        .execution_options(synchronize_session=False))
        order = session.get(Order, redemption.order_id)
        if order is not None:
            order.status = "cancelled"
    redemption.state = state.value
    redemption.settled_at = now
    redemption.cancel_reason = reason
    audit(session, now, actor, f"redemption_{state.value}", redemption.order_id, redemption_id=redemption.id,
          card=mask(redemption.card_number), reason=reason, seats=seats, staff_no=staff_no)


def settle_holds(session: Session, now: datetime, showing_id: str | None = None) -> int:
    """Expire every held redemption whose hold has run out (of one showing, or all); how many."""
    query = select(Redemption).where(Redemption.state == RedemptionState.HELD.value,
                                     Redemption.hold_expires_at <= now)
    if showing_id is not None:
        query = query.where(Redemption.showing_id == showing_id)
    expired = list(session.scalars(query.order_by(Redemption.id).with_for_update()))
    for redemption in expired:
        release_redemption(session, redemption, RedemptionState.EXPIRED, "hold_expired", now, "central")
    session.flush()
    return len(expired)


def confirm_from_card_log(session: Session, kiosk: Kiosk, card: Card, redemption: Redemption,
                          record: CardRecordView, now: datetime) -> None:
    """A pending debit found in the card's own log at a tap: recorded (proof "card_log"), tickets owed.

    No claim is opened here: the tickets are offered at the kiosk where the card was tapped
    (REDEMPTION_CLAIM), so they print where the patron is.
    """
    terminal = known_terminal(session, record.terminal_id)
    cinema_id = terminal.cinema_id if terminal is not None else redemption.cinema_id
    already = session.scalars(select(CardTransaction).where(
        CardTransaction.card_number == card.card_number, CardTransaction.card_counter == record.card_counter,
        CardTransaction.counter_kind == "purchase")).first()
    if already is None:
        debit = Debit(card.card_number, record.card_counter, record.visits, record.kind, record.terminal_id,
                      record.at.replace(tzinfo=None), record.balance_after, redemption.debit_terminal_seq, None)
        record_debit(session, now, card, debit, cinema_id, kiosk_id=redemption.kiosk_id,
                     staff_no=redemption.staff_no, proof="card_log", redemption_id=redemption.id)
    _pay(session, redemption, now)
    audit(session, now, kiosk.id, "redemption_confirmed_by_card_log", redemption.order_id,
          redemption_id=redemption.id, card=mask(card.card_number), card_counter=record.card_counter,
          terminal_id=record.terminal_id, redeemed_at_kiosk=redemption.kiosk_id)


def _pay(session: Session, redemption: Redemption, now: datetime) -> None:
    redemption.state = RedemptionState.CONFIRMED.value
    redemption.settled_at = now
    redemption.hold_expires_at = None
    if redemption.order_id is not None:
        session.get_one(Order, redemption.order_id).status = "paid"


def _local_day_bounds(cinema: Cinema, now: datetime) -> tuple[datetime, datetime]:
    zone = ZoneInfo(cinema.timezone)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(), tzinfo=zone)
    return start, start + timedelta(days=1)


class RedemptionsArea(ClaimsArea):
    """The kiosk API's redemption routes (tickets with seats; concessions at the counter), and the tap
    that settles a card's pending debits by its own log."""

    def _cinema(self, session: Session, kiosk: Kiosk) -> Cinema:
        return session.get_one(Cinema, kiosk.cinema_id)

    def tap(self, kiosk: Kiosk, tap: CardTap, staff: StaffActor | None = None) -> CardView:
        """A card on a reader: its view after reconciling pending redemptions with the card's own log."""
        now = self.clock.now()
        try:
            with self.sessions.begin() as session:
                return self._tap(session, kiosk, tap, now)
        except _Mismatch as mismatch:
            # Audited in a transaction of its own: the tap's was rolled back.
            with self.sessions.begin() as session:
                audit(session, now, kiosk.id, "card_mismatch", card=mask(tap.card_number), reason=mismatch.reason,
                      staff_no=staff.staff_no if staff else None, **mismatch.details)
            raise refuse(ErrorCode.CARD_MISMATCH, "this card's records contradict the ledger: see staff",
                         tap.card_number, reason=mismatch.reason) from None

    def _tap(self, session: Session, kiosk: Kiosk, tap: CardTap, now: datetime) -> CardView:
        card = get_card(session, tap.card_number, for_update=True)
        reconciled = self._reconcile(session, kiosk, card, tap, now)
        # Remember the tap: an owed redemption prints only where its card was just tapped.
        row = session.get(CardTapRow, kiosk.id)
        if row is None:
            session.add(CardTapRow(kiosk_id=kiosk.id, card_number=card.card_number, tapped_at=now))
        else:
            row.card_number, row.tapped_at = card.card_number, now
        session.flush()
        return card_view(session, card, now, self._cinema(session, kiosk), reconciled)


    def _reconcile(self, session: Session, kiosk: Kiosk, card: Card, tap: CardTap, now: datetime) -> list[str]:
        """Settle this card's pending debits by its own records; refuse a card whose records contradict the ledger."""
        purchases = [r for r in tap.records if r.kind != CardUseKind.LOAD]
        newest = max((r.card_counter for r in purchases), default=None)
        if card.last_counter is not None and (newest is None or newest < card.last_counter):
            self._mismatch(session, kiosk, card, now, "counter_backwards", last_counter=card.last_counter,
                           card_newest=newest)
        pending = session.scalars(
            select(Redemption).where(Redemption.card_number == card.card_number,
                                     Redemption.state == RedemptionState.DEBITING.value)
            .order_by(Redemption.created_at).with_for_update()
        ).all()
        reconciled: list[str] = []
        for redemption in pending:
            found = next((r for r in purchases if r.card_counter == redemption.debit_card_counter
                          and r.terminal_id == redemption.debit_terminal_id), None)
            if found is not None and found.visits == redemption.visits:
                confirm_from_card_log(session, kiosk, card, redemption, found, now)
                reconciled.append(redemption.id)
            elif (newest is not None and redemption.debit_card_counter is not None
                  and newest >= redemption.debit_card_counter) or tap.balance == card.visits_left:
                release_redemption(session, redemption, RedemptionState.CANCELLED, "not_debited_card_log", now,
                                   kiosk.id)
                reconciled.append(redemption.id)
        if tap.balance > card.visits_left:
            self._mismatch(session, kiosk, card, now, "balance_above_ledger", card_balance=tap.balance,
                           ledger=card.visits_left)
        return reconciled

    @staticmethod
    def _mismatch(session: Session, kiosk: Kiosk, card: Card, now: datetime, reason: str, **details: Any) -> None:
        raise _Mismatch(reason, details)


    # ---- what a card may be used for ----

    def card_showings(self, kiosk: Kiosk, card_number: str) -> CardShowings:
        """Today's not-yet-started showings at this kiosk's cinema that the card's type covers."""
        with self.sessions.begin() as session:
            now = self.clock.now()
            cinema = session.get_one(Cinema, kiosk.cinema_id)
            card = get_card(session, card_number)
            card_type = require_usable(session, card, local_today(cinema, now))
            formats = type_formats(card_type)
            settle_holds(session, now)
            _, day_end = _local_day_bounds(cinema, now)
            rows = session.execute(
                select(Showing, Film, Hall).join(Film, Film.id == Showing.film_id)
                .join(Hall, Hall.id == Showing.hall_id)
                .where(Hall.cinema_id == cinema.id, Showing.starts_at > now, Showing.starts_at < day_end,
                       Showing.format.in_(list(formats)))
                .order_by(Showing.starts_at, Showing.id)
            ).all()
            hall_ids = {hall.id for _, _, hall in rows}
            layout = dict(session.execute(
                select(HallSeat.hall_id, func.count()).where(HallSeat.hall_id.in_(hall_ids))
                .group_by(HallSeat.hall_id)).all())
            taken = dict(session.execute(
                select(Ticket.showing_id, func.count()).join(Showing, Showing.id == Ticket.showing_id)
                .join(HallSeat, (HallSeat.hall_id == Showing.hall_id) & (HallSeat.row == Ticket.row)
                      & (HallSeat.seat == Ticket.seat))
                .where(Ticket.showing_id.in_([s.id for s, _, _ in rows])).group_by(Ticket.showing_id)
            ).all())
            return CardShowings(card_number=card_number, showings=[
                ShowingOffer(showing_id=s.id, film_title=f.title, film_original_title=f.original_title,
                             hall_name=h.name, format=s.format, starts_at=s.starts_at, ends_at=s.ends_at,
                             visits_per_person=formats[s.format],
                             seats_free=max(0, layout.get(h.id, 0) - taken.get(s.id, 0)))
                for s, f, h in rows
            ])

    def _kiosk_showing(self, session: Session, kiosk: Kiosk, showing_id: str) -> tuple[Showing, Hall]:
        showing = session.get(Showing, showing_id)
        hall = session.get(Hall, showing.hall_id) if showing is not None else None
        if showing is None or hall is None or hall.cinema_id != kiosk.cinema_id:
            raise refuse(ErrorCode.SHOWING_NOT_FOUND, "no such showing at this cinema")
        return showing, hall

    def seat_map(self, kiosk: Kiosk, showing_id: str) -> SeatMap:
        """The hall's seats for a showing of this kiosk's cinema: free, taken (sold) or held."""
        with self.sessions.begin() as session:
            now = self.clock.now()
            showing, hall = self._kiosk_showing(session, kiosk, showing_id)
            settle_holds(session, now, showing.id)
            seats = session.scalars(select(HallSeat).where(HallSeat.hall_id == hall.id)
                                    .order_by(HallSeat.y, HallSeat.x)).all()
            occupied = {(t.row, t.seat): status for t, status in session.execute(
                select(Ticket, Order.status).join(Order, Order.id == Ticket.order_id)
                .where(Ticket.showing_id == showing.id))}
            views = []
            for seat in seats:
                status = occupied.get((seat.row, seat.seat))
                state = SeatState.FREE if status is None else SeatState.HELD if status == HELD_ORDER \
                    else SeatState.TAKEN
                views.append(SeatView(row=seat.row, seat=seat.seat, x=seat.x, y=seat.y, state=state,
                                      accessible=seat.accessible))
            return SeatMap(showing_id=showing.id, hall_name=hall.name,
                           columns=max((s.x for s in seats), default=-1) + 1,
                           rows=max((s.y for s in seats), default=-1) + 1, seats=views)

    # ---- a redemption ----

    def create_redemption(self, kiosk: Kiosk, request: RedemptionRequest, idempotency_key: str | None,
                          staff: StaffActor | None = None) -> RedemptionView:
        """Hold seats (tickets) or name visits (concessions, staff only) before the card is debited."""
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise Refusal(ErrorCode.BAD_REQUEST, f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
        if staff is not None:
            require(staff, Permission.REDEEM, kiosk.cinema_id)
        replay = self._replay_redemption(kiosk, request, idempotency_key)
        if replay is not None:
            return replay
        session = self.sessions()
        try:
            with session.begin():
                return self._create(session, kiosk, request, idempotency_key, staff)
        except (IntegrityError, _SeatsLost):
            replay = self._replay_redemption(kiosk, request, idempotency_key)
            if replay is not None:
                return replay
            raise refuse(ErrorCode.SEATS_TAKEN, "a seat was taken meanwhile: choose again", request.card_number,
                         seats=[f"{s.row}{s.seat}" for s in request.seats]) from None
        finally:
            session.close()

    def _replay_redemption(self, kiosk: Kiosk, request: RedemptionRequest,
                           idempotency_key: str | None) -> RedemptionView | None:
        if idempotency_key is None:
            return None
        with self.sessions() as session:
            found = session.scalars(select(Redemption).where(Redemption.kiosk_id == kiosk.id,
                                                             Redemption.idempotency_key == idempotency_key)).first()
            if found is None:
                return None
            if found.card_number != request.card_number or found.kind != request.kind.value \
                    or found.showing_id != request.showing_id:
                raise Refusal(ErrorCode.BAD_REQUEST, "this Idempotency-Key was used for a different redemption")
            return redemption_view(session, found)

    def _create(self, session: Session, kiosk: Kiosk, request: RedemptionRequest, idempotency_key: str | None,
                staff: StaffActor | None) -> RedemptionView:
        now = self.clock.now()
        cinema = session.get_one(Cinema, kiosk.cinema_id)
        card = get_card(session, request.card_number, for_update=True)
        card_type = require_usable(session, card, local_today(cinema, now))
        pending = int(session.scalar(select(func.coalesce(func.sum(Redemption.visits), 0)).where(
            Redemption.card_number == card.card_number, Redemption.state.in_(LIVE_STATES))) or 0)
        available = card.visits_left - pending
        redemption = Redemption(
            id=new_id("rdm"), card_number=card.card_number, issue_no=card.issue_no, kiosk_id=kiosk.id,
            cinema_id=kiosk.cinema_id, staff_no=staff.staff_no if staff else None, kind=request.kind.value,
            state=RedemptionState.HELD.value, idempotency_key=idempotency_key, created_at=now,
        )
        details: dict[str, Any] = {}
        if request.kind == CardUseKind.CONCESSIONS:
            if staff is None:
                raise refuse(ErrorCode.FORBIDDEN, "concessions are redeemed by staff at the counter", card.card_number)
            if request.visits is None or request.showing_id is not None or request.seats:
                raise refuse(ErrorCode.BAD_REQUEST, "concessions name visits, no showing or seats", card.card_number)
            redemption.visits = request.visits
        elif request.kind == CardUseKind.TICKETS:
            redemption.visits = self._hold_seats(session, kiosk, card, card_type, request, redemption, now)
            details["seats"] = [f"{s.row}{s.seat}" for s in request.seats]
        else:
            raise refuse(ErrorCode.BAD_REQUEST, "a load is not a redemption", card.card_number)
        if redemption.visits > available:
            raise refuse(ErrorCode.NOT_ENOUGH_VISITS, "the card has not enough visits left", card.card_number,
                         visits_left=max(0, available))
        if request.kind == CardUseKind.CONCESSIONS:
            redemption.hold_expires_at = now + timedelta(seconds=self.settings.card_hold_seconds)
        session.add(redemption)
        session.flush()
        audit(session, now, kiosk.id, "redemption_held", redemption.order_id, redemption_id=redemption.id,
              card=mask(card.card_number), kind=redemption.kind, visits=redemption.visits,
              showing_id=redemption.showing_id, staff_no=redemption.staff_no, **details)
        return redemption_view(session, redemption)

    def _hold_seats(self, session: Session, kiosk: Kiosk, card: Card, card_type: Any, request: RedemptionRequest,
                    redemption: Redemption, now: datetime) -> int:
        if request.showing_id is None or not request.seats or request.visits is not None:
            raise refuse(ErrorCode.BAD_REQUEST, "tickets name a showing and its seats", card.card_number)
        seats = [(s.row, s.seat) for s in request.seats]
        if len(set(seats)) != len(seats):
            raise refuse(ErrorCode.BAD_REQUEST, "a seat is named twice", card.card_number)
        showing, hall = self._kiosk_showing(session, kiosk, request.showing_id)
        if showing.starts_at <= now:
            raise refuse(ErrorCode.SHOW_OVER, "this showing has started", card.card_number,
                         show_start=iso(showing.starts_at))
        if now < self.pickup_opens_at(showing):  # its tickets could not be printed yet
            raise refuse(ErrorCode.OUTSIDE_WINDOW, "tickets for this showing cannot be printed yet", card.card_number,
                         opens_at=iso(self.pickup_opens_at(showing)))
        per_person = type_formats(card_type).get(showing.format)
        if per_person is None:
            raise refuse(ErrorCode.NOT_COVERED, f"this card does not cover {showing.format} showings",
                         card.card_number, format=showing.format)
        limit = min(card_type.max_people, MAX_PEOPLE_PER_REDEMPTION)
        if len(seats) > limit:
            raise refuse(ErrorCode.TOO_MANY_PEOPLE, f"this card admits up to {limit} people at a time",
                         card.card_number, max_people=limit)
        layout = {(s.row, s.seat) for s in session.scalars(select(HallSeat).where(HallSeat.hall_id == hall.id))}
        strangers = [f"{r}{s}" for r, s in seats if (r, s) not in layout]
        if strangers:
            raise refuse(ErrorCode.BAD_REQUEST, "no such seat in this hall", card.card_number, seats=strangers)
        settle_holds(session, now, showing.id)
        taken = [f"{t.row}{t.seat}" for t in session.scalars(select(Ticket).where(Ticket.showing_id == showing.id))
                 if (t.row, t.seat) in set(seats)]
        if taken:
            raise refuse(ErrorCode.SEATS_TAKEN, "a seat is taken: choose again", card.card_number, seats=sorted(taken))
        order = Order(id=new_id("ord"), cinema_id=hall.cinema_id, showing_id=showing.id, status=HELD_ORDER,
                      created_at=now, source=CARD_ORDER_SOURCE)
        session.add(order)
        session.flush()
        price = per_person * settlement_per_visit(session, card.card_type, hall.cinema_id)
        for row, seat in seats:
            session.add(Ticket(id=new_id("tkt"), order_id=order.id, showing_id=showing.id, row=row, seat=seat,
                               price_fen=price, status=TicketStatus.AVAILABLE.value))
        session.flush()  # the seats' unique key: a concurrent hold of the same seat fails here
        redemption.showing_id = showing.id
        redemption.order_id = order.id
        redemption.hold_expires_at = now + timedelta(seconds=self.settings.card_hold_seconds)
        return per_person * len(seats)

    def _locked_redemption(self, session: Session, kiosk: Kiosk, redemption_id: str) -> Redemption:
        redemption = session.get(Redemption, redemption_id, with_for_update=True)
        if redemption is None or redemption.kiosk_id != kiosk.id:
            raise refuse(ErrorCode.REDEMPTION_NOT_FOUND, "no such redemption for this kiosk")
        return redemption

    def _expire_if_lapsed(self, session: Session, redemption: Redemption, now: datetime) -> None:
        if redemption.state == RedemptionState.HELD.value and redemption.hold_expires_at is not None \
                and redemption.hold_expires_at <= now:
            release_redemption(session, redemption, RedemptionState.EXPIRED, "hold_expired", now, "central")

    def get_redemption(self, kiosk: Kiosk, redemption_id: str) -> RedemptionView:
        with self.sessions.begin() as session:
            redemption = self._locked_redemption(session, kiosk, redemption_id)
            self._expire_if_lapsed(session, redemption, self.clock.now())
            return redemption_view(session, redemption)

    def _settled(self, work: Any) -> Any:
        """Run ``work(session)`` in a transaction; a _Settled answer commits, then its refusal is raised."""
        with self.sessions.begin() as session:
            outcome = work(session)
        if isinstance(outcome, _Settled):
            raise outcome.refusal
        return outcome

    def announce_debit(self, kiosk: Kiosk, redemption_id: str, notice: DebitNotice,
                       staff: StaffActor | None = None) -> RedemptionView:
        """The kiosk is about to debit the card: from now on the hold never runs out (idempotent)."""

        def work(session: Session) -> RedemptionView | _Settled:
            now = self.clock.now()
            redemption = self._locked_redemption(session, kiosk, redemption_id)
            self._expire_if_lapsed(session, redemption, now)
            announced = (notice.card_counter, notice.terminal_id, notice.terminal_seq)
            if redemption.state == RedemptionState.EXPIRED.value:
                return _Settled(refuse(ErrorCode.REDEMPTION_EXPIRED, "the seat hold ran out: start again",
                                       redemption.card_number))
            if redemption.state == RedemptionState.CANCELLED.value:
                raise refuse(ErrorCode.REDEMPTION_EXPIRED, "this redemption was cancelled", redemption.card_number)
            if redemption.state in (RedemptionState.DEBITING.value, RedemptionState.CONFIRMED.value):
                if (redemption.debit_card_counter, redemption.debit_terminal_id,
                        redemption.debit_terminal_seq) != announced:
                    raise refuse(ErrorCode.BAD_REQUEST, "another debit was announced for this redemption",
                                 redemption.card_number)
                return redemption_view(session, redemption)
            terminal = known_terminal(session, notice.terminal_id)
            if terminal is None or terminal.cinema_id != kiosk.cinema_id:
                raise refuse(ErrorCode.TAC_INVALID, "this PSAM is not registered to this cinema",
                             redemption.card_number, reason="unknown_terminal", terminal_id=notice.terminal_id)
            redemption.state = RedemptionState.DEBITING.value
            redemption.debit_card_counter, redemption.debit_terminal_id, redemption.debit_terminal_seq = announced
            redemption.debit_at = notice.at.replace(tzinfo=None, microsecond=0)
            audit(session, now, kiosk.id, "redemption_debiting", redemption.order_id, redemption_id=redemption.id,
                  card=mask(redemption.card_number), card_counter=notice.card_counter,
                  terminal_id=notice.terminal_id, staff_no=staff.staff_no if staff else redemption.staff_no)
            return redemption_view(session, redemption)

        result: RedemptionView = self._settled(work)
        return result

    def confirm(self, kiosk: Kiosk, redemption_id: str, proof: DebitProofBody,
                staff: StaffActor | None = None) -> RedemptionResult:
        """Record a debit proven by its TAC, pay the order and open its claim (idempotent)."""
        if not tac_valid(self.issuer_keys, proof):
            with self.sessions.begin() as session:
                audit(session, self.clock.now(), kiosk.id, "tac_invalid", redemption_id=redemption_id,
                      card=mask(proof.card_number), card_counter=proof.card_counter, terminal_id=proof.terminal_id,
                      staff_no=staff.staff_no if staff else None)
            raise refuse(ErrorCode.TAC_INVALID, "the debit's TAC does not verify: nothing recorded",
                         proof.card_number)

        def work(session: Session) -> RedemptionResult | _Settled:
            now = self.clock.now()
            # The card first, then the redemption: the order a tap locks them in (no deadlock).
            peek = session.get(Redemption, redemption_id)
            if peek is not None:
                session.get(Card, peek.card_number, with_for_update=True)
            redemption = self._locked_redemption(session, kiosk, redemption_id)
            if proof.card_number != redemption.card_number or proof.kind.value != redemption.kind:
                raise refuse(ErrorCode.BAD_REQUEST, "this debit is of another card or kind", proof.card_number)
            if proof.visits != redemption.visits:
                raise refuse(ErrorCode.BAD_REQUEST, f"the redemption is for {redemption.visits} visit(s), not "
                             f"{proof.visits}", proof.card_number, expected_visits=redemption.visits)
            recorded = session.scalars(select(CardTransaction).where(
                CardTransaction.card_number == proof.card_number, CardTransaction.card_counter == proof.card_counter,
                CardTransaction.counter_kind == "purchase")).first()
            if redemption.state == RedemptionState.CONFIRMED.value:
                if recorded is not None and recorded.redemption_id == redemption.id:
                    return self._result(session, redemption)  # a retried confirm
                raise refuse(ErrorCode.BAD_REQUEST, "this redemption was confirmed with another debit",
                             proof.card_number)
            if recorded is not None:
                raise refuse(ErrorCode.BAD_REQUEST, "this debit is recorded for another use", proof.card_number)
            terminal = known_terminal(session, proof.terminal_id)
            if terminal is None or terminal.cinema_id != kiosk.cinema_id:
                raise refuse(ErrorCode.TAC_INVALID, "this PSAM is not registered to this cinema", proof.card_number,
                             reason="unknown_terminal", terminal_id=proof.terminal_id)
            card = session.get_one(Card, proof.card_number)  # locked above
            staff_no = staff.staff_no if staff else redemption.staff_no
            if card.visits_left - proof.visits != proof.balance_after:
                audit(session, now, kiosk.id, "card_balance_differs", redemption.order_id,
                      redemption_id=redemption.id, card=mask(card.card_number), ledger=card.visits_left,
                      card_balance_after=proof.balance_after)
            record_debit(session, now, card, Debit.of_proof(proof), terminal.cinema_id, kiosk_id=kiosk.id,
                         staff_no=staff_no, proof="tac", redemption_id=redemption.id)
            if redemption.state not in LIVE_STATES:
                # Debited after its seats were let go: the visit is recorded, staff settle the tickets.
                audit(session, now, kiosk.id, "debit_after_release", redemption.order_id,
                      redemption_id=redemption.id, card=mask(card.card_number), state=redemption.state,
                      staff_no=staff_no)
                return _Settled(refuse(ErrorCode.REDEMPTION_EXPIRED, "the seats were released before this debit: "
                                       "the visit is recorded, see staff", card.card_number, debit_recorded=True))
            _pay(session, redemption, now)
            claim = None
            if redemption.kind == CardUseKind.TICKETS.value and redemption.order_id is not None:
                try:
                    with session.begin_nested():  # the debit stays recorded whatever happens to the claim
                        claim = self._open_claim(session, kiosk, redemption, f"redemption:{redemption.id}")
                    redemption.claim_id = claim.claim_id
                except Refusal as refused:
                    # e.g. the show ended between the hold and the debit: staff settle the tickets.
                    audit(session, now, kiosk.id, "redemption_claim_refused", redemption.order_id,
                          redemption_id=redemption.id, code=refused.code.value, staff_no=staff_no)
            audit(session, now, kiosk.id, "redemption_confirmed", redemption.order_id, redemption_id=redemption.id,
                  card=mask(card.card_number), visits=proof.visits, card_counter=proof.card_counter,
                  terminal_id=proof.terminal_id, staff_no=staff_no, claim_id=redemption.claim_id)
            return RedemptionResult(redemption=redemption_view(session, redemption), claim=claim)

        result: RedemptionResult = self._settled(work)
        return result

    def _open_claim(self, session: Session, kiosk: Kiosk, redemption: Redemption, key: str | None) -> ClaimResponse:
        """The pickup claim path on this redemption's tickets that nobody holds (entrance tokens signed)."""
        assert redemption.order_id is not None
        now = self.clock.now()
        self.expire_leases(session, now, redemption.order_id)
        tickets = self._order_tickets(session, redemption.order_id)
        free = [t.id for t in tickets if effective_status(t, now) is TicketStatus.AVAILABLE]
        if not free:
            raise refuse(ErrorCode.TICKET_NOT_AVAILABLE, "these tickets are printed or being printed",
                         redemption.card_number)
        # The claim grant is for lookups by code; a redemption's claim is granted by its verified debit.
        request = ClaimRequest(order_id=redemption.order_id, ticket_ids=free, claim_grant="card-redemption")
        return self._take_tickets(session, kiosk, request, key)

    def _result(self, session: Session, redemption: Redemption) -> RedemptionResult:
        claim = session.get(Claim, redemption.claim_id) if redemption.claim_id else None
        return RedemptionResult(redemption=redemption_view(session, redemption),
                                claim=self._claim_response(session, claim) if claim else None)

    def cancel(self, kiosk: Kiosk, redemption_id: str, body: RedemptionCancel,
               staff: StaffActor | None = None) -> RedemptionView:
        """Give up a redemption the card was never debited for: its seats are released (idempotent)."""
        with self.sessions.begin() as session:
            now = self.clock.now()
            redemption = self._locked_redemption(session, kiosk, redemption_id)
            if redemption.state == RedemptionState.CONFIRMED.value:
                raise refuse(ErrorCode.BAD_REQUEST, "this redemption is confirmed: the card was debited",
                             redemption.card_number)
            if redemption.state in LIVE_STATES:
                release_redemption(session, redemption, RedemptionState.CANCELLED, body.reason, now, kiosk.id,
                                   staff.staff_no if staff else redemption.staff_no)
            return redemption_view(session, redemption)

    def owed_claim(self, kiosk: Kiosk, redemption_id: str, card_number: str,
                   idempotency_key: str | None) -> ClaimResponse:
        """Print an owed redemption's tickets: only at the kiosk where its card was just tapped."""
        with self.sessions.begin() as session:
            now = self.clock.now()
            redemption = session.get(Redemption, redemption_id, with_for_update=True)
            if redemption is None or redemption.card_number != card_number:
                raise refuse(ErrorCode.REDEMPTION_NOT_FOUND, "no such redemption for this card")
            if redemption.state != RedemptionState.CONFIRMED.value or redemption.order_id is None:
                raise refuse(ErrorCode.TICKET_NOT_AVAILABLE, "this redemption owes no tickets", card_number)
            tap = session.get(CardTapRow, kiosk.id)
            window = timedelta(seconds=self.settings.card_tap_window_seconds)
            if tap is None or tap.card_number != card_number or tap.tapped_at < now - window:
                raise refuse(ErrorCode.CLAIM_NOT_ALLOWED, "tap the card at this kiosk first", card_number)
            order = session.get_one(Order, redemption.order_id)
            self._check_order_open(session, order, kiosk, now)
            key = f"owed:{idempotency_key}"[:MAX_IDEMPOTENCY_KEY] if idempotency_key else None
            if key is not None:
                claim = session.scalars(select(Claim).where(Claim.kiosk_id == kiosk.id,
                                                            Claim.idempotency_key == key)).first()
                if claim is not None and claim.order_id == order.id:
                    return self._claim_response(session, claim)  # a retried request
            claim_response = self._open_claim(session, kiosk, redemption, key)
            redemption.claim_id = claim_response.claim_id
            audit(session, now, kiosk.id, "owed_claim", order.id, redemption_id=redemption.id,
                  card=mask(card_number), claim_id=claim_response.claim_id)
            return claim_response
