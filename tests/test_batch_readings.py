"""Readings made straight from the batch decoder's columns equal what `from_telegram` makes of each
row's decoded object: every field, the reading id included."""

from __future__ import annotations

import random
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from support.records import RECORD_SHAPES
from support.telegrams import KEY

from meterd.batch_readings import Heard, Meters, batch_readings
from meterd.reading import Reading, Source, TimeBasis, from_telegram
from meterd.wmbus import Decoder
from meterd.wmbus import builder as b
from meterd.wmbus.batch import MIN_GROUP, decode_batch

LENGTHS = {"0413": 4, "0213": 2, "0113": 1, "0713": 8, "0C13": 4, "0B13": 3, "0513": 4, "046D": 4, "026C": 2,
           "0DFD0E03": 3, "04FF01": 4, "07FB10": 8, "0C78": 4, "0E13": 6, "841013": 4, "4413": 4, "0C3B": 4,
           "0459": 4, "02FD17": 2, "8C2013": 4, "046E": 4}  # fmt: skip
NOW = int(time.time())


def type_f(t: int) -> bytes:
    """A date and time of type F (CP32) for epoch seconds t (UTC)."""
    tm = time.gmtime(t)
    yy = tm.tm_year % 100
    return bytes([tm.tm_min, tm.tm_hour, tm.tm_mday | ((yy & 7) << 5), tm.tm_mon | ((yy >> 3) << 4)])


def expected(frames: list[bytes], heard: list[Heard], gateway: str) -> list[Reading | None]:
    batch = decode_batch(Decoder({"12345678": KEY}), frames)
    return [reading_of(batch.telegram(i), h, gateway) for i, h in enumerate(heard)]


def reading_of(obj: dict, h: Heard, gateway: str) -> Reading | None:
    return from_telegram(obj, h.received_at, gateway=gateway, receiver=h.receiver, rssi=h.rssi, raw=h.raw,
                         source=h.source, received_ms=h.received_ms)  # fmt: skip


def made(frames: list[bytes], heard: list[Heard], gateway: str, meters: Meters | None = None) -> list[Reading | None]:
    batch = decode_batch(Decoder({"12345678": KEY}), frames)
    out: list[Reading | None] = []
    for h, row in zip(heard, batch_readings(batch, heard, gateway, meters), strict=True):
        # a row the batch decoder did not vectorise comes as its object, for from_telegram
        out.append(row if isinstance(row, Reading) else reading_of(row, h, gateway))
    return out


def same(a: list[Reading | None], b_: list[Reading | None]) -> None:
    assert a == b_
    for x, y in zip(a, b_, strict=True):  # the fields equality leaves out, and the order of the registers
        if x is not None and y is not None:
            assert (x.raw, x.received_ms, list(x.registers.items())) == (y.raw, y.received_ms, list(y.registers.items()))


SHAPES = [*RECORD_SHAPES, "4413", "0C3B", "0459", "02FD17", "8C2013", "046E"]


@settings(max_examples=80, deadline=None)
@given(
    shapes=st.lists(st.sampled_from(SHAPES), min_size=1, max_size=6),
    seed=st.integers(0, 2**32),
    encrypted=st.booleans(),
    clock=st.booleans(),
)
def test_readings_from_columns_equal_from_telegram(shapes: list[str], seed: int, encrypted: bool, clock: bool) -> None:
    rng = random.Random(seed)
    m, a = b.address("12345678", "ELS", 0x33, 7)
    frames, heard = [], []
    for k in range(MIN_GROUP * 2):
        apl = b""
        for s in shapes:
            data = bytes(rng.randrange(256) for _ in range(LENGTHS[s]))
            if s == "046D" and clock:  # mostly near the receive time, now and then far from it
                data = type_f(NOW + rng.choice((0, -600, 3600, 10 * 86400)))
            apl += bytes.fromhex(s) + data
        acc, status = k & 0xFF, rng.choice((0, 0, 0x04, 0x10, 0x14))
        tpl = b.mode5_payload(KEY, m, a, acc, status, b.pad_blocks(b"\x2f\x2f" + apl)) if encrypted else b.short_tpl(acc, status) + apl
        frames.append(b.wmbus_frame(0x44, m, a, tpl))
        heard.append(Heard(NOW + k, (NOW + k) * 1000 + 7, rng.choice((None, -71.5)), frames[-1], "r1",
                           rng.choice(list(Source))))  # fmt: skip
    assert decode_batch(Decoder({"12345678": KEY}), frames).vectorised_rows > 0
    meters: Meters = {}  # what the gateway keeps from batch to batch: the second batch finds its meter there
    same(made(frames, heard, "gw1", meters), expected(frames, heard, "gw1"))
    same(made(frames, heard, "gw1", meters), expected(frames, heard, "gw1"))


def test_clock_basis_and_mixed_batches() -> None:
    """A meter clock in range is the measured-at; rows of several groups and scalar rows keep their places."""
    frames, heard = [], []
    for k in range(MIN_GROUP * 3):
        m, a = b.address(f"{60000000 + k % 4:08d}", ("ELS", "APA")[k % 2], 1, 7)
        if k % 3 == 0:
            apl = bytes.fromhex("0413") + k.to_bytes(4, "little") + bytes.fromhex("046D") + type_f(NOW - 120)
        elif k % 3 == 1:
            apl = bytes.fromhex("0C13") + bytes.fromhex(f"{k:08d}")[::-1] + bytes.fromhex("02FD17") + bytes([k, 0])
        else:
            apl = bytes.fromhex("0413")  # cut short: an error of the scalar decoder
        frames.append(b.wmbus_frame(0x44, m, a, b.short_tpl(k, 0x10 if k % 5 == 0 else 0) + apl))
        heard.append(Heard(NOW, None, None, frames[-1]))
    ours, theirs = made(frames, heard, ""), expected(frames, heard, "")
    same(ours, theirs)
    assert {r.basis for r in ours if r is not None} == {TimeBasis.METER_CLOCK, TimeBasis.ACCESS_NUMBER}
    assert [r is None for r in ours] == [k % 3 == 2 for k in range(len(frames))]
    assert next(r for r in ours if r is not None and r.basis is TimeBasis.METER_CLOCK).measured_at == (NOW - 120) // 60 * 60
