"""The card emulator against a stand-in for vpcd's socket (real TCP on a free port; no pcscd)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

from devices.sim.card_emulator import (
    CTRL_GET_ATR,
    CTRL_RESET,
    DEFAULT_AID,
    DEFAULT_ATR,
    CardEmulator,
    MemoryCard,
    default_card,
    parse_apdu,
)

SELECT_APP = bytes.fromhex("00A40400") + bytes([len(DEFAULT_AID)]) + DEFAULT_AID


class FakeVpcd:
    """The reader side of vpcd's protocol: accepts the card and sends framed messages."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(5)
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> None:
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(5)

    def send(self, payload: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(struct.pack(">H", len(payload)) + payload)

    def receive(self, timeout_s: float = 5.0) -> bytes | None:
        """One framed answer, or None when the card closed the connection."""
        assert self.conn is not None
        self.conn.settimeout(timeout_s)
        header = self._exact(2)
        return None if header is None else self._exact(struct.unpack(">H", header)[0])

    def _exact(self, count: int) -> bytes | None:
        assert self.conn is not None
        data = b""
        while len(data) < count:
            chunk = self.conn.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    server = FakeVpcd()
    yield server
    server.close()


@pytest.fixture
def card(vpcd: FakeVpcd) -> Iterator[CardEmulator]:
    emulator = CardEmulator(port=vpcd.port)
    emulator.insert()
    vpcd.accept()
    yield emulator
    emulator.remove()


def test_atr_and_commands_are_framed_as_vpcd_expects(vpcd: FakeVpcd, card: CardEmulator) -> None:
    vpcd.send(bytes([CTRL_GET_ATR]))
    assert vpcd.receive() == DEFAULT_ATR
    vpcd.send(SELECT_APP)
    assert vpcd.receive() == b"\x90\x00"
    assert card.commands == [SELECT_APP]


def test_a_reset_forgets_the_selected_application(vpcd: FakeVpcd, card: CardEmulator) -> None:
    vpcd.send(SELECT_APP)
    vpcd.receive()
    vpcd.send(bytes([CTRL_RESET]))
    vpcd.send(bytes.fromhex("00B0000004"))
    assert vpcd.receive() == b"\x69\x82"


def test_faults_error_status_stall_and_pull(vpcd: FakeVpcd, card: CardEmulator) -> None:
    card.fail_next(b"\x65\x81")
    vpcd.send(SELECT_APP)
    assert vpcd.receive() == b"\x65\x81"

    card.stall_next(0.5)
    vpcd.send(SELECT_APP)
    with pytest.raises(TimeoutError):
        vpcd.receive(timeout_s=0.1)  # nothing yet
    assert vpcd.receive(timeout_s=3) == b"\x90\x00"  # the late answer

    card.pull_on_next_command()
    vpcd.send(SELECT_APP)
    assert vpcd.receive() is None
    assert not card.inserted


def test_the_card_comes_back_after_removal(vpcd: FakeVpcd, card: CardEmulator) -> None:
    card.remove()
    assert vpcd.receive() is None
    card.insert()
    vpcd.accept()
    vpcd.send(bytes([CTRL_GET_ATR]))
    assert vpcd.receive() == DEFAULT_ATR


def test_a_broken_handler_answers_an_error_instead_of_dying(vpcd: FakeVpcd, card: CardEmulator) -> None:
    def broken(apdu: bytes) -> bytes:
        raise KeyError("test handler bug")

    card.set_handler(broken)
    vpcd.send(SELECT_APP)
    assert vpcd.receive() == b"\x6f\x00"
    card.set_handler(None)  # back to the default card
    vpcd.send(SELECT_APP)
    assert vpcd.receive() == b"\x90\x00"


def test_insert_without_vpcd_raises_oserror() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        free_port = probe.getsockname()[1]
    with pytest.raises(OSError):
        CardEmulator(port=free_port).insert(timeout_s=1)


def test_memory_card_reads_writes_and_refuses_bad_commands() -> None:
    memory: MemoryCard = default_card()
    assert memory(bytes.fromhex("00B0000004")) == b"\x69\x82"  # no application selected
    assert memory(SELECT_APP) == b"\x90\x00"
    assert memory(bytes.fromhex("00A4000C020002")) == b"\x90\x00"
    assert memory(bytes.fromhex("00D6003E03AABBCC")) == b"\x6b\x00"  # past the end of a 64-byte file
    assert memory(bytes.fromhex("00D6003C03AABBCC")) == b"\x90\x00"
    assert memory(bytes.fromhex("00B0003C04")) == bytes.fromhex("AABBCC00") + b"\x90\x00"
    assert memory(bytes.fromhex("00CA005A00")) == bytes.fromhex("1000000000000042") + b"\x90\x00"
    assert memory(bytes.fromhex("00CA9F7F00")) == b"\x6a\x88"
    assert memory(bytes.fromhex("00A4000C029999")) == b"\x6a\x82"
    assert memory(b"\x00\xb0") == b"\x67\x00"
    assert memory(bytes.fromhex("00B00000050102")) == b"\x67\x00"  # Lc does not match the data
    assert memory(bytes.fromhex("80CA005A00")) == b"\x6e\x00"
    assert parse_apdu(bytes.fromhex("00B0000000")) is not None
    assert parse_apdu(bytes.fromhex("00B0000000")).le == 256  # type: ignore[union-attr]
