"""Card statistics (the seed's list): by day, period, card, number range, staff, kind, cinema.

Every report counts the card uses (tickets and concessions; visits loaded at a re-issue are not
uses) in a period, with totals: transactions, visits and the settlement amount owed to the
cinemas (fen, written as yuan). A head-office statistician sees every cinema; a cinema's manager
and local statistician see only their cinema, whatever they ask for. Days are the card's own
local dates (what the card and the cinema's receipts show).
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from backend_client.wire import CardUseKind, ErrorCode
from central.common import Refusal
from central.models import Card, CardIssue, CardTransaction, CardType, Cinema
from central.report_export import Column, ColumnKind, Table, sum_totals, write, yuan
from central.staff import Permission
from central.staff_cli import CommandContext

KIND_NAMES = {CardUseKind.TICKETS.value: "影票", CardUseKind.CONCESSIONS.value: "卖品"}
SUMS = ("transactions", "visits", "amount_fen")
TOTAL_COLUMNS = [
    Column("transactions", "笔数", ColumnKind.INTEGER, 8),
    Column("visits", "次数", ColumnKind.INTEGER, 8),
    Column("amount_fen", "结算金额(元)", ColumnKind.MONEY_FEN, 14),
]
CINEMA_COLUMN = Column("cinema", "影院", ColumnKind.TEXT, 18)


@dataclass(frozen=True)
class Filters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    cinema_id: str | None = None
    card_range: tuple[str, str] | None = None
    card: str | None = None
    staff_no: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class Use:
    """One card use, as the reports group it."""

    card_number: str
    card_type: int
    type_name: str
    cinema_id: str
    cinema_name: str
    staff_no: str | None
    kind: str
    visits: int
    amount_fen: int
    day: dt.date


def scoped(ctx: CommandContext, filters: Filters) -> Filters:
    """The filters a staff member may see: a cinema's staff only their cinema (asking another is refused)."""
    if Permission.GLOBAL_REPORTS in ctx.actor.permissions and ctx.actor.cinema_id is None:
        return filters
    ctx.require(Permission.LOCAL_REPORTS, filters.cinema_id)
    own = ctx.actor.cinema_id
    if own is None:
        raise Refusal(ErrorCode.FORBIDDEN, "local reports need a cinema")
    return Filters(filters.date_from, filters.date_to, own, filters.card_range, filters.card, filters.staff_no,
                   filters.kind)


def uses(session: Any, filters: Filters) -> list[Use]:
    # the card's type at each use is its issue's (a re-issue may change it); the card's own when the
    # issue's row is not there (an issue before a rebuild)
    type_code = func.coalesce(CardIssue.card_type, Card.card_type)
    query = (select(CardTransaction, type_code, CardType.name, Cinema.name)
             .join(Card, Card.card_number == CardTransaction.card_number)
             .outerjoin(CardIssue, (CardIssue.card_number == CardTransaction.card_number)
                        & (CardIssue.issue_no == CardTransaction.issue_no))
             .join(CardType, CardType.code == type_code)
             .join(Cinema, Cinema.id == CardTransaction.cinema_id)
             .where(CardTransaction.kind != CardUseKind.LOAD.value)
             .order_by(CardTransaction.card_local_time, CardTransaction.id))
    if filters.date_from is not None:
        query = query.where(CardTransaction.card_local_time >= dt.datetime.combine(filters.date_from, dt.time()))
    if filters.date_to is not None:
        after = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time())
        query = query.where(CardTransaction.card_local_time < after)
    if filters.cinema_id is not None:
        query = query.where(CardTransaction.cinema_id == filters.cinema_id)
    if filters.card_range is not None:
        query = query.where(CardTransaction.card_number.between(*filters.card_range))
    if filters.card is not None:
        query = query.where(CardTransaction.card_number == filters.card)
    if filters.staff_no is not None:
        query = query.where(CardTransaction.staff_no == filters.staff_no)
    if filters.kind is not None:
        query = query.where(CardTransaction.kind == filters.kind)
    return [
        Use(t.card_number, card_type, type_name, t.cinema_id, cinema_name, t.staff_no, t.kind, t.visits,
            t.settlement_fen, t.card_local_time.date())
        for t, card_type, type_name, cinema_name in session.execute(query)
    ]


def number_range(card_number: str, digits: int) -> str:
    """The range (号段) of cards sharing the first ``digits`` digits, as FIRST-LAST."""
    prefix = card_number[:digits]
    return f"{prefix}{'0' * (16 - digits)}-{prefix}{'9' * (16 - digits)}"


@dataclass(frozen=True)
class Dimension:
    title: str
    columns: list[Column]
    key: Callable[[Use, int], tuple[Any, ...]]  # the grouping key, also the sort order
    cells: Callable[[Use, int], dict[str, Any]]  # the row's leading cells from any use of the group


DIMENSIONS: dict[str, Dimension] = {
    "day": Dimension("按日统计", [Column("day", "日期", ColumnKind.DATE, 12)],
                     lambda u, _: (u.day,), lambda u, _: {"day": u.day}),
    "period": Dimension("期间汇总", [Column("period", "期间", ColumnKind.TEXT, 26)],
                        lambda u, _: (), lambda u, _: {}),
    "card": Dimension("按卡号统计", [Column("card", "卡号", ColumnKind.TEXT, 20),
                                     Column("type_name", "卡类型", ColumnKind.TEXT, 12)],
                      lambda u, _: (u.card_number,), lambda u, _: {"card": u.card_number, "type_name": u.type_name}),
    "range": Dimension("按号段统计", [Column("range", "号段", ColumnKind.TEXT, 40)],
                       lambda u, d: (u.card_number[:d],),
                       lambda u, d: {"range": number_range(u.card_number, d)}),
    "staff": Dimension("按工号统计", [Column("staff", "工号", ColumnKind.TEXT, 12)],
                       lambda u, _: (u.staff_no or "",), lambda u, _: {"staff": u.staff_no or "自助机"}),
    "kind": Dimension("按消费类型统计", [Column("kind", "消费类型", ColumnKind.TEXT, 10)],
                      lambda u, _: (u.kind,), lambda u, _: {"kind": KIND_NAMES.get(u.kind, u.kind)}),
    "cinema": Dimension("按影院统计", [], lambda u, _: (), lambda u, _: {}),
}


def build(session: Any, by: str, filters: Filters, per_cinema: bool = False, range_digits: int = 13) -> Table:
    """The report as a :class:`Table`: one row per group (and per cinema with ``per_cinema`` or --by cinema)."""
    dimension = DIMENSIONS[by]
    with_cinema = per_cinema or by == "cinema"
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for use in uses(session, filters):
        key = (*((use.cinema_name, use.cinema_id) if with_cinema else ()), *dimension.key(use, range_digits))
        row = groups.get(key)
        if row is None:
            row = groups[key] = {**dimension.cells(use, range_digits), "cinema": use.cinema_name,
                                 "transactions": 0, "visits": 0, "amount_fen": 0}
        row["transactions"] += 1
        row["visits"] += use.visits
        row["amount_fen"] += use.amount_fen
    rows = [groups[key] for key in sorted(groups, key=lambda k: tuple(str(part) for part in k))]
    period = _period_text(filters)
    if by == "period":
        for row in rows:
            row["period"] = period
    columns = [*([CINEMA_COLUMN] if with_cinema else []), *dimension.columns, *TOTAL_COLUMNS]
    notes = [f"期间: {period}"]
    if filters.cinema_id is not None:
        notes.append(f"影院: {filters.cinema_id}")
    if filters.card_range is not None:
        notes.append(f"号段: {filters.card_range[0]}-{filters.card_range[1]}")
    for label, value in (("卡号", filters.card), ("工号", filters.staff_no),
                         ("消费类型", KIND_NAMES.get(filters.kind or "", filters.kind))):
        if value:
            notes.append(f"{label}: {value}")
    return Table(f"年票{dimension.title}", columns, rows, sum_totals(rows, SUMS),
                 cinema_key="cinema" if with_cinema else None, sum_keys=SUMS, notes=notes)


def _period_text(filters: Filters) -> str:
    start, end = filters.date_from, filters.date_to
    if start and end:
        return f"{start.isoformat()} 至 {end.isoformat()}"
    if start:
        return f"{start.isoformat()} 起"
    return f"至 {end.isoformat()}" if end else "全部"


def as_json(table: Table) -> dict[str, Any]:
    def cell(column: Column, value: Any) -> Any:
        if column.kind is ColumnKind.MONEY_FEN:
            return f"{yuan(value or 0):.2f}"
        if isinstance(value, dt.date):
            return value.isoformat()
        return value

    return {
        "report": table.title,
        "notes": table.notes,
        "columns": [column.header for column in table.columns],
        "rows": [{c.header: cell(c, row.get(c.key)) for c in table.columns} for row in table.rows],
        "totals": {c.header: cell(c, (table.totals or {}).get(c.key)) for c in TOTAL_COLUMNS},
    }


def run(ctx: CommandContext, args: argparse.Namespace) -> dict[str, Any]:
    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise Refusal(ErrorCode.BAD_REQUEST, "--from is after --to")
    filters = scoped(ctx, Filters(args.date_from, args.date_to, args.cinema, args.card_range, args.card,
                                  args.staff, args.kind))
    if args.cards_command == "report":
        table = build(ctx.session, args.by, filters, range_digits=min(args.range_digits, 16))
        ctx.audit("card_report", by=args.by, cinema=filters.cinema_id)
        return as_json(table)
    if args.xlsx is None and args.csv_file is None:
        raise Refusal(ErrorCode.BAD_REQUEST, "export needs --xlsx FILE and/or --csv FILE")
    table = build(ctx.session, args.by, filters, per_cinema=args.sheet_per_cinema,
                  range_digits=min(args.range_digits, 16))
    written = write(table, xlsx=args.xlsx, csv_path=args.csv_file, sheet_per_cinema=args.sheet_per_cinema)
    ctx.audit("card_export", by=args.by, cinema=filters.cinema_id, files=[path.name for path in written])
    summary = as_json(table)
    return {"written": [str(path) for path in written], "rows": len(table.rows), "totals": summary["totals"]}


# ---- other results as tables, for --xlsx/--csv ----


def history_table(found: dict[str, Any]) -> Table:
    """A card's history (as `cards history` answers it) as a table: one row per use."""
    columns = [Column("issue", "期数", ColumnKind.INTEGER, 6), Column("at", "时间", ColumnKind.DATETIME, 20),
               Column("cinema", "影院", ColumnKind.TEXT, 18), Column("kind", "消费类型", ColumnKind.TEXT, 10),
               Column("visits", "次数", ColumnKind.INTEGER, 8), Column("balance_after", "余次", ColumnKind.INTEGER, 8),
               Column("staff", "工号", ColumnKind.TEXT, 10)]
    rows = [{**entry, "at": dt.datetime.fromisoformat(entry["at"]),
             "kind": KIND_NAMES.get(entry["kind"], entry["kind"]), "staff": entry["staff"] or "自助机"}
            for entry in found["history"]]
    return Table("年票消费记录", columns, rows, sum_totals(rows, ("visits",)), sum_keys=("visits",),
                 notes=[f"卡号: {found['card']}", f"当前期数: {found['issue']}", f"余次: {found['visits_left']}"])


def collect_table(session: Any, listed: dict[str, Any]) -> Table:
    """Cards to collect, one row per card, with the cinema's name."""
    names = {cid: name for cid, name in session.execute(select(Cinema.id, Cinema.name))}
    columns = [CINEMA_COLUMN, Column("card", "卡号", ColumnKind.TEXT, 20),
               Column("used_up", "用完时间", ColumnKind.DATETIME, 20)]
    rows = [{"cinema": names.get(group["cinema"], group["cinema"]), "card": card["card"],
             "used_up": dt.datetime.fromisoformat(card["used_up"])}
            for group in listed["cinemas"] for card in group["cards"]]
    notes = [f"日期: {listed['day']}"] if listed["day"] else []
    return Table("待回收年票", columns, rows, {"card": len(rows)}, totals_label="合计(张)", cinema_key="cinema",
                 notes=notes)


def with_files(ctx: CommandContext, result: dict[str, Any], table: Table, args: argparse.Namespace) -> dict[str, Any]:
    """The command's result, and the same as .xlsx/CSV when asked."""
    if args.xlsx is None and args.csv_file is None:
        return result
    written = write(table, xlsx=args.xlsx, csv_path=args.csv_file)
    ctx.audit("card_export", what=table.title, files=[path.name for path in written])
    return {**result, "written": [str(path) for path in written]}
