"""The store on SQLite and on the PostgreSQL server named by DATABASE_URL, with real transactions."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from meterd.store import Store
from meterd.store.engine import SchemaMismatch, make_engine, store_url
from meterd.store.imports import ImportError_, import_keys, import_premises
from meterd.store.ingest import ReadingIn, ingest
from meterd.store.keys import current_keys
from meterd.store.models import Assignment, MeterKey, Reading, ReadingConflict
from meterd.store.queries import consumption, export_billing, premises_readings, reading_at, silent_meters, thin


def ts(text_: str) -> int:
    return int(datetime.fromisoformat(text_).replace(tzinfo=UTC).timestamp())


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store.open(tmp_path, create=True)
    else:
        s = Store.open(db=request.getfixturevalue("pg_url"), create=True, kek_path=tmp_path / "kek")
    yield s
    s.close()


def write(tmp_path: Path, name: str, content: str, mode: int = 0o600) -> Path:
    p = tmp_path / name
    p.write_text(content)
    p.chmod(mode)
    return p


PREMISES = """premises_id,address,meter_id,manufacturer,medium,installed
L1,ul. Długa 5/1,11111111,APA,water,2025-01-01
L2,ul. Długa 5/2,22222222,APA,water,2025-01-01
L2,ul. Długa 5/2,22223333,APA,warm_water,2025-01-01
L3,ul. Krótka 1/7,33333333,DME,water,2025-01-01
"""


def test_schema_check_refuses_unknown_schema(tmp_path: Path) -> None:
    """An older schema asks for `meterd db upgrade`; a newer one asks for a newer meterd (and upgrade refuses)."""
    with pytest.raises(SchemaMismatch):
        Store.open(tmp_path / "empty")
    store = Store.open(tmp_path / "empty", create=True)
    with store.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    with pytest.raises(SchemaMismatch) as info:
        Store.open(tmp_path / "empty")
    assert "meterd db upgrade" in info.value.message
    with store.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaMismatch) as info:
        Store.open(tmp_path / "empty")
    assert "newer than this meterd" in info.value.message and "upgrade meterd" in info.value.message
    with pytest.raises(SchemaMismatch):
        Store.open(tmp_path / "empty", check=False).upgrade()


def test_import_premises_and_meter_swap_keeps_flats_apart(store: Store, tmp_path: Path) -> None:
    with store.begin() as conn:
        result = import_premises(conn, write(tmp_path, "p.csv", PREMISES))
    assert result.created == {"buildings": 2, "premises": 3, "meters": 4, "assignments": 4, "addresses": 0}
    # L1's meter is swapped on 2025-03-01 for 11119999
    swap = (
        "premises_id,address,meter_id,manufacturer,medium,installed\nL1,ul. Długa 5/1,11119999,APA,water,2025-03-01\n"
    )
    with store.begin() as conn:
        import_premises(conn, write(tmp_path, "swap.csv", swap))
        rows = [
            ReadingIn("11111111", ts("2025-01-10T00:00:00"), ts("2025-01-10T00:00:00"), 100.0),
            ReadingIn("11111111", ts("2025-02-10T00:00:00"), ts("2025-02-10T00:00:00"), 103.0),
            ReadingIn("11111111", ts("2025-02-28T23:00:00"), ts("2025-02-28T23:00:00"), 105.0),
            ReadingIn(
                "11111111", ts("2025-03-05T00:00:00"), ts("2025-03-05T00:00:00"), 105.0
            ),  # old meter, after removal
            ReadingIn("11119999", ts("2025-03-01T12:00:00"), ts("2025-03-01T12:00:00"), 0.0),
            ReadingIn("11119999", ts("2025-03-31T12:00:00"), ts("2025-03-31T12:00:00"), 2.5),
        ]
        assert ingest(conn, rows).inserted == 6
    with store.begin() as conn:
        booked = premises_readings(conn, "L1", ts("2025-01-01T00:00:00"), ts("2025-04-01T00:00:00"))
        assert [(r.meter_id, r.total_m3) for r in booked] == [
            ("11111111", 100.0), ("11111111", 103.0), ("11111111", 105.0), ("11119999", 0.0), ("11119999", 2.5)
        ]  # fmt: skip
        months = consumption(conn, "L1", ts("2025-01-15T00:00:00"), ts("2025-03-31T00:00:00"), "month")
    water = [round(float(m["water"]), 3) for m in months]  # type: ignore[arg-type]
    assert len(months) == 3
    assert sum(water) == pytest.approx(5.0 + 2.5, abs=0.01)  # no false jump from 105 to 0
    assert min(water) >= 0


def test_idempotent_ingest(store: Store, tmp_path: Path) -> None:
    with store.begin() as conn:
        import_premises(conn, write(tmp_path, "p.csv", PREMISES))
    batch = [
        ReadingIn("22222222", ts("2025-05-01T00:00:00") + i * 900, ts("2025-05-01T00:00:00") + i * 900, 10 + i)
        for i in range(100)
    ]
    with store.begin() as conn:
        first = ingest(conn, batch)
    with store.begin() as conn:
        again = ingest(conn, [*batch, ReadingIn("99999999", batch[0].measured_at, batch[0].received_at, 1.0)])  # replay after a crash, plus a stranger
    with store.begin() as conn:  # half old times with other totals, half new: the new half is stored, the
        more = [ReadingIn("22222222", r.measured_at + 50 * 900, r.received_at, r.total_m3) for r in batch]
        mixed = ingest(conn, more)  # old half are conflicts (the first reading of a key stays)
    with store.begin() as conn:
        replayed = ingest(conn, more)  # the same conflicting readings again: kept once for review
        kept = conn.execute(select(ReadingConflict.total_m3, ReadingConflict.stored_total_m3)).all()
    assert (mixed.inserted, mixed.duplicates, mixed.conflicts) == (50, 0, 50)
    assert (replayed.inserted, replayed.duplicates, replayed.conflicts) == (0, 100, 0)
    assert sorted(kept) == [(10.0 + i, 60.0 + i) for i in range(50)]
    assert (first.inserted, first.duplicates) == (100, 0)
    assert (again.inserted, again.duplicates, again.unknown_meter) == (0, 100, 1)
    with store.begin() as conn:
        assert len(conn.execute(select(Reading.meter_id)).all()) == 150


def test_reading_at_cutoff_and_silent_meters(store: Store, tmp_path: Path) -> None:
    with store.begin() as conn:
        import_premises(conn, write(tmp_path, "p.csv", PREMISES))
        ingest(
            conn,
            [
                ReadingIn("33333333", ts("2025-06-29T00:00:00"), ts("2025-06-29T00:00:00"), 10.0),
                ReadingIn("33333333", ts("2025-07-01T00:00:00"), ts("2025-07-01T00:00:00"), 12.0),
                ReadingIn("11111111", ts("2025-06-01T00:00:00"), ts("2025-06-01T00:00:00"), 1.0),
            ],
        )
    cutoff = ts("2025-06-30T00:00:00")
    with store.begin() as conn:
        last = reading_at(conn, "L3", cutoff)
        inter = reading_at(conn, "L3", cutoff, interpolate=True)
        silent = silent_meters(conn, ts("2025-06-15T00:00:00"))
        out = io.StringIO()
        n = export_billing(conn, cutoff, out)
    assert last[0]["total_m3"] == 10.0 and last[0]["method"] == "last_before"
    assert inter[0]["total_m3"] == 11.0 and inter[0]["method"] == "interpolated"
    assert [s["meter_id"] for s in silent] == ["11111111", "22222222", "22223333"]
    lines = out.getvalue().splitlines()
    assert n == 4 and lines[0].startswith("premises_id,address") and "L3" in lines[-1] and ",11.0," in lines[-1]


def test_bad_premises_file_changes_nothing(store: Store, tmp_path: Path) -> None:
    bad = PREMISES + "L4,ul. Długa 5/4,44444444,APA,water,not-a-date\nL5,,11111111,APA,water,2025-01-01\n"
    with pytest.raises(ImportError_) as info, store.begin() as conn:
        import_premises(conn, write(tmp_path, "bad.csv", bad))
    assert "bad.csv:6:" in info.value.message and "bad.csv:7:" in info.value.message
    with store.begin() as conn:
        assert conn.execute(select(Assignment.id)).all() == []
    with pytest.raises(ImportError_), store.begin() as conn:
        import_premises(conn, write(tmp_path, "nohead.csv", "flat,meter\n1,2\n"))


def test_keys_import_rotation_and_secrecy(store: Store, tmp_path: Path) -> None:
    with store.begin() as conn:
        import_premises(conn, write(tmp_path, "p.csv", PREMISES))
    k1, k2 = "000102030405060708090A0B0C0D0E0F", "F0E0D0C0B0A090807060504030201000"
    with store.begin() as conn:
        import_keys(conn, store, write(tmp_path, "k.csv", f"meter_id,key\n11111111,{k1}\n"))
    with store.begin() as conn:
        import_keys(conn, store, write(tmp_path, "k2.csv", f"meter_id,key\n11111111,{k2}\n"))
        keys = current_keys(conn, store)
        history = Session(conn).scalars(select(MeterKey)).all()
    assert keys == {("APA", "11111111"): bytes.fromhex(k2)}
    assert len(history) == 2 and sum(1 for k in history if k.valid_to is None) == 1
    assert k1 not in repr(history) and "secret" in repr(history[0])
    with pytest.raises(ImportError_) as info, store.begin() as conn:
        import_keys(conn, store, write(tmp_path, "k3.csv", f"meter_id,key\n11111111,{k1}\n", mode=0o644))
    assert "chmod 600" in info.value.message
    with pytest.raises(ImportError_) as info, store.begin() as conn:
        import_keys(conn, store, write(tmp_path, "k4.csv", f"meter_id,key\n55555555,{k1}\n11111111,XYZ\n"))
    message = info.value.message
    assert "k4.csv:2: column meter_id: no such meter" in message and "k4.csv:3: column key" in message
    assert k1 not in message and "XYZ" not in message


def test_retention_keeps_daily_values(store: Store, tmp_path: Path) -> None:
    with store.begin() as conn:
        import_premises(conn, write(tmp_path, "p.csv", PREMISES))
        t0 = ts("2025-01-01T00:00:00")
        ingest(
            conn,
            [
                ReadingIn("11111111", t0 + h * 3600, t0 + h * 3600, float(h), raw=bytes([h]) if h < 3 else None)
                for h in range(72)
            ],
        )
        done = thin(conn, raw_before=t0 + 86400, detail_before=t0 + 2 * 86400)
        left = conn.execute(select(Reading.measured_at).order_by(Reading.measured_at)).scalars().all()
    assert done["telegrams"] == 3
    assert left[:2] == [t0 + 23 * 3600, t0 + 47 * 3600] and len(left) == 2 + 24


def test_store_url_normalises_postgresql() -> None:
    assert store_url(db="postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


def test_decoder_state_survives_restarts(store: Store) -> None:
    """A compact format learned in one run decodes compact frames in the next; mode 7 counters persist."""
    from meterd.store.state import DecoderState, load_decoder_state, save_decoder_state
    from meterd.wmbus import Decoder
    from meterd.wmbus.builder import compact_pair

    def save(conn, decoder):  # type: ignore[no-untyped-def]
        save_decoder_state(conn, DecoderState(**decoder.export_state()))  # type: ignore[typeddict-item]

    def restore(conn, decoder):  # type: ignore[no-untyped-def]
        decoder.restore_state(**load_decoder_state(conn))

    full, compact = compact_pair()
    first = Decoder()
    first.decode(full)
    first.counters["12345678/0000"] = 2739
    with store.begin() as conn:
        save(conn, first)
        save(conn, first)  # saving again updates in place
    second = Decoder()
    with store.begin() as conn:
        restore(conn, second)
    assert second.decode(compact).to_dict()["total_m3"] == 0.778
    assert second.counters["12345678/0000"] == 2739


def test_large_bulk_inserts_still_check_foreign_keys(store: Store, tmp_path: Path) -> None:
    """Above the size where PostgreSQL checks foreign keys in one pass, a row that points nowhere still
    fails the whole insert, and the constraints are in place afterwards."""
    from sqlalchemy.exc import IntegrityError

    from meterd.store.ingest import BULK_FK_ROWS, bulk_insert

    with store.begin() as conn:
        import_premises(conn, write(tmp_path, "p.csv", PREMISES))
    rows = [(1, 1, i, i + 1) for i in range(BULK_FK_ROWS)] + [(999_999, 1, 0, 1)]
    with pytest.raises(IntegrityError), store.begin() as conn:
        bulk_insert(conn, "assignments", ("meter_id", "premises_id", "valid_from", "valid_to"), rows)
    with store.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM assignments")).scalar() == 4
    with pytest.raises(IntegrityError), store.begin() as conn:  # and a single bad row later too
        bulk_insert(conn, "assignments", ("meter_id", "premises_id", "valid_from", "valid_to"), [(999_999, 1, 0, 1)])


def test_a_reading_heard_twice_is_stored_once_and_a_later_one_with_the_same_id_is_kept(
    store: Store, tmp_path: Path
) -> None:
    """Reading keys (central ingest): the same reading from two gateways, a few seconds apart and on
    either side of a half-hour, or redelivered by the broker, is stored once, in separate transactions
    too; the same id 35 minutes later (the access number came round, the value did not change) is a
    new reading. Readings anchored on the meter's clock are kept once by meter and time alone."""
    from meterd.reading import MeterIdentity, TimeBasis
    from meterd.reading import Reading as R
    from meterd.sinks.store import StoreSink

    with store.begin() as conn:
        import_premises(conn, write(tmp_path, "p.csv", PREMISES))
    meter = MeterIdentity("APA", "11111111", 1, 7)
    boundary = (int(datetime.now(UTC).timestamp()) // 1800 - 4) * 1800

    def hearing(at: int, gateway: str, basis: TimeBasis = TimeBasis.ACCESS_NUMBER, rid: str = "ab" * 16) -> R:
        return R(meter, "water", at, at, 12.5, gateway=gateway, basis=basis, access_number=7, reading_id=rid)

    sink = StoreSink(store, keyed=True)
    for r in [hearing(boundary - 2, "gw1"), hearing(boundary + 3, "gw2"), hearing(boundary - 2, "gw1")]:
        sink.write([r])
        sink.flush()
    sink.write([hearing(boundary + 600, "gw2"), hearing(boundary + 601, "gw1")])  # one batch, both late
    sink.flush()
    assert (sink.totals.inserted, sink.totals.duplicates) == (1, 4)
    sink.write([hearing(boundary + 2100, "gw1")])  # 35 minutes on: the next turn of the access number
    sink.flush()
    clock = hearing(boundary + 50, "gw1", TimeBasis.METER_CLOCK, "cd" * 16)
    sink.write([clock, clock])
    sink.flush()
    assert (sink.totals.inserted, sink.totals.duplicates) == (3, 5)
    with store.begin() as conn:
        rows = conn.execute(select(Reading.received_at, Reading.gateway).order_by(Reading.received_at)).all()
    assert [tuple(r) for r in rows] == [(boundary - 2, "gw1"), (boundary + 50, "gw1"), (boundary + 2100, "gw1")]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_migrations_make_the_tables_the_models_describe(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from meterd.store.models import Base

    if dialect == "sqlite":
        store = Store.open(tmp_path / "s", create=True)
    else:
        store = Store.open(db=request.getfixturevalue("pg_url"), create=True, kek_path=tmp_path / "kek")
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # accounts.premises_id stays in stores made before tenancies (the migration does not drop it)
    diff = [d for d in diff if not (d[0] == "remove_column" and d[2] == "accounts" and d[3].name == "premises_id")]
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in diff}
    assert not kinds & {"add_table", "remove_table", "add_column", "remove_column"}, diff
    store.close()


def test_the_revisions_read_from_file_names_are_alembics(tmp_path: Path) -> None:
    """Opening a store checks its revision without alembic: the file names must say what alembic says."""
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from meterd.store.engine import MIGRATIONS, current_revision, head_revision, known_revisions

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(cfg)
    assert list(known_revisions()) == [s.revision for s in reversed(list(scripts.walk_revisions()))]
    assert head_revision() == scripts.get_current_head()
    store = Store.open(tmp_path / "s", create=True)
    with store.engine.connect() as conn:
        assert current_revision(store.engine) == MigrationContext.configure(conn).get_current_revision() == head_revision()
    store.close()
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert current_revision(empty) is None


def test_raw_telegrams_once_and_empty_columns_as_null(store: Store, tmp_path: Path) -> None:
    """Raw telegrams are stored once each, within a batch and across batches (one stored before in a
    batch of new ones), and every reading points at its own; columns empty in every row of a batch
    are stored as NULL, the others as given."""
    s = store
    with s.begin() as conn:
        import_premises(conn, write(tmp_path, "p.csv", PREMISES))
    t = ts("2026-11-20T08:00:00")
    first = [ReadingIn("11111111", t + n, t + n, 1.0 + n, raw=bytes([n % 3]) * 20) for n in range(6)]
    second = [
        ReadingIn("22222222", t, t, 5.0, raw=bytes([1]) * 20, registers='{"flow_m3h": 0.5}', rssi_dbm=-70.0),
        ReadingIn("22222222", t + 1, t + 1, 5.5, raw=bytes([9]) * 20, gateway="gw1"),
    ]
    with s.begin() as conn:
        assert ingest(conn, first).inserted == 6
    with s.begin() as conn:
        assert ingest(conn, second).inserted == 2
    with s.begin() as conn:
        rows = conn.execute(text(
            "SELECT r.total_m3, r.registers, r.rssi_dbm, r.gateway, t.raw FROM readings r "
            "JOIN telegrams t ON t.id = r.telegram_id ORDER BY r.meter_id, r.measured_at"
        )).all()  # fmt: skip
        assert conn.execute(text("SELECT count(*) FROM telegrams")).scalar() == 4
    assert [(r[0], bytes(r[4])) for r in rows[:6]] == [(1.0 + n, bytes([n % 3]) * 20) for n in range(6)]
    assert all(r[1:4] == (None, None, None) for r in rows[:6])
    assert [tuple(r) for r in rows[6:]] == [
        (5.0, '{"flow_m3h": 0.5}', -70.0, None, bytes([1]) * 20),
        (5.5, None, None, "gw1", bytes([9]) * 20),
    ]
