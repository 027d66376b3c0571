"""Per-meter AES keys held in memory. Loading them from files lives in meterd.keyfile (I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from meterd.ids import normalise_meter_id
from meterd.wmbus.security import AesKey, DesKey

__all__ = ["KeyRing", "normalise_meter_id", "parse_key"]


def parse_key(text: str) -> bytes:
    """32 hex digits → 16 bytes (AES-128), or 16 → 8 (DES, security mode 2); the message never echoes
    the key."""
    cleaned = text.strip().replace(" ", "")
    try:
        key = bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError("key is not hex") from None
    if len(key) not in (16, 8):
        raise ValueError(f"key must be 32 hex digits (AES-128) or 16 (DES), got {len(cleaned)}")
    return key


class KeyRing:
    """Meter ID → key, plus a bounded cache of ciphers for keys given per telegram."""

    def __init__(self, keys: Mapping[str, bytes] | Iterable[tuple[str, bytes]] = ()) -> None:
        self._by_meter: dict[str, AesKey] = {}
        self._by_bytes: dict[bytes, AesKey] = {}
        items = keys.items() if isinstance(keys, Mapping) else keys
        for meter_id, key in items:
            self.add(meter_id, key)

    def __repr__(self) -> str:
        return f"KeyRing({len(self._by_meter)} meters)"

    def __len__(self) -> int:
        return len(self._by_meter)

    def add(self, meter_id: str, key: bytes) -> None:
        self._by_meter[normalise_meter_id(meter_id)] = self.cipher(key)

    def get(self, meter_id: str) -> AesKey | None:
        return self._by_meter.get(meter_id)

    def cipher(self, key: bytes) -> AesKey:
        aes = self._by_bytes.get(key)
        if aes is None:
            if len(self._by_bytes) >= 10_000:
                self._by_bytes.clear()
            aes = self._by_bytes[key] = DesKey(key) if len(key) == 8 else AesKey(key)
        return aes
