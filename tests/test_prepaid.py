"""Prepaid meters: token syntax, the vending stand-in, the top-up ledger and its reconciliation with
the credit the meters report (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from meterd.prepaid.tokens import BadToken, grouped, normalise_token
from meterd.prepaid.vending import FileVending, VendingError
from meterd.validate.prepaid import CreditReadings, PrepaidLimits, TopUps, reconcile

DAY = 86400
T0 = 1_780_000_000


def test_sts_tokens_are_twenty_digits_in_any_grouping() -> None:
    assert normalise_token("1234 5678-9012 3456 7890") == "12345678901234567890"
    assert grouped("12345678901234567890") == "1234 5678 9012 3456 7890"
    for bad in ("1234", "1234567890123456789a", "123456789012345678901", ""):
        with pytest.raises(BadToken):
            normalise_token(bad)


def test_the_vending_stand_in_hands_out_each_token_once(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text("meter_id,amount,token\n30000001,50.00,11112222333344445555\n30000001,50.00,66667777888899990000\n")
    vending = FileVending(path)
    assert vending.issue("30000001", 50).token == "11112222333344445555"
    assert vending.issue("30000001", 50.0).token == "66667777888899990000"
    with pytest.raises(VendingError):
        vending.issue("30000001", 50)
    with pytest.raises(VendingError):
        FileVending(tmp_path / "missing.csv").issue("30000001", 50)


def _credit(rows: list[tuple[int, int, float]]) -> CreditReadings:
    a = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return CreditReadings(a[:, 0].astype(np.int32), a[:, 1].astype(np.int64), a[:, 2])


def _topups(rows: list[tuple[int, int, float]]) -> TopUps:
    a = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return TopUps(a[:, 0].astype(np.int32), a[:, 1].astype(np.int64), a[:, 2])


def test_credit_sold_must_show_in_the_meter_within_the_window_and_low_credit_is_named() -> None:
    """Meter 0 shows its top-up of 50 a day later (minus some use); meter 1 never does; meter 2's top-up
    is too recent to judge; meter 1 and 2 are low on credit."""
    credit = _credit([
        (0, T0 - DAY, 20.0), (0, T0 + DAY, 68.5), (0, T0 + 2 * DAY, 60.0),
        (1, T0 - DAY, 8.0), (1, T0 + DAY, 7.5), (1, T0 + 5 * DAY, 5.0),
        (2, T0 + 9 * DAY, 3.0),
    ])  # fmt: skip
    topups = _topups([(0, T0, 50.0), (1, T0, 50.0), (2, T0 + 9 * DAY, 20.0)])
    found = reconcile(credit, topups, now=T0 + 10 * DAY, limits=PrepaidLimits(seen_within_s=3 * DAY, low_credit=10.0))
    got = sorted(zip(found.flag, found.meter, found.value, strict=True))
    assert got == [("credit_not_seen", 1, 50.0), ("low_credit", 1, 5.0), ("low_credit", 2, 3.0)]
    assert reconcile(_credit([]), topups, now=T0 + 10 * DAY).flag.count("credit_not_seen") == 2


def meterd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "meterd", *args], capture_output=True, text=True, timeout=120)


def test_sales_go_to_the_ledger_once_and_meterd_check_reconciles_them(
    store_args: list[str], tmp_path: Path
) -> None:
    from meterd.reading import MeterIdentity, Reading, TimeBasis
    from meterd.sinks.store import StoreSink
    from meterd.store import Store

    register = tmp_path / "register.csv"
    register.write_text("premises_id,address,meter_id,manufacturer,medium,installed\n"
                        "P1,ul. Kredytowa 1/1,30000001,ELS,water,2025-01-01\n"
                        "P2,ul. Kredytowa 1/2,30000002,ELS,water,2025-01-01\n")  # fmt: skip
    assert meterd("db", "upgrade", *store_args).returncode == 0
    assert meterd("import", "premises", str(register), *store_args).returncode == 0
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("meter_id,amount,token\n30000001,40,1111 2222 3333 4444 5555\n")
    res = meterd("prepaid", "sell", "--meter", "30000001", "--amount", "40", "--vending", str(tokens), "--by", "kasa1",
                 *store_args)  # fmt: skip
    assert res.returncode == 0 and "token 1111 2222 3333 4444 5555" in res.stdout, res.stderr
    again = meterd("prepaid", "sell", "--meter", "30000001", "--amount", "40", "--token", "11112222333344445555",
                   *store_args)  # fmt: skip
    assert again.returncode == 2 and "sold for meter 30000001 already" in again.stderr
    for bad, why in ((["--token", "123"], "bad_token"), (["--token", "1" * 20, "--meter", "39999999"], "not in the register"),
                     (["--amount", "-5", "--token", "2" * 20], "bad_argument")):  # fmt: skip
        args = ["prepaid", "sell", "--meter", "30000002", "--amount", "10", *bad, *store_args]
        res = meterd(*args)
        assert res.returncode == 2 and why in res.stderr and "Traceback" not in res.stderr, res.stderr
    ledger = meterd("prepaid", "ledger", "--format", "jsonl", *store_args)
    rows = [json.loads(line) for line in ledger.stdout.splitlines()]
    assert [(r["meter_id"], r["amount"], r["sold_by"]) for r in rows] == [("30000001", "40.00", "kasa1")]
    assert "1111" not in ledger.stdout  # tokens are credit: the ledger does not list them

    # the sale four days ago (the ledger's time moved back), the meter's credit never rose: a finding
    kind, where = store_args
    store = Store.open(where) if kind == "--data" else Store.open(db=where)
    now = int(time.time())
    with store.begin() as conn:
        conn.exec_driver_sql(f"UPDATE topups SET sold_at = {now - 4 * DAY}")
    sink = StoreSink(store)
    sink.write([Reading(MeterIdentity("ELS", serial, 1, 7), "water", now - k * 3600, now - k * 3600, 1.0 + k / 100,
                        registers={"credit": credit, "valve": "closed"}, basis=TimeBasis.ACCESS_NUMBER,
                        reading_id=f"{serial}{k}")
                for serial, credit in (("30000001", 25.0), ("30000002", 4.0)) for k in range(3)])  # fmt: skip
    sink.flush()
    store.close()
    res = meterd("check", "--format", "jsonl", *store_args)
    assert res.returncode == 0, res.stderr
    flags = {(f["meter_id"], f["flag"]) for f in map(json.loads, res.stdout.splitlines())}
    assert ("30000001", "credit_not_seen") in flags and ("30000002", "low_credit") in flags
    assert ("30000001", "low_credit") not in flags
    # the valve is closed on both: with 25.00 left that is a finding, with 4.00 (low credit) it is expected
    assert ("30000001", "valve_closed_with_credit") in flags and ("30000002", "valve_closed_with_credit") not in flags


def test_a_vendor_profile_reads_valve_tamper_and_low_credit_bits() -> None:
    from meterd.prepaid.profile import Bit, PrepaidProfile, ValveBit, profile_for, record_values

    profile = PrepaidProfile(name="x", manufacturer="XYZ", valve=ValveBit(register="digital_output", bit=0),
                             tamper=Bit(register="error_flags", bit=3),
                             low_credit=Bit(register="manufacturer_specific", byte=1, bit=2),
                             volume_credit="volume_credit", last_topup="last")  # fmt: skip
    assert profile.fields({"digital_output": 1, "error_flags": 0b1000, "manufacturer_specific": "0004",
                           "volume_credit": 2.5, "last": 40}) == {
        "valve": "closed", "tamper": 1, "low_credit_flag": 1, "volume_credit": 2.5, "last_topup": 40}  # fmt: skip
    assert profile.fields({"digital_output": 0, "error_flags": 0, "manufacturer_specific": "00FB"}) == {
        "valve": "open", "tamper": 0, "low_credit_flag": 0}
    # what is missing or not a number is left out, never guessed
    assert profile.fields({"digital_output": "x", "manufacturer_specific": "zz", "volume_credit": "2"}) == {}
    assert profile.fields({"manufacturer_specific": "00"}) == {}  # too short for byte 1
    assert profile.fields({"digital_output": -1, "error_flags": 1.5}) == {}
    opened = PrepaidProfile(name="y", meters=["1"], valve=ValveBit(register="digital_input", bit=7, set_means="open"))
    assert opened.fields({"digital_input": 0x80}) == {"valve": "open"}
    assert profile_for([profile, opened], "xyz", "1") is opened and profile_for([profile], "XYZ", "2") is profile
    assert profile_for([profile], "ABC", "2") is None
    from meterd.wmbus.result import Record, Telegram

    telegram = Telegram("wmbus", "1", "XYZ", 1, 7, "water", records=[
        Record(0, 0, 0, "instantaneous", "digital_output", None, 1), Record(1, 0, 0, "instantaneous", "credit", "currency", 9.0),
        Record(0, 0, 0, "maximum", "error_flags", None, 3), Record(0, 0, 0, "instantaneous", "manufacturer_specific", None, "0008"),
        Record(0, 0, 0, "instantaneous", "digital_output", None, 0)])  # fmt: skip
    assert record_values(telegram) == {"digital_output": 1, "manufacturer_specific": "0008"}


def test_a_bad_profile_in_the_configuration_is_a_clear_error(tmp_path: Path) -> None:
    from meterd.config import ConfigError, load_config

    path = tmp_path / "meterd.toml"
    path.write_text('[[prepaid.profile]]\nname = "x"\nmanufacturer = "TOOLONG"\nvalve = { register = "a", bit = 99 }\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "manufacturer" in str(info.value.problems) and "bit" in str(info.value.problems)
