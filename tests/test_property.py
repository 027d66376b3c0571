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
