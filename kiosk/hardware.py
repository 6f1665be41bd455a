"""Device objects the configuration selects, for the kiosk and for `kiosk devices`."""

from __future__ import annotations

from devices.card_api import CardReader
from kiosk.config import CardSection, ConfigError


def build_card_reader(section: CardSection) -> CardReader | None:
    """The configured card reader, not started; None when ``card.reader`` is empty.

    Raises ConfigError for a bad setting and RuntimeError when pyscard is not installed.
    """
    if section.reader == "sim":
        from devices.sim.card_reader_sim import SimCardReader

        return SimCardReader()
    if section.reader == "pcsc":
        from devices.card_reader import PcscCardReader

        if section.poll_s <= 0:
            raise ConfigError("configuration", "card.poll_s", "must be positive")
        return PcscCardReader(section.reader_name_pattern, poll_s=section.poll_s)
    return None


def describe_card_selection(section: CardSection) -> str:
    if section.reader == "sim":
        return "simulated reader (in-process)"
    if section.reader == "pcsc":
        pattern = f"name contains {section.reader_name_pattern!r}" if section.reader_name_pattern else "first reader"
        return f"PC/SC reader through pcscd ({pattern})"
    return "none"
