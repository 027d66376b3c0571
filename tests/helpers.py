"""Hand-built telegrams for the tests."""

from __future__ import annotations

from meterd.wmbus import Decoder
from meterd.wmbus import builder as b

M, A = b.address("12345678", "ABC", 0x01, 0x07)  # a water meter
KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")


def plain(apl: bytes, status: int = 0, device_type: int = 0x07) -> bytes:
    m, a = b.address("12345678", "ABC", 0x01, device_type)
    return b.wmbus_frame(0x44, m, a, b.short_tpl(0x10, status) + apl)


def records_of(apl: bytes, **kw: int) -> list[dict]:
    out = Decoder().decode(plain(apl, **kw))
    assert out["ok"]
    return out["records"]


def one(apl_hex: str) -> dict:
    recs = records_of(bytes.fromhex(apl_hex))
    assert len(recs) == 1, recs
    return recs[0]
