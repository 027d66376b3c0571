"""Validation checks on synthetic series where the answer is known."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pytest

from meterd.validate import CheckConfig, Meters, Readings, findings_as_dicts, run_checks
from meterd.validate.estimate import estimate_at
from meterd.validate.model import alarm_mask
from meterd.validate.schedule import active_seconds_before, parse_schedule

T0 = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())  # a Monday
H = 3600


def series(*meters: list[tuple[int, float]], alarms: list[list[int]] | None = None) -> Readings:
    """Readings from per-meter lists of (hours after T0, volume)."""
    m, t, v, a = [], [], [], []
    for i, rows in enumerate(meters):
        for j, (h, vol) in enumerate(rows):
            m.append(i)
            t.append(T0 + int(h * H))
            v.append(vol)
            a.append(alarms[i][j] if alarms else 0)
    return Readings(
        np.array(m, dtype=np.int32),
        np.array(t, dtype=np.int64),
        np.array(v),
        np.array(a, dtype=np.uint16) if alarms else None,
    )


def hourly(hours: int, per_hour: float = 0.0, start: float = 100.0, pattern: bool = True) -> list[tuple[int, float]]:
    """A normal flat: water used from 07 to 22 only (pattern) plus `per_hour` constant flow."""
    out, v = [], start
    for h in range(hours + 1):
        out.append((h, round(v, 3)))
        hour = h % 24
        v += per_hour + (0.02 if pattern and 7 <= hour < 22 and h % 3 == 0 else 0.0)
    return out


def flags(readings: Readings, meters: Meters | None = None, **kw: object) -> list[tuple[str, str]]:
    meters = meters or Meters.for_ids([f"M{i}" for i in range(int(readings.meter.max()) + 1)])
    kw.setdefault("now", int(readings.t.max()) + 60 if len(readings.t) else T0)  # replaying: the present is the end
    rows = findings_as_dicts(run_checks(readings, meters, **kw), meters)  # type: ignore[arg-type]
    return [(str(r["meter_id"]), str(r["flag"])) for r in rows]


def test_normal_flat_has_no_findings() -> None:
    assert flags(series(hourly(24 * 10))) == []


def test_leak_continuous_flow() -> None:
    found = flags(series(hourly(24 * 3), hourly(24 * 3, per_hour=0.005)))
    assert ("M1", "leak") in found and ("M0", "leak") not in found


def test_leak_shorter_than_window_is_not_flagged() -> None:
    rows = hourly(24 * 3)
    leak = [(h, v + max(0, min(h, 30) - 10) * 0.01) for h, v in rows]  # flows from h10 to h30 only
    assert ("M0", "leak") not in flags(series(leak))


def test_night_minimum_flow() -> None:
    """15-minute readings with 20 l/h at night on top of normal use."""
    rows, v = [], 0.0
    for q in range(4 * 24 * 3):
        rows.append((q / 4, round(v, 4)))
        hour = (q // 4) % 24
        v += 0.005 + (0.05 if 7 <= hour < 22 and q % 7 == 0 else 0.0)
    found = findings_as_dicts(run_checks(series(rows), Meters.for_ids(["M0"]), now=T0 + 10**8), Meters.for_ids(["M0"]))
    assert any(r["flag"] == "leak" and "night" in str(r["reason"]) for r in found)


def test_backflow_and_reset_and_swap() -> None:
    backflow = hourly(48)
    backflow[20] = (20, backflow[20][1] - 0.3)
    backflow = [(h, v - 0.3 if h >= 20 else v) for h, v in backflow]
    reset = [(h, v if h < 30 else 0.05 + (h - 30) * 0.01) for h, v in hourly(48)]
    found = flags(series(backflow, reset))
    assert ("M0", "backflow") in found and ("M0", "counter_reset") not in found
    assert ("M1", "counter_reset") in found and ("M1", "backflow") not in found
    # the same drop with a recorded swap is reported as a swap (info), not a warning
    meters = Meters.for_ids(["M0", "M1"])
    swaps = np.array([[1, T0 + 30 * H - 60]], dtype=np.int64)
    rows = findings_as_dicts(run_checks(series(backflow, reset), meters, swaps=swaps, now=T0 + 48 * H), meters)
    reset_rows = [r for r in rows if r["flag"] == "counter_reset"]
    assert reset_rows[0]["severity"] == "info" and "swap" in str(reset_rows[0]["reason"])


def test_small_drop_to_low_value_is_backflow_when_register_small() -> None:
    found = flags(series([(0, 1000.0), (1, 999.0), (2, 999.1)]))  # 1 m3 back on a big register
    assert ("M0", "backflow") in found and ("M0", "counter_reset") not in found


def test_jump_above_q4() -> None:
    rows = hourly(48)
    rows = [(h, v + (5.0 if h >= 24 else 0.0)) for h, v in rows]  # 5 m3 in one hour, Q4 = 3.125 m3/h
    found = flags(series(rows))
    assert ("M0", "jump") in found
    meters = Meters.for_ids(["M0"], q3=10.0)  # a bigger meter allows it
    assert ("M0", "jump") not in flags(series(rows), meters)


def test_burst_short_high_flow() -> None:
    rows = hourly(48)
    rows = [(h, v + (2.8 if h >= 24 else 0.0)) for h, v in rows]  # 2.8 m3/h: above Q3, below Q4
    found = flags(series(rows))
    assert ("M0", "burst") in found and ("M0", "jump") not in found


def test_stuck_meter_while_neighbours_consume() -> None:
    days = 20
    stuck = [(h, 50.0) for h in range(0, 24 * days + 1, 6)]
    meters = Meters.for_ids(["S", "N1", "N2"])
    meters.building[:] = 0
    found = flags(series(stuck, hourly(24 * days), hourly(24 * days)), meters)
    assert ("S", "stuck") in found
    # a building where nobody consumes (empty house): not a stuck meter
    alone = Meters.for_ids(["S", "N1"])
    alone.building[:] = [0, 1]
    empty = [(h, 10.0) for h in range(0, 24 * days + 1, 6)]
    assert ("S", "stuck") not in flags(series(stuck, empty), alone)


def test_outlier_against_building() -> None:
    months = []
    for i in range(8):
        rows = []
        for d in range(0, 95):
            rows.append((d * 24, 100 + d * (0.2 if i else 1.5)))
        months.append(rows)
    meters = Meters.for_ids([f"M{i}" for i in range(8)])
    meters.building[:] = 0
    found = flags(series(*months), meters)
    assert ("M0", "outlier") in found
    assert not any(f == "outlier" and m != "M0" for m, f in found)


def test_missing_data_and_schedule_gaps() -> None:
    always = [(h, 1.0) for h in range(0, 24 * 7) if not (50 <= h < 100)]
    found = flags(series(always, [(h, 1.0) for h in range(0, 24 * 7)]))
    assert ("M0", "missing") in found and ("M1", "missing") not in found


def test_schedule_nights_and_weekends_are_not_missing() -> None:
    # readings only on working days 08-18 (T0 is a Monday); two weeks
    rows = [(d * 24 + h, 1.0) for d in range(14) for h in range(8, 19) if d % 7 < 5]
    meters = Meters.for_ids(["W"])
    meters.schedule[0] = "mon-fri 08-18"
    assert ("W", "missing") not in flags(
        series(
            rows,
        ),
        meters,
    )
    meters.schedule[0] = ""
    assert ("W", "missing") in flags(series(rows), meters)


def test_silent_meter_until_as_of() -> None:
    found = flags(series([(h, 1.0) for h in range(10)], [(h, 1.0) for h in range(100)]))
    assert ("M0", "missing") in found


def test_clock_skew() -> None:
    r = series([(0, 1.0), (1, 1.0), (2, 1.0)])
    r.received = r.t.copy()
    r.received[1] -= 3 * H  # measured 3 h after it was received: in the future
    r.received[2] += 72 * H  # received three days late
    found = findings_as_dicts(run_checks(r, Meters.for_ids(["M0"]), now=T0), Meters.for_ids(["M0"]))
    details = sorted(str(x["reason"]).split(" ")[0] for x in found if x["flag"] == "clock_skew")
    assert len(details) == 2
    # without receive times: the future relative to now
    assert ("M0", "clock_skew") in flags(series([(0, 1.0), (10**4, 1.0)]), now=T0 + 100 * H)


def test_meter_alarms_active_and_historical() -> None:
    leak = alarm_mask(["leak"])
    r = series(
        [(0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0)],
        [(0, 1.0), (1, 1.0), (2, 1.0)],
        alarms=[[0, leak, leak, 0], [0, 0, alarm_mask(["tamper"])]],
    )
    meters = Meters.for_ids(["A", "B"])
    rows = [x for x in findings_as_dicts(run_checks(r, meters, now=T0 + 3 * H), meters) if x["flag"] == "meter_alarm"]
    assert [(x["meter_id"], x["severity"]) for x in rows] == [("A", "info"), ("B", "critical")]
    assert "historical" in str(rows[0]["reason"]) and "active" in str(rows[1]["reason"])


def test_edge_cases_one_reading_duplicates_nans_unsorted() -> None:
    assert flags(series([(0, 1.0)])) == []
    r = series([(0, 1.0), (1, 1.0), (1, 1.0), (2, float("nan")), (3, 1.0)])
    assert "jump" not in [f for _, f in flags(r)]
    rows = hourly(48)
    rows[30] = (30, rows[30][1] + 5.0)
    shuffled = rows[::-1]
    assert flags(series(rows)) == flags(series(shuffled))
    empty = Readings(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64), np.zeros(0))
    assert len(run_checks(empty, Meters.for_ids([]))) == 0


def test_polish_reasons() -> None:
    rows = hourly(48)
    rows = [(h, v + (5.0 if h >= 24 else 0.0)) for h, v in rows]
    meters = Meters.for_ids(["M0"])
    pl = findings_as_dicts(run_checks(series(rows), meters, now=T0 + 48 * H), meters, lang="pl")
    assert [r["flag"] for r in pl] == ["jump"]
    assert "przepływ przeciążeniowy" in str(pl[0]["reason"])
    assert re.search(r"\d,\d{3} m3 między odczytami", str(pl[0]["reason"])), pl  # a decimal comma in Polish


def test_schedule_active_time() -> None:
    week = parse_schedule("mon-fri 08-18")
    assert week.sum() == 50
    t = np.array([T0, T0 + 7 * 86400], dtype=np.int64)
    a = active_seconds_before(week, t)
    assert a[1] - a[0] == 50 * H
    b = active_seconds_before(week, np.array([T0 + 8 * H, T0 + 9 * H + 1800], dtype=np.int64))
    assert b[1] - b[0] == 5400
    with pytest.raises(ValueError):
        parse_schedule("someday 08-18")


def test_estimate_at_cutoff() -> None:
    r = series([(0, 10.0), (24, 12.0), (48, 14.0)], [(0, 5.0), (24, 6.0)])
    est = estimate_at(r, np.array([0, 1], dtype=np.int32), T0 + 36 * H)
    assert est.value[0] == pytest.approx(13.0) and est.method[0] == "interpolated"
    assert est.value[1] == pytest.approx(6.5) and est.method[1] == "extrapolated"
    assert est.estimated.tolist() == [True, True]
    exact = estimate_at(r, np.array([0], dtype=np.int32), T0 + 24 * H)
    assert exact.method == ["reading"] and exact.value[0] == 12.0


def test_config_thresholds_per_medium() -> None:
    config = CheckConfig()
    assert config.for_medium(1).night_min_flow_m3h < config.for_medium(0).night_min_flow_m3h


def test_check_command_jsonl(tmp_path: Path) -> None:
    readings = tmp_path / "r.csv"
    lines = ["meter_id,measured_at,total_m3,status,alarms"]
    for h in range(48):
        t = datetime.fromtimestamp(T0 + h * H, UTC).isoformat().replace("+00:00", "Z")
        lines.append(f"A,{t},{100 + (5 if h >= 24 else 0) + h * 0.001:.3f},0,")
        lines.append(f"B,{t.replace('Z', '+01:00')},{50:.3f},,{'leak' if h == 47 else ''}")
    lines.append("C,not-a-date,1.0,,")
    readings.write_text("\n".join(lines) + "\n")
    meters = tmp_path / "m.csv"
    meters.write_text(
        "meter_id,premises_id,building_id,q3_m3h,schedule,medium,extra\nA,P1,B1,2.5,,water,x\nB,P2,B1,,mon-fri 08-18,warm_water,y\n"
    )
    res = subprocess.run(
        [sys.executable, "-m", "meterd", "check", "--readings", str(readings), "--meters", str(meters), "--format", "jsonl"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = [orjson.loads(x) for x in res.stdout.splitlines()]
    assert {"meter_id", "flag", "severity", "from", "to", "reason"} == set(rows[0])
    assert ("A", "jump") in [(r["meter_id"], r["flag"]) for r in rows]
    assert ("B", "meter_alarm") in [(r["meter_id"], r["flag"]) for r in rows]
    assert "line 98" in res.stderr and "not ISO 8601" in res.stderr
    table = subprocess.run(
        [sys.executable, "-m", "meterd", "check", "--readings", str(readings)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert table.returncode == 0 and "jump" in table.stdout and table.stdout.startswith("meter_id")


def test_findings_are_counted_in_metrics(tmp_path: Path) -> None:
    from meterd.commands.check import check_csv
    from meterd.metrics import FINDINGS
    from meterd.metrics import GATEWAY as REGISTRY

    readings = tmp_path / "r.csv"
    rows = ["meter_id,measured_at,total_m3"]
    rows += [f"A,{datetime.fromtimestamp(T0 + h * H, UTC).isoformat()},{100 + (5 if h >= 3 else 0)}" for h in range(6)]
    readings.write_text("\n".join(rows) + "\n")
    before = REGISTRY.get_sample_value("meterd_findings_total", {"flag": "jump", "severity": "critical"}) or 0.0
    found, _ = check_csv(readings, None, now=datetime.fromtimestamp(T0 + 5 * H, UTC).isoformat())
    assert [r["flag"] for r in found] == ["jump"]
    assert FINDINGS.labels(flag="jump", severity="critical")._value.get() == before + 1


def _building_data(tmp_path: Path) -> tuple[Path, Path]:
    """Three buildings of 6 meters, a reading every 30 minutes for 4 days. B2's gateway is out for 9 h
    on day 2 (all its meters silent at once), one of B1's meters dies for 14 h while its neighbours are
    heard, and B3's gateway is out for the last 5 h of the data."""
    t0 = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())
    meters = ["meter_id,premises_id,building_id,q3_m3h,schedule,medium"]
    rows = ["meter_id,measured_at,total_m3"]
    end = t0 + 4 * 86400
    for b in range(1, 4):
        for k in range(6):
            mid = f"5{b}00000{k}"
            meters.append(f"{mid},P{b}{k},B{b},2.5,,water")
            total = 10.0 * (k + 1)
            for t in range(t0, end, 1800):
                total += 0.004
                if b == 2 and t0 + 30 * 3600 <= t < t0 + 39 * 3600:
                    continue  # B2's gateway out
                if b == 1 and k == 3 and t0 + 50 * 3600 <= t < t0 + 64 * 3600:
                    continue  # one meter of B1 silent, its neighbours heard
                if b == 3 and t >= end - 5 * 3600:
                    continue  # B3's gateway out at the end
                rows.append(f"{mid},{datetime.fromtimestamp(t, UTC).isoformat()},{total:.3f}")
    (tmp_path / "m.csv").write_text("\n".join(meters) + "\n")
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "r.csv", tmp_path / "m.csv"


def test_a_building_that_falls_silent_at_once_is_one_finding_and_no_meter_is_missing(tmp_path: Path) -> None:
    from meterd.commands.check import check_csv

    readings, meters_csv = _building_data(tmp_path)
    end = datetime(2026, 11, 6, tzinfo=UTC)
    found, problems = check_csv(readings, meters_csv, now=end.isoformat())
    assert not problems.messages
    silent = [f for f in found if f["flag"] == "building_silent"]
    assert [(f["building_id"], f["meter_id"]) for f in silent] == [("B2", None), ("B3", None)], silent
    b2 = silent[0]
    hours = (datetime.fromisoformat(b2["to"].replace("Z", "+00:00")) - datetime.fromisoformat(b2["from"].replace("Z", "+00:00"))).total_seconds() / 3600  # fmt: skip
    assert 8.5 <= hours <= 10.5 and "gateway or power" in b2["reason"]
    missing = [f["meter_id"] for f in found if f["flag"] == "missing"]
    assert missing == ["51000003"], found  # the one meter silent while its neighbours were heard
    polish, _ = check_csv(readings, meters_csv, now=end.isoformat(), lang="pl")
    assert any("nie działała bramka" in f["reason"] for f in polish if f["flag"] == "building_silent")


def test_large_households_are_no_outliers_but_a_flat_far_beyond_its_building_is() -> None:
    """Flats of one to five tenants, thrifty or not (a household of five uses up to four times a usual
    flat) are ordinary; one flat using eight times a usual flat of its building is an outlier. Ten
    seeded towns of 40 flats in 4 buildings, two months each."""
    t0 = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp())
    days, n_flats = 61, 40
    caught = false = 0
    for seed in range(1, 11):
        rng = np.random.default_rng(seed)
        meters = Meters.for_ids([f"8{k:07d}" for k in range(n_flats)])
        meters.building[:] = np.arange(n_flats) % 4
        rows_m, rows_t, rows_v = [], [], []
        for k in range(n_flats):
            per_day = 0.11 * rng.integers(1, 6) * rng.lognormal(0.0, 0.3)  # m3 a day
            if k == 7:
                per_day = 0.11 * 3 * 8.0
            total = 50.0
            for d in range(days):
                for h in range(0, 24, 6):
                    total += per_day / 4 * rng.uniform(0.6, 1.4)
                    rows_m.append(k)
                    rows_t.append(t0 + d * 86400 + h * 3600)
                    rows_v.append(round(total, 3))
        readings = Readings(np.array(rows_m, dtype=np.int32), np.array(rows_t, dtype=np.int64), np.array(rows_v),
                            np.zeros(len(rows_m), dtype=np.uint16), None)  # fmt: skip
        found = {f["meter_id"] for f in findings_as_dicts(run_checks(readings, meters, now=t0 + days * 86400), meters)
                 if f["flag"] == "outlier"}  # fmt: skip
        caught += "80000007" in found
        false += len(found - {"80000007"})
    # (with the factor 2.5 of before: every outlier, and 6 of the 390 ordinary flats as well)
    assert caught == 10 and false <= 2, (caught, false)


def test_every_flag_is_registered_with_its_words_and_reasons_in_both_languages() -> None:
    """A check's flag lives in one registry (meterd.validate.flags): its words for staff pages in Polish
    and English, whether tenants see it, and reason texts in both languages (meterd.validate.reasons)."""
    from meterd.validate.flags import FLAGS
    from meterd.validate.model import FLAGS as MODEL_FLAGS
    from meterd.validate.reasons import TEXTS, reason
    from meterd.web.i18n import term

    assert tuple(FLAGS) == MODEL_FLAGS
    for name, flag in FLAGS.items():
        assert (term("pl", name), term("en", name)) == (flag.pl, flag.en) and flag.pl != flag.en
        details = [d for f, d in TEXTS if f == name] if name != "meter_alarm" else ["low_battery:active"]
        assert details, name
        for detail in details:
            pl, en = reason(name, detail, 1.5, 2.0, "pl"), reason(name, detail, 1.5, 2.0, "en")
            assert pl != en and name not in (pl, en), (name, detail)
    assert {n for n, f in FLAGS.items() if f.tenants_see} == {"leak", "burst", "missing", "meter_alarm"}
