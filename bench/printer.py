"""Ticket job benchmark: time to build one ticket's ESC/POS bytes, and its size.

    python -m bench.printer [--tickets N]

Builds N tickets with real signed entrance tokens (Chinese text, native QR, cut) through
``devices.ticket_layout.build_ticket_job`` and reports p50/p95 build time and bytes per ticket;
for comparison, the bytes of the same QR sent as a raster image. Then prints the same tickets
through the real driver over TCP to the virtual printer (send, cut, GS r and status answers),
which measures the round trip, not paper speed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from escpos.printer import Dummy

from backend_client.tokens import KIND_TICKET, TokenClaims, sign_token
from bench.stats import percentile
from devices.printer import EscposTicketPrinter, PrinterConfig
from devices.printer_api import PrintOutcome, TicketContent
from devices.sim.printer import VirtualPrinter
from devices.ticket_layout import QR_MODULE_DOTS, build_ticket_job


def sample_tickets(count: int) -> list[TicketContent]:
    key = Ed25519PrivateKey.generate()
    expires = datetime.now(UTC) + timedelta(days=1)
    tickets = []
    for n in range(count):
        claims = TokenClaims(
            KIND_TICKET, "k2026", f"tok-{n:06d}", "ord-20261122-000123", "cin-0042", expires, f"tkt-{n:06d}"
        )
        token = sign_token(key, claims)
        tickets.append(
            TicketContent(
                ticket_id=f"tkt-{n:06d}",
                cinema_name="星光影城 万达广场店",
                film_title="流浪地球2",
                film_original_title="The Wandering Earth II",
                hall_name="3号厅 IMAX",
                show_start=datetime(2026, 11, 22, 19, 30),
                row=str(1 + n % 12),
                seat=str(1 + n % 20),
                price_fen=4550,
                entrance_token=token,
                order_ref="00123",
                sequence=f"{1 + n % 4}/4",
            )
        )
    return tickets


def raster_qr_bytes(token: str) -> int:
    printer = Dummy()
    with contextlib.redirect_stdout(io.StringIO()):  # python-escpos prints a profile notice
        printer.qr(token, size=QR_MODULE_DOTS, native=False)
    return len(printer.output)


def native_qr_bytes(token: str) -> int:
    printer = Dummy()
    printer.qr(token, size=QR_MODULE_DOTS, native=True)
    return len(printer.output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.printer", description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=500, help="tickets to build (default 500)")
    parser.add_argument("--printed", type=int, default=50, help="tickets to print over TCP (default 50)")
    args = parser.parse_args(argv)
    if args.tickets < 1 or args.printed < 1:
        parser.error("counts must be at least 1")
    tickets = sample_tickets(max(args.tickets, args.printed))

    build_job = build_ticket_job
    build_job(tickets[0])  # warm-up: profile and code page tables load on first use
    build_ms, sizes = [], []
    for ticket in tickets[: args.tickets]:
        start = time.perf_counter()
        job = build_job(ticket)
        build_ms.append((time.perf_counter() - start) * 1000)
        sizes.append(len(job))

    print_ms = []
    with tempfile.TemporaryDirectory() as out, VirtualPrinter(out_dir=out) as virtual:
        printer = EscposTicketPrinter(PrinterConfig(host="127.0.0.1", port=virtual.port))
        try:
            for ticket in tickets[: args.printed]:
                start = time.perf_counter()
                result = printer.print_ticket(ticket)
                print_ms.append((time.perf_counter() - start) * 1000)
                if result.outcome is not PrintOutcome.PRINTED:
                    print(f"error: ticket {ticket.ticket_id} {result.outcome.value}: {result.detail}", file=sys.stderr)
                    return 1
        finally:
            printer.close()

    token = tickets[0].entrance_token
    print(f"python {platform.python_version()}, {platform.machine()}, token {len(token)} chars")
    print(f"{'measure':<52}{'n':>6}{'p50':>10}{'p95':>10}{'max':>10}")
    rows = [
        ("job build time, ms (build_ticket_job)", build_ms),
        ("print over TCP to the virtual printer, ms", print_ms),
        ("bytes per ticket (text + native QR + cut)", [float(s) for s in sizes]),
    ]
    for label, values in rows:
        print(
            f"{label:<52}{len(values):>6}{statistics.median(values):>10.2f}"
            f"{percentile(values, 95):>10.2f}{max(values):>10.2f}"
        )
    print(f"QR alone: native {native_qr_bytes(token)} bytes, as a raster image {raster_qr_bytes(token)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
