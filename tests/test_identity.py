"""A meter is its manufacturer and serial: two makers' meters with one serial in two flats, plain and
encrypted, each reading booked to its own flat; a neighbour's meter of a third maker is not booked at
all; registers and key files without a manufacturer column keep working while the serial is
unambiguous, and name the line where it is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from support.cli import meterd, ok
from support.telegrams import water

from meterd.reading import MeterIdentity
from meterd.reading import Reading as Reading_
from meterd.sinks.store import keep_unknown
from meterd.store import Store
from meterd.store.models import Assignment, Meter, Premises, Reading

KEY_DME = bytes(range(16))
KEY_APA = bytes(range(16, 32))


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    p.chmod(0o600)
    return p


def booked(args: list[str], kek: Path) -> dict[tuple[str, str], list[tuple[str, float]]]:
    """(premises, maker) → [(serial, total)] of every stored reading, through the register's assignments."""
    kind, where = args
    store = Store.open(data=Path(where), kek_path=kek) if kind == "--data" else Store.open(db=where, kek_path=kek)
    with store.begin() as conn:
        rows = conn.execute(
            select(Premises.code, Meter.manufacturer, Meter.serial, Reading.total_m3)
            .join(Meter, Meter.id == Reading.meter_id)
            .join(Assignment, Assignment.meter_id == Meter.id)
            .join(Premises, Premises.id == Assignment.premises_id)
            .order_by(Premises.code, Reading.measured_at)
        ).all()
    out: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for code, maker, serial, total in rows:
        out.setdefault((code, maker), []).append((serial, total))
    return out


def test_two_makers_one_serial_each_reading_in_its_own_flat(tmp_path: Path, store_args: list[str]) -> None:
    env = {"METERD_KEK_FILE": str(tmp_path / "kek")}
    register = write(tmp_path, "register.csv", "premises_id,address,meter_id,manufacturer,medium,installed\n"
                     "F1,ul. Testowa 1/1,55500001,APA,water,2026-01-01\n"
                     "F2,ul. Testowa 1/2,55500001,DME,water,2026-01-01\n"
                     "F3,ul. Testowa 1/3,55500002,APA,water,2026-01-01\n")  # fmt: skip
    ok("db", "upgrade", *store_args, env=env)
    ok("import", "premises", str(register), *store_args, env=env)
    # the DME meter sends encrypted; its key names the maker (the same serial of APA has another key)
    keys = write(tmp_path, "keys.csv", f"meter_id,manufacturer,key\n55500001,DME,{KEY_DME.hex()}\n"
                 f"55500002,,{KEY_APA.hex()}\n")  # fmt: skip
    ok("import", "keys", str(keys), *store_args, env=env)
    capture = write(tmp_path, "capture.hex", "".join(f"2026-11-30T10:0{i}:00Z {t.hex()}\n" for i, t in enumerate([
        water("55500001", "APA", 1234, acc=1),                  # F1's meter, plain
        water("55500001", "DME", 5678, acc=1, key=KEY_DME),     # F2's meter, encrypted
        water("55500001", "ELS", 9999, acc=1),                  # a neighbour's gas... a third maker: not ours
        water("55500002", "APA", 4321, acc=1, key=KEY_APA),     # a key given for the serial alone
    ])))  # fmt: skip
    res = meterd("ingest", str(capture), *store_args, env=env)
    assert res.returncode == 0, res.stderr
    assert "stored 3" in res.stdout and "unknown_meter 1" in res.stdout, res.stdout
    assert "ELS 55500001 (1)" in res.stderr
    found = booked(store_args, tmp_path / "kek")
    assert found == {("F1", "APA"): [("55500001", 1.234)], ("F2", "DME"): [("55500001", 5.678)],
                     ("F3", "APA"): [("55500002", 4.321)]}  # fmt: skip
    # exports name the maker (JSON lines) and take MAKER:SERIAL where makers share a serial
    lines = [json.loads(x) for x in ok("export", "readings", "--format", "jsonl", "--meter", "DME:55500001", *store_args,
                                       env=env).splitlines()]  # fmt: skip
    assert [(x["manufacturer"], x["total_m3"]) for x in lines] == [("DME", 5.678)]
    both = [json.loads(x) for x in ok("export", "readings", "--format", "jsonl", "--meter", "55500001", *store_args,
                                      env=env).splitlines()]  # fmt: skip
    assert [(x["manufacturer"], x["total_m3"]) for x in both] == [("APA", 1.234), ("DME", 5.678)]
    # a person naming the serial alone is asked for the maker where makers share it
    token = "12345678901234567890"
    res = meterd("prepaid", "sell", "--meter", "55500001", "--amount", "20", "--token", token, *store_args, env=env)
    assert res.returncode != 0 and "meters of several makers have this serial (APA, DME); name it as MAKER:55500001" in res.stderr
    ok("prepaid", "sell", "--meter", "DME:55500001", "--amount", "20", "--token", token, *store_args, env=env)
    # the central path keeps such readings apart; the report says which makers the register lists
    kind, where = store_args
    store = Store.open(data=Path(where)) if kind == "--data" else Store.open(db=where)
    neighbour = Reading_(MeterIdentity("ELS", "55500001", 1, 7), "water", 1_764_496_800, 1_764_496_800, 9.999)
    with store.begin() as conn:
        keep_unknown(conn, [neighbour])
    unknown = ok("report", "--unknown", *store_args, env=env)
    assert "55500001" in unknown and "ELS" in unknown and "the register lists 55500001 by APA,DME" in unknown


def test_a_register_without_makers_works_until_a_serial_is_shared(tmp_path: Path) -> None:
    data = tmp_path / "data"
    plain = write(tmp_path, "plain.csv", "premises_id,address,meter_id,installed\nF1,ul. Testowa 1/1,31000001,2026-01-01\n")
    ok("db", "upgrade", "--data", str(data))
    ok("import", "premises", str(plain), "--data", str(data))
    capture = write(tmp_path, "c.hex", f"2026-11-30T10:00:00Z {water('31000001', 'APA', 1000, 1).hex()}\n")
    assert "stored 1" in ok("ingest", str(capture), "--data", str(data))
    # a later register names the maker of F1's meter (it learns it) and a DME meter of the same serial in F2
    named = write(tmp_path, "named.csv", "premises_id,address,meter_id,manufacturer,installed\n"
                  "F1,ul. Testowa 1/1,31000001,APA,2026-01-01\nF2,ul. Testowa 1/2,31000001,DME,2026-01-01\n")  # fmt: skip
    ok("import", "premises", str(named), "--data", str(data))
    with Store.open(data=data).begin() as conn:
        meters = sorted(conn.execute(select(Meter.manufacturer, Meter.serial)).all())
    assert meters == [("APA", "31000001"), ("DME", "31000001")]
    # from now on a register row without the maker is ambiguous: refused, naming the line
    again = write(tmp_path, "again.csv", "premises_id,address,meter_id,installed\n"
                  "F7,ul. Testowa 1/7,31000009,2026-01-01\nF1,ul. Testowa 1/1,31000001,2026-01-01\n")  # fmt: skip
    res = meterd("import", "premises", str(again), "--data", str(data))
    assert res.returncode != 0
    assert f"{again}:3: meter 31000001: the store has meters of several makers with this serial (APA, DME); " \
           "name the maker in a manufacturer column" in res.stderr  # fmt: skip
    keys = write(tmp_path, "keys.csv", f"meter_id,key\n31000001,{KEY_DME.hex()}\n")
    res = meterd("import", "keys", str(keys), "--data", str(data))
    assert res.returncode != 0 and f"{keys}:2: column meter_id: meters of several makers have this serial (APA, DME)" in res.stderr
    # within one file, the same serial twice needs the makers
    twice = write(tmp_path, "twice.csv", "premises_id,address,meter_id,installed\n"
                  "F8,ul. Testowa 1/8,41000001,2026-01-01\nF9,ul. Testowa 1/9,41000001,2026-01-01\n")  # fmt: skip
    res = meterd("import", "premises", str(twice), "--data", str(data))
    assert res.returncode != 0 and f"{twice}:3: meter 41000001 already listed on line 2 (two makers' meters? name the maker of each" in res.stderr


def test_a_maker_given_later_for_another_flat_is_another_meter(tmp_path: Path) -> None:
    """A register row naming a maker for a serial the store knows without one, in another flat, is not
    that meter moved: it is a second meter (the one without a maker keeps its flat)."""
    data = tmp_path / "data"
    ok("db", "upgrade", "--data", str(data))
    ok("import", "premises", str(write(tmp_path, "a.csv", "premises_id,address,meter_id,installed\n"
                                                          "F1,ul. Testowa 1/1,31000001,2026-01-01\n")), "--data", str(data))  # fmt: skip
    ok("import", "premises", str(write(tmp_path, "b.csv", "premises_id,address,meter_id,manufacturer,installed\n"
                                                          "F2,ul. Testowa 1/2,31000001,DME,2026-01-01\n")), "--data", str(data))  # fmt: skip
    capture = write(tmp_path, "c.hex", f"2026-11-30T10:00:00Z {water('31000001', 'APA', 1000, 1).hex()}\n"
                    f"2026-11-30T10:01:00Z {water('31000001', 'DME', 2000, 1).hex()}\n")  # fmt: skip
    assert "stored 2" in ok("ingest", str(capture), "--data", str(data))
    assert booked(["--data", str(data)], tmp_path / "kek") == {("F1", ""): [("31000001", 1.0)], ("F2", "DME"): [("31000001", 2.0)]}


@pytest.mark.parametrize("text", ["APA:55500001", "apa 55500001", "55500001"])
def test_a_meter_typed_by_a_person(text: str) -> None:
    from meterd.ids import parse_meter_ref

    assert parse_meter_ref(text)[1] == "55500001"
    assert parse_meter_ref(text)[0] in ("APA", "")
    with pytest.raises(ValueError, match="three letters"):
        parse_meter_ref("AP1:55500001")


def test_key_files_name_makers_and_the_decoder_keeps_them_apart(tmp_path: Path) -> None:
    from meterd.keyfile import KeyFileError, load_keys
    from meterd.wmbus import Decoder

    keys = write(tmp_path, "k.csv", f"meter_id,key,manufacturer\n55500001,{KEY_DME.hex()},dme\n55500001,{KEY_APA.hex()},APA\n")
    loaded = load_keys(keys)
    assert loaded == {("DME", "55500001"): KEY_DME, ("APA", "55500001"): KEY_APA}
    d = Decoder(loaded)
    dme = d.decode_bytes(water("55500001", "DME", 5678, acc=3, key=KEY_DME)).to_dict()
    apa = d.decode_bytes(water("55500001", "APA", 1234, acc=3, key=KEY_APA)).to_dict()
    assert [(r["manufacturer"], r["records"][0]["value"]) for r in (dme, apa)] == [("DME", 5.678), ("APA", 1.234)]
    # a maker without a key of its own finds none, though its serial has keys of other makers
    els = d.decode_bytes(water("55500001", "ELS", 1, acc=3, key=KEY_APA)).to_dict()
    assert els["error"]["code"] == "no_key"
    bad = write(tmp_path, "bad.csv", f"meter_id,manufacturer,key\n55500001,A1,{KEY_DME.hex()}\n55500002,,{KEY_DME.hex()}\n"
                f"55500002,,{KEY_APA.hex()}\n")  # fmt: skip
    with pytest.raises(KeyFileError) as e:
        load_keys(bad)
    assert "bad.csv:2: column manufacturer: not a three-letter code" in e.value.message
    assert "bad.csv:4: column meter_id: the same meter as on line 3" in e.value.message
    assert KEY_DME.hex() not in e.value.message


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_store_of_the_previous_schema_is_carried_over(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """A store at revision 0011 (serials unique) with a meter, its key and a reading: after the upgrade
    the same meter has its key and reading, and a second maker's meter of that serial can be listed."""
    from alembic import command
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import IntegrityError

    from meterd.store.engine import _alembic_config

    url = f"sqlite:///{tmp_path / 'old.sqlite'}" if dialect == "sqlite" else request.getfixturevalue("pg_url")
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0011")
        conn.execute(text("INSERT INTO buildings (id, code, address) VALUES (1, 'B', 'ul. Testowa 1')"))
        conn.execute(text("INSERT INTO premises (id, code, building_id, address) VALUES (1, 'F1', 1, 'ul. Testowa 1/1')"))
        conn.execute(text("INSERT INTO meters (id, serial, manufacturer, medium, driver, kind, q3_m3h, schedule) "
                          "VALUES (1, '55500001', 'apa', 'water', 'auto', 'radio', 2.5, '')"))  # fmt: skip
        conn.execute(text("INSERT INTO assignments (meter_id, premises_id, valid_from) VALUES (1, 1, 0)"))
        conn.execute(text("INSERT INTO meter_keys (meter_id, key, valid_from) VALUES (1, :k, 0)"), {"k": KEY_APA})
        conn.execute(text("INSERT INTO readings (meter_id, measured_at, received_at, total_m3, source, alarms) "
                          "VALUES (1, 1764496800, 1764496800, 1.5, 'radio', 0)"))  # fmt: skip
    engine.dispose()
    res = meterd("db", "upgrade", "--db", url, env={"METERD_KEK_FILE": str(tmp_path / "kek")})
    assert res.returncode == 0, res.stderr
    opened = Store.open(db=url, kek_path=tmp_path / "kek")
    with opened.begin() as conn:
        assert conn.execute(text("SELECT manufacturer, serial FROM meters")).all() == [("APA", "55500001")]
        assert conn.execute(text("SELECT count(*) FROM readings WHERE meter_id = 1")).scalar() == 1
        conn.execute(text("INSERT INTO meters (id, serial, manufacturer, medium, driver, kind, q3_m3h, schedule) "
                          "VALUES (2, '55500001', 'DME', 'water', 'auto', 'radio', 2.5, '')"))  # fmt: skip
    with pytest.raises(IntegrityError, match=r"uq_meters_identity|UNIQUE"), opened.begin() as conn:
        conn.execute(text("INSERT INTO meters (id, serial, manufacturer, medium, driver, kind, q3_m3h, schedule) "
                          "VALUES (3, '55500001', 'DME', 'water', 'auto', 'radio', 2.5, '')"))  # fmt: skip


def test_a_capture_goes_through_the_gateways_pipeline(tmp_path: Path) -> None:
    """`meterd ingest CAPTURE --config` keeps what `meterd run` would: a telegram heard twice is one
    reading, and the [forward] policy leaves out a reading that did not change."""
    data = tmp_path / "data"
    ok("db", "upgrade", "--data", str(data))
    ok("import", "premises", str(write(tmp_path, "r.csv", "premises_id,address,meter_id,manufacturer,installed\n"
                                                          "F1,ul. Testowa 1/1,31000001,APA,2026-01-01\n")), "--data", str(data))  # fmt: skip
    same = water("31000001", "APA", 1000, acc=1)
    lines = [f"2026-11-30T10:00:00Z {same.hex()}", f"2026-11-30T10:00:05Z {same.hex()}",  # the same, heard twice
             f"2026-11-30T10:15:00Z {water('31000001', 'APA', 1000, acc=2).hex()}",  # no change since
             f"2026-11-30T10:30:00Z {water('31000001', 'APA', 1005, acc=3).hex()}"]  # fmt: skip
    capture = write(tmp_path, "c.hex", "\n".join(lines) + "\n")
    config = write(tmp_path, "gw.toml", '[gateway]\nname = "gw1"\n\n[forward]\ndefault = "change"\n')
    out = ok("ingest", str(capture), "--config", str(config), "--gateway", "gw7", "--data", str(data))
    assert "telegrams 4, decoded 4, stored 2, duplicates 1, unknown_meter 0, errors 0, not_forwarded 1" in out, out
    rows = [json.loads(x) for x in ok("export", "readings", "--format", "jsonl", "--data", str(data)).splitlines()]
    assert [(r["total_m3"], r["gateway"]) for r in rows] == [(1.0, "gw7"), (1.005, "gw7")]
    bad = meterd("ingest", str(capture), "--gateway", "no spaces please", "--data", str(data))
    assert bad.returncode == 2 and "--gateway" in bad.stderr and "Traceback" not in bad.stderr
