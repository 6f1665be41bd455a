"""Device objects the configuration selects, for the kiosk and for `kiosk devices`."""

from __future__ import annotations

from pathlib import Path

from devices.card_api import CardReader
from devices.yearcard.terminal import Transmit
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


def build_psam(section: CardSection) -> CardReader | Transmit | None:
    """The PSAM in the kiosk's second reader slot; None when none is configured (no year-card journey).

    ``pcsc``: a second PC/SC reader named by ``card.psam_reader_name_pattern`` (only commands go to
    it: nobody watches it for cards).  ``sim``: a PSAM image answered in-process.
    """
    if section.reader == "pcsc" and section.psam_reader_name_pattern:
        from devices.card_reader import PcscCardReader

        return PcscCardReader(section.psam_reader_name_pattern, poll_s=section.poll_s)
    if section.reader == "sim" and section.sim_psam_image:
        if not Path(section.sim_psam_image).is_file():
            raise ConfigError("configuration", "card.sim_psam_image",
                              f"{section.sim_psam_image}: no such file (python -m devices.sim.yearcard demo makes one)")
        from devices.sim.yearcard_os import ImageError
        from kiosk.yearcard import sim_psam_channel

        try:
            return sim_psam_channel(section.sim_psam_image)
        except (ImageError, OSError) as exc:
            raise ConfigError("configuration", "card.sim_psam_image", f"not a PSAM image: {exc}") from None
    return None


def describe_card_selection(section: CardSection) -> str:
    if section.reader == "sim":
        return "simulated reader (in-process)"
    if section.reader == "pcsc":
        pattern = f"name contains {section.reader_name_pattern!r}" if section.reader_name_pattern else "first reader"
        return f"PC/SC reader through pcscd ({pattern})"
    return "none"
