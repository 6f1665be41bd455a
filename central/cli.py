"""`python -m central ...`: migrate, serve, demo data and the head-office operations.

Results go to stdout as JSON; problems go to stderr as one line with a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from central.config import Settings, SettingsError, default_db_url

EXIT_USAGE = 2
EXIT_FAILED = 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block.
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    db = _Parser(add_help=False)
    db.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="database URL (default: env CENTRAL_DB_URL, else sqlite file var/central.db)",
    )
    parser = _Parser(prog="central", description="The chain's central ticketing service.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("migrate", parents=[db], help="create or upgrade the database schema")
    serve = commands.add_parser("serve", parents=[db], help="migrate, then serve the kiosk API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8700)
    serve.add_argument(
        "--test-hooks", action="store_true", help="add /test/ routes that move the clock and inject faults (tests only)"
    )
    demo = commands.add_parser("demo-data", parents=[db], help="load the demo cinema, orders and kiosk")
    demo.add_argument("--kiosk-credential-out", type=Path, default=None, metavar="FILE")
    order = commands.add_parser("create-order", parents=[db], help="sell seats; prints the pickup code once")
    order.add_argument("--showing", required=True)
    order.add_argument("--seats", required=True, help="comma separated, e.g. A1,A2")
    order.add_argument("--price-fen", type=int, default=4500)
    for name, text in (
        ("refund", "refund an order"),
        ("revoke-codes", "revoke an order's code and QR, issue new ones"),
        ("show-order", "print an order's ticket states"),
    ):
        commands.add_parser(name, parents=[db], help=text).add_argument("order_id", metavar="ORDER")
    kiosk = commands.add_parser("kiosk", help="enrol, rotate or revoke kiosks")
    kiosk_commands = kiosk.add_subparsers(dest="kiosk_command", required=True, parser_class=_Parser)
    enrol = kiosk_commands.add_parser("enrol", parents=[db], help="prints the credential once")
    enrol.add_argument("name")
    enrol.add_argument("--cinema", required=True)
    kiosk_commands.add_parser("rotate", parents=[db], help="new credential").add_argument("kiosk_id", metavar="ID")
    kiosk_commands.add_parser("revoke", parents=[db], help="refuse this kiosk").add_argument("kiosk_id", metavar="ID")
    keys = commands.add_parser("keys", help="token signing keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, parser_class=_Parser)
    keys_commands.add_parser("rotate", parents=[db], help="sign with a new key; old keys keep verifying")
    return parser


def _in_transaction(central: Any, work: Callable[[Session], dict[str, Any]]) -> dict[str, Any]:
    with central.sessions.begin() as session:
        return work(session)


def _run(args: argparse.Namespace) -> int:
    # Imported here so that `--help` and argument errors stay fast.
    from central import admin
    from central.db import migrate
    from central.demo import load_demo
    from central.service import Central

    settings = Settings.from_env(args.db or default_db_url())
    central = Central.open(settings)
    migrate(central.engine)
    command = args.command
    result: dict[str, Any]
    if command == "migrate":
        result = {"migrated": True}
    elif command == "serve":
        return _serve(central, args.host, args.port, args.test_hooks)
    elif command == "demo-data":
        result = load_demo(central, args.kiosk_credential_out)
    elif command == "create-order":
        seats = admin.parse_seats(args.seats)
        result = _in_transaction(central, lambda s: admin.create_order(central, s, args.showing, seats, args.price_fen))
    elif command == "refund":
        result = _in_transaction(central, lambda s: admin.refund(central, s, args.order_id))
    elif command == "revoke-codes":
        result = _in_transaction(central, lambda s: admin.revoke_codes(central, s, args.order_id))
    elif command == "show-order":
        result = _in_transaction(central, lambda s: admin.order_summary(central, s, args.order_id))
    elif command == "kiosk" and args.kiosk_command == "enrol":
        result = _in_transaction(central, lambda s: admin.enrol_kiosk(central, s, args.name, args.cinema))
    elif command == "kiosk" and args.kiosk_command == "rotate":
        result = _in_transaction(central, lambda s: admin.rotate_kiosk(central, s, args.kiosk_id))
    elif command == "kiosk":
        result = _in_transaction(central, lambda s: admin.revoke_kiosk(central, s, args.kiosk_id))
    else:
        result = _in_transaction(central, lambda s: admin.rotate_keys(central, s))
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


def _serve(central: Any, host: str, port: int, test_hooks: bool) -> int:
    import uvicorn

    from central.api import create_app

    if not 0 <= port <= 65535:
        raise SettingsError(f"port {port} is out of range")
    if test_hooks:
        print("central: test hooks are on (/test/...): never use this in production", file=sys.stderr)
    uvicorn.run(create_app(central, test_hooks=test_hooks), host=host, port=port, log_level="info")
    return 0


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    from central.admin import AdminError
    from central.db import DatabaseUrlError
    from central.secret_store import SecretsError

    try:
        return _run(args)
    except (AdminError, DatabaseUrlError, SettingsError, SecretsError) as exc:
        print(f"central: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except SQLAlchemyError as exc:
        print(f"central: database error: {_one_line(getattr(exc, 'orig', None) or exc)}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"central: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
