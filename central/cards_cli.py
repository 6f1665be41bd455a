"""`central cards ...` and `central staff ...`: the card department's and the cinemas' commands.

Argument parsing and output only; the work is in :mod:`central.card_desk` (lifecycle at head
office), :mod:`central.card_making`, :mod:`central.card_reports`, :mod:`central.card_rebuild` and
:mod:`central.staff_cli`. Every command runs as a named staff member (``--as STAFF_NO``; the
password comes from the terminal or one line on stdin, never from an argument) and is checked
against that member's role before anything is read or written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from typing import Any

REPORT_DIMENSIONS = ("day", "period", "card", "range", "staff", "kind", "cinema")
CARD_RANGE = re.compile(r"^(\d{16})-(\d{16})$")
MAKE_RANGE = re.compile(r"^(\d{16})-(\d{1,5})$")


def card_number(text: str) -> str:
    if not re.fullmatch(r"\d{16}", text):
        raise argparse.ArgumentTypeError(f"a card number is 16 digits, not {text!r}")
    return text


def card_range(text: str) -> tuple[str, str]:
    """A number range (号段): FIRST-LAST, both 16 digits, e.g. 1000000000000000-1000000000000999."""
    found = CARD_RANGE.fullmatch(text)
    if found is None or found.group(1) > found.group(2):
        raise argparse.ArgumentTypeError(f"a number range is FIRST-LAST (16 digits each, FIRST <= LAST), not {text!r}")
    return found.group(1), found.group(2)


def make_range(text: str) -> tuple[str, int]:
    """FROM-COUNT: the first card number and how many cards, e.g. 8800000000001000-50."""
    found = MAKE_RANGE.fullmatch(text)
    count = int(found.group(2)) if found else 0
    if found is None or not 1 <= count <= 10000:
        raise argparse.ArgumentTypeError(f"--range is FROM-COUNT (16 digits, then 1 to 10000), not {text!r}")
    if int(found.group(1)) + count - 1 > 9999999999999999:
        raise argparse.ArgumentTypeError(f"{text}: the range runs past the last 16-digit number")
    return found.group(1), count


def day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a date is YYYY-MM-DD, not {text!r}") from None


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def type_code(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a card type code is a number 1 to 255, not {text!r}") from None
    if not 1 <= value <= 255:
        raise argparse.ArgumentTypeError(f"a card type code is 1 to 255 (it is written on the card), not {value}")
    return value


def format_visits(text: str) -> tuple[str, int]:
    """FORMAT=VISITS: visits per person for a showing format, e.g. 2D=1, IMAX=2."""
    name, sep, visits = text.partition("=")
    if not sep or not name.strip() or not visits.isdigit() or not 1 <= int(visits) <= 99:
        raise argparse.ArgumentTypeError(f"--format is FORMAT=VISITS (e.g. IMAX=2), not {text!r}")
    return name.strip().upper(), int(visits)


def money_fen(text: str) -> int:
    """Yuan with at most two decimals (35 or 35.50) -> fen."""
    if not re.fullmatch(r"\d{1,7}(\.\d{1,2})?", text):
        raise argparse.ArgumentTypeError(f"an amount is yuan with up to 2 decimals (e.g. 35.50), not {text!r}")
    whole, _, cents = text.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def cinema_price(text: str) -> tuple[str, int]:
    """CINEMA=YUAN: a cinema's own settlement price per visit."""
    cinema, sep, amount = text.partition("=")
    if not sep or not cinema.strip():
        raise argparse.ArgumentTypeError(f"--cinema-price is CINEMA_ID=YUAN (e.g. cinema-demo=32.50), not {text!r}")
    return cinema.strip(), money_fen(amount)


def terminal_id(text: str) -> bytes:
    if not re.fullmatch(r"[0-9A-Fa-f]{12}", text):
        raise argparse.ArgumentTypeError(f"a terminal id is 12 hex digits (cinema code 8 + number 4), not {text!r}")
    return bytes.fromhex(text)


def _as(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as", dest="staff_no", required=True, metavar="STAFF_NO",
        help="the staff member running the command; the password is asked on the terminal or read "
        "as one line from stdin",
    )


def _file_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--xlsx", type=_path, default=None, metavar="FILE", help="also write it as an Excel workbook")
    parser.add_argument("--csv", dest="csv_file", type=_path, default=None, metavar="FILE",
                        help="also write it as CSV (UTF-8 with a BOM, for Excel and WPS)")


def add_cards_parser(commands: Any, db: argparse.ArgumentParser, parser_class: type[argparse.ArgumentParser]) -> None:
    cards = commands.add_parser(
        "cards",
        help="year-cards: types, make, sell, renew, recycle, blacklist, report, export, rebuild (docs/cards.md)",
        description="The chain's year-cards (年票卡), from head office and the cinemas. Every command runs "
        "--as a staff member and is checked against that member's role; docs/cards.md walks a chain "
        "through setting cards up.",
    )
    sub = cards.add_subparsers(dest="cards_command", required=True, parser_class=parser_class,
                               metavar="CARDS_COMMAND", help="one of (each takes --help):")
    staff_parent = parser_class(add_help=False)
    _as(staff_parent)
    parents = [db, staff_parent]

    # -- types --
    types = sub.add_parser("types", help="card types: list, add, set (admin)")
    types_sub = types.add_subparsers(dest="types_command", required=True, parser_class=parser_class,
                                     metavar="TYPES_COMMAND", help="one of:")
    types_sub.add_parser("list", parents=parents, help="the card types with their formats and prices")
    for name, text in (("add", "a new card type"), ("set", "change a card type (cards already made keep theirs)")):
        one = types_sub.add_parser(name, parents=parents, help=text)
        one.add_argument("code", type=type_code, metavar="CODE", help="the type's code, 1 to 255 (written on cards)")
        required = name == "add"
        one.add_argument("--name", required=required, help="the type's name, e.g. 年卡 or 团票卡")
        one.add_argument("--visits", type=positive, default=None,
                         help="visits a new card of this type holds (default 10: at least 10, configurable)")
        one.add_argument("--valid-days", type=positive, default=None,
                         help="validity from the sale, in days (default 365)")
        one.add_argument("--max-people", type=positive, default=None,
                         help="people per redemption at most (default 1)")
        one.add_argument("--format", dest="formats", action="append", type=format_visits, default=None,
                         metavar="FORMAT=VISITS",
                         help="a showing format the type covers and its visits per person, e.g. 2D=1 "
                         "--format IMAX=2 (repeat; a format not listed is not covered)")
        one.add_argument("--price", type=money_fen, default=None, metavar="YUAN",
                         help="settlement price per visit paid to the cinema, in yuan (e.g. 35.00)")
        one.add_argument("--cinema-price", dest="cinema_prices", action="append", type=cinema_price,
                         default=None, metavar="CINEMA=YUAN", help="a cinema's own settlement price per visit")

    # -- making --
    make = sub.add_parser("make", parents=parents,
                          help="personalise blank cards on a PC/SC reader (制卡), one at a time (operator)")
    make.add_argument("--reader", required=True, metavar="NAME", help="the reader's name (or part of it)")
    make.add_argument("--type", dest="type_code", required=True, type=type_code, metavar="CODE",
                      help="the card type's code (see `cards types list`)")
    make.add_argument("--visits", type=positive, default=None, help="visits on each card (default: the type's)")
    which = make.add_mutually_exclusive_group(required=True)
    which.add_argument("--number", type=card_number, metavar="CARD", help="one card with this 16-digit number")
    which.add_argument("--range", dest="make_range", type=make_range, metavar="FROM-COUNT",
                       help="COUNT cards numbered from FROM, e.g. 8800000000001000-50")
    make.add_argument("--wait", type=positive, default=120, metavar="SECONDS",
                      help="how long to wait for each card to be put on or taken off (default 120)")
    psam = sub.add_parser("psam", parents=parents, help="make a kiosk's PSAM and register it (operator)")
    psam.add_argument("--terminal-id", required=True, type=terminal_id, metavar="HEX",
                      help="12 hex digits: the cinema code (8) and the terminal number (4)")
    psam.add_argument("--cinema", required=True, metavar="ID", help="the cinema whose kiosk it goes into")
    psam.add_argument("--kiosk", default=None, metavar="ID", help="the kiosk it goes into")
    target = psam.add_mutually_exclusive_group(required=True)
    target.add_argument("--image", type=_path, metavar="FILE",
                        help="write an emulated PSAM image (test and demo kiosks)")
    target.add_argument("--reader", metavar="NAME",
                        help="check a PSAM on this reader holds the chain's keys and this terminal id, and register it")

    # -- lifecycle --
    sell = sub.add_parser("sell", parents=parents, help="sell (activate) a made card on the reader (sales)")
    sell.add_argument("card", type=card_number, metavar="CARD", help="the 16-digit card number")
    sell.add_argument("--reader", required=True, metavar="NAME",
                      help="the reader the card is on (its name or part of it)")
    sell.add_argument("--cinema", required=True, metavar="ID", help="the cinema selling it")
    sell.add_argument("--valid-days", type=positive, default=None, help="default: the type's validity")
    renew = sub.add_parser("renew", parents=parents, help="renew (续期) a card on the reader (sales)")
    renew.add_argument("card", type=card_number, metavar="CARD", help="the 16-digit card number")
    renew.add_argument("--reader", required=True, metavar="NAME",
                       help="the reader the card is on (its name or part of it)")
    renew.add_argument("--cinema", required=True, metavar="ID", help="the cinema renewing it")
    renew.add_argument("--days", type=positive, default=None,
                       help="days added, from today when expired, else from the current expiry "
                       "(default: the type's validity)")
    recycle = sub.add_parser("recycle", parents=parents, help="record a used-up card as recycled (回收) (sales)")
    recycle.add_argument("card", type=card_number, metavar="CARD", help="the 16-digit card number")
    recycle.add_argument("--cinema", required=True, metavar="ID", help="the cinema collecting it")
    reissue = sub.add_parser(
        "reissue", parents=parents,
        help="re-issue a recycled card on the reader: new type and visits, old history kept (operator)")
    reissue.add_argument("card", type=card_number, metavar="CARD", help="the 16-digit card number")
    reissue.add_argument("--reader", required=True, metavar="NAME",
                         help="the reader the card is on (its name or part of it)")
    reissue.add_argument("--type", dest="type_code", required=True, type=type_code, metavar="CODE",
                         help="the new holder's card type (may differ from the old one)")
    reissue.add_argument("--visits", type=positive, default=None, help="default: the type's visits")
    blacklist = sub.add_parser("blacklist", help="the blacklist (黑名单): add, remove, list (manager)")
    bl_sub = blacklist.add_subparsers(dest="blacklist_command", required=True, parser_class=parser_class,
                                      metavar="BLACKLIST_COMMAND", help="one of:")
    bl_add = bl_sub.add_parser("add", parents=parents, help="refuse a card everywhere until removed")
    bl_add.add_argument("card", type=card_number, metavar="CARD", help="the 16-digit card number")
    bl_add.add_argument("--reason", required=True, help="why (lost, stolen, abuse...): staff see it")
    bl_sub.add_parser("remove", parents=parents, help="accept the card again").add_argument(
        "card", type=card_number, metavar="CARD", help="the 16-digit card number")
    bl_sub.add_parser("list", parents=parents, help="blacklisted cards with reasons, and the list's version")
    collect = sub.add_parser("collect", parents=parents,
                             help="used-up cards each cinema should collect, with numbers")
    collect.add_argument("--cinema", default=None, metavar="ID", help="only this cinema (a cinema's staff: their own)")
    collect.add_argument("--day", type=day, default=None,
                         help="only cards used up on this day, the cinema's date (default: all still to collect)")
    _file_args(collect)
    history = sub.add_parser("history", parents=parents, help="a card's uses since its current issue")
    history.add_argument("card", type=card_number, metavar="CARD", help="the 16-digit card number")
    history.add_argument("--all", action="store_true", help="every issue since the first (head office)")
    _file_args(history)

    # -- statistics --
    for name, text in (("report", "statistics with totals and settlement amounts (statistician; "
                                  "a cinema's staff see their cinema)"),
                       ("export", "the same report as .xlsx and/or CSV")):
        one = sub.add_parser(name, parents=parents, help=text)
        one.add_argument("--by", required=True, choices=REPORT_DIMENSIONS,
                         help="group by day, period (the whole period), card, range (号段), staff, "
                         "kind (tickets/concessions), cinema")
        one.add_argument("--from", dest="date_from", type=day, default=None, help="first day (YYYY-MM-DD)")
        one.add_argument("--to", dest="date_to", type=day, default=None, help="last day, included")
        one.add_argument("--cinema", default=None, metavar="ID",
                         help="only this cinema (a cinema's staff always see only their own)")
        one.add_argument("--range", dest="card_range", type=card_range, default=None, metavar="FIRST-LAST",
                         help="a card number range, e.g. 1000000000000000-1000000000000999")
        one.add_argument("--card", type=card_number, default=None, metavar="CARD", help="only this card")
        one.add_argument("--staff", default=None, metavar="STAFF_NO", help="only this staff member's")
        one.add_argument("--kind", choices=("tickets", "concessions"), default=None,
                         help="only tickets (影票) or only concessions (卖品)")
        one.add_argument("--range-digits", type=positive, default=13,
                         help="with --by range: cards sharing this many leading digits form a range (default 13)")
        if name == "export":
            one.add_argument("--xlsx", type=_path, default=None, metavar="FILE",
                             help="an Excel workbook (openpyxl): Chinese headers, yuan as 0.00, dates")
            one.add_argument("--csv", dest="csv_file", type=_path, default=None, metavar="FILE",
                             help="UTF-8 with a BOM, so Excel and WPS show Chinese")
            one.add_argument("--sheet-per-cinema", action="store_true",
                             help="in the workbook, one sheet per cinema after the summary sheet")

    # -- rebuild --
    rebuild = sub.add_parser("rebuild", parents=parents,
                             help="rebuild the card ledger from the cards themselves after a loss (admin)")
    source = rebuild.add_mutually_exclusive_group(required=True)
    source.add_argument("--reader", metavar="NAME", help="tap the cards one after another on this reader")
    source.add_argument("--from-images", type=_path, metavar="DIR", help="emulated card image files (*.json)")
    rebuild.add_argument("--apply", action="store_true",
                         help="upload what the ledger lacks (cards, their logged transactions); "
                         "without it only the comparison is printed")
    rebuild.add_argument("--cards", type=positive, default=None,
                         help="with --reader: stop after this many cards (default: until none is put on "
                         "within --wait)")
    rebuild.add_argument("--wait", type=positive, default=60, metavar="SECONDS",
                         help="with --reader: how long to wait for each card (default 60)")


def _path(text: str) -> Any:
    from pathlib import Path

    return Path(text)


def add_staff_parser(commands: Any, db: argparse.ArgumentParser, parser_class: type[argparse.ArgumentParser]) -> None:
    staff = commands.add_parser("staff", help="staff users: create-admin, add, list, disable, reset-password")
    sub = staff.add_subparsers(dest="staff_command", required=True, parser_class=parser_class,
                               metavar="STAFF_COMMAND", help="one of (each takes --help):")
    from backend_client.wire import StaffRole

    roles = [role.value for role in StaffRole]
    first = sub.add_parser("create-admin", parents=[db],
                           help="the first head-office admin (only while no admin exists); password from "
                           "the terminal or stdin (two lines)")
    first.add_argument("staff_no", metavar="STAFF_NO", help="the admin's staff number, e.g. A001")
    first.add_argument("--name", required=True, help="the admin's name")
    as_parent = parser_class(add_help=False)
    as_parent.add_argument("--as", dest="staff_no_as", required=True, metavar="STAFF_NO",
                           help="the admin or manager running the command (password asked, or one line on stdin)")
    parents = [db, as_parent]
    add = sub.add_parser("add", parents=parents,
                         help="a new staff user with a one-time password (changed at first login)")
    add.add_argument("staff_no", metavar="STAFF_NO", help="the new staff number")
    add.add_argument("--name", required=True, help="the staff member's name")
    add.add_argument("--role", required=True, choices=roles,
                     help="head office: admin, statistician, operator; a cinema: manager, local_statistician, "
                     "customer_query, sales")
    add.add_argument("--cinema", default=None, metavar="ID", help="the cinema, for a cinema's role")
    listing = sub.add_parser("list", parents=parents, help="staff users (a manager sees its cinema's)")
    listing.add_argument("--cinema", default=None, metavar="ID", help="only this cinema's staff")
    for name, text in (("disable", "refuse this staff number from now on"),
                       ("enable", "accept a disabled staff number again"),
                       ("reset-password", "a new one-time password (changed at the next login)")):
        sub.add_parser(name, parents=parents, help=text).add_argument(
            "staff_no", metavar="STAFF_NO", help="the staff number")


# ---- running ----


def _say(line: str) -> None:
    print(f"central: {line}", file=sys.stderr, flush=True)


def run_cards(central: Any, args: argparse.Namespace, passwords: Any) -> dict[str, Any]:
    """Log the staff member in, then do the command in one transaction (card making: one per card)."""
    from central import card_desk as desk
    from central.staff_cli import CommandContext, run_as

    command = args.cards_command

    def work(ctx: CommandContext) -> dict[str, Any]:
        if command == "types":
            if args.types_command == "list":
                return desk.list_types(ctx)
            return desk.save_type(ctx, args.code, args.types_command == "add", args.name, args.visits,
                                  args.valid_days, args.max_people, args.formats, args.price, args.cinema_prices)
        if command == "make":
            numbers = desk.card_numbers(args.number, args.make_range)
            return desk.make_cards(ctx, args.reader, args.type_code, args.visits, numbers, args.wait, _say)
        if command == "psam":
            return desk.make_psam(ctx, args.terminal_id, args.cinema, args.kiosk, args.image, args.reader)
        if command == "sell":
            return desk.sell_card(ctx, args.card, args.reader, args.cinema, args.valid_days)
        if command == "renew":
            return desk.renew_card(ctx, args.card, args.reader, args.cinema, args.days)
        if command == "recycle":
            return desk.recycle_card(ctx, args.card, args.cinema)
        if command == "reissue":
            return desk.reissue_card(ctx, args.card, args.reader, args.type_code, args.visits)
        if command == "blacklist":
            if args.blacklist_command == "add":
                return desk.blacklist_add(ctx, args.card, args.reason)
            if args.blacklist_command == "remove":
                return desk.blacklist_remove(ctx, args.card)
            return desk.blacklist_list(ctx)
        from central import card_reports

        if command == "collect":
            listed = desk.cards_to_collect(ctx, args.cinema, args.day)
            return card_reports.with_files(ctx, listed, card_reports.collect_table(ctx.session, listed), args)
        if command == "history":
            found = desk.card_history(ctx, args.card, args.all)
            return card_reports.with_files(ctx, found, card_reports.history_table(found), args)
        if command in ("report", "export"):
            return card_reports.run(ctx, args)
        from central import card_rebuild

        return card_rebuild.run(ctx, args, _say)

    result: dict[str, Any] = run_as(central, args.staff_no, passwords, work)
    return result
