"""Per-meter AES keys held in memory. Loading them from files lives in meterd.keyfile (I/O).

A key belongs to a meter, and a meter is its manufacturer and ID: serials are unique per maker only.
A key given with its maker opens only that maker's meter; one given without (key files and registers
that do not name makers) opens the meter of that ID whoever made it, unless a key of the very maker is
known."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from meterd.ids import normalise_manufacturer, normalise_meter_id
from meterd.wmbus.manufacturer import encode_manufacturer
from meterd.wmbus.security import AesKey, DesKey

__all__ = ["KeyRing", "KeysGiven", "MeterRef", "normalise_meter_id", "parse_key"]

# a key's meter: (manufacturer or "" for any, meter ID), or the ID alone (any maker)
MeterRef = tuple[str, str] | str
KeysGiven = Mapping[str, bytes] | Mapping[tuple[str, str], bytes] | Iterable[tuple[MeterRef, bytes]]


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


def m_field(manufacturer: str) -> bytes:
    """The two bytes of the M field of a manufacturer code, as telegrams carry them."""
    return encode_manufacturer(manufacturer).to_bytes(2, "little")


class KeyRing:
    """Meter → key, plus a bounded cache of ciphers for keys given per telegram."""

    def __init__(self, keys: KeysGiven = ()) -> None:
        self._by_meter: dict[str, AesKey] = {}  # keys for an ID whoever made the meter
        self._by_maker: dict[tuple[bytes, str], AesKey] = {}  # (M field, ID) → key
        self._by_bytes: dict[bytes, AesKey] = {}
        items: Iterable[tuple[MeterRef, bytes]] = keys.items() if isinstance(keys, Mapping) else keys
        for meter, key in items:
            if isinstance(meter, tuple):
                self.add(meter[1], key, meter[0])
            else:
                self.add(meter, key)

    def __repr__(self) -> str:
        return f"KeyRing({len(self)} meters)"

    def __len__(self) -> int:
        return len(self._by_meter) + len(self._by_maker)

    def add(self, meter_id: str, key: bytes, manufacturer: str = "") -> None:
        maker = normalise_manufacturer(manufacturer)
        if maker:
            self._by_maker[(m_field(maker), normalise_meter_id(meter_id))] = self.cipher(key)
        else:
            self._by_meter[normalise_meter_id(meter_id)] = self.cipher(key)

    def has(self, meter_id: str, manufacturer: str = "") -> bool:
        maker = normalise_manufacturer(manufacturer)
        if maker:
            return (m_field(maker), meter_id) in self._by_maker
        return meter_id in self._by_meter

    def get(self, meter_id: str, m_bytes: bytes | None = None) -> AesKey | None:
        """The key of the meter with this ID and (when known) these M-field bytes: the maker's own
        first, then one given for the ID alone."""
        if self._by_maker and m_bytes is not None:
            found = self._by_maker.get((m_bytes, meter_id))
            if found is not None:
                return found
        return self._by_meter.get(meter_id)

    def cipher(self, key: bytes) -> AesKey:
        aes = self._by_bytes.get(key)
        if aes is None:
            if len(self._by_bytes) >= 10_000:
                self._by_bytes.clear()
            aes = self._by_bytes[key] = DesKey(key) if len(key) == 8 else AesKey(key)
        return aes
