"""`central staff ...` and who runs a `central cards ...` command: staff users from the central's host.

Every card command runs as a named staff member: ``--as STAFF_NO`` and the password, typed at a
hidden prompt or given as one line on stdin (scripts), never as an argument (it would sit in the
shell history and the process list). Wrong passwords count against the staff number and lock it
like a counter login. A user who must change the password (new, or reset) gives the new one,
twice, before the command runs.

Bootstrapping: ``central staff create-admin`` works only while no enabled admin exists; whoever
runs commands on the central's host with its database is trusted that far.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend_client.wire import ErrorCode, StaffRole
from central.common import Refusal, audit
from central.models import Cinema, StaffUser
from central.staff import (
    CINEMA_ROLES,
    HEAD_OFFICE_ROLES,
    Permission,
    StaffActor,
    create_staff_user,
    password_matches,
    require,
    set_password,
)

MIN_PASSWORD = 8
MAX_PASSWORD = 128


class PasswordSource:
    """Passwords from a hidden prompt on a terminal, else one line each from stdin."""

    def __init__(self, stdin: TextIO | None = None, prompt: Callable[[str], str] | None = None) -> None:
        self._stdin = stdin or sys.stdin
        self._prompt = prompt

    @property
    def interactive(self) -> bool:
        return self._prompt is None and self._stdin.isatty()

    def read(self, what: str) -> str:
        if self._prompt is not None:
            return self._prompt(what)
        if self._stdin.isatty():
            return getpass.getpass(f"{what}: ", stream=sys.stderr)
        line = self._stdin.readline()
        if not line:
            raise Refusal(ErrorCode.STAFF_AUTH_FAILED, f"no {what} on stdin (one line each; never an argument)")
        return line.rstrip("\r\n")

    def new_password(self, what: str = "new password") -> str:
        first = self.read(what)
        if not MIN_PASSWORD <= len(first) <= MAX_PASSWORD:
            raise Refusal(ErrorCode.BAD_REQUEST,
                          f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters; nothing changed")
        if self.read(f"{what} again") != first:
            raise Refusal(ErrorCode.BAD_REQUEST, "the two passwords differ; nothing changed")
        return first


def login(session: Session, now: datetime, staff_no: str, password: str, max_failures: int,
          lockout_seconds: int) -> StaffUser:
    """The staff user, or a refusal (the same words for an unknown number and a wrong password)."""
    user = session.get(StaffUser, staff_no)
    wrong = Refusal(ErrorCode.STAFF_AUTH_FAILED, "wrong staff number or password")
    if user is None:
        audit(session, now, staff_no[:64], "staff_login_failed", via="cli", unknown=True)
        raise wrong
    if user.disabled:
        raise Refusal(ErrorCode.STAFF_AUTH_FAILED, f"staff {staff_no} is disabled")
    if user.locked_until is not None and user.locked_until > now:
        raise Refusal(ErrorCode.STAFF_AUTH_FAILED,
                      f"staff {staff_no} is locked after wrong passwords until {user.locked_until:%H:%M} UTC")
    if not password_matches(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(seconds=lockout_seconds)
            user.failed_logins = 0
        audit(session, now, staff_no, "staff_login_failed", via="cli")
        raise wrong
    user.failed_logins = 0
    user.locked_until = None
    return user


@dataclass
class CommandContext:
    """What a staff command runs with: the central, one transaction, the acting staff member."""

    central: Any
    session: Session
    actor: StaffActor
    now: datetime

    def require(self, permission: Permission, cinema_id: str | None = None) -> None:
        require(self.actor, permission, cinema_id)

    def audit(self, action: str, **details: Any) -> None:
        audit(self.session, self.now, self.actor.staff_no, action, via="cli", **details)

    @property
    def cinema_scope(self) -> str | None:
        """None for head office; a cinema's staff see and touch only their own cinema."""
        return self.actor.cinema_id


def authenticate(central: Any, session: Session, staff_no: str, passwords: PasswordSource) -> StaffActor:
    now = central.clock.now()
    settings = central.settings
    user = login(session, now, staff_no, passwords.read(f"password for {staff_no}"),
                 settings.staff_max_failures, settings.staff_lockout_seconds)
    if user.must_change_password:
        if passwords.interactive:
            print(f"central: staff {staff_no} must choose a new password first", file=sys.stderr)
        set_password(session, user, passwords.new_password(), must_change=False)
        audit(session, now, staff_no, "staff_password_changed", via="cli")
    return StaffActor.of(user)


def run_as(central: Any, staff_no: str, passwords: PasswordSource, work: Callable[[CommandContext], Any]) -> Any:
    """Log in (its own transaction, so a failed attempt is counted even when the command is refused), then work."""
    with central.sessions.begin() as session:
        try:
            actor = authenticate(central, session, staff_no, passwords)
        except Refusal as refusal:
            failure: Refusal | None = refusal
        else:
            failure = None
    if failure is not None:
        raise failure
    # not sessions.begin(): a long command (card making) commits as it goes and must be able to
    with central.sessions() as session:
        result = work(CommandContext(central, session, actor, central.clock.now()))
        session.commit()
        return result


# ---- the staff commands ----


def _check_role_and_cinema(session: Session, role: StaffRole, cinema_id: str | None) -> None:
    if role in CINEMA_ROLES and cinema_id is None:
        raise Refusal(ErrorCode.BAD_REQUEST, f"the role {role.value} belongs to a cinema: give --cinema")
    if role in HEAD_OFFICE_ROLES and cinema_id is not None:
        raise Refusal(ErrorCode.BAD_REQUEST, f"the role {role.value} is head office's: no --cinema")
    if cinema_id is not None and session.get(Cinema, cinema_id) is None:
        raise Refusal(ErrorCode.BAD_REQUEST, f"no cinema {cinema_id!r}")


def _may_manage(ctx: CommandContext, role: StaffRole | None, cinema_id: str | None) -> None:
    """Head office's admin manages everyone; a cinema's manager its own cinema's roles below manager."""
    if Permission.MANAGE_USERS in ctx.actor.permissions:
        return
    ctx.require(Permission.MANAGE_LOCAL_USERS)
    if role is not None and role not in CINEMA_ROLES - {StaffRole.MANAGER}:
        raise Refusal(ErrorCode.FORBIDDEN, f"a cinema's manager may not manage the role {role.value}")
    ctx.require(Permission.MANAGE_LOCAL_USERS, cinema_id or "")


def _user(ctx: CommandContext, staff_no: str) -> StaffUser:
    user = ctx.session.get(StaffUser, staff_no)
    if user is None:
        raise Refusal(ErrorCode.BAD_REQUEST, f"no staff user {staff_no!r}")
    _may_manage(ctx, StaffRole(user.role), user.cinema_id)
    if user.staff_no == ctx.actor.staff_no:
        raise Refusal(ErrorCode.FORBIDDEN, "not on your own staff number (ask another admin)")
    return user


def _view(user: StaffUser) -> dict[str, Any]:
    return {"staff_no": user.staff_no, "name": user.name, "role": user.role, "cinema": user.cinema_id,
            "disabled": user.disabled, "must_change_password": user.must_change_password}


def one_time_password() -> str:
    import secrets

    return "-".join(secrets.token_hex(3) for _ in range(3))  # 20 characters, easy to read out


def run_staff(central: Any, args: argparse.Namespace, passwords: PasswordSource) -> dict[str, Any]:
    command = args.staff_command
    if command == "create-admin":
        password = passwords.new_password("password for the new admin")
        with central.sessions.begin() as session:
            admins = select(func.count()).select_from(StaffUser).where(
                StaffUser.role == StaffRole.ADMIN.value, StaffUser.disabled.is_(False))
            if session.scalar(admins):
                raise Refusal(ErrorCode.FORBIDDEN, "an admin exists already: admins add staff with `central staff add`")
            if session.get(StaffUser, args.staff_no) is not None:
                raise Refusal(ErrorCode.BAD_REQUEST, f"staff number {args.staff_no} is taken")
            now = central.clock.now()
            user = create_staff_user(session, now, args.staff_no, args.name, StaffRole.ADMIN, password)
            audit(session, now, args.staff_no, "staff_admin_created", via="cli")
            return {"created": _view(user)}

    def work(ctx: CommandContext) -> dict[str, Any]:
        if command == "add":
            role = StaffRole(args.role)
            _check_role_and_cinema(ctx.session, role, args.cinema)
            _may_manage(ctx, role, args.cinema)
            if ctx.session.get(StaffUser, args.staff_no) is not None:
                raise Refusal(ErrorCode.BAD_REQUEST, f"staff number {args.staff_no} is taken")
            password = one_time_password()
            user = create_staff_user(ctx.session, ctx.now, args.staff_no, args.name, role, password,
                                     cinema_id=args.cinema, must_change_password=True)
            ctx.audit("staff_added", staff=args.staff_no, role=role.value, cinema=args.cinema)
            return {"created": _view(user), "one_time_password": password,
                    "note": "give it to the staff member; it must be changed at the first login"}
        if command == "list":
            cinema = args.cinema
            if Permission.MANAGE_USERS not in ctx.actor.permissions:
                ctx.require(Permission.MANAGE_LOCAL_USERS, cinema)
                cinema = ctx.actor.cinema_id
            query = select(StaffUser).order_by(StaffUser.staff_no)
            if cinema is not None:
                query = query.where(StaffUser.cinema_id == cinema)
            return {"staff": [_view(user) for user in ctx.session.scalars(query)]}
        user = _user(ctx, args.staff_no)
        if command in ("disable", "enable"):
            user.disabled = command == "disable"
            ctx.audit(f"staff_{command}d", staff=user.staff_no)
            return {f"{command}d": _view(user)}
        password = one_time_password()
        set_password(ctx.session, user, password, must_change=True)
        ctx.audit("staff_password_reset", staff=user.staff_no)
        return {"reset": _view(user), "one_time_password": password}

    return dict(run_as(central, args.staff_no_as, passwords, work))
