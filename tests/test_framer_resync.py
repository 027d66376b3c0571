"""Property: whatever garbage and however the reads are split, framers deliver every intact frame,
in order, never raise, and keep their buffers bounded."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from meterd.drivers.amb8465 import AMB8465Framer, amber_checksum
from meterd.drivers.cul import CULFramer
from meterd.drivers.frame import Frame
from meterd.drivers.framer import MAX_BUFFER, Framer
from meterd.drivers.im871a import IM871AFramer
from meterd.drivers.iu891a import IU891AFramer, slip_encode
from meterd.wmbus import builder as b
from meterd.wmbus.crc import crc16_x25

CLOCK = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731


def _telegram(n: int) -> bytes:
    """A distinct valid telegram per n (the meter ID carries n)."""
    m, a = b.address(f"{10000000 + n:08d}", "ELS", 0x33, 0x07)
    return b.wmbus_frame(0x44, m, a, b.short_tpl(n & 0xFF, 0) + bytes.fromhex("0413") + n.to_bytes(4, "little"))


def _im871a(t: bytes) -> bytes:
    body = bytes([0xC2, 0x03, t[0]]) + t[1:] + b"\x55"
    return b"\xa5" + body + crc16_x25(body).to_bytes(2, "little")


def _iu891a(t: bytes) -> bytes:
    body = bytes([0x09, 0x20]) + bytes(7) + b"\xba" + t
    return slip_encode(body + crc16_x25(body).to_bytes(2, "little"))


def _amber(t: bytes) -> bytes:
    frame = bytes([0xFF, 0x03, len(t)]) + t[1:] + b"\x20"
    return frame + bytes([amber_checksum(frame)])


def _cul(t: bytes) -> bytes:
    return b"b" + b.add_format_a_crcs(t).hex().upper().encode() + b"2FD8\r\n"


# receiver: (framer, how a telegram looks on its wire, what closes a run of garbage so that it cannot
# swallow the next frame's start: line-based CUL needs the end of the line; the others need nothing)
RECEIVERS = {
    "im871a": (IM871AFramer, _im871a, b""),
    "iu891a": (IU891AFramer, _iu891a, b""),
    "amb8465": (AMB8465Framer, _amber, b""),
    "cul": (CULFramer, _cul, b"\n"),
}


# garbage rich in the bytes framers look for: start bytes, plausible control bytes and lengths
_TRICKY = st.sampled_from([0xA5, 0xC2, 0x82, 0x02, 0x03, 0x10, 0xFF, 0xC0, 0xDB, 0xDC, ord("b"), ord("Y"), 0x0A])
GARBAGE = st.lists(st.one_of(_TRICKY, st.integers(0, 255)), max_size=40).map(bytes)


@settings(max_examples=200, deadline=None)
@given(
    receiver=st.sampled_from(sorted(RECEIVERS)),
    garbage=st.lists(GARBAGE, min_size=5, max_size=5),
    cuts=st.lists(st.integers(1, 400), max_size=12),
)
def test_intact_frames_survive_garbage_and_split_reads(receiver: str, garbage: list[bytes], cuts: list[int]) -> None:
    cls, wire, closer = RECEIVERS[receiver]
    telegrams = [_telegram(n) for n in range(4)]
    stream = b""
    for junk, telegram in zip(garbage, telegrams, strict=False):
        stream += junk + closer + wire(telegram)
    # trailing filler: a fake header in the garbage may claim up to 300 bytes; these let it be refuted
    stream += garbage[-1] + closer + bytes(600) + closer
    framer: Framer = cls(CLOCK)
    got: list[bytes] = []
    pos = 0
    for cut in [*cuts, len(stream)]:
        for item in framer.feed(stream[pos : pos + cut]):
            if isinstance(item, Frame):
                got.append(item.data)
        assert len(framer.buf) <= MAX_BUFFER
        pos += cut
        if pos >= len(stream):
            break
    if pos < len(stream):
        got += [i.data for i in framer.feed(stream[pos:]) if isinstance(i, Frame)]
    assert [g for g in got if g in telegrams] == telegrams  # every intact frame, in order
