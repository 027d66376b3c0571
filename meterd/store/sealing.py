"""Meter keys at rest: sealed with AES-256-GCM under a key-encryption key (KEK) kept outside the store.

A database backup or replica holds only sealed keys. The KEK is a file of 64 hex digits readable by
its owner alone, never in the data directory by default (a backup of the directory would hold both),
found (first that applies) at `$METERD_KEK_FILE`, at `$CREDENTIALS_DIRECTORY/meterd-kek` (systemd
`LoadCredential=meterd-kek:/etc/meterd/kek`), at `/etc/meterd/kek` (an installed system), as
`meterd.kek` inside the data directory (stores made before; a warning says to move it), else beside the
data directory as `<data directory>.kek`.
The store keeps a check value of the KEK, so a wrong KEK is refused instead of yielding garbage keys.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from meterd.errors import MeterdError
from meterd.fileio import check_permissions, private_dir, write_private

KEK_FILE = "meterd.kek"
CREDENTIAL = "meterd-kek"
VERSION = b"\x01"
_CHECK_AAD = b"meterd kek check"


class KekError(MeterdError):
    code = "kek_error"


SYSTEM_KEK = Path("/etc/meterd/kek")


def kek_location(data_dir: Path) -> Path:
    """Where the KEK is looked for (see the module text)."""
    named = os.environ.get("METERD_KEK_FILE")
    if named:
        return Path(named)
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / CREDENTIAL).exists():
        return Path(creds) / CREDENTIAL
    if SYSTEM_KEK.exists():
        return SYSTEM_KEK
    inside = data_dir / KEK_FILE
    if inside.exists():
        import logging

        logging.getLogger("meterd.store").warning(
            "the key-encryption key %s lies inside the data directory, so a backup of the directory holds it "
            "beside the keys it protects: move it to %s (or /etc/meterd/kek, or a systemd credential)",
            inside, beside(data_dir))  # fmt: skip
        return inside
    return beside(data_dir)


def beside(data_dir: Path) -> Path:
    """The default KEK of a data directory: next to it, not in it."""
    folder = data_dir.resolve()
    return folder.parent / f"{folder.name}.kek"


@dataclass(frozen=True)
class Kek:
    """A loaded key-encryption key; its bytes are never printed."""

    path: Path
    _key: bytes

    def __repr__(self) -> str:
        return f"Kek({self.path})"

    @classmethod
    def generate(cls, path: Path) -> Kek:
        key = secrets.token_bytes(32)
        private_dir(path.parent)
        write_private(path, key.hex() + "\n")
        return cls(path, key)

    @classmethod
    def load(cls, path: Path) -> Kek:
        if not path.exists():
            raise KekError(f"no key-encryption key at {path} (set METERD_KEK_FILE or LoadCredential=meterd-kek)")
        try:
            check_permissions(path, "key-encryption key", "")
        except MeterdError as e:
            raise KekError(e.message) from None
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise KekError(
                f"no key-encryption key at {path} (set METERD_KEK_FILE or LoadCredential=meterd-kek)"
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise KekError(
                f"cannot read key-encryption key {path}: {getattr(e, 'strerror', None) or 'not text'}"
            ) from None
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise KekError(f"{path}: a key-encryption key is 64 hex digits (AES-256)")
        return cls(path, key)

    def seal(self, key: bytes, meter: str) -> bytes:
        """Version byte, 12-byte nonce, ciphertext and tag; bound to the meter it belongs to."""
        nonce = secrets.token_bytes(12)
        return VERSION + nonce + AESGCM(self._key).encrypt(nonce, key, meter.encode())

    def unseal(self, sealed: bytes, meter: str) -> bytes:
        if sealed[:1] != VERSION or len(sealed) < 1 + 12 + 16:
            raise KekError(f"meter {meter}: stored key is not sealed (run 'meterd db upgrade')")
        try:
            return AESGCM(self._key).decrypt(sealed[1:13], sealed[13:], meter.encode())
        except InvalidTag:
            raise KekError(f"meter {meter}: stored key does not open with the key-encryption key {self.path}") from None

    def check_value(self) -> str:
        """A value the store keeps to recognise this KEK (a GCM tag over nothing, with a fixed nonce)."""
        return AESGCM(self._key).encrypt(b"\x00" * 12, b"", _CHECK_AAD).hex()


def is_sealed(value: bytes) -> bool:
    return len(value) == 1 + 12 + 16 + 16 and value[:1] == VERSION
