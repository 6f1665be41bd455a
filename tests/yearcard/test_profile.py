"""The profile's parsers: any card answer gives a value or a ProfileError, never another exception."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.card_api import ApduResponse
from devices.sim.card_emulator import parse_apdu
from devices.yearcard import crypto
from devices.yearcard import profile as p

PARSERS: list[Callable[[ApduResponse], Any]] = [
    p.parse_public,
    p.parse_balance,
    p.parse_record,
    p.parse_initialize,
    p.parse_debit,
    p.parse_prove,
    p.parse_init_sam,
    p.parse_terminal_id,
    lambda r: p.parse_select(r, "SELECT"),
]

status_words = st.one_of(st.sampled_from([0x9000, 0x6A83, 0x9406, 0x6581, 0x6985, 0x9302, 0x9401]),
                         st.integers(0, 0xFFFF))


def answers(size: int) -> st.SearchStrategy[bytes]:
    """Data of the right size (where the interesting bugs are) or of any size."""
    return st.one_of(st.binary(min_size=size, max_size=size), st.binary(max_size=64))


@pytest.mark.parametrize("parser", PARSERS, ids=lambda f: getattr(f, "__name__", "select"))
@given(data=st.one_of(answers(p.PUBLIC_BYTES), answers(p.RECORD_BYTES), answers(p.INIT_ANSWER_BYTES),
                      answers(8), answers(6), answers(4)),
       sw=status_words)
def test_any_answer_parses_or_raises_a_profile_error(
    parser: Callable[[ApduResponse], Any], data: bytes, sw: int
) -> None:
    response = ApduResponse(data, sw >> 8, sw & 0xFF)
    try:
        parser(response)
    except p.ProfileError as exc:
        assert str(exc)  # a message for logs and staff
        if sw != p.SW_OK:
            assert isinstance(exc, p.CardStatus) and exc.sw == sw


def ok(data: bytes) -> ApduResponse:
    return ApduResponse(data, 0x90, 0x00)


@given(
    number=st.text("0123456789", min_size=16, max_size=16),
    card_type=st.integers(0, 255),
    made=st.dates(dt.date(2000, 1, 1), dt.date(2099, 1, 1)),
    sold=st.booleans(),
)
def test_the_public_file_round_trips(number: str, card_type: int, made: dt.date, sold: bool) -> None:
    activated = made if sold else None
    expires = made + dt.timedelta(days=365) if sold else None
    signed = p.encode_public_signed(b"\x00\x00\x00\x01", number, card_type, sold, made, activated, expires)
    info = p.parse_public(ok(signed + b"MAC!"))
    assert (info.card_number, info.card_type, info.sold, info.made, info.activated, info.expires) == (
        number, card_type, sold, made, activated, expires
    )
    assert info.encode_signed_part() == signed and info.mac == b"MAC!"


def test_public_files_that_do_not_fit_are_refused_with_a_reason() -> None:
    good = p.encode_public_signed(b"\x00\x00\x00\x01", "8800000000000042", 1, True,
                                  dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2027, 2, 1)) + b"MAC!"
    for offset, value, reason in [
        (4, 0x02, "not a year-card"),
        (15, 0x07, "sale status"),
        (6, 0xAB, "BCD"),
        (18, 0x13, "not a date"),  # month 13
        (15, 0x00, "disagree"),  # not sold, but dates
    ]:
        bad = bytearray(good)
        bad[offset] = value
        with pytest.raises(p.MalformedAnswer, match=reason):
            p.parse_public(ok(bytes(bad)))


@given(
    counter=st.integers(0, 0xFFFF),
    amount=st.integers(0, 0xFFFFFFFF),
    kind=st.sampled_from(crypto.TRANSACTION_KINDS),
    terminal=st.binary(min_size=6, max_size=6),
    when=st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 1, 1)).map(lambda d: d.replace(microsecond=0)),
    balance=st.integers(0, 0xFFFFFFFF),
)
def test_a_record_round_trips(counter: int, amount: int, kind: int, terminal: bytes, when: dt.datetime,
                              balance: int) -> None:
    record = p.TransactionRecord(counter, amount, kind, terminal, when, balance)
    assert p.parse_record(ok(record.encode())) == record


def test_a_missing_record_and_a_missing_proof_are_answers_not_errors() -> None:
    assert p.parse_record(ApduResponse(b"", 0x6A, 0x83)) is None
    assert p.parse_prove(ApduResponse(b"", 0x94, 0x06)) is None


def test_builders_make_well_formed_short_apdus() -> None:
    commands = [
        p.select_aid(p.CARD_AID), p.read_public(), p.read_record(1), p.get_balance(),
        p.initialize_for_purchase(crypto.TRANSACTION_TICKET, 2, bytes(6)),
        p.debit_for_purchase(1, bytes(4), bytes(3), bytes(4)), p.get_transaction_prove(6, 3),
        p.init_sam_for_purchase(bytes(4), 1, 2, 6, bytes(4), bytes(3), 1, 4, bytes(8)),
        p.credit_sam_for_purchase(bytes(4)), p.credit_sam_for_purchase(bytes(4), 9),
        p.verify_public(bytes(36)), p.write_key(1, bytes(16)), p.update_public(bytes(36)), p.set_balance(10),
        p.end_personalisation(),
    ]
    for command in commands:
        assert parse_apdu(command) is not None, command.hex()
    with pytest.raises(ValueError):
        p.initialize_for_purchase(crypto.TRANSACTION_TICKET, 0, bytes(6))
    with pytest.raises(ValueError):
        p.read_record(11)


def test_the_cards_own_dates_say_whether_it_can_be_used() -> None:
    made, sold = dt.date(2026, 1, 5), dt.date(2026, 2, 1)
    unsold = p.parse_public(ok(p.encode_public_signed(b"\x00\x00\x00\x01", "8800000000000042", 1, False,
                                                      made, None, None) + b"MAC!"))
    assert unsold.life_on(dt.date(2026, 3, 1)) is p.CardLife.NOT_SOLD
    active = p.parse_public(ok(p.encode_public_signed(b"\x00\x00\x00\x01", "8800000000000042", 1, True,
                                                      made, sold, dt.date(2027, 2, 1)) + b"MAC!"))
    assert active.life_on(dt.date(2026, 1, 31)) is p.CardLife.NOT_YET_VALID
    assert active.life_on(sold) is p.CardLife.ACTIVE
    assert active.life_on(dt.date(2027, 2, 1)) is p.CardLife.ACTIVE  # the expiry day itself still counts
    assert active.life_on(dt.date(2027, 2, 2)) is p.CardLife.EXPIRED
