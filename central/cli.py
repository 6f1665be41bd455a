"""`python -m central ...`: migrate, serve, demo data and the head-office operations.

Results go to stdout as JSON; problems go to stderr as one line with a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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
    parser = _Parser(
        prog="central",
        description="The chain's central ticketing service. Every command but init-secrets needs the central's "
        "secrets: CENTRAL_SECRETS_DIR (an absolute path) or CENTRAL_CODE_SECRET and CENTRAL_SIGNING_KEY "
        "(central/README.md).",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="COMMAND", help="one of (each takes --help):"
    )
    commands.add_parser(
        "init-secrets",
        help="make the secrets of a new central in CENTRAL_SECRETS_DIR (pickup-code key, token signing key, "
        "card issuer keys, face-template key); "
        "keeps every key that exists",
    )
    commands.add_parser("migrate", parents=[db], help="create or upgrade the database schema")
    serve = commands.add_parser(
        "serve",
        parents=[db],
        help="migrate, then serve the kiosk API: HTTPS with --tls-cert/--tls-key, plain HTTP on loopback only",
    )
    serve.add_argument(
        "--host",
        default=None,
        help="address to listen on (default: env CENTRAL_HOST, else 127.0.0.1); an address other than "
        "loopback needs TLS",
    )
    serve.add_argument(
        "--port", type=int, default=None, help="TCP port to listen on (default: env CENTRAL_PORT, else 8700)"
    )
    serve.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        metavar="FILE",
        help="PEM certificate (chain) to serve HTTPS with (default: env CENTRAL_TLS_CERT)",
    )
    serve.add_argument(
        "--tls-key",
        type=Path,
        default=None,
        metavar="FILE",
        help="PEM private key of that certificate (default: env CENTRAL_TLS_KEY)",
    )
    serve.add_argument(
        "--test-hooks", action="store_true", help="add /test/ routes that move the clock and inject faults (tests only)"
    )
    demo = commands.add_parser("demo-data", parents=[db], help="load the demo cinema, orders and kiosk")
    demo.add_argument(
        "--kiosk-credential-out",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the demo kiosk's credential here (0600), keeping one that is still valid",
    )
    demo.add_argument(
        "--face-image",
        type=Path,
        default=None,
        metavar="FILE",
        help="enrol the demo recovery account's face (phone 13800138000) from this photo, once",
    )
    order = commands.add_parser("create-order", parents=[db], help="sell seats; prints the pickup code once")
    order.add_argument(
        "--showing", required=True, metavar="ID", help="the showing's id, e.g. show-demo-soon (see list-showings)"
    )
    order.add_argument("--seats", required=True, help="comma separated, e.g. A1,A2")
    order.add_argument(
        "--price-fen",
        type=int,
        default=4500,
        metavar="FEN",
        help="price of each ticket in fen (1/100 yuan; 4500 = 45.00 yuan, the default)",
    )
    order.add_argument("--phone", default=None, help="bind the order to the ticketing account of this phone "
                       "(made if new): what lost-ticket recovery looks up")
    order.add_argument("--id-last4", default=None, metavar="XXXX", help="with --phone: the ID number's last 4")
    for name, text in (
        ("refund", "refund an order"),
        ("revoke-codes", "revoke an order's code and QR, issue new ones"),
        ("show-order", "print an order's ticket states"),
    ):
        commands.add_parser(name, parents=[db], help=text).add_argument(
            "order_id", metavar="ORDER", help="the order's id, e.g. ord-demo-ready"
        )
    showings = commands.add_parser(
        "list-showings", parents=[db], help="showings not yet over, soonest first: ids for create-order"
    )
    showings.add_argument("--cinema", metavar="ID", default=None, help="only this cinema's showings")
    showings.add_argument("--all", action="store_true", help="include showings that are over")
    kiosks = commands.add_parser("list-kiosks", parents=[db], help="enrolled kiosks: ids for kiosk rotate/revoke")
    kiosks.add_argument("--cinema", metavar="ID", default=None, help="only this cinema's kiosks")
    kiosk = commands.add_parser("kiosk", help="enrol, rotate or revoke kiosks")
    kiosk_commands = kiosk.add_subparsers(
        dest="kiosk_command", required=True, parser_class=_Parser, metavar="KIOSK_COMMAND", help="one of:"
    )
    enrol = kiosk_commands.add_parser("enrol", parents=[db], help="prints the credential once")
    enrol.add_argument("name", help="the kiosk's name for staff, e.g. Lobby-01-03")
    enrol.add_argument("--cinema", required=True, metavar="ID", help="the cinema it stands in, e.g. cinema-demo")
    kiosk_id_help = "the kiosk's id (see list-kiosks)"
    kiosk_commands.add_parser("rotate", parents=[db], help="new credential").add_argument(
        "kiosk_id", metavar="ID", help=kiosk_id_help
    )
    kiosk_commands.add_parser("revoke", parents=[db], help="refuse this kiosk").add_argument(
        "kiosk_id", metavar="ID", help=kiosk_id_help
    )
    keys = commands.add_parser("keys", help="token signing keys")
    keys_commands = keys.add_subparsers(
        dest="keys_command", required=True, parser_class=_Parser, metavar="KEYS_COMMAND", help="one of:"
    )
    keys_commands.add_parser("rotate", parents=[db], help="sign with a new key; old keys keep verifying")
    from central.cards_cli import add_cards_parser, add_staff_parser

    add_cards_parser(commands, db, _Parser)
    add_staff_parser(commands, db, _Parser)
    from central.recovery_cli import add_recovery_parsers

    add_recovery_parsers(commands, db, _Parser)
    return parser


def _in_transaction(central: Any, work: Callable[[Session], dict[str, Any]]) -> dict[str, Any]:
    with central.sessions.begin() as session:
        return work(session)


def _run(args: argparse.Namespace) -> int:
    # Imported here so that `--help` and argument errors stay fast.
    from central import admin
    from central.db import migrate
    from central.demo import load_demo
    from central.secret_store import init_secrets
    from central.service import Central

    settings = Settings.from_env(getattr(args, "db", None) or default_db_url())
    if args.command == "init-secrets":
        report = init_secrets(settings, datetime.now(UTC))
        json.dump(report.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    central = Central.open(settings)
    migrate(central.engine)
    command = args.command
    result: dict[str, Any]
    if command in ("cards", "staff"):
        return _staff_command(central, args)
    if command in ("accounts", "faces", "partners") or (command == "create-order" and args.phone is not None):
        return _recovery_command(central, args)
    if command == "migrate":
        result = {"migrated": True}
    elif command == "serve":
        return _serve(central, _listen(settings, args), args.test_hooks)
    elif command == "demo-data":
        result = load_demo(central, args.kiosk_credential_out, args.face_image)
    elif command == "create-order":
        seats = admin.parse_seats(args.seats)
        result = _in_transaction(central, lambda s: admin.create_order(central, s, args.showing, seats, args.price_fen))
    elif command == "refund":
        result = _in_transaction(central, lambda s: admin.refund(central, s, args.order_id))
    elif command == "revoke-codes":
        result = _in_transaction(central, lambda s: admin.revoke_codes(central, s, args.order_id))
    elif command == "show-order":
        result = _in_transaction(central, lambda s: admin.order_summary(central, s, args.order_id))
    elif command == "list-showings":
        result = _in_transaction(central, lambda s: admin.list_showings(central, s, args.cinema, args.all))
    elif command == "list-kiosks":
        result = _in_transaction(central, lambda s: admin.list_kiosks(central, s, args.cinema))
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


def _recovery_command(central: Any, args: argparse.Namespace) -> int:
    """Accounts, face templates, partners, and orders bound to a phone: a refusal is one line and exit 2."""
    from central import admin
    from central.accounts import AccountError, bind_order, ensure_account
    from central.models import Order
    from central.recovery_cli import RecoveryCliRefusal, run_recovery_command

    def create_bound(session: Session) -> dict[str, Any]:
        # The account first: a bad phone refuses before any seat is sold.
        now = central.clock.now()
        account, _created = ensure_account(central, session, args.phone, args.id_last4, now, admin.ACTOR)
        result = admin.create_order(central, session, args.showing, admin.parse_seats(args.seats), args.price_fen)
        bind_order(session, session.get_one(Order, result["order_id"]), account, now, admin.ACTOR)
        return {**result, "account_id": account.id, "phone_masked": account.phone_masked}

    try:
        if args.command == "create-order":
            result = _in_transaction(central, create_bound)
        else:
            result = run_recovery_command(central, args)
    except (RecoveryCliRefusal, AccountError) as exc:
        print(f"central: refused: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


def _staff_command(central: Any, args: argparse.Namespace) -> int:
    """`cards` and `staff`: run as a named staff member; a refusal is one line and exit 2."""
    from central.cards_cli import run_cards
    from central.common import Refusal
    from central.staff_cli import PasswordSource, run_staff

    try:
        if args.command == "staff":
            result = run_staff(central, args, PasswordSource())
        else:
            result = run_cards(central, args, PasswordSource())
    except Refusal as refusal:
        print(f"central: refused: {refusal.message}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # a service's check of a value the arguments could not catch
        print(f"central: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    tls_cert: Path | None
    tls_key: Path | None


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def _listen(settings: Settings, args: argparse.Namespace) -> Listen:
    """Where and how to serve; refuses plain HTTP anywhere but loopback (fail closed)."""
    host = args.host or settings.listen_host
    port = settings.listen_port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise SettingsError(f"port {port} is out of range")
    cert = args.tls_cert or settings.tls_cert_file
    key = args.tls_key or settings.tls_key_file
    if (cert is None) != (key is None):
        raise SettingsError("TLS needs both a certificate and its key (--tls-cert and --tls-key)")
    for path in (cert, key):
        if path is not None and not path.is_file():
            raise SettingsError(f"{path}: no such TLS file (central/README.md says how to make one)")
    if cert is not None and key is not None:
        _check_tls_pair(cert, key)
    if cert is None and host not in LOOPBACK_HOSTS:
        raise SettingsError(
            f"refusing to serve plain HTTP on {host}: kiosks send credentials and pickup codes; "
            "give --tls-cert and --tls-key (central/README.md), or listen on 127.0.0.1 behind a TLS proxy"
        )
    return Listen(host, port, cert, key)


def _check_tls_pair(cert: Path, key: Path) -> None:
    """Load the pair as the server will, so a wrong file stops here in one line naming both files."""
    import ssl

    try:
        # password="": an encrypted key fails here instead of prompting on a terminal nobody watches.
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(cert), str(key), password="")
    except ssl.SSLError as exc:
        reason = exc.reason or exc.strerror or str(exc)
        raise SettingsError(
            f"{cert} and {key} are not a PEM certificate and its unencrypted private key ({reason}); "
            "central/README.md says how to make them"
        ) from None


def _serve(central: Any, listen: Listen, test_hooks: bool) -> int:
    import uvicorn

    from central.api import create_app

    # Every key must be there before the first kiosk comes: a missing one stops here, in one line.
    with central.sessions.begin() as session:
        central.keyring.current(session, central.clock.now())
    if test_hooks:
        print("central: test hooks are on (/test/...): never use this in production", file=sys.stderr)
    scheme = "https" if listen.tls_cert else "http"
    print(f"central: serving {scheme}://{listen.host}:{listen.port}", file=sys.stderr)
    tls: dict[str, Any] = {}
    if listen.tls_cert is not None and listen.tls_key is not None:
        tls = {"ssl_certfile": str(listen.tls_cert), "ssl_keyfile": str(listen.tls_key)}
    uvicorn.run(create_app(central, test_hooks=test_hooks), host=listen.host, port=listen.port, log_level="info",
                **tls)
    return 0


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    from central.admin import AdminError
    from central.card_making import CardMakingError
    from central.db import DatabaseUrlError
    from central.report_export import ExportError
    from central.secret_store import SecretsError

    try:
        return _run(args)
    except (AdminError, DatabaseUrlError, SettingsError, SecretsError, CardMakingError, ExportError) as exc:
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
