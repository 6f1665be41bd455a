"""An order's checks and views, shared by lookups and claims: open for pickup here and now, what is collectable."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend_client.masking import mask_kiosk_name
from backend_client.wire import ErrorCode, OrderView, TicketStatus, TicketView
from central.common import Refusal, effective_status, iso
from central.context import CentralBase
from central.models import Cinema, Film, Hall, Kiosk, Order, Showing, Ticket


class OrdersArea(CentralBase):
    """Checks and views of an order that lookups and claims share."""

    def _check_order_open(self, session: Session, order: Order, kiosk: Kiosk, now: datetime) -> Showing:
        if order.cinema_id != kiosk.cinema_id:
            cinema = session.get(Cinema, order.cinema_id)
            raise Refusal(
                ErrorCode.OTHER_CINEMA,
                "this order is for another cinema",
                {"cinema_id": order.cinema_id, "cinema_name": cinema.name if cinema else None},
            )
        if order.status == "refunded":
            raise Refusal(ErrorCode.REFUNDED, "this order has been refunded")
        showing = session.get_one(Showing, order.showing_id)
        if now >= showing.ends_at:
            raise Refusal(ErrorCode.SHOW_OVER, "this show is over", {"show_end": iso(showing.ends_at)})
        opens_at = self.pickup_opens_at(showing)
        if now < opens_at:
            raise Refusal(ErrorCode.OUTSIDE_WINDOW, "pickup has not opened yet", {"opens_at": iso(opens_at)})
        return showing

    def pickup_opens_at(self, showing: Showing) -> datetime:
        return showing.starts_at - timedelta(hours=self.settings.pickup_opens_hours)

    def _order_tickets(self, session: Session, order_id: str) -> list[Ticket]:
        return list(
            session.scalars(select(Ticket).where(Ticket.order_id == order_id).order_by(Ticket.row, Ticket.seat))
        )

    def _unavailable_refusal(self, session: Session, tickets: Iterable[Ticket], now: datetime) -> Refusal:
        tickets = list(tickets)
        statuses = [effective_status(t, now) for t in tickets]
        if TicketStatus.CLAIMED in statuses:
            return Refusal(ErrorCode.BEING_COLLECTED, "these tickets are being collected at another kiosk")
        printed = [t for t in tickets if t.status == TicketStatus.PRINTED.value and t.printed_at is not None]
        if printed:
            latest = max(printed, key=lambda t: t.printed_at or now)
            kiosk = session.get(Kiosk, latest.printed_by) if latest.printed_by else None
            return Refusal(
                ErrorCode.ALREADY_COLLECTED,
                "these tickets have already been collected",
                {
                    "collected_at": iso(latest.printed_at or now),
                    "kiosk": mask_kiosk_name(kiosk.name) if kiosk else None,
                },
            )
        return Refusal(ErrorCode.TICKET_NOT_AVAILABLE, "these tickets cannot be collected here: ask staff")

    def _order_view(
        self, session: Session, order: Order, showing: Showing, tickets: list[Ticket], kiosk: Kiosk, now: datetime
    ) -> OrderView:
        cinema = session.get_one(Cinema, order.cinema_id)
        film = session.get_one(Film, showing.film_id)
        hall = session.get_one(Hall, showing.hall_id)
        names = {
            k.id: k.name for k in session.scalars(select(Kiosk).where(Kiosk.id.in_({t.printed_by for t in tickets})))
        }
        return OrderView(
            order_id=order.id,
            cinema_id=cinema.id,
            cinema_name=cinema.name,
            film_title=film.title,
            film_original_title=film.original_title,
            hall_name=hall.name,
            show_start=showing.starts_at,
            show_end=showing.ends_at,
            pickup_opens_at=self.pickup_opens_at(showing),
            tickets=[
                TicketView(
                    ticket_id=t.id,
                    row=t.row,
                    seat=t.seat,
                    price_fen=t.price_fen,
                    status=effective_status(t, now),
                    printed_at=t.printed_at,
                    printed_by=mask_kiosk_name(names[t.printed_by]) if t.printed_by in names else None,
                )
                for t in tickets
            ],
            claim_grant=self.grants.issue(kiosk.id, order.id, now),
        )
