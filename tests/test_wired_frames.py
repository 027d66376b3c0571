"""Wired M-Bus frames that real meters send: each test states the rule over many values, not one example."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterd.wmbus import Decoder
from meterd.wmbus import builder as b
from meterd.wmbus.decoder import UNDEFINED_SECURITY_MODES

M, A = b.address("12345678", "ELV", 0x01, 0x07)
VOLUME = bytes.fromhex("0C1427048502")  # 8-digit BCD volume in 10 l: 28504.27 m3


def wired(cf: int, apl: bytes) -> bytes:
    header = A[:4] + M + A[4:6] + bytes([0x2A, 0x00]) + cf.to_bytes(2, "little")
    return b.mbus_long_frame(0x08, 0x05, 0x72, header + apl)


@pytest.mark.parametrize("mode", sorted(UNDEFINED_SECURITY_MODES))
def test_wired_frames_naming_no_defined_security_mode_are_read_unencrypted(mode: int) -> None:
    """Any signature field whose mode EN 13757-7 does not define (0xFFFF, leftovers from when the
    field was reserved), in a wired frame with no key: read as unencrypted, with a warning."""
    for low in (0x00, 0xFF, 0x5A):
        cf = (mode << 8) | low | (0xE000 if low == 0xFF else 0)
        out = Decoder().decode(wired(cf, VOLUME)).to_dict()
        assert out["ok"], out
        assert out["total_m3"] == 28504.27 and out["security_mode"] == 0
        assert "no defined security mode" in out["security_warning"]


def test_defined_security_modes_are_never_read_as_plain_text() -> None:
    for mode in (5, 7, 8, 9, 10, 13):
        out = Decoder().decode_bytes(wired(mode << 8, VOLUME)).to_dict()
        assert not out["ok"] or "security_warning" not in out


def test_radio_frames_keep_refusing_undefined_modes() -> None:
    frame = b.wmbus_frame(0x44, M, A, b.short_tpl(1, 0, mode=0x1F) + VOLUME)
    assert Decoder().decode_bytes(frame).to_dict()["error"]["code"] == "unsupported_security"


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=10),
       vifes=st.lists(st.sampled_from([0x22, 0x23, 0x3E, 0x3F]), max_size=2))  # fmt: skip
def test_plain_text_vif_in_either_order(text: str, vifes: list[int]) -> None:
    """VIF 0xFC: the standard order (VIFEs, then length and text) and the order real Elvaco and ELV
    frames use (length and text right after the VIF, VIFEs after it) both read, with the text as unit
    and the records after it intact."""
    unit = text.encode()[::-1]
    chain = bytes([v | 0x80 for v in vifes[:-1]] + vifes[-1:])
    vif = 0xFC if vifes else 0x7C
    standard = bytes([0x02, vif]) + chain + bytes([len(unit)]) + unit + bytes.fromhex("3412")
    field = bytes([0x02, vif, len(unit)]) + unit + chain + bytes.fromhex("3412")
    for apl in (standard, field):
        out = Decoder().decode(wired(0, apl + VOLUME)).to_dict()
        assert out["ok"], (apl.hex(), out)
        first, second = out["records"]
        assert first["unit"] == text and first["value"] == 0x1234
        assert second["quantity"] == "volume" and second["value"] == 28504.27


@pytest.mark.parametrize("vib", ["7B", "7D", "6F", "7E"])
def test_a_vif_without_meaning_keeps_its_record_raw(vib: str) -> None:
    """A bare 0x7B/0x7D or a reserved VIF: the DIF gives the length, so the record is kept with its raw
    value and VIF hex (quantity unknown) and the records after it are read as usual."""
    apl = bytes.fromhex("04" + vib + "78563412") + VOLUME
    out = Decoder().decode(wired(0, apl)).to_dict()
    assert out["ok"], out
    odd, volume = out["records"]
    assert odd["vif"] == vib and odd["value"] in ("78563412", 0x12345678)
    assert volume["value"] == 28504.27 and out["total_m3"] == 28504.27
    if vib in ("7B", "7D"):
        assert odd["quantity"] == "unknown" and odd["value"] == "78563412"


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from([(0x06, "energy", "kWh"), (0x13, "volume", "m3"), (0x2B, "power", "W"),
                             (0x3B, "volume_flow", "m3/h"), (0x5B, "flow_temperature", "C")]),
       chain=st.lists(st.integers(0x00, 0x7F), min_size=1, max_size=1))  # fmt: skip
def test_unknown_vife_chains_keep_the_base_quantity_and_unit(base: tuple[int, str, str], chain: list[int]) -> None:
    """A VIFE chain meterd does not know (extension codes after 0x7C/0xFC, reserved codes) leaves the
    record its base quantity and unit, and lists the modifiers apart."""
    vif, quantity, unit = base
    codes = [0x7C, *chain]  # the combinable extension: the code after it comes from the second table
    vib = bytes([vif | 0x80] + [c | 0x80 for c in codes[:-1]] + [codes[-1]])
    out = Decoder().decode(wired(0, bytes([0x04]) + vib + bytes(4) + VOLUME)).to_dict()
    assert out["ok"], out
    rec = out["records"][0]
    assert rec["quantity"] == quantity and rec["unit"] == unit, rec
    assert rec["modifiers"][0] == f"vife_7c_{chain[0]:02x}" and "error" not in rec
