"""`central accounts ...`, `central faces ...`, `central partners ...`: head office's side of recovery.

Results go to stdout as JSON (phones masked, never an encoding); a refusal (a bad phone, an image
without exactly one face, an unknown partner) is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from central.accounts import AccountError, bind_order, check_phone, describe, ensure_account, find_account
from central.face_templates import (
    MAX_IMAGE_BYTES,
    FaceImageError,
    delete_template,
    encode_image,
    enrol_template,
)
from central.models import Order
from central.partner import add_partner, list_partners, revoke_partner
from central.service import Central

ACTOR = "cli"


class RecoveryCliRefusal(Exception):
    """What the operator asked cannot be done; one line says why (exit 2)."""


def add_recovery_parsers(commands: Any, db: argparse.ArgumentParser, parser_class: type) -> None:
    accounts = commands.add_parser("accounts", help="ticketing accounts and their bound phones (recovery)")
    account_commands = accounts.add_subparsers(dest="accounts_command", required=True, parser_class=parser_class,
                                               metavar="ACCOUNTS_COMMAND", help="one of:")
    add = account_commands.add_parser("add", parents=[db], help="bind a phone (made if new) and optionally orders")
    add.add_argument("--phone", required=True, help="the bound mobile number, 11 digits (kept only as a keyed hash)")
    add.add_argument("--id-last4", default=None, metavar="XXXX", help="the ID number's last 4 characters (hashed)")
    add.add_argument("--order", action="append", default=[], metavar="ORDER", help="bind this order (repeatable)")
    show = account_commands.add_parser("show", parents=[db], help="an account's masked phone, orders and face state")
    show.add_argument("--phone", required=True)

    faces = commands.add_parser("faces", help="face templates (encrypted encodings, never images)")
    face_commands = faces.add_subparsers(dest="faces_command", required=True, parser_class=parser_class,
                                         metavar="FACES_COMMAND", help="one of:")
    for name in ("enroll", "enrol"):
        enrol = face_commands.add_parser(name, parents=[db], help="enrol the face in IMAGE for the account")
        enrol.add_argument("--phone", required=True, help="the account's bound phone")
        enrol.add_argument("image", type=Path, metavar="IMAGE", help="a JPEG or PNG with exactly one face")
        enrol.add_argument("--consent-version", required=True, metavar="V",
                           help="the version of the consent text the person accepted, e.g. face-v1")
    delete = face_commands.add_parser("delete", parents=[db], help="delete the account's face template")
    delete.add_argument("--phone", required=True)

    partners = commands.add_parser("partners", help="partner ticketing platforms' credentials")
    partner_commands = partners.add_subparsers(dest="partners_command", required=True, parser_class=parser_class,
                                               metavar="PARTNERS_COMMAND", help="one of:")
    partner_commands.add_parser("add", parents=[db], help="prints the partner's credential once").add_argument(
        "name", help="the platform's name")
    partner_commands.add_parser("revoke", parents=[db], help="refuse this partner").add_argument(
        "partner_id", metavar="ID", help="the partner's id (see partners list)")
    partner_commands.add_parser("list", parents=[db], help="partners (never their credentials)")


def run_recovery_command(central: Central, args: argparse.Namespace) -> dict[str, Any]:
    try:
        return _run(central, args)
    except (AccountError, FaceImageError) as exc:
        raise RecoveryCliRefusal(str(exc)) from None


def _run(central: Central, args: argparse.Namespace) -> dict[str, Any]:
    now = central.clock.now()
    if args.command == "accounts" and args.accounts_command == "add":
        with central.sessions.begin() as session:
            account, created = ensure_account(central, session, args.phone, args.id_last4, now, ACTOR)
            for order_id in dict.fromkeys(args.order):
                order = session.get(Order, order_id)
                if order is None:
                    raise RecoveryCliRefusal(f"no order {order_id!r}")
                bind_order(session, order, account, now, ACTOR)
            return {**describe(session, account), "created": created}
    if args.command == "accounts":
        with central.sessions.begin() as session:
            found = find_account(central, session, check_phone(args.phone))
            if found is None:
                raise RecoveryCliRefusal("no account has this phone")
            return describe(session, found)
    if args.command == "faces" and args.faces_command in ("enroll", "enrol"):
        return enrol_from_file(central, args.phone, args.image, args.consent_version, now)
    if args.command == "faces":
        with central.sessions.begin() as session:
            holder = find_account(central, session, check_phone(args.phone))
            if holder is None:
                raise RecoveryCliRefusal("no account has this phone")
            return {"phone_masked": holder.phone_masked, "deleted": delete_template(session, holder, now, ACTOR)}
    with central.sessions.begin() as session:
        if args.partners_command == "add":
            return add_partner(session, args.name, now)
        if args.partners_command == "revoke":
            return revoke_partner(session, args.partner_id, now)
        return list_partners(session)


def enrol_from_file(central: Central, phone: str, image: Path, consent_version: str, now: datetime) -> dict[str, Any]:
    import re

    from backend_client.wire import CONSENT_VERSION_PATTERN

    phone = check_phone(phone)
    if not re.match(CONSENT_VERSION_PATTERN, consent_version):
        raise RecoveryCliRefusal("a consent version is 1 to 40 letters, digits, dots, dashes or underscores")
    try:
        size = image.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise RecoveryCliRefusal(f"{image}: larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
        data = image.read_bytes()
    except OSError as exc:
        raise RecoveryCliRefusal(f"{image}: {exc.strerror or type(exc).__name__}") from None
    encoding = encode_image(data)
    del data  # the image is never kept
    with central.sessions.begin() as session:
        account = find_account(central, session, phone)
        if account is None:
            raise RecoveryCliRefusal("no account has this phone: `central accounts add --phone ...` first")
        template = enrol_template(session, central.sealer, account, encoding, consent_version, now, now, ACTOR)
        return {"phone_masked": account.phone_masked, "consent_version": template.consent_version,
                "enrolled_at": template.enrolled_at.isoformat()}
