"""Authentication and fragmentation layer (CI 0x90), EN 13757-7."""

from __future__ import annotations

from dataclasses import dataclass

from meterd.wmbus.errors import DecodeError

# MCL bits 3-0: authentication type → MAC length in bytes.
_MAC_LENGTHS = {0: 0, 3: 2, 4: 4, 5: 8, 6: 12, 7: 16}


@dataclass(slots=True)
class Afl:
    fcl: int
    mcl: int | None = None
    key_info: int | None = None
    counter: bytes | None = None  # MCR, wire order
    mac: bytes | None = None
    message_length: bytes | None = None

    @property
    def fragment_id(self) -> int:
        return self.fcl & 0xFF

    @property
    def more_fragments(self) -> bool:
        return bool(self.fcl & 0x4000)

    def mac_input_prefix(self) -> bytes:
        """MCL ‖ MCR ‖ [ML]: what precedes the TPL in the MAC input."""
        out = bytes([self.mcl or 0])
        if self.counter is not None:
            out += self.counter
        if self.message_length is not None:
            out += self.message_length
        return out


def parse_afl(payload: bytes) -> tuple[Afl, int]:
    """Parse the AFL at payload[0] (CI 0x90); returns it and the offset of the next CI."""
    if len(payload) < 4:
        raise DecodeError("too_short", "AFL header truncated")
    afl_len = payload[1]
    end = 2 + afl_len
    if len(payload) < end + 1 or afl_len < 2:
        raise DecodeError("too_short", f"AFL length {afl_len} exceeds the telegram")
    fcl = payload[2] | (payload[3] << 8)
    afl = Afl(fcl)
    p = 4
    if fcl & 0x2000:
        afl.mcl = payload[p]
        p += 1
    if fcl & 0x0200:
        afl.key_info = payload[p] | (payload[p + 1] << 8)
        p += 2
    if fcl & 0x0800:
        afl.counter = payload[p : p + 4]
        p += 4
    if fcl & 0x0400:
        at = (afl.mcl or 0) & 0x0F
        mac_len = _MAC_LENGTHS.get(at)
        if mac_len is None:
            raise DecodeError("bad_record", f"AFL authentication type {at} not supported")
        afl.mac = payload[p : p + mac_len]
        p += mac_len
    if fcl & 0x1000:
        afl.message_length = payload[p : p + 2]
        p += 2
    if p != end:
        raise DecodeError("bad_length", f"AFL length {afl_len} does not match its fields ({p - 2})")
    return afl, end
