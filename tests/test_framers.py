"""Receiver framers with byte strings: framing, checksums/CRCs, RSSI, resynchronisation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meterd.drivers.amb8465 import AMB8465Framer
from meterd.drivers.cul import CULFramer
from meterd.drivers.frame import Frame, FramingError
from meterd.drivers.framer import UnsupportedMode
from meterd.drivers.im871a import IM871AFramer
from meterd.drivers.iu891a import IU891AFramer, slip_decode, slip_encode
from meterd.drivers.rc1180 import RC1180Framer
from meterd.wmbus import Decoder
from meterd.wmbus import builder as b
from meterd.wmbus.crc import crc16_x25

TELEGRAM = bytes.fromhex(
    "2E4493157856341233037A2A0000002F2F0C1427048502046D32371F1502FD1700002F2F2F2F2F2F2F2F2F2F2F2F2F"
)
CLOCK = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731


def frames(items: list[Frame | FramingError]) -> list[Frame]:
    return [i for i in items if isinstance(i, Frame)]


def im871a_frame(telegram: bytes, rssi_raw: int = 85, crc: bool = True) -> bytes:
    flags = 0x4 | (0x8 if crc else 0)
    body = bytes([(flags << 4) | 0x02, 0x03, telegram[0]]) + telegram[1:] + bytes([rssi_raw])
    out = b"\xa5" + body
    return out + (crc16_x25(body).to_bytes(2, "little") if crc else b"")


def test_im871a_telegram_rssi_crc_and_resync() -> None:
    f = IM871AFramer(CLOCK)
    data = b"\x00\x13garbage" + im871a_frame(TELEGRAM) + im871a_frame(TELEGRAM, crc=False)
    items = f.feed(data[:20]) + f.feed(data[20:])  # split reads
    got = frames(items)
    assert [g.data for g in got] == [TELEGRAM, TELEGRAM]
    assert got[0].rssi_dbm == -80.0 and got[0].dongle == "im871a"
    assert any(isinstance(i, FramingError) for i in items)
    bad = bytearray(im871a_frame(TELEGRAM))
    bad[10] ^= 1
    assert frames(f.feed(bytes(bad))) == []
    assert Decoder().decode(got[0].data).to_dict()["total_m3"] == 28504.27


def test_im871a_commands_and_device_info() -> None:
    f = IM871AFramer()
    assert f.init_commands("c1,t1") == [bytes.fromhex("A5010306000 20A300100".replace(" ", ""))]
    assert f.init_commands("t1")[0][6] == 0x03
    with pytest.raises(UnsupportedMode):
        f.init_commands("n1")
    f.feed(bytes.fromhex("A5011003330101"))
    assert f.identified() is not None


def test_iu891a_slip_telegram() -> None:
    body = bytes([0x09, 0x20]) + bytes(7) + (-70 & 0xFF).to_bytes(1, "big") + TELEGRAM
    frame = slip_encode(body + crc16_x25(body).to_bytes(2, "little"))
    f = IU891AFramer(CLOCK)
    got = frames(f.feed(b"\xc0junk" + frame[:5]) + f.feed(frame[5:]))
    assert [g.data for g in got] == [TELEGRAM] and got[0].rssi_dbm == -70.0
    broken = bytearray(frame)
    broken[8] ^= 0xFF
    assert any(i.code == "bad_crc" for i in f.feed(bytes(broken)) if isinstance(i, FramingError))


def test_slip_escapes_special_bytes() -> None:
    body = bytes([0x09, 0x20]) + bytes(7) + b"\x00" + b"\x0b\x44\xc0\xdb" + bytes(8)
    frame = slip_encode(body + crc16_x25(body).to_bytes(2, "little"))
    assert frame.count(b"\xc0") == 2
    got = frames(IU891AFramer(CLOCK).feed(frame))
    assert got[0].data == b"\x0b\x44\xc0\xdb" + bytes(8)


def test_amb8465_command_and_transparent_frames() -> None:
    f = AMB8465Framer(CLOCK, transparent=True)
    data = TELEGRAM[1:] + bytes([0xD8])  # C..., RSSI raw -40 → -94 dBm
    cmd = bytes([0xFF, 0x03, len(data)]) + data
    cmd += bytes([__import__("functools").reduce(lambda a, c: a ^ c, cmd, 0)])
    got = frames(f.feed(b"\x01\x02" + cmd + TELEGRAM + b"\x20"))
    assert [g.data for g in got] == [TELEGRAM, TELEGRAM]
    assert got[0].rssi_dbm == -94.0 and got[1].rssi_dbm == -58.0
    assert f.init_commands("t1") == [bytes.fromhex("FF0A020046B1"), bytes.fromhex("FF040108F2")]  # settings, mode
    bad = bytearray(cmd)
    bad[-1] ^= 1
    assert frames(AMB8465Framer(CLOCK).feed(bytes(bad))) == []  # command mode resynchronises on FF only


def amber_settings(cmd_out: int, rssi: int) -> bytes:
    """CMD_GET_CNF for positions 0-69 with UART_CMD_Out_Enable (5) and RSSI_Enable (69) as given."""
    values = bytearray(70)
    values[5], values[69] = cmd_out, rssi
    return AMB8465Framer.command(0x8A, bytes([0, 70]) + bytes(values))


def test_amber_follows_its_settings() -> None:
    """A factory module (transparent output) and one with FF 03 frames without RSSI byte."""
    f = AMB8465Framer(CLOCK)  # assumes FF framing until the settings come
    got = frames(f.feed(amber_settings(cmd_out=0, rssi=1) + TELEGRAM + b"\x20" + TELEGRAM + b"\x30"))
    assert [(g.data, g.rssi_dbm) for g in got] == [(TELEGRAM, -58.0), (TELEGRAM, -50.0)] and f.transparent
    g = AMB8465Framer(CLOCK)
    no_rssi = AMB8465Framer.command(0x03, TELEGRAM[1:])
    got = frames(g.feed(amber_settings(cmd_out=1, rssi=0) + no_rssi + no_rssi))
    assert [(x.data, x.rssi_dbm) for x in got] == [(TELEGRAM, None), (TELEGRAM, None)]
    h = AMB8465Framer(CLOCK, transparent=True)
    got = frames(h.feed(amber_settings(cmd_out=0, rssi=0) + TELEGRAM + TELEGRAM))
    assert [(x.data, x.rssi_dbm) for x in got] == [(TELEGRAM, None), (TELEGRAM, None)]


def rc1180_memory(rssi_mode: int, mbus_mode: int = 1) -> bytes:
    """The 256-byte configuration memory an RC1180 lists for `0` (factory values, ID 12345678)."""
    memory = bytearray(b"\xff" * 256)
    memory[0:6] = bytes([12, 5, 3, mbus_mode, 0, rssi_mode])
    memory[0x1B:0x1F] = bytes.fromhex("78563412")
    memory[0x30] = 5  # 19200 Bd
    return bytes(memory)


def test_rc1180_raw_frames_and_t1_only() -> None:
    f = RC1180Framer(CLOCK, rssi_byte=True)
    got = frames(f.feed(b"\x05\x06" + TELEGRAM + b"\x80"))
    assert [g.data for g in got] == [TELEGRAM] and got[0].rssi_dbm == -64.0
    with pytest.raises(UnsupportedMode):
        f.init_commands("c1")
    assert f.init_commands("t1") == [b"0", b"X"]  # read the configuration memory, leave configuration mode


def test_rc1180_learns_its_rssi_byte_from_the_configuration_memory() -> None:
    f = RC1180Framer(CLOCK)  # RSSI byte off until the module says otherwise (the factory setting)
    assert frames(f.feed(b">")) == [] and f.identified() == "RC1180 (config prompt)"
    f.feed(rc1180_memory(rssi_mode=1)[:100])  # the listing arrives in pieces
    got = frames(f.feed(rc1180_memory(rssi_mode=1)[100:] + b">" + TELEGRAM + b"\x80" + TELEGRAM + b"\x90"))
    assert [(g.data, g.rssi_dbm) for g in got] == [(TELEGRAM, -64.0), (TELEGRAM, -72.0)]
    assert f.identified() == "RC1180 12345678 (MBUS_MODE 1, RSSI byte on)" and f.mode_confirmed() is True
    g = RC1180Framer(CLOCK, rssi_byte=True)
    g.feed(b">")
    got = frames(g.feed(rc1180_memory(rssi_mode=0, mbus_mode=0) + b">" + TELEGRAM + TELEGRAM))
    assert [(x.data, x.rssi_dbm) for x in got] == [(TELEGRAM, None), (TELEGRAM, None)]
    assert g.mode_confirmed() is False  # in S1: meterd says so (it does not rewrite the module's memory)
    h = RC1180Framer(CLOCK)  # a module that answers the prompt but lists nothing: telegrams are not held back
    h.feed(b">")
    assert [x.data for x in frames(h.feed(TELEGRAM))] == [TELEGRAM] and h.memory is None


def test_cul_lines_with_crcs() -> None:
    """culfw passes the link CRCs on: the framer checks and strips them (format A, and B in `bY` lines)."""
    with_crc = b.add_format_a_crcs(TELEGRAM)
    f = CULFramer(CLOCK)
    line = b"b" + with_crc.hex().upper().encode() + b"2FD8\r\n"
    got = frames(f.feed(b"V 1.67 CUL868\r\n" + line[:30]) + f.feed(line[30:]))
    assert got[0].data == TELEGRAM and got[0].rssi_dbm == -94.0
    assert f.identified() == "V 1.67 CUL868"
    for at in (5, 30, len(line) - 12):  # a damaged first, middle and last block
        broken = bytearray(line)
        broken[at] = ord("0") if broken[at] != ord("0") else ord("1")
        items = f.feed(bytes(broken))
        assert frames(items) == [] and [i.code for i in items if isinstance(i, FramingError)] == ["bad_crc"]
    assert [i.code for i in f.feed(b"bXYZ\r\n") if isinstance(i, FramingError)] == ["garbage"]
    short = b"b" + with_crc[:-3].hex().encode() + b"2FD8\n"
    assert [i.code for i in f.feed(short) if isinstance(i, FramingError)] == ["bad_length"]
    fb = b.to_format_b(TELEGRAM)
    assert frames(f.feed(b"bY" + fb.hex().encode() + b"0000\n"))[0].data == TELEGRAM  # L without the CRCs
    bad_b = bytearray(fb)
    bad_b[-1] ^= 0x01
    assert [i.code for i in f.feed(b"bY" + bytes(bad_b).hex().encode() + b"0000\n") if isinstance(i, FramingError)] == [
        "bad_crc"
    ]
    assert frames(f.feed(b"b" + TELEGRAM.hex().encode() + b"0000\n"))[0].data == TELEGRAM  # came without CRCs
    assert f.init_commands("c1") == [b"brc\r\n", b"X21\r\n"]


def test_buffers_are_bounded() -> None:
    """Only an unfinished frame is kept, and never more than 4096 bytes of it; complete frames in a
    large read are all delivered."""
    f = CULFramer(CLOCK)
    items = f.feed(b"b" + b"A" * 10_000)  # a line that never ends
    assert len(f.buf) <= 4096 and any(i.code == "overflow" for i in items if isinstance(i, FramingError))
    f = CULFramer(CLOCK)
    line = b"b" + b.add_format_a_crcs(TELEGRAM).hex().encode() + b"2FD8\r\n"
    assert len(frames(f.feed(line * 100))) == 100 and len(line * 100) > 4096
    g = AMB8465Framer(CLOCK)
    assert frames(g.feed(b"\xff\x03\xff" + b"\x00" * 10_000)) == [] and len(g.buf) <= 4096


def test_raw_frames_need_a_link_layer_c_field() -> None:
    """RC1180 / Amber transparent output has no start byte: a byte is a frame start only when L is
    plausible and the next byte is an EN 13757-4 C field."""
    f = RC1180Framer(CLOCK)
    items = f.feed(b"\x20\x99" + TELEGRAM + b"\x80")  # 0x20 would be a length, but 0x99 is no C field
    assert [fr.data for fr in frames(items)] == [TELEGRAM]
    assert sum(1 for i in items if isinstance(i, FramingError)) == 2


def test_slip_escapes() -> None:
    body = bytes([0x09, 0x20, 0xC0, 0xDB, 0x01, 0xDB, 0xDC])
    encoded = slip_encode(body)
    assert encoded.count(0xC0) == 2 and slip_decode(encoded[1:-1]) == body
    assert slip_decode(b"\x01\xdb\x02") is None  # DB must start DB DC or DB DD


def test_amber_bad_checksum_inside_a_run_of_frames() -> None:
    cmd = AMB8465Framer.command(0x03, TELEGRAM[1:] + b"\x20")
    bad = bytearray(cmd)
    bad[5] ^= 0x01
    got = frames(AMB8465Framer(CLOCK).feed(cmd + bytes(bad) + cmd))
    assert [fr.data for fr in got] == [TELEGRAM, TELEGRAM]


def test_answers_kept_are_bounded() -> None:
    """A noisy line produces "answers" for as long as the port is open: only the latest are kept."""
    f = CULFramer(CLOCK)
    for _ in range(1000):
        f.feed(b"noise\r\n")
    f.feed(b"V 1.67 CUL868\r\n")
    assert len(f.replies) <= 64 and f.identified() == "V 1.67 CUL868"


def test_rtl_wmbus_lines() -> None:
    """rtl_wmbus: `MODE;CRC_OK;3OF6_OK;time;pkt_rssi;cur_rssi;id;0x<hex>`, only `;1;1;` lines count."""
    from meterd.drivers.rtlwmbus import parse_rtlwmbus_line

    def one(line: str, now: datetime | None = None) -> Frame:
        (item,) = parse_rtlwmbus_line(line, now)
        assert isinstance(item, Frame), item
        return item

    hexed = TELEGRAM.hex()
    got = one(f"T1;1;1;2026-11-26 08:00:00.000;117;102;12345678;0x{hexed}\n")
    assert got.data == TELEGRAM and got.rssi_dbm == 117.0 and got.dongle == "rtlwmbus"
    assert got.received_at == datetime(2026, 11, 26, 8, tzinfo=UTC)
    # RSSI that is no whole number, a telegram without 0x, a field before the telegram, no RSSI
    got = one(f"C1;1;1;2026-11-26 08:00:00.000;-61.5;102;12345678;{hexed}")
    assert got.data == TELEGRAM and got.rssi_dbm == -61.5
    assert one(f"T1;1;1;2026-11-26 08:00:00.000;117;102;12345678;868.95;0x{hexed}").data == TELEGRAM
    assert one(f"T1;1;1;2026-11-26 08:00:00.000;n/a;102;12345678;0x{hexed}").rssi_dbm is None
    # two telegrams on one line, each in its own 0x field; a bare 0x line (no time: the time of reading)
    two = parse_rtlwmbus_line(f"C1;1;1;2026-11-26 08:00:00.000;117;102;12345678;0x{hexed};0x{hexed[:-2]}\n")
    assert [item.data for item in two if isinstance(item, Frame)] == [TELEGRAM, TELEGRAM[:-1]]
    assert one(f"0x{hexed}\n", now=CLOCK()).received_at == CLOCK()
    codes = {
        f"T1;0;1;2026-11-26 08:00:00.000;117;102;12345678;0x{hexed}": "bad_crc",
        f"T1;1;0;2026-11-26 08:00:00.000;117;102;12345678;0x{hexed}": "bad_crc",
        f"T1;1;1;2026-11-26 08:00:00.000;117;102;12345678;0x{hexed[:-1]}": "bad_hex",
        "rtl_wmbus starting, frequency 868.95 MHz": "bad_line",
    }
    for line, code in codes.items():
        (item,) = parse_rtlwmbus_line(line)
        assert isinstance(item, FramingError) and item.code == code, line
    assert parse_rtlwmbus_line("\n") == []
    fallback = datetime(2026, 1, 1, tzinfo=UTC)
    assert one(f"T1;1;1;yesterday;117;102;12345678;0x{hexed}", now=fallback).received_at == fallback


def test_capture_lines() -> None:
    from meterd.drivers.hexfile import parse_line

    hexed = TELEGRAM.hex().upper()
    got = parse_line(f"2026-11-26T08:00:00Z {hexed}\n")
    assert isinstance(got, Frame) and got.data == TELEGRAM and got.received_at == datetime(2026, 11, 26, 8, tzinfo=UTC)
    got = parse_line(f"2026-11-26T09:00:00+01:00 {hexed[:20]} {hexed[20:]}  # split by a space, with a comment")
    assert isinstance(got, Frame) and got.data == TELEGRAM and got.received_at == datetime(2026, 11, 26, 8, tzinfo=UTC)
    got = parse_line(hexed, now=CLOCK())
    assert isinstance(got, Frame) and got.received_at == CLOCK()
    assert parse_line("# route 7") is None and parse_line("   ") is None
    bad = parse_line(f"2026-11-26T08:00:00Z {hexed[:-1]}")
    assert isinstance(bad, FramingError) and bad.code == "bad_hex"


def test_cul_checks_every_block_crc() -> None:
    """x has order 151 modulo the EN 13757 polynomial: two bit errors 151 bits apart leave a CRC over the
    whole frame unchanged. Checked block by block (at most 144 bits each), they cannot cancel."""
    from fastcrc import crc16

    with_crc = bytearray(b.add_format_a_crcs(TELEGRAM))
    first, second = 20, 20 + 151  # bit positions: in the first block and in the second
    for bit in (first, second):
        with_crc[bit // 8] ^= 0x80 >> (bit % 8)
    good = b.add_format_a_crcs(TELEGRAM)
    assert crc16.en_13757(bytes(with_crc)) == crc16.en_13757(good)  # a whole-frame check would pass it
    items = CULFramer(CLOCK).feed(b"b" + bytes(with_crc).hex().encode() + b"2FD8\n")
    assert frames(items) == [] and [i.code for i in items if isinstance(i, FramingError)] == ["bad_crc"]
    assert Decoder().decode_bytes(bytes(with_crc)).to_dict()["error"]["code"] == "bad_crc"  # the decoder's link layer too
