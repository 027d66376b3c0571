"""Property tests: whatever bytes arrive, decoding returns an object and never raises."""

from __future__ import annotations

from conftest import load_vectors
from hypothesis import given, settings
from hypothesis import strategies as st
from support.telegrams import KEY, A, M, plain

from meterd.wmbus import Decoder
from meterd.wmbus import builder as b

SEEDS = [bytes.fromhex(v["telegram_hex"]) for v in load_vectors()] + [
    plain(bytes.fromhex("2F2F0413393000000DFD0E03332E31046D32371F15")),
    b.wmbus_frame(0x44, M, A, b.mode5_payload(KEY, M, A, 1, 0, bytes.fromhex("0413393000000C7811223344"))),
]
KEYS = [None, KEY, bytes.fromhex("0102030405060708090A0B0C0D0E0F11"), bytes.fromhex("000102030405060708090A0B0C0D0E0F")]


def _check(out: dict) -> None:
    assert isinstance(out["ok"], bool)
    if not out["ok"]:
        assert out["error"]["code"] != "internal_error", out
        assert isinstance(out["error"]["message"], str)
    else:
        assert isinstance(out.get("records", []), list)


@settings(max_examples=400, deadline=None)
@given(
    seed=st.sampled_from(SEEDS),
    flips=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, 300),
    key=st.sampled_from(KEYS),
)
def test_mutated_and_truncated_never_raise(
    seed: bytes, flips: list[tuple[int, int]], cut: int, key: bytes | None
) -> None:
    data = bytearray(seed)
    for pos, val in flips:
        if data:
            data[pos % len(data)] = val
    data = data[: max(cut, 1)] if cut < len(data) else data
    d = Decoder()
    _check(d.decode_hex(bytes(data).hex(), key).to_dict())
    _check(d.decode_hex(bytes(data).hex(), key).to_dict())  # second time through the caches


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    _check(Decoder().decode_hex(data.hex()).to_dict())


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=120))
def test_random_records_never_raise(apl: bytes) -> None:
    import json

    d = Decoder()
    out = d.decode_hex(plain(apl).hex()).to_dict()
    _check(out)
    assert json.loads(d.decode_hex_json(plain(apl).hex())) == out  # json: integers of any size stay exact


# records of the same length with other DIF/VIF bytes (and LVAR text): telegrams of equal length that a
# shared layout must tell apart
_RECORD = st.one_of(
    st.tuples(st.sampled_from(["0413", "0414", "4413", "0C13", "046D", "0493"]), st.binary(min_size=4, max_size=4)),
    st.tuples(st.sampled_from(["02FD17", "025B", "02FF20"]), st.binary(min_size=2, max_size=2)),
    st.tuples(st.sampled_from(["0D1303", "0DFD1103"]), st.binary(min_size=3, max_size=3)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.lists(_RECORD, min_size=1, max_size=4)), min_size=2, max_size=10))
def test_a_layout_shared_between_meters_reads_as_each_meter_alone(telegrams: list[tuple[int, list[tuple[str, bytes]]]]) -> None:
    """One decoder hearing several meters (whose layouts it shares where the structure bytes agree)
    gives for every telegram what a decoder that heard only that telegram gives."""
    shared = Decoder()
    for meter, records in telegrams:
        apl = b"".join(bytes.fromhex(head) + data for head, data in records)
        m, a = b.address(f"2000000{meter}", "ELS", 0x33, 0x07)
        frame = b.wmbus_frame(0x44, m, a, b.short_tpl(1, 0) + apl)
        assert shared.decode_bytes(frame).to_dict() == Decoder().decode_bytes(frame).to_dict(), frame.hex()
