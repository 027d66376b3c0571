"""Telegrams of several kinds for the benchmarks and the fuzz run (built, not captured)."""

from __future__ import annotations

from meterd.wmbus import builder as b

KEY = bytes.fromhex("0102030405060708090A0B0C0D0E0F11")
KEY_HEX = KEY.hex().upper()


def plain_records_40() -> bytes:
    """40 records in 147 bytes: a 163-byte telegram like the reference decoder's benchmark."""
    recs = bytearray()
    recs += bytes.fromhex("0C13") + bytes.fromhex("27048502")  # volume, 8-digit BCD
    recs += bytes.fromhex("046D") + bytes.fromhex("32371F15")  # date and time, type F
    recs += bytes.fromhex("02FD17") + bytes.fromhex("0000")  # error flags
    recs += bytes.fromhex("426C") + bytes.fromhex("FE04")  # date, type G, storage 1
    for i in range(18):
        recs += bytes.fromhex("4213") + (1000 + i).to_bytes(2, "little")  # historic volume, 16-bit
        recs += bytes.fromhex("0159") + bytes([20 + i])  # flow temperature, 8-bit
    assert len(recs) == 147
    return bytes(recs)


def plain_telegram() -> bytes:
    m, a = b.address("12345678", "ELS", 0x1B, 0x07)
    apl = b"\x2f" + plain_records_40()  # one idle filler: 163 bytes in all
    payload = b.short_tpl(0x2A, 0x00) + apl
    return b.wmbus_frame(0x44, m, a, payload)


def mode5_telegram() -> bytes:
    """The OMS example's shape: 2 encrypted blocks, format A CRCs and an RSSI byte: 58 bytes."""
    return b.add_format_a_crcs(mode5_telegram_nocrc()) + b"\xc4"


def mode5_telegram_nocrc() -> bytes:
    """Same without CRCs (47 bytes; the shape the vectorised batch path takes)."""
    m, a = b.address("12345678", "ELS", 0x33, 0x07)
    apl = bytes.fromhex("2F2F0C1427048502046D32371F1502FD170000")
    return b.wmbus_frame(0x44, m, a, b.mode5_payload(KEY, m, a, 0x2A, 0x00, apl))


def ell_ctr_telegram() -> bytes:
    m, a = b.address("87654321", "KAM", 0x1B, 0x16)
    inner = bytes.fromhex("78") + bytes.fromhex("0413") + (4321).to_bytes(4, "little") + bytes.fromhex("02FD170000")
    return b.wmbus_frame(0x44, m, a, b.ell_ctr_payload(KEY, m, a, 0x20, 0x11, 0x20000001, inner))


