"""Application layer: each data type and each VIF table family, with hand-built records."""

from __future__ import annotations

import json

import pytest
from support.telegrams import one, plain, records_of

from meterd.wmbus import Decoder


@pytest.mark.parametrize(
    ("apl", "value"),
    [
        ("0113FE", -0.002),  # 8-bit signed
        ("02133412", 4.66),  # 16-bit
        ("0313563412", 1193.046),  # 24-bit
        ("041378563412", 305419.896),  # 32-bit
        ("06130100000000FF", -1099511627.775),  # 48-bit, negative
        ("07130100000000000000", 0.001),  # 64-bit
        ("091342", 0.042),  # 2-digit BCD
        ("0A133412", 1.234),  # 4-digit BCD
        ("0B13563412", 123.456),  # 6-digit BCD
        ("0C1378563412", 12345.678),  # 8-digit BCD
        ("0E13907856341200", 1234567.89),  # 12-digit BCD
        ("0C13785634F2", -23456.78 * 1 / 1),  # negative BCD: top nibble F (value -2345678 → ×0.001)
        ("05130000C03F", 0.0015),  # real32 1.5 × 10^-3
    ],
)
def test_data_types(apl: str, value: float) -> None:
    rec = one(apl)
    if apl.startswith("0C13785634F2"):
        value = -2345.678
    assert rec["quantity"] == "volume"
    assert rec["unit"] == "m3"
    assert rec["value"] == pytest.approx(value)


def test_bcd_with_hex_digits_is_null() -> None:
    assert one("0A133A12")["value"] is None


def test_no_data_and_selection() -> None:
    recs = records_of(bytes.fromhex("00130813041301000000"))
    assert [r["value"] for r in recs] == [None, None, 0.001]


@pytest.mark.parametrize(
    ("apl", "quantity", "unit", "value"),
    [
        ("0403E8030000", "energy", "kWh", 1.0),  # 1000 Wh
        ("04060C000000", "energy", "kWh", 12),  # 10^3 Wh units
        ("040B05000000", "energy", "J", 5000),
        ("041410270000", "volume", "m3", 100.0),
        ("041B02000000", "mass", "kg", 2),
        ("04203C000000", "on_time", "s", 60),
        ("042102000000", "on_time", "s", 120),  # minutes → s
        ("042605000000", "operating_time", "h", 5),
        ("02270A00", "operating_time", "d", 10),
        ("042BE8030000", "power", "W", 1000),
        ("043301000000", "power", "J/h", 1000),
        ("023BE803", "volume_flow", "m3/h", 1.0),
        ("02430100", "volume_flow", "m3/h", 60 / 10**4),  # m3/min ×60
        ("02530100", "mass_flow", "kg/h", 1),
        ("025AE100", "flow_temperature", "C", 22.5),
        ("025EC800", "return_temperature", "C", 20.0),
        ("02621900", "temperature_difference", "K", 2.5),
        ("0266FBFF", "external_temperature", "C", -0.5),
        ("026A0A00", "pressure", "bar", 1.0),
        ("026E0500", "hca_units", None, 5),
        ("02720F00", "averaging_duration", "h", 15),
        ("02740F00", "actuality_duration", "s", 15),
        ("0C7878563412", "fabrication_no", None, "12345678"),  # identifiers keep their digits
        ("0C7978563412", "enhanced_id", None, "12345678"),
        ("017A05", "bus_address", None, 5),
    ],
)
def test_primary_vifs(apl: str, quantity: str, unit: str | None, value: object) -> None:
    rec = one(apl)
    assert (rec["quantity"], rec["unit"]) == (quantity, unit)
    assert rec["value"] == pytest.approx(value)


@pytest.mark.parametrize(
    ("apl", "quantity", "unit", "value"),
    [
        ("04FB000A000000", "energy", "kWh", 1000.0),  # 10^-1 MWh
        ("04FB0801000000", "energy", "J", 10**8),  # 10^-1 GJ
        ("04FB1003000000", "volume", "m3", 300),
        ("04FB1801000000", "mass", "kg", 100000),
        ("02FB1AE803", "relative_humidity", "%", 100.0),
        ("04FB2801000000", "power", "W", 10**5),
        ("02FB5AE803", "flow_temperature", "C", 37.777778),  # 100.0 °F
        ("02FB628403", "temperature_difference", "K", 50.0),  # 90.0 °F difference
        ("04FB0C0A000000", "energy", "kWh", 1.163),  # 1 Mcal
        ("04FB2064000000", "volume", "m3", 2.8316846592),  # 100 ft3
        ("02FB74E803", "cold_warm_temperature_limit", "C", 1.0),
    ],
)
def test_fb_table(apl: str, quantity: str, unit: str, value: float) -> None:
    rec = one(apl)
    assert (rec["quantity"], rec["unit"]) == (quantity, unit)
    assert rec["value"] == pytest.approx(value)


@pytest.mark.parametrize(
    ("apl", "quantity", "unit", "value"),
    [
        ("04FD0039300000", "credit", "currency", 12.345),  # 10^-3 currency units
        ("04FD0239300000", "credit", "currency", 1234.5),
        ("04FD0410000000", "debit", "currency", 0.016),
        ("04FD0702000000", "debit", "currency", 2),
        ("01FD082A", "access_number", None, 42),
        ("0CFD0C01000000", "model_version", None, "00000001"),
        ("01FD0E05", "firmware_version", None, 5),
        ("01FD0F07", "software_version", None, 7),
        ("0CFD1078563412", "customer_location", None, 12345678),
        ("02FD170400", "error_flags", None, 4),
        ("01FD1A01", "digital_output", None, 1),
        ("01FD1B03", "digital_input", None, 3),
        ("02FD48E600", "voltage", "V", 23.0),
        ("02FD590A00", "current", "A", 0.01),
        ("02FD746400", "remaining_battery_life", "d", 100),
        ("01FD71B5", "rf_level", "dBm", -75),
        ("04FD6107000000", "cumulation_counter", None, 7),
        ("02FD3A0900", "dimensionless", None, 9),
    ],
)
def test_fd_table(apl: str, quantity: str, unit: str | None, value: float) -> None:
    rec = one(apl)
    assert (rec["quantity"], rec["unit"]) == (quantity, unit)
    assert rec["value"] == pytest.approx(value)


def test_dates() -> None:
    assert one("026CFE04")["value"] == "2007-04-30"
    assert one("046D32371F15")["value"] == "2008-05-31T23:50:00"
    assert one("046DB2371F15")["value"] is None  # IV bit: invalid time
    # type I: 2021-03-15 10:20:30
    assert one("066D1E140AAF2303")["value"] == "2021-03-15T10:20:30"
    assert one("036D1E140A")["value"] == "10:20:30"  # type J


def test_storage_tariff_subunit_from_difes() -> None:
    # DIF 0x84 (storage bit 0, ext) DIFE 0x91 (storage 1, tariff 1, ext) DIFE 0x4A (storage 10, subunit 1)
    rec = one("C4914A1301000000")
    assert rec["storage"] == 1 | (1 << 1) | (0xA << 5)
    assert rec["tariff"] == 1
    assert rec["subunit"] == 2
    assert rec["dif"] == "C4914A"


@pytest.mark.parametrize(
    ("dif", "function"), [("04", "instantaneous"), ("14", "maximum"), ("24", "minimum"), ("34", "error")]
)
def test_function_field(dif: str, function: str) -> None:
    assert one(dif + "1301000000")["function"] == function


def test_lvar_text_bcd_and_binary() -> None:
    recs = records_of(bytes.fromhex("0DFD0E03332E310D78C234120D78E23412"))
    assert recs[0]["quantity"] == "firmware_version"
    assert recs[0]["value"] == "1.3"  # sent last character first
    assert recs[1]["value"] == 1234
    assert recs[2]["value"] == 0x1234


def test_plain_text_vif() -> None:
    # Actaris gas meter RSP_UD (hottis.de M-Bus article): "cust. ID" and "bat. time" plain-text units
    out = Decoder().decode_hex(
        "68 56 56 68 08 40 72 43 60 52 00 77 04 14 03 CA 10 00 00 0C 78 76 03 01 10 0D 7C 08 44 49 20 2E 74 73"
        " 75 63 0A 30 30 30 30 30 30 30 30 30 30 04 6D 38 15 AA 19 02 7C 09 65 6D 69 74 20 2E 74 61 62 22 0C"
        " 04 13 C1 0E 00 00 04 93 7F 4E 01 00 00 44 13 5D 08 00 00 0F 01 00 1F DE 16"
    ).to_dict()
    assert out["ok"] and out["manufacturer"] == "ACW" and out["id"] == "00526043"
    recs = out["records"]
    assert recs[1]["unit"] == "cust. ID" and recs[1]["value"] == "0000000000"
    assert recs[3]["unit"] == "bat. time" and recs[3]["value"] == 3106
    assert out["total_m3"] == 3.777
    assert recs[5]["modifiers"] == ["manufacturer_specific"]
    assert recs[-1] == {**recs[-1], "quantity": "manufacturer_specific", "value": "01001F", "dif": "0F"}


def test_manufacturer_specific_vif_kept_as_hex() -> None:
    rec = one("04FF01DEADBEEF")
    assert rec["quantity"] == "manufacturer_specific"
    assert rec["value"] == "DEADBEEF"


def test_combinable_vifes() -> None:
    recs = records_of(bytes.fromhex("04933B1000000004933C0200000004937505000000"))
    assert recs[0]["modifiers"] == ["forward_flow"] and recs[0]["value"] == 0.016
    assert recs[1]["modifiers"] == ["backward_flow"]
    assert recs[2]["value"] == 0.0005  # multiplicative correction 10^-1 applied to 10^-3 m3
    out = Decoder().decode(plain(bytes.fromhex("04933C02000000041309000000"))).to_dict()
    assert out["total_m3"] == 0.009  # backward-flow register is not the main register


def test_record_error_vife() -> None:
    rec = one("04931500000000")
    assert rec["error"] == "no_data_available"
    assert Decoder().decode(plain(bytes.fromhex("04931800000000"))).to_dict()["total_m3"] is None


def test_datetime_modifier() -> None:
    rec = one("04933932371F15")  # start date/time of volume
    assert rec["value"] == "2008-05-31T23:50:00" and rec["unit"] is None


def test_fillers_and_more_records_follow() -> None:
    out = Decoder().decode(plain(bytes.fromhex("2F2F0413010000002F1F"))).to_dict()
    assert len(out["records"]) == 1 and out["more_records_follow"] is True


def test_total_is_the_main_volume_register_whatever_the_device_type() -> None:
    """total_m3 is the first instantaneous volume of storage 0, tariff 0, subunit 0, for every device type
    (gas, heat meters' volume register, water behind a radio converter or bus component), and the same
    as --jsonl writes it; records of other storage, tariff or function are not it."""
    # energy first, then volume of storage 1, a maximum volume, then the main volume register
    apl = bytes.fromhex("0406E8030000" + "4413FFFF0000" + "1413AAAA0000" + "0413D2040000")
    for dt in range(256):
        frame = plain(apl, device_type=dt)
        assert Decoder().decode(frame).to_dict()["total_m3"] == 1.234, hex(dt)
        assert json.loads(Decoder().decode_json(frame))["total_m3"] == 1.234, hex(dt)
    assert Decoder().decode(plain(bytes.fromhex("4413FFFF0000"))).to_dict()["total_m3"] is None


def test_status_alarms() -> None:
    apl = bytes.fromhex("041301000000")
    assert Decoder().decode(plain(apl, status=0x04)).to_dict()["alarms"] == ["low_battery"]
    assert Decoder().decode(plain(apl, status=0x08)).to_dict()["alarms"] == ["error"]
    assert Decoder().decode(plain(apl, status=0x00)).to_dict()["alarms"] == []
    assert Decoder().decode(plain(apl, status=0xE0)).to_dict()["alarms"] == []  # manufacturer bits: vendor decoders


def test_fixed_data_structure() -> None:
    from meterd.wmbus import builder as b

    # ID 12345678, ACC 1, status 0 (BCD), medium water (7 = 0b0111: low bits 11, high bits 01), units: m3 ×10^-3 (0x29 = l)
    data = bytes.fromhex("785634120100") + bytes([0x29 | (0x3 << 6), 0x29 | (0x1 << 6)])
    data += bytes.fromhex("45230100") + bytes.fromhex("00000000")
    out = Decoder().decode(b.mbus_long_frame(0x08, 5, 0x73, data)).to_dict()
    assert out["ok"] and out["id"] == "12345678" and out["medium"] == "water"
    assert out["records"][0]["value"] == 12.345 and out["total_m3"] == 12.345


def test_layout_cache_does_not_mix_structures() -> None:
    d = Decoder()
    first = d.decode(plain(bytes.fromhex("04130100000002130200"))).to_dict()
    second = d.decode(plain(bytes.fromhex("04130100000002230200"))).to_dict()  # same length, other VIF
    assert first["records"][1]["quantity"] == "volume"
    assert second["records"][1]["quantity"] == "on_time"


def test_json_fast_path_equals_dict_path() -> None:
    import orjson

    d = Decoder()
    for apl in ("0413010000000DFD0E03332E31", "046D32371F150C13785634F205130000C03F"):
        t = plain(bytes.fromhex(apl))
        assert orjson.loads(d.decode_json(t)) == d.decode(t).to_dict()


def test_empty_lvar_bcd_is_null_not_a_crash() -> None:
    """Found by bench/fuzz.py: LVAR C0 (zero BCD digits)."""
    assert one("0D13C0")["value"] is None


def _frame(apl: str, acc: int = 1) -> str:
    from meterd.wmbus import builder as b

    m, a = b.address("12345678", "ELS", 0x33, 0x07)
    return b.wmbus_frame(0x44, m, a, b.short_tpl(acc, 0) + bytes.fromhex(apl.replace(" ", ""))).hex()


@pytest.mark.parametrize(
    ("apl", "warning", "kept"),
    [("0413E8030000 02FD170400 FFFF", "trailing_bytes", 2),  # EVO 868 style: a reserved special DIF ends them
     ("0413E8030000 02FD170400 3F00", "trailing_bytes", 2),
     ("0413E8030000 02FD170400 0C13AABB", "truncated_last_record", 2),  # two stray bytes: an unfinished record
     ("0413E8030000 8C", "truncated_last_record", 1)],
)  # fmt: skip
def test_records_before_a_reserved_dif_or_an_unfinished_last_record_stand_with_a_warning(apl: str, warning: str, kept: int) -> None:
    """Alone and as --jsonl lines (the same answer either way); a telegram of nothing but garbage
    still fails."""
    from meterd.commands.decode import decode_line

    out = Decoder().decode_hex(_frame(apl)).to_dict()
    assert out["ok"] and out["warnings"] == [warning] and len(out["records"]) == kept and out["total_m3"] == 1.0
    decoder = Decoder()
    lines = [decode_line(decoder, _frame(apl, acc)) for acc in range(20)]
    assert all(json.loads(line)["warnings"] == [warning] for line in lines)
    assert not Decoder().decode_hex(_frame("FFFF")).to_dict()["ok"] and not Decoder().decode_hex(_frame("0C13AABB")).to_dict()["ok"]


def test_the_total_falls_back_to_an_uncorrected_or_base_condition_volume() -> None:
    only = Decoder().decode_hex(_frame("0C943A 78563412")).to_dict()  # Aerius / Unismart: 0C 94 3A
    assert only["total_m3"] == 123456.78 and only["records"][0]["modifiers"] == ["uncorrected"]
    base = Decoder().decode_hex(_frame("0C943E 78563412")).to_dict()
    assert base["total_m3"] == 123456.78
    plain = Decoder().decode_hex(_frame("0C943A 78563412 0C13 11223344")).to_dict()  # a plain volume wins
    assert plain["total_m3"] == 44332.211


def test_identifiers_keep_their_digits_and_invalid_dates_are_null() -> None:
    out = Decoder().decode_hex(_frame("0413E8030000 0E78 780848810200 0C79 78563400 426C 0000 046D 00000000")).to_dict()
    rec = {r["quantity"]: r["value"] for r in out["records"]}
    assert rec["fabrication_no"] == "000281480878" and rec["enhanced_id"] == "00345678"
    assert rec["date"] is None and rec["datetime"] is None  # day 0, month 0: no date, not "2000-00-00"


@pytest.mark.parametrize(
    ("data", "text"),
    [(bytes([0, 10, 0x01, 0x01 | (0xC << 4)]), "1996-01-01T10:00:00"),  # year 0x60 = 96
     (bytes([0, 10, 0x01 | (7 << 5), 0x01 | (0xF << 4)]), "2027-01-01T10:00:00"),  # 7-bit year 127
     (bytes([0, 10, 0x01 | (2 << 5), 0x01 | (0x2 << 4)]), "2018-01-01T10:00:00"),
     (bytes([0, 10 | (1 << 5), 0x01, 0x01 | (0xC << 4)]), "2096-01-01T10:00:00")],  # hundred-year bits 1
)  # fmt: skip
def test_type_f_date_times_follow_the_century_rule(data: bytes, text: str) -> None:
    from meterd.wmbus.datatypes import datetime_f

    assert datetime_f(data) == text


def test_a_compact_profile_carries_its_own_quantity_never_a_volume_with_text() -> None:
    out = Decoder().decode_hex(_frame("0413E8030000 0D931F05 0102030405 0D931E03 0A0B0C")).to_dict()
    recs = [(r["quantity"], r["unit"]) for r in out["records"]]
    assert recs == [("volume", "m3"), ("volume_compact_profile", None), ("volume_compact_profile_with_register", None)]
    assert out["total_m3"] == 1.0 and not any(r.get("error") for r in out["records"])


def _meter_frame(serial: str, apl: str) -> bytes:
    from meterd.wmbus import builder as b

    m, a = b.address(serial, "ELS", 0x33, 0x07)
    return b.wmbus_frame(0x44, m, a, b.short_tpl(1, 0) + bytes.fromhex(apl.replace(" ", "")))


def test_meters_of_one_model_share_a_layout_and_no_other_meter_takes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The layout parsed for one meter serves another whose APL has the same structure bytes; an APL of
    the same length with another VIF, DIF or LVAR is parsed on its own. What each decodes to is what a
    decoder that never saw the others makes of it."""
    from meterd.wmbus import records

    parsed: list[bytes] = []
    real = records.parse_layout

    def counting(buf: bytes, start: int = 0, **kw: bool) -> records.Layout:
        parsed.append(buf[start:])
        return real(buf, start, **kw)

    monkeypatch.setattr(records, "parse_layout", counting)
    frames = [
        _meter_frame("10000001", "0413 E8030000 02FD17 0000"),
        _meter_frame("10000002", "0413 D0070000 02FD17 0400"),  # same model: shares the first one's layout
        _meter_frame("10000003", "0414 E8030000 02FD17 0000"),  # VIF 14 (10 l): parsed anew
        _meter_frame("10000004", "4413 E8030000 02FD17 0000"),  # storage 1: parsed anew
        _meter_frame("10000005", "0D13 04 31323334 02FD17"),  # LVAR text
        _meter_frame("10000006", "0D13 04 35363738 02FD17"),  # the same shape with other text: shared
        _meter_frame("10000007", "0D13 03 353637 02FD1700"),  # another LVAR at the same length: parsed anew
    ]
    d = Decoder()
    shared = [d.decode(f).to_dict() for f in frames]
    assert len(parsed) == 5, [p.hex() for p in parsed]
    assert shared == [Decoder().decode(f).to_dict() for f in frames]
    assert [t["total_m3"] for t in shared[:4]] == [1.0, 2.0, 10.0, None]
    assert [t["records"][0]["value"] for t in shared[4:]] == ["4321", "8765", "765"]
