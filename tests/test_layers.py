"""Link layer, ELL, AFL, TPL and security: formats, CRCs, keys, errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.telegrams import KEY, A, M, plain

from meterd.wmbus import DecodeError, Decoder
from meterd.wmbus import builder as b
from meterd.wmbus.link import parse_link

APL = bytes.fromhex("2F2F04133930000002FD170000")


def code_of(telegram: bytes | str, key: bytes | None = None, decoder: Decoder | None = None) -> str:
    d = decoder or Decoder()
    out = d.decode_hex(telegram if isinstance(telegram, str) else telegram.hex(), key).to_dict()
    assert not out["ok"], out
    return str(out["error"]["code"])


def test_format_a_b_and_none_decode_alike() -> None:
    frame = plain(APL)
    with_a = b.add_format_a_crcs(frame)
    with_b = b.to_format_b(frame)
    assert parse_link(frame).crc_format == "none"
    assert parse_link(with_a).crc_format == "A"
    assert parse_link(with_b).crc_format == "B"
    outs = [Decoder().decode(f).to_dict() for f in (frame, with_a, with_b, frame + b"\xc4", with_a + b"\xc4", with_b + b"\xc4")]
    assert all(o["records"] == outs[0]["records"] for o in outs)
    assert outs[0]["total_m3"] == 12.345


def test_format_b_with_three_blocks() -> None:
    long_apl = b"\x2f\x2f" + bytes.fromhex("041301000000") * 25  # > 115 bytes after block 1
    frame = plain(long_apl)
    fb = b.to_format_b(frame)
    assert parse_link(fb).crc_format == "B"
    assert Decoder().decode(fb).to_dict()["total_m3"] == 0.001


def test_bad_crc_and_length() -> None:
    with_a = bytearray(b.add_format_a_crcs(plain(APL)))
    with_a[15] ^= 0x01
    assert code_of(bytes(with_a)) == "bad_crc"
    assert code_of(plain(APL)[:-3]) == "bad_length"
    assert code_of("0102") == "too_short"
    from meterd.wmbus.link import _strip_format_a

    frame = b.add_format_a_crcs(plain(APL))
    assert _strip_format_a(frame + b"\xc4", len(frame)) == plain(APL)  # trailing bytes (RSSI) are not read
    assert _strip_format_a(frame[:11], 13) is None  # fewer bytes than the layout: no CRC to check


def test_wired_mbus_frames() -> None:
    frame = b.mbus_long_frame(0x08, 0x05, 0x72, bytes.fromhex("785634120104010755000000") + APL[2:])
    out = Decoder().decode(frame).to_dict()
    assert out["frame"] == "mbus" and out["address"] == 5 and out["total_m3"] == 12.345
    broken = bytearray(frame)
    broken[-2] ^= 0xFF
    assert code_of(bytes(broken)) == "bad_checksum"
    assert Decoder().decode(bytes([0xE5])).to_dict() == {
        "ok": True,
        "frame": "mbus_ack",
        "records": [],
        "total_m3": None,
        "alarms": [],
    }
    short = Decoder().decode(bytes.fromhex("105B015C16")).to_dict()
    assert short["frame"] == "mbus_short" and short["c_field"] == 0x5B and short["address"] == 1
    assert code_of("105B015D16") == "bad_checksum"


def test_mode5_right_wrong_and_missing_key() -> None:
    frame = b.wmbus_frame(0x44, M, A, b.mode5_payload(KEY, M, A, 0x33, 0, APL))
    out = Decoder().decode(frame, KEY).to_dict()
    assert out["security_mode"] == 5 and out["decrypted"] and out["total_m3"] == 12.345
    assert code_of(frame, bytes(16)) == "decrypt_failed"
    assert code_of(frame) == "no_key"
    assert Decoder({"12345678": KEY}).decode(frame).to_dict()["total_m3"] == 12.345  # key from the key ring


def test_mode5_partial_encryption() -> None:
    tail = bytes.fromhex("0C7811223344")
    frame = b.wmbus_frame(0x44, M, A, b.mode5_payload(KEY, M, A, 0x33, 0, APL, plain_tail=tail))
    recs = Decoder().decode(frame, KEY).to_dict()["records"]
    assert recs[-1]["quantity"] == "fabrication_no" and recs[-1]["value"] == "44332211"


def test_already_decrypted_payload_is_accepted() -> None:
    apl = b.pad_blocks(APL)
    frame = b.wmbus_frame(0x44, M, A, b.short_tpl(0x33, 0, 5, len(apl) // 16) + apl)
    out = Decoder().decode(frame).to_dict()
    assert out["ok"] and out["total_m3"] == 12.345


def test_ell_ctr_encryption() -> None:
    inner = bytes.fromhex("78") + APL[2:]
    frame = b.wmbus_frame(0x44, M, A, b.ell_ctr_payload(KEY, M, A, 0x20, 0x11, 0x20000001, inner))
    assert Decoder().decode(frame, KEY).to_dict()["total_m3"] == 12.345
    assert code_of(frame, bytes(16)) == "decrypt_failed"
    assert code_of(frame) == "no_key"
    # hop and repeated-access bits are not part of the counter block
    frame_hop = b.wmbus_frame(0x44, M, A, b.ell_ctr_payload(KEY, M, A, 0x20, 0x11, 0x20000001, inner))
    payload = bytearray(frame_hop)
    payload[12] |= 0x12
    assert Decoder().decode(bytes(payload), KEY).to_dict()["total_m3"] == 12.345


def test_ell_ctr_already_decrypted() -> None:
    from meterd.wmbus.crc import crc16_en13757

    inner = bytes.fromhex("78") + APL[2:]
    payload = (
        bytes([0x8D, 0x20, 0x11]) + (0x20000001).to_bytes(4, "little") + crc16_en13757(inner).to_bytes(2, "little")
    )
    out = Decoder().decode(b.wmbus_frame(0x44, M, A, payload + inner)).to_dict()
    assert out["ok"] and out["total_m3"] == 12.345


MODE7 = (
    "434493157856341233037AC98C2075900F002C25B30A000021924D4FBA372FB66E017A75002007109058475F4BC9D1281DF878B80A1B"
    "0F98B629024AAC7279429398BFC549233C0140829B93BAA1"
)
MODE7_KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")


def test_mode7_mac_mismatch_and_replay() -> None:
    d = Decoder()
    assert d.decode_hex(MODE7, MODE7_KEY).to_dict()["ok"]
    assert code_of(MODE7, MODE7_KEY, d) == "replay"
    assert code_of(MODE7, bytes(16)) == "mac_mismatch"
    # flip a ciphertext bit in the CRC-less frame: the link layer cannot tell, the MAC must
    from meterd.wmbus.link import _strip_format_a

    stripped = bytearray(_strip_format_a(bytes.fromhex(MODE7)) or b"")
    stripped[-3] ^= 0x01
    assert code_of(bytes(stripped), MODE7_KEY) == "mac_mismatch"


def test_mode7_counters_persist_between_decoders() -> None:
    counters: dict[str, int] = {}
    Decoder(counters=counters).decode_hex(MODE7, MODE7_KEY)
    assert code_of(MODE7, MODE7_KEY, Decoder(counters=counters)) == "replay"


def test_afl_fragment_is_flagged() -> None:
    payload = bytes([0x90, 0x02, 0x01, 0x40]) + bytes.fromhex("7A00000000041301000000")
    assert code_of(b.wmbus_frame(0x44, M, A, payload)) == "fragment"


def test_compact_frame_needs_signature_then_decodes() -> None:
    from meterd.wmbus.builder import compact_pair

    full, compact = compact_pair()
    d = Decoder()
    assert code_of(compact, decoder=d) == "unknown_signature"
    assert d.decode(full).to_dict()["ok"]
    out = d.decode(compact).to_dict()
    assert out["records"][0]["value"] == 0.778 and out["total_m3"] == 0.778


def test_signature_cache_persists() -> None:
    from meterd.wmbus import SignatureCache
    from meterd.wmbus.builder import compact_pair

    full, compact = compact_pair()
    first = Decoder()
    first.decode(full)
    restored = SignatureCache.from_export(first.signatures.export())
    assert Decoder(signatures=restored).decode(compact).to_dict()["total_m3"] == 0.778


def test_signature_is_crc_of_format_bytes() -> None:
    from meterd.wmbus.signatures import format_signature

    assert format_signature(bytes.fromhex("0C14046D02FD17")) == 61330  # Lobaro documentation example


@pytest.mark.parametrize(
    ("apl", "code"),
    [
        ("04130100", "truncated_record"),
        ("84", "truncated_record"),
        ("04", "truncated_record"),
        ("04FD", "truncated_record"),
        ("3F", "bad_record"),
        ("0D13F8", "bad_record"),
        ("04" + "93" * 11 + "1301000000", "bad_record"),
        ("84" * 11 + "041301000000", "bad_record"),
    ],
)
def test_record_errors(apl: str, code: str) -> None:
    assert code_of(plain(bytes.fromhex(apl))) == code


def test_header_errors() -> None:
    assert code_of(b.wmbus_frame(0x44, M, A, bytes([0x55, 1, 2, 3]))) == "unsupported_ci"
    assert code_of(b.wmbus_frame(0x44, M, A, bytes([0xA0, 1, 2, 3]))) == "unsupported_ci"
    assert code_of(b.wmbus_frame(0x44, M, A, bytes([0x7A, 1, 2]))) == "too_short"
    assert code_of(b.wmbus_frame(0x44, M, A, bytes([0x70, 0x08]))) == "application_error"
    out = Decoder().decode_hex(b.wmbus_frame(0x44, M, A, bytes([0x70, 0x08])).hex()).to_dict()
    assert "application too busy" in out["error"]["message"] and out["id"] == "12345678"
    assert code_of("") == "empty"
    assert code_of("12 3") == "bad_hex"
    assert code_of("zz") == "bad_hex"


def test_decode_raises_typed_errors() -> None:
    with pytest.raises(DecodeError) as info:
        Decoder().decode(b"\x01\x02")
    assert info.value.code == "too_short"


def test_wired_frame_with_short_header_has_no_identity() -> None:
    """Found by bench/fuzz.py: a wired long frame with CI 0x7A carries no meter ID."""
    frame = b.mbus_long_frame(0x08, 0x05, 0x7A, bytes.fromhex("2A000000") + APL[2:])
    out = Decoder().decode(frame).to_dict()
    assert out["ok"] and out["id"] is None and out["address"] == 5
    assert out["total_m3"] == 12.345  # the main volume register, though no device type says what it measures
    assert out["records"][0]["value"] == 12.345


def test_bad_key_and_unsupported_security_codes() -> None:
    import orjson

    from meterd.commands.decode import decode_line

    frame = b.wmbus_frame(0x44, M, A, b.short_tpl(1, 0, 8, 1) + bytes(16))  # security mode 8
    assert code_of(frame) == "unsupported_security"
    out = decode_line(Decoder(), orjson.dumps({"telegram": frame.hex(), "key": "0011"}).decode())
    assert b'"code":"bad_key"' in out


@settings(max_examples=200, deadline=None)
@given(value=st.integers(0, 2**31 - 1), acc=st.integers(0, 255))  # DIF 04: a signed 32-bit value
def test_a_frame_without_crcs_is_read_whole_when_its_end_passes_as_a_format_b_crc(value: int, acc: int) -> None:
    """One frame without CRCs in 65,536 ends in two bytes that are the format B CRC of the rest. Read
    as format B it loses those two bytes; it is read whole instead, also as --jsonl writes it."""
    from meterd.wmbus.crc import crc16_en13757

    m, a = b.address("12345678", "ABC", 0x01, 0x07)
    head = b.wmbus_frame(
        0x44, m, a, b.short_tpl(acc, 0) + bytes.fromhex("0413") + value.to_bytes(4, "little") + bytes.fromhex("02FD17")
    )
    body = bytes([head[0] + 2]) + head[1:]
    frame = body + crc16_en13757(body).to_bytes(2, "big")  # the error flags' two bytes are that CRC
    out = Decoder().decode_bytes(frame).to_dict()
    assert out["ok"] and out["records"][0]["value"] == value / 1000, out
    assert out["records"][1]["quantity"] == "error_flags" and out["records"][1]["value"] == int.from_bytes(
        frame[-2:], "little"
    )
    assert json.loads(Decoder().decode_json(frame)) == out


def test_security_mode_2_des_with_an_8_byte_key() -> None:
    """A telegram of our own making: mode 2 (DES-CBC, IV 0, whole 8-byte blocks after the header), its
    16-hex-digit key on the command line and in a key file; an AES key for it, or its DES key for an
    AES telegram, is a clear error."""
    import os
    import subprocess
    import sys
    import tempfile

    from meterd.wmbus import builder as b
    from meterd.wmbus.security import DesKey

    key = bytes.fromhex("0123456789ABCDEF")
    m, a = b.address("12345678", "ACW", 0x04, 0x07)
    plain = bytes.fromhex("2F2F 0413 E8030000 2F2F2F2F 2F2F2F2F".replace(" ", ""))  # 16 bytes: two DES blocks
    enc = DesKey(key).cbc_encrypt(bytes(8), plain)
    tpl = bytes([0x7A, 0x11, 0x00]) + (0x0200).to_bytes(2, "little")  # mode 2, no block count
    frame = bytes([9 + len(tpl) + len(enc), 0x44]) + m + a + tpl + enc
    out = Decoder().decode(frame, key).to_dict()
    assert out["ok"] and out["security_mode"] == 2 and out["decrypted"] and out["total_m3"] == 1.0, out
    assert Decoder().decode_hex(frame.hex()).to_dict()["error"]["code"] == "no_key"
    assert Decoder().decode_hex(frame.hex(), bytes(16)).to_dict()["error"]["code"] == "bad_key"
    assert Decoder().decode_hex(frame.hex(), bytes(range(8))).to_dict()["error"]["code"] == "decrypt_failed"
    with tempfile.TemporaryDirectory() as tmp:
        keys = os.path.join(tmp, "keys.csv")
        with open(keys, "w") as f:
            f.write("meter_id,key\n12345678,0123456789ABCDEF\n")
        os.chmod(keys, 0o600)
        res = subprocess.run([sys.executable, "-m", "meterd", "decode", "--jsonl", "--keys", keys], input=frame.hex() + "\n",
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert '"total_m3":1.0' in res.stdout and "0123456789ABCDEF" not in res.stdout + res.stderr, res.stdout
    m5, a5 = b.address("12345678", "ELS", 0x33, 0x07)
    aes_frame = b.wmbus_frame(0x44, m5, a5, b.short_tpl(1, 0, mode=5, blocks=1) + bytes(16))
    assert Decoder().decode_hex(aes_frame.hex(), key).to_dict()["error"]["code"] == "bad_key"


def test_the_web_modules_import_each_other_without_a_cycle() -> None:
    """The account view's modules form no import cycle: the app includes routers, routers render through
    meterd.web.rendering and ask meterd.web.security who is asking."""
    import ast
    from pathlib import Path

    web = Path(__file__).parents[1] / "meterd" / "web"
    deps: dict[str, set[str]] = {}
    for path in web.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("meterd.web."):
                found.add(node.module.split(".")[2])  # type: ignore[union-attr]
        deps[path.stem] = found - {path.stem}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in deps.get(start, ()))

    cycles = sorted(m for m in deps if reaches(m, m, set()))
    assert not cycles, {m: deps[m] for m in cycles}


def test_routers_take_the_store_as_a_dependency_not_from_the_application() -> None:
    """Only the application (meterd/web/app.py) puts the store and settings in place and only the
    dependencies (deps.py) and the request's own checks (security.py) read them; every router takes
    them as parameters (`StoreDep`, `PortalDep`), and no module keeps functions in the application."""
    from pathlib import Path

    web = Path(__file__).parents[1] / "meterd" / "web"
    readers = {p.name for p in web.glob("*.py") if "app.state" in p.read_text()}
    assert readers == {"app.py", "deps.py", "security.py"}, readers
    assert "app.state.store" not in (web / "security.py").read_text()
    routers = [p for p in web.glob("*.py") if "router = APIRouter(" in p.read_text()]
    assert len(routers) == 8 and all("StoreDep" in p.read_text() for p in routers), routers
