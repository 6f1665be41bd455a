"""SM4 and the purse MACs: standard vectors and what each MAC must cover."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.yearcard import crypto

PURCHASE = crypto.Purchase(
    amount=2,
    kind=crypto.TRANSACTION_TICKET,
    terminal_id=bytes.fromhex("310100010007"),
    date=bytes.fromhex("20261130"),
    time=bytes.fromhex("140509"),
    terminal_seq=17,
    card_counter=4,
    balance_after=8,
)


def test_sm4_matches_the_standards_example() -> None:
    # GB/T 32907-2016, appendix A, example 1
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    assert crypto.sm4_encrypt_block(key, key).hex() == "681edf34d206965e86b3e94f536e4246"


@given(st.binary(max_size=80))
def test_padding_method_2_always_adds_0x80_and_fills_whole_blocks(data: bytes) -> None:
    padded = crypto.pad_method_2(data)
    assert len(padded) % crypto.BLOCK == 0 and len(padded) > len(data)
    assert padded[: len(data)] == data and padded[len(data)] == 0x80
    assert set(padded[len(data) + 1 :]) <= {0}


def test_cbc_mac_is_the_last_cbc_block_of_the_padded_data() -> None:
    key = bytes(range(16))
    data = b"sixteen bytes!!!" + b"and more"
    first = crypto.sm4_encrypt_block(key, data[:16])
    second = crypto.pad_method_2(data)[16:]
    last = crypto.sm4_encrypt_block(key, bytes(a ^ b for a, b in zip(first, second, strict=True)))
    assert crypto.cbc_mac(key, data) == last[:4]
    assert crypto.cbc_mac(key, data, size=8) == last[:8]


def test_diversified_keys_differ_per_card_and_per_master() -> None:
    master = crypto.MasterKeys.generate()
    one = master.card_keys("8800000000000001")
    two = master.card_keys("8800000000000002")
    assert one.purchase != two.purchase and one.tac != two.tac
    assert len({one.purchase, one.tac, one.public, one.maintenance}) == 4
    assert crypto.MasterKeys.generate().card_keys("8800000000000001").purchase != one.purchase
    with pytest.raises(crypto.CryptoInputError):
        crypto.diversify(master.purchase, "88000000000000A1")


def test_keys_never_show_in_repr() -> None:
    master = crypto.MasterKeys.generate()
    assert master.purchase.hex() not in repr(master)
    assert master.card_keys("8800000000000001").tac.hex() not in repr(master.card_keys("8800000000000001"))


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(crypto.Purchase)])
def test_the_tac_covers_every_field_of_the_debit(field: str) -> None:
    master = crypto.MasterKeys.generate()
    number = "8800000000000042"
    proof = crypto.tac(master.card_keys(number).tac, PURCHASE)
    assert crypto.verify_tac(master.tac, number, PURCHASE, proof)
    value = getattr(PURCHASE, field)
    changed: Any = bytes([value[0] ^ 1]) + value[1:] if isinstance(value, bytes) else value ^ 1
    assert not crypto.verify_tac(master.tac, number, dataclasses.replace(PURCHASE, **{field: changed}), proof)
    assert not crypto.verify_tac(master.tac, "8800000000000043", PURCHASE, proof)
    assert not crypto.verify_tac(crypto.MasterKeys.generate().tac, number, PURCHASE, proof)


def test_mac1_and_mac2_depend_on_the_session() -> None:
    dpk = crypto.MasterKeys.generate().card_keys("8800000000000042").purchase
    session = crypto.purchase_session_key(dpk, b"\x01\x02\x03\x04", 4, 17)
    other = crypto.purchase_session_key(dpk, b"\x01\x02\x03\x05", 4, 17)
    assert crypto.mac1(session, PURCHASE) != crypto.mac1(other, PURCHASE)
    assert crypto.mac2(session, PURCHASE) != crypto.mac2(other, PURCHASE)
    assert crypto.mac1(session, PURCHASE) != crypto.mac2(session, PURCHASE)
