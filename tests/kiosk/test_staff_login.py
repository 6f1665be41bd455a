"""The staff login flow: typing, the central's answers (wrong password, lockout, other cinema,
offline), the password dropped once sent, and a logout that closes the session at the central."""

from __future__ import annotations

import logging

import pytest

from backend_client.wire import StaffRole
from devices.yearcard import crypto
from kiosk.flows.runtime import InlineWorker
from kiosk.flows.staff_login import Field, LoginStep, StaffLogin
from tests.support.fakes import FakeCounterCentral


@pytest.fixture
def central() -> FakeCounterCentral:
    return FakeCounterCentral(master=crypto.MasterKeys.generate(),
                              staff={"S1001": ("right-pw", StaffRole.SALES)})


def _enter(login: StaffLogin, staff_no: str, password: str) -> None:
    login.clear()
    login.type(staff_no)
    login.next_field()
    login.type(password)
    login.next_field()


def test_a_right_password_opens_the_session(central: FakeCounterCentral) -> None:
    login = StaffLogin(central, InlineWorker())
    login.type("s1001")  # a staff number is upper-cased, as printed on the badge
    assert login.state.staff_no == "S1001" and login.state.focus is Field.STAFF_NO
    login.next_field()
    login.type("right-pw")
    assert login.state.password_length == 8 and "right-pw" not in repr(login.state)
    login.submit()
    assert login.state.step is LoginStep.LOGGED_IN
    assert login.session is not None and login.role is StaffRole.SALES


def test_wrong_passwords_say_how_many_tries_are_left_then_the_lock(
    central: FakeCounterCentral, caplog: pytest.LogCaptureFixture
) -> None:
    login = StaffLogin(central, InlineWorker())
    caplog.set_level(logging.INFO)
    _enter(login, "S1001", "wrong-pw")
    state = login.state
    assert state.step is LoginStep.ENTER and state.refusal is not None
    assert state.refusal.key == "refusal.staff_auth_failed"
    assert state.detail is not None and state.detail.param_dict() == {"attempts_left": 4}
    assert state.focus is Field.PASSWORD and state.password_length == 0  # typed again
    for _ in range(4):
        _enter(login, "S1001", "wrong-pw")
    assert login.state.refusal is not None and login.state.refusal.key == "staff.login.locked"
    assert login.state.detail is not None and login.state.detail.param_dict() == {"minutes": 15}
    assert "wrong-pw" not in caplog.text
    assert all(record.levelno < logging.WARNING for record in caplog.records)  # refusals are business


def test_an_empty_field_is_refused_here_and_the_central_is_not_asked(central: FakeCounterCentral) -> None:
    login = StaffLogin(central, InlineWorker())
    login.type("S1001")
    login.submit()
    assert login.state.refusal is not None and login.state.refusal.key == "staff.login.missing"
    assert login.state.focus is Field.PASSWORD and central.calls == []


def test_an_unreachable_central_says_so(central: FakeCounterCentral) -> None:
    central.unreachable.add("staff_login")
    login = StaffLogin(central, InlineWorker())
    _enter(login, "S1001", "right-pw")
    assert login.state.refusal is not None and login.state.refusal.key == "refusal.offline"
    assert login.session is None


def test_logout_closes_the_session_at_the_central(central: FakeCounterCentral) -> None:
    login = StaffLogin(central, InlineWorker())
    _enter(login, "S1001", "right-pw")
    assert login.session is not None
    token = login.session.token
    login.logout()
    assert login.session is None and login.state.step is LoginStep.ENTER and login.state.staff_no == ""
    assert central.logged_out == [token]


def test_backspace_edits_the_focused_field(central: FakeCounterCentral) -> None:
    login = StaffLogin(central, InlineWorker())
    login.type("S10011")
    login.backspace()
    login.focus(Field.PASSWORD)
    login.type("ab")
    login.backspace()
    assert (login.state.staff_no, login.state.password_length) == ("S1001", 1)
    login.type("\n\t ")  # nothing unprintable gets in
    assert login.state.password_length == 1
