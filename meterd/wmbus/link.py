"""Link layer: wM-Bus format A/B frames (CRCs detected and stripped) and wired M-Bus frames."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from struct import Struct
from struct import error as struct_error

from fastcrc import crc16

from meterd.wmbus.crc import EN13757_RESIDUE, crc16_en13757
from meterd.wmbus.errors import DecodeError

WMBUS = "wmbus"
MBUS = "mbus"
MBUS_ACK = "mbus_ack"
MBUS_SHORT = "mbus_short"


# Link-layer C fields of EN 13757-4 (SND-NKE, SND-UD/UD2/UD3, SND-NR, SND-IR, ACC-NR, ACC-DMD, REQ-UD1/2,
# ACK, NACK, CNF-IR, RSP-UD with their FCB/ACD variants): receivers use them to find frame starts.
WMBUS_C_FIELDS = frozenset(
    {0x40, 0x43, 0x53, 0x73, 0x55, 0x44, 0x46, 0x47, 0x48, 0x5A, 0x7A, 0x5B, 0x7B}
    | {base | fcb for base in (0x00, 0x01, 0x06, 0x08) for fcb in (0x00, 0x10, 0x20, 0x30)}
)


@dataclass(slots=True)
class LinkFrame:
    """One link-layer frame with CRCs removed. `payload` starts at the CI field."""

    kind: str
    c_field: int
    payload: bytes
    crc_format: str  # "A", "B", "none", "checksum"
    manufacturer: int = 0
    id_bytes: bytes = b""
    version: int = 0
    device_type: int = 0
    address: int | None = None  # wired M-Bus primary address
    warning: str | None = None  # a frame decoded despite a fault in its framing (the L field)
    descrambled: bool = False  # a vendor's scrambling was undone before the standard layers (vendors.prepare)

    @property
    def meter_id(self) -> str:
        return self.id_bytes[::-1].hex().upper()


def format_a_length(l_field: int) -> int:
    """Total bytes of a format A frame with CRCs for a given L."""
    data_after_block1 = max(l_field - 9, 0)
    blocks = 1 + (data_after_block1 + 15) // 16
    return l_field + 1 + 2 * blocks


def format_a_blocks(total: int) -> list[tuple[int, int]]:
    """(offset, data size) of each block of a format A frame of `total` bytes; a CRC follows each."""
    blocks = []
    pos, size = 0, 10
    while pos < total and size > 0:
        blocks.append((pos, size))
        pos += size + 2
        size = min(16, total - pos - 2)
    return blocks


@dataclass(frozen=True, slots=True)
class _FormatA:
    """A format A layout as two structs: its blocks with their CRCs, and its data alone. One C call
    each cuts a frame up (struct reads from the start of a longer buffer too, so trailing bytes such as a
    dongle's RSSI need no slicing off)."""

    blocks: Callable[[bytes], tuple[bytes, ...]]
    data: Callable[[bytes], tuple[bytes, ...]]


def _format_a_layout(total: int) -> _FormatA:
    blocks = format_a_blocks(total)
    with_crcs = "".join(f"{size + 2}s" for _, size in blocks)
    data = "".join(f"{size}s2x" for _, size in blocks)
    return _FormatA(Struct(with_crcs).unpack_from, Struct(data).unpack_from)


# the layout of every size a format A frame can have: looked up, not computed per frame
_FORMAT_A_LAYOUTS = {total: _format_a_layout(total) for total in {format_a_length(n) for n in range(256)}}


def _strip_format_a(frame: bytes, total: int | None = None) -> bytes | None:
    """The first `total` bytes (all when None) without their format A block CRCs; None when any block
    CRC is wrong."""
    total = len(frame) if total is None else total
    layout = _FORMAT_A_LAYOUTS.get(total) or _format_a_layout(total)
    crc = crc16.en_13757
    try:
        blocks = layout.blocks(frame)
    except struct_error:  # fewer bytes than the layout: no block ends with its CRC
        return None
    for block in blocks:
        if crc(block) != EN13757_RESIDUE:
            return None
    return b"".join(layout.data(frame))


def _format_b_ok(frame: bytes) -> bool:
    """Check the CRCs of a format B frame of exactly L+1 bytes."""
    n = len(frame)
    if n <= 127:
        return crc16_en13757(frame[: n - 2]) == int.from_bytes(frame[n - 2 :], "big")
    if crc16_en13757(frame[:125]) != int.from_bytes(frame[125:127], "big"):
        return False
    return crc16_en13757(frame[127 : n - 2]) == int.from_bytes(frame[n - 2 :], "big")


def _strip_format_b(frame: bytes) -> bytes:
    n = len(frame)
    if n <= 127:
        return frame[: n - 2]
    return frame[:125] + frame[127 : n - 2]


def parse_link(data: bytes, *, format_b: bool = True) -> LinkFrame:
    """Recognise the frame type and validate its length, CRCs or checksum. `format_b=False` reads a
    frame of L+1 bytes as one without CRCs even where its last two bytes pass as a format B CRC."""
    n = len(data)
    if n == 0:
        raise DecodeError("empty", "no telegram given")
    first = data[0]
    if n == 1 and first == 0xE5:
        return LinkFrame(MBUS_ACK, 0xE5, b"", "none")
    if first == 0x10 and n == 5 and data[4] == 0x16:
        if (data[1] + data[2]) & 0xFF != data[3]:
            raise DecodeError("bad_checksum", "short frame checksum mismatch")
        return LinkFrame(MBUS_SHORT, data[1], b"", "checksum", address=data[2])
    if first == 0x68 and n >= 4 and data[3] == 0x68 and data[1] == data[2]:
        return _parse_mbus_long(data)
    return _parse_wmbus(data, format_b)


def _parse_mbus_long(data: bytes) -> LinkFrame:
    length = data[1]
    n = len(data)
    if n < length + 6:
        raise DecodeError("bad_length", f"M-Bus long frame declares L={length} but has only {n - 6} bytes")
    if n > length + 6:
        raise DecodeError("bad_length", f"M-Bus long frame has {n - length - 6} bytes beyond its stop byte")
    if data[-1] != 0x16:
        raise DecodeError("bad_length", "M-Bus long frame does not end with stop byte 16")
    body = data[4 : 4 + length]
    if sum(body) & 0xFF != data[4 + length]:
        raise DecodeError("bad_checksum", f"checksum {data[4 + length]:02X} != computed {sum(body) & 0xFF:02X}")
    if length < 3:
        raise DecodeError("too_short", "M-Bus long frame without CI field")
    return LinkFrame(MBUS, body[0], body[2:], "checksum", address=body[1])


def _parse_wmbus(data: bytes, format_b: bool = True) -> LinkFrame:
    n = len(data)
    if n < 11:
        raise DecodeError("too_short", f"{n} bytes is shorter than a wM-Bus header with CI field")
    l_field = data[0]
    if l_field < 10:
        raise DecodeError("too_short", f"L field {l_field} is shorter than a wM-Bus header with CI field")
    if n in (l_field + 1, l_field + 2):
        frame = data[: l_field + 1]
        if format_b and _format_b_ok(frame):
            plain, crc_format = _strip_format_b(frame), "B"
        else:
            plain, crc_format = frame, "none"
    elif n == l_field - 1:
        plain, crc_format = data, "none"  # format B with its CRC stripped but L left as sent
    else:
        full = format_a_length(l_field)
        if n not in (full, full + 1):
            if l_field + 2 < n <= l_field + 1 + L_FIELD_SLACK:
                return _longer_than_l(data)
            raise DecodeError(
                "bad_length",
                f"{n} bytes fit L={l_field} neither without CRCs ({l_field + 1}) nor with format A CRCs ({full})",
            )
        stripped = _strip_format_a(data, full)
        if stripped is None:
            raise DecodeError("bad_crc", "format A block CRC mismatch")
        plain, crc_format = stripped, "A"
    return _wmbus_frame(plain, crc_format)


def _wmbus_frame(plain: bytes, crc_format: str, warning: str | None = None) -> LinkFrame:
    return LinkFrame(
        WMBUS,
        plain[1],
        plain[10:],
        crc_format,
        manufacturer=plain[2] | (plain[3] << 8),
        id_bytes=plain[4:8],
        version=plain[8],
        device_type=plain[9],
        warning=warning,
    )


# Bytes beyond L that are still read as the frame (published captures with a wrong L are 4 over);
# more than that is more likely two frames run together or garbage, and stays bad_length.
L_FIELD_SLACK = 4


def _longer_than_l(data: bytes) -> LinkFrame:
    """More bytes than L announces, and not a format A frame: some meters and dongles send a wrong L
    (seen in published captures). The bytes received are decoded, with a warning; when they are
    not a frame, the layers above fail on them with their own errors."""
    warning = f"L field says {data[0]} bytes follow but {len(data) - 1} were received; all were decoded"
    return _wmbus_frame(data, "none", warning)
