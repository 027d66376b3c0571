"""The vectorised batch path gives exactly what the scalar decoder gives, row by row and in order."""

from __future__ import annotations

import json
import random

import orjson
import pytest
from conftest import load_vectors
from hypothesis import given, settings
from hypothesis import strategies as st
from support.records import RECORD_SHAPES
from support.telegrams import KEY

from meterd.wmbus import Decoder
from meterd.wmbus import builder as b
from meterd.wmbus.batch import MIN_GROUP, decode_batch

RECORDS = bytes.fromhex("0C13") + b"%s" + bytes.fromhex("046D32371F15") + bytes.fromhex("02FD17") + b"%s"
METERS = [(f"{40000000 + i:08d}", ("ELS", "APA", "ZRI")[i % 3], 0x07 if i % 2 else 0x16) for i in range(12)]


def _telegram(rng: random.Random, encrypted: bool, crcs: bool, status: int) -> bytes:
    meter_id, mfr, dev = rng.choice(METERS)
    m, a = b.address(meter_id, mfr, 1, dev)
    volume = bytes.fromhex(f"{rng.randrange(10**8):08d}")[::-1]
    apl = (
        bytes.fromhex("2F2F0C13")
        + volume
        + bytes.fromhex("046D32371F1502FD17")
        + rng.randrange(4).to_bytes(2, "little")
    )
    acc = rng.randrange(256)
    payload = b.mode5_payload(KEY, m, a, acc, status, apl) if encrypted else b.short_tpl(acc, status) + apl
    frame = b.wmbus_frame(0x44, m, a, payload)
    return b.add_format_a_crcs(frame) if crcs else frame


def _decoder() -> Decoder:
    return Decoder({mid: KEY for mid, _, _ in METERS[:9]})  # three meters have no key


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), corrupt=st.integers(0, 5))
def test_batch_equals_scalar(seed: int, corrupt: int) -> None:
    rng = random.Random(seed)
    frames: list[bytes | None] = []
    for _ in range(MIN_GROUP * 6):
        t = bytearray(_telegram(rng, rng.random() < 0.5, rng.random() < 0.5, rng.choice((0, 0, 4, 0x10))))
        for _ in range(rng.randrange(corrupt + 1) if rng.random() < 0.2 else 0):
            t[rng.randrange(len(t))] = rng.randrange(256)
        frames.append(bytes(t))
    frames += [bytes.fromhex(v["telegram_hex"]) for v in load_vectors() if v["key"] is None]
    frames += [_telegram(rng, True, True, 0) for _ in range(MIN_GROUP * 2)]  # one clean group at least
    batch = decode_batch(_decoder(), frames)
    scalar = _decoder()
    expected = [scalar.decode_hex(f.hex()) for f in frames if f is not None]
    lines = batch.json_lines()
    assert [json.loads(x) for x in lines] == expected  # json: integers of any size stay exact
    assert [batch.telegram(i) for i in range(len(frames))] == expected
    assert batch.vectorised_rows > 0


def test_batch_keeps_input_order_for_stateful_rows() -> None:
    """Compact frames learn formats from earlier lines only (as the scalar decoder does)."""
    from meterd.wmbus.builder import compact_pair

    full, compact = compact_pair()
    batch = decode_batch(Decoder(), [compact, full, compact])
    assert batch.telegram(0)["error"]["code"] == "unknown_signature"
    assert batch.telegram(2)["total_m3"] == 0.778


def test_batch_totals_array() -> None:
    rng = random.Random(1)
    frames = [_telegram(rng, False, False, 0) for _ in range(MIN_GROUP * 2)]
    batch = decode_batch(Decoder(), frames)
    assert batch.vectorised_rows == len(frames)
    assert list(batch.total_m3) == [Decoder().decode(f)["total_m3"] for f in frames]




@settings(max_examples=60, deadline=None)
@given(
    shapes=st.lists(st.sampled_from(RECORD_SHAPES), min_size=1, max_size=6),
    tail=st.binary(max_size=5),
    seed=st.integers(0, 2**32),
)
def test_batch_equals_scalar_for_any_record_layout(shapes: list[str], tail: bytes, seed: int) -> None:
    """Same structure, random data bytes: every data type through the column converters."""
    from meterd.wmbus.records import parse_layout

    rng = random.Random(seed)
    lengths = {"0413": 4, "0213": 2, "0113": 1, "0713": 8, "0C13": 4, "0B13": 3, "0513": 4, "046D": 4, "026C": 2,
               "0DFD0E03": 3, "04FF01": 4, "07FB10": 8, "0C78": 4, "0E13": 6, "841013": 4}  # fmt: skip
    m, a = b.address("12345678", "ABC", 1, 7)
    frames: list[bytes | None] = []
    for _ in range(MIN_GROUP + 4):
        apl = b"".join(bytes.fromhex(s) + bytes(rng.randrange(256) for _ in range(lengths[s])) for s in shapes)
        if tail:
            apl += b"\x0f" + tail
        frames.append(b.wmbus_frame(0x44, m, a, b.short_tpl(1, 0) + apl))
    parse_layout(frames[0][15:])  # the shapes themselves are valid
    batch = decode_batch(Decoder(), frames)
    expected = [Decoder().decode_hex(f.hex()) for f in frames if f is not None]
    assert [json.loads(x) for x in batch.json_lines()] == expected  # json: integers of any size stay exact


def test_vendor_rows_take_the_scalar_path() -> None:
    from support.vendor_telegrams import MC21_FULL

    frames: list[bytes | None] = [bytes.fromhex(MC21_FULL)] * (MIN_GROUP * 2)
    batch = decode_batch(Decoder(), frames)
    assert batch.vectorised_rows == 0
    assert orjson.loads(batch.json_lines()[0]) == Decoder().decode_hex(MC21_FULL)


def test_vendor_meters_without_vendor_data_stay_vectorised() -> None:
    """A Kamstrup water meter sending only standard records: the vendor decoder has nothing to add."""
    m, a = b.address("76348799", "KAM", 0x1B, 0x16)
    frames: list[bytes | None] = [
        b.wmbus_frame(
            0x44,
            m,
            a,
            b.short_tpl(i, 0)
            + bytes.fromhex("0413")
            + (1000 + i).to_bytes(4, "little")
            + bytes.fromhex("046D32371F1502FD170000"),
        )
        for i in range(MIN_GROUP * 2)
    ]
    batch = decode_batch(Decoder(), frames)
    assert batch.vectorised_rows == len(frames)
    assert [orjson.loads(x) for x in batch.json_lines()] == [Decoder().decode(f) for f in frames if f]


def test_vendor_rows_in_vectorised_groups_equal_scalar() -> None:
    """Apator 16-2 and Hydrodigit telegrams (plain OMS shape + vendor data): columns, then the vendor decoder."""
    from support.vendor_telegrams import APATOR162, HYDRO3, HYDRO4

    apator = list(APATOR162)
    frames: list[bytes | None] = [
        bytes.fromhex(t) for t in [HYDRO3, HYDRO4, apator[1], apator[2]] for _ in range(MIN_GROUP + 1)
    ]
    batch = decode_batch(Decoder(), frames)
    expected = [Decoder().decode(f) for f in frames if f is not None]
    assert [json.loads(x) for x in batch.json_lines()] == expected  # json: integers of any size stay exact
    assert [batch.telegram(i) for i in range(len(frames))] == expected
    assert list(batch.total_m3) == [e["total_m3"] for e in expected]
    assert {e["driver"] for e in expected} == {"hydrodigit", "apator162"}


# -- every frame shape: the batch path, the scalar decoder and both JSON writers agree -----------------

SHAPE_KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")


def _shape_frames(shape: str, n: int) -> list[bytes]:
    """n telegrams of one frame shape, values and access numbers varying (a few of them damaged)."""
    from meterd.wmbus.security import AesKey, mode5_iv

    m, a = b.address("23456789", "ABC", 1, 7)
    frames = []
    for i in range(n):
        apl = bytes.fromhex("2F2F0413") + (1000 + 37 * i).to_bytes(4, "little") + bytes.fromhex("02FD17") + bytes([i, 0])
        acc, status = i & 0xFF, (0, 0x04, 0x10)[i % 3]
        if shape in ("short", "format_a", "format_b"):
            frame = b.wmbus_frame(0x44, m, a, b.short_tpl(acc, status) + apl)
        elif shape in ("mode5_short", "mode5_format_a"):
            frame = b.wmbus_frame(0x44, m, a, b.mode5_payload(SHAPE_KEY, m, a, acc, status, apl))
        elif shape == "long":
            frame = b.wmbus_frame(0x44, m, a, b.long_tpl(m, a, acc, status) + apl)
        elif shape == "mode5_long":
            padded = b.pad_blocks(apl)
            enc = AesKey(SHAPE_KEY).cbc_encrypt(mode5_iv(m, a, acc), padded)
            frame = b.wmbus_frame(0x44, m, a, b.long_tpl(m, a, acc, status, 5, len(padded) // 16) + enc)
        elif shape == "ell":
            frame = b.wmbus_frame(0x44, m, a, bytes([0x8C, 0x20, acc]) + b.short_tpl(acc, status) + apl)
        elif shape == "ell_ctr":
            inner = bytes([0x78]) + apl[2:]
            frame = b.wmbus_frame(0x44, m, a, b.ell_ctr_payload(SHAPE_KEY, m, a, 0x20, acc, 0x20000001 + i, inner))
        elif shape == "afl":
            frame = b.wmbus_frame(0x44, m, a, bytes([0x90, 0x02, 0x00, 0x00]) + b.short_tpl(acc, status) + apl)
        else:
            raise AssertionError(shape)
        if shape.endswith("format_a"):
            frame = b.add_format_a_crcs(frame)
        elif shape == "format_b":
            frame = b.to_format_b(frame)
        if i % 7 == 6:  # a damaged one now and then: its error must be the scalar decoder's too
            damaged = bytearray(frame)
            damaged[len(frame) // 2] ^= 0x5A
            frame = bytes(damaged)
        frames.append(frame)
    return frames


def _mode7_frames(n: int) -> tuple[list[bytes], dict[str, bytes]]:
    """The OMS mode 7 example (AFL with MAC) repeated: the first decodes, the repeats are replays, in order."""
    vector = next(v for v in load_vectors() if v["id"] == "oms-profileB-integrated-radio-mode7-afl")
    frame = bytes.fromhex(vector["telegram_hex"])
    return [frame] * n, {"12345678": bytes.fromhex(vector["key"])}  # the example's meter


SHAPES = ["short", "format_a", "format_b", "mode5_short", "mode5_format_a", "long", "mode5_long", "ell", "ell_ctr",
          "afl", "mode7"]  # fmt: skip
VECTORISED = {"short", "format_a", "mode5_short", "mode5_format_a"}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_frame_shape_decodes_alike_in_every_path(shape: str) -> None:
    """Batch rows (dicts and JSON lines), `Decoder.decode` and `Decoder.decode_json` give the same object
    for every frame shape, in input order (stateful rows included), whether numpy decoded the row or not."""
    from meterd.wmbus import DecodeError

    n = MIN_GROUP * 3
    if shape == "mode7":
        frames, keys = _mode7_frames(n)
    else:
        frames, keys = _shape_frames(shape, n), {"23456789": SHAPE_KEY}

    def scalar_json(d: Decoder, f: bytes) -> dict:
        try:
            return json.loads(d.decode_json(f))
        except DecodeError as e:
            return e.to_dict()

    batch = decode_batch(Decoder(keys), frames)
    expected = _scalar_run(keys, frames)
    assert [batch.telegram(i) for i in range(n)] == expected
    assert batch.telegrams() == expected
    assert [json.loads(line) for line in batch.json_lines()] == expected
    writer = Decoder(keys)
    assert [scalar_json(writer, f) for f in frames] == expected
    assert sum(o["ok"] for o in expected) >= (1 if shape == "mode7" else n // 2), expected[0]
    if shape in VECTORISED:
        assert batch.vectorised_rows >= n // 2
    else:
        assert batch.vectorised_rows == 0


def _scalar_run(keys: dict[str, bytes], frames: list[bytes]) -> list[dict]:
    """One scalar decoder over the frames in order (mode 7 counters and learned formats carry over)."""
    d = Decoder(keys)
    return [d.decode_bytes(f) for f in frames]


@settings(max_examples=60, deadline=None)
@given(apl=st.binary(min_size=0, max_size=8), crcs=st.booleans(), seed=st.integers(0, 2**32))
def test_short_telegrams_are_vectorised_and_equal_scalar(apl: bytes, crcs: bool, seed: int) -> None:
    """Telegrams of a record or two (a volume only: 21 bytes) go the vectorised way too, and whatever
    a short telegram holds, each row is what the scalar decoder says."""
    rng = random.Random(seed)
    frames = []
    for k in range(MIN_GROUP * 3):
        m, a = b.address(f"{50000000 + k % 5:08d}", "ELS", 0x33, 0x07)
        body = bytes.fromhex("0413") + rng.randrange(10**6).to_bytes(4, "little") if k % 3 else apl
        frame = b.wmbus_frame(0x44, m, a, b.short_tpl(k & 0xFF, 0) + body)
        frames.append(b.add_format_a_crcs(frame) if crcs else frame)
    batch = decode_batch(Decoder(), frames)
    scalar = Decoder()
    assert [batch.telegram(i) for i in range(len(frames))] == [scalar.decode_hex(f.hex()) for f in frames]
    assert batch.vectorised_rows >= MIN_GROUP
