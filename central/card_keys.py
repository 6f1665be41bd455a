"""The card issuer's master keys (年票卡 issuer): one JSON file in the central's secrets folder.

The five SM4 masters of :class:`devices.yearcard.crypto.MasterKeys` (purchase, TAC, public-file,
maintenance, load) live as hex in ``<CENTRAL_SECRETS_DIR>/issuer-keys.json`` (mode 0600). Only
``central init-secrets`` makes the file, and never over an existing one: every card made is
diversified from these masters, so a lost or replaced file makes every card unverifiable. The
central loads it at start; a missing or malformed file stops it with one line.

The central uses the TAC master (checks every debit's TAC), the maintenance master (the secure
update at a sale or renewal) and the public-file master; the purchase master belongs in the
kiosks' PSAMs, and is kept here because head office personalises the PSAMs too. In production
these keys would sit in a hardware security module and the central would ask it for each check;
a file is what this project can test end to end.

Nothing here logs, prints or reprs a key (``MasterKeys`` hides itself).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from central.config import Settings
from devices.yearcard.crypto import KEY_BYTES, MasterKeys

ISSUER_KEYS_FILE = "issuer-keys.json"
KEY_NAMES = ("purchase", "tac", "public", "maintenance", "load")


class IssuerKeysError(RuntimeError):
    """The issuer keys file is missing, unreadable or malformed (one line, never a key)."""


def issuer_keys_path(secrets_dir: Path) -> Path:
    return secrets_dir / ISSUER_KEYS_FILE


def encode_issuer_keys(keys: MasterKeys) -> str:
    """The file's text: one hex string per master key."""
    return json.dumps({name: getattr(keys, name).hex() for name in KEY_NAMES}, indent=2) + "\n"


def parse_issuer_keys(text: str, where: str) -> MasterKeys:
    """Parse the file's text; an IssuerKeysError names the file and the fault, never a value."""
    try:
        raw = json.loads(text)
    except ValueError:
        raise IssuerKeysError(f"{where}: not JSON") from None
    if not isinstance(raw, dict):
        raise IssuerKeysError(f"{where}: expected an object with the keys {', '.join(KEY_NAMES)}")
    values: dict[str, bytes] = {}
    for name in KEY_NAMES:
        value = raw.get(name)
        try:
            key = bytes.fromhex(value) if isinstance(value, str) else b""
        except ValueError:
            key = b""
        if len(key) != KEY_BYTES:
            raise IssuerKeysError(f"{where}: {name!r} must be {KEY_BYTES * 2} hex digits")
        values[name] = key
    return MasterKeys(**values)


def write_new_issuer_keys(secrets_dir: Path) -> bool:
    """Make the file with fresh random keys unless it exists; True when made (``init-secrets`` only)."""
    path = issuer_keys_path(secrets_dir)
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(encode_issuer_keys(MasterKeys.generate()))
    return True


def load_issuer_keys(settings: Settings) -> MasterKeys:
    """The issuer's master keys from the secrets folder; IssuerKeysError (one line) when unusable."""
    if settings.secrets_dir is None:
        raise IssuerKeysError(
            "CENTRAL_SECRETS_DIR is not set: the card issuer keys live there "
            "(`python -m central init-secrets` makes them for a new central)"
        )
    path = issuer_keys_path(settings.secrets_dir)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise IssuerKeysError(
            f"{path}: the card issuer keys are missing; restore the central's secrets folder "
            "(every card made depends on them), or run `python -m central init-secrets` for a new chain"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IssuerKeysError(f"cannot read the card issuer keys {path}: {type(exc).__name__}") from None
    return parse_issuer_keys(text, str(path))
