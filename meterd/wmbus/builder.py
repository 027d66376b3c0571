"""Building telegrams: for tests, benchmarks, simulated devices and the demo capture.

The inverse of the decoder's layers, kept small: records are given as raw DIB/VIB + data bytes.
"""

from __future__ import annotations

from meterd.wmbus.crc import crc16_en13757
from meterd.wmbus.ell import Ell, ctr_prefix
from meterd.wmbus.manufacturer import encode_manufacturer
from meterd.wmbus.security import AesKey, mode5_iv


def address(meter_id: str, manufacturer: str, version: int, device_type: int) -> tuple[bytes, bytes]:
    """(M field 2 bytes, A field 6 bytes) in wire order."""
    m = encode_manufacturer(manufacturer).to_bytes(2, "little")
    a = bytes.fromhex(meter_id.zfill(8))[::-1] + bytes([version, device_type])
    return m, a


def wmbus_frame(c_field: int, m: bytes, a: bytes, payload: bytes) -> bytes:
    """L C M A payload, without CRCs."""
    body = bytes([c_field]) + m + a + payload
    return bytes([len(body)]) + body


def add_format_a_crcs(frame: bytes) -> bytes:
    out = bytearray()
    first = frame[:10]
    out += first + crc16_en13757(first).to_bytes(2, "big")
    for i in range(10, len(frame), 16):
        block = frame[i : i + 16]
        out += block + crc16_en13757(block).to_bytes(2, "big")
    return bytes(out)


def to_format_b(frame: bytes) -> bytes:
    """Recompute L to count CRCs and append format B CRCs (one or two blocks)."""
    body = frame[1:]
    total = len(body) + 1
    if total + 2 <= 127:
        f = bytes([len(body) + 2]) + body
        return f + crc16_en13757(f).to_bytes(2, "big")
    f = bytes([len(body) + 4]) + body
    block2, block3 = f[:125], f[125:]
    return block2 + crc16_en13757(block2).to_bytes(2, "big") + block3 + crc16_en13757(block3).to_bytes(2, "big")


def mbus_long_frame(c_field: int, address_: int, ci: int, data: bytes) -> bytes:
    body = bytes([c_field, address_, ci]) + data
    return bytes([0x68, len(body), len(body), 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])


def pad_blocks(apl: bytes) -> bytes:
    """Pad with 2F fillers to whole AES blocks."""
    return apl + b"\x2f" * (-len(apl) % 16)


def short_tpl(acc: int, status: int, mode: int = 0, blocks: int = 0) -> bytes:
    cf = (mode << 8) | (blocks << 4)
    return bytes([0x7A, acc, status]) + cf.to_bytes(2, "little")


def long_tpl(m: bytes, a: bytes, acc: int, status: int, mode: int = 0, blocks: int = 0) -> bytes:
    cf = (mode << 8) | (blocks << 4)
    return bytes([0x72]) + a[:4] + m + a[4:6] + bytes([acc, status]) + cf.to_bytes(2, "little")


def mode5_payload(key: bytes, m: bytes, a: bytes, acc: int, status: int, apl: bytes, plain_tail: bytes = b"") -> bytes:
    """Short TPL + AES-CBC encrypted APL (2F2F prefixed and padded by the caller or here)."""
    if apl[:2] != b"\x2f\x2f":
        apl = b"\x2f\x2f" + apl
    apl = pad_blocks(apl)
    enc = AesKey(key).cbc_encrypt(mode5_iv(m, a, acc), apl)
    return short_tpl(acc, status, 5, len(apl) // 16) + enc + plain_tail


def ell_ctr_payload(key: bytes, m: bytes, a: bytes, cc: int, acc: int, session: int, inner: bytes) -> bytes:
    """ELL CI 0x8D with AES-CTR: CC ACC SN ‖ enc(CRC ‖ inner)."""
    ell = Ell(0x8D, cc, acc, session)
    plain = crc16_en13757(inner).to_bytes(2, "little") + inner
    enc = AesKey(key).ctr_crypt(ctr_prefix(m, a, ell), plain)
    return bytes([0x8D, cc, acc]) + session.to_bytes(4, "little") + enc


def compact_apl(signature: int, data: bytes, full_crc: int = 0) -> bytes:
    """CI 0x79 + format signature + full-frame CRC + data."""
    return bytes([0x79]) + signature.to_bytes(2, "little") + full_crc.to_bytes(2, "little") + data


def compact_pair() -> tuple[bytes, bytes]:
    """A full frame that teaches a compact frame's format (CI 0x78), and a compact frame (CI 0x79) using it."""
    from meterd.wmbus.records import parse_layout
    from meterd.wmbus.signatures import format_signature

    m, a = address("11112222", "KAM", 0x1B, 0x16)
    full_apl = bytes.fromhex("0413") + (777).to_bytes(4, "little") + bytes.fromhex("02FD17") + b"\x00\x00"
    full = wmbus_frame(0x44, m, a, bytes([0x78]) + full_apl)
    fmt = parse_layout(full_apl).format_bytes
    compact = wmbus_frame(0x44, m, a, compact_apl(format_signature(fmt), (778).to_bytes(4, "little") + b"\x00\x00"))
    return full, compact
