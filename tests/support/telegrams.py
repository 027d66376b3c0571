"""Telegrams of our own making for the tests: plain and AES mode 5 water meters of any maker, and a
water meter (12345678, ABC) whose application layer a test gives."""

from __future__ import annotations

from meterd.wmbus import Decoder
from meterd.wmbus import builder as b


def water(serial: str, maker: str, litres: int, acc: int, key: bytes | None = None, version: int = 0x01) -> bytes:
    """A water meter's telegram (short TPL) with its volume in litres; encrypted with `key` (mode 5)."""
    m, a = b.address(serial, maker, version, 0x07)
    apl = bytes.fromhex("0413") + litres.to_bytes(4, "little")
    payload = b.short_tpl(acc, 0) + apl if key is None else b.mode5_payload(key, m, a, acc, 0, apl)
    return b.wmbus_frame(0x44, m, a, payload)


def rtl_wmbus_line(frame: bytes, at: str, rssi: int) -> str:
    """One line of rtl_wmbus output: mode, CRC and 3-of-6 ok, the local time (UTC here), the RSSI."""
    return f"T1;1;1;{at};{rssi};{rssi};00000000;0x{frame.hex()}\n"


M, A = b.address("12345678", "ABC", 0x01, 0x07)  # a water meter
KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")


def plain(apl: bytes, status: int = 0, device_type: int = 0x07) -> bytes:
    m, a = b.address("12345678", "ABC", 0x01, device_type)
    return b.wmbus_frame(0x44, m, a, b.short_tpl(0x10, status) + apl)


def records_of(apl: bytes, **kw: int) -> list[dict]:
    out = Decoder().decode(plain(apl, **kw)).to_dict()
    assert out["ok"]
    return out["records"]


def one(apl_hex: str) -> dict:
    recs = records_of(bytes.fromhex(apl_hex))
    assert len(recs) == 1, recs
    return recs[0]
