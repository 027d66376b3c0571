"""Bulk, idempotent ingest of readings: the same reading stored twice is stored once.

The natural key is (meter, measured_at). SQLite takes `INSERT OR IGNORE` through executemany; on
PostgreSQL rows are copied into a temporary table and moved with `ON CONFLICT DO NOTHING`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import operator
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

COLUMNS = (
    "meter_id",
    "measured_at",
    "received_at",
    "total_m3",
    "registers",
    "rssi_dbm",
    "source",
    "gateway",
    "telegram_id",
    "batch_id",
    "alarms",
    "reading_key",
    "dedup_cell",
    "dedup_cell_offset",
)
DEDUP_CELL_S = 1800
SOURCES = frozenset({"radio", "walkby", "wired", "manual", "estimate", "tenant"})


@dataclass(slots=True)
class ReadingIn:
    """One reading to store; `meter` is the meter's serial (its ID in telegrams), `manufacturer` its
    maker's three letters ("" when the source does not say: a serial typed by a person)."""

    meter: str
    measured_at: int
    received_at: int
    total_m3: float | None
    registers: str | None = None
    rssi_dbm: float | None = None
    source: str = "radio"
    gateway: str | None = None
    raw: bytes | None = None
    alarms: int = 0
    # The key of meterd.reading's id (60 bits), stored once. An id anchored on the meter's clock is
    # unique for good (both cells 0). One anchored on an access number comes round again, 256
    # telegrams later (at least 34 minutes), so it is unique within cells of receive time: two grids of
    # half-hour cells, the second offset by a quarter hour, each with a unique index. Two hearings of a
    # reading less than 15 minutes apart share a cell in at least one grid, so the database itself
    # refuses the second, whichever ingester writes it; readings 34 minutes apart share none.
    reading_key: int | None = None
    dedup_cell: int | None = None
    dedup_cell_offset: int | None = None
    manufacturer: str = ""

    @property
    def identity(self) -> tuple[str, str]:
        return self.manufacturer, self.meter

    @staticmethod
    def cells(received_at: int) -> tuple[int, int]:
        return received_at // DEDUP_CELL_S, (received_at + DEDUP_CELL_S // 2) // DEDUP_CELL_S


@dataclass(frozen=True)
class TimeWindow:
    """Times a reading may carry: from 2000 (no meter in service is older) to a day past the present.
    Anything else is a broken clock or a forged line, and would break every report that spans it."""

    earliest: int
    latest: int

    EARLIEST = 946_684_800  # 2000-01-01T00:00:00Z
    AHEAD_S = 86_400

    @classmethod
    def around(cls, now: int) -> TimeWindow:
        return cls(cls.EARLIEST, now + cls.AHEAD_S)

    def holds(self, t: int) -> bool:
        return self.earliest <= t <= self.latest


@dataclass
class IngestResult:
    inserted: int = 0
    duplicates: int = 0
    unknown_meter: int = 0
    bad_time: int = 0
    conflicts: int = 0  # readings whose key was stored before with another content (kept for review)
    unknown_meters: set[tuple[str, str]] = field(default_factory=set)  # (manufacturer, serial)

    def add(self, other: IngestResult) -> None:
        """Totals over several ingests."""
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.unknown_meter += other.unknown_meter
        self.bad_time += other.bad_time
        self.conflicts += other.conflicts
        self.unknown_meters |= other.unknown_meters


def insert_rows(conn: Connection, rows: Sequence[tuple[Any, ...]], chunk: int = 50_000) -> int:
    """Insert reading tuples (COLUMNS order); returns how many were new."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        with driver_errors(conn):
            return _insert_postgresql(conn, rows)
    return sum(insert_ignore(conn, "readings", COLUMNS, rows[i : i + chunk]) for i in range(0, len(rows), chunk))


BULK_FK_ROWS = 10_000


@contextlib.contextmanager
def driver_errors(conn: Connection) -> Iterator[None]:
    """Errors of statements sent through the driver itself, raised as SQLAlchemy's (IntegrityError,
    OperationalError, ...), the same as every other statement of the store."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as e:
        raise DBAPIError.instance("(bulk statement)", None, e, dbapi.Error) from None


@contextlib.contextmanager
def _foreign_keys_checked_once(conn: Connection, table: str, rows: int) -> Iterator[None]:
    """For a large COPY on PostgreSQL: the table's foreign keys are dropped and re-added around it, in
    the same transaction, so they are checked in one pass instead of one lookup per row (what
    pg_restore does; it costs a third of a register import). A violation fails the re-adding, and
    with it the transaction: nothing is stored. The table is locked until the commit."""
    if rows < BULK_FK_ROWS:
        yield
        return
    keys = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%(t)s) AND contype = 'f'",
        {"t": table},
    ).all()
    for name, _ in keys:
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    yield
    for name, definition in keys:
        conn.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def insert_ignore(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert rows, skipping those that collide with a unique key; returns how many were new."""
    return bulk_insert(conn, table, columns, rows, ignore_conflicts=True)


def bulk_insert(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], *, ignore_conflicts: bool = False
) -> int:
    """Insert many rows through the driver's executemany (SQLAlchemy's per-row parameter handling costs
    more than the insert itself at register sizes); returns how many rows were inserted."""
    if not rows:
        return 0
    cols = ",".join(columns)
    raw = conn.connection.driver_connection
    assert raw is not None
    with driver_errors(conn):
        return _bulk_insert(conn, raw, table, cols, columns, rows, ignore_conflicts)


def _bulk_insert(
    conn: Connection, raw: Any, table: str, cols: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]],
    ignore_conflicts: bool,
) -> int:  # fmt: skip
    if conn.dialect.name == "postgresql" and not ignore_conflicts:
        checked_once = _foreign_keys_checked_once(conn, table, len(rows))
        with checked_once, raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return len(rows)
    if conn.dialect.name != "postgresql":
        return _insert_sqlite(raw, table, cols, columns, rows, ignore_conflicts)
    marks = ",".join(["%s"] * len(columns))
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    sql = f"INSERT INTO {table} ({cols}) VALUES ({marks}){tail}"
    cur = raw.cursor()
    try:
        cur.executemany(sql, rows)
        return max(int(cur.rowcount), 0)
    finally:
        cur.close()


def _insert_sqlite(
    raw: Any, table: str, cols: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], ignore_conflicts: bool
) -> int:
    """Rows in statements of many rows each (see _sqlite_statements). A column empty in every row is
    written as a NULL of the statement's own: the driver looks every None parameter up in its adapter
    registry."""
    empty = [not any(row[k] is not None for row in rows) for k in range(len(columns))]
    kept = [k for k in range(len(columns)) if not empty[k]]
    if 1 < len(kept) < len(columns):
        pick = operator.itemgetter(*kept)
        rows = [pick(row) for row in rows]
    elif len(kept) < len(columns):  # itemgetter of one index gives the value, not a tuple
        rows = [tuple(row[k] for k in kept) for row in rows]
    one = "(" + ",".join("NULL" if e else "?" for e in empty) + ")"
    verb = "INSERT OR IGNORE" if ignore_conflicts else "INSERT"
    return sum(inserted for _, inserted, _ in _sqlite_statements(raw, f"{verb} INTO {table} ({cols})", one, rows))


def _sqlite_statements(
    raw: Any, head: str, one: str, rows: Sequence[Sequence[Any]]
) -> Iterator[tuple[Sequence[Sequence[Any]], int, int | None]]:
    """`head VALUES one,one,...` for the rows, up to 1,000 a statement (as many as SQLite takes
    parameters for); for each statement its rows, how many it inserted and the last row id. One
    statement of many rows rather than executemany, which steps its statement once a row and gives up
    the interpreter lock each time: a thread that writes the store then waits for the lock again
    behind a busy decoding thread, row after row."""
    import sqlite3

    width = max(1, one.count("?"))
    per = max(1, min(1000, int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)) // width))
    cur = raw.cursor()
    try:
        for i in range(0, len(rows), per):
            part = rows[i : i + per]
            cur.execute(f"{head} VALUES {','.join([one] * len(part))}", [x for row in part for x in row])
            yield part, max(int(cur.rowcount), 0), cur.lastrowid
    finally:
        cur.close()


def fetch_all(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """All rows of a query through the driver (whole-table reads of bulk imports, lookups of a batch);
    parameters are marked `?` on SQLite and `%s` on PostgreSQL."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with driver_errors(conn):
        cur = raw.cursor()
        try:
            cur.execute(sql, tuple(params))
            return list(cur.fetchall())
        finally:
            cur.close()


def _csv(rows: Sequence[tuple[Any, ...]]) -> bytes:
    """Rows as CSV for COPY: None becomes an unquoted empty field, which COPY reads as NULL."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def _insert_postgresql(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Optimistic: COPY straight into readings (fast when the readings are new, as they usually are);
    if any of them is already stored, the savepoint is rolled back and the batch goes through a
    temporary table and an anti-join, with ON CONFLICT as the last resort against concurrent writers."""
    import psycopg

    cols = ",".join(COLUMNS)
    data = _csv(rows)
    raw = conn.connection.driver_connection
    assert raw is not None
    savepoint = conn.begin_nested()
    try:
        with raw.cursor() as cur, cur.copy(f"COPY readings ({cols}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(data)
        savepoint.commit()
        return len(rows)
    except psycopg.errors.UniqueViolation:
        savepoint.rollback()
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS readings_in (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    with raw.cursor() as cur, cur.copy(f"COPY readings_in ({cols}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(data)
    fresh = (
        f"INSERT INTO readings ({cols}) SELECT DISTINCT ON (meter_id, measured_at) {cols} FROM readings_in t "
        "WHERE NOT EXISTS (SELECT 1 FROM readings r WHERE r.meter_id = t.meter_id AND r.measured_at = t.measured_at)"
    )
    savepoint = conn.begin_nested()
    try:
        result = conn.exec_driver_sql(fresh)
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        result = conn.exec_driver_sql(
            f"INSERT INTO readings ({cols}) SELECT {cols} FROM readings_in ON CONFLICT DO NOTHING"
        )
    conn.exec_driver_sql("TRUNCATE readings_in")
    return int(result.rowcount or 0)


Identity = tuple[str, str]  # (manufacturer or "", serial)


def meter_ids(
    conn: Connection, meters: Iterable[Identity], cache: dict[Identity, int] | None = None
) -> dict[Identity, int]:
    """Store ids of meters by (manufacturer, serial), through the driver (a batch names hundreds). The
    maker's own meter; else the register's meter of that serial whose maker it did not name; a reading
    that names no maker ("") finds the one meter of its serial, none when makers share it. With
    `cache`, meters found once are not looked up again (meters are never deleted)."""
    wanted = set(meters)
    found: dict[Identity, int] = {}
    if cache is not None:
        found = {m: cache[m] for m in wanted if m in cache}
        wanted -= found.keys()
    serials = sorted({serial for _, serial in wanted})
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    by_serial: dict[str, dict[str, int]] = {}
    for i in range(0, len(serials), 500):
        part = serials[i : i + 500]
        sql = f"SELECT id, serial, manufacturer FROM meters WHERE serial IN ({','.join([mark] * len(part))})"
        for mid, serial, maker in fetch_all(conn, sql, part):
            by_serial.setdefault(serial, {})[maker] = int(mid)
    for maker, serial in wanted:
        makers = by_serial.get(serial)
        if not makers:
            continue
        mid = makers.get(maker) if maker else None
        if mid is None:
            mid = makers.get("")
        if mid is None and not maker and len(makers) == 1:
            mid = next(iter(makers.values()))
        if mid is not None:
            found[(maker, serial)] = mid
    if cache is not None:
        cache.update(found)
    return found


def telegram_ids(conn: Connection, readings: Sequence[ReadingIn]) -> dict[bytes, int]:
    """Store each distinct raw telegram once (by its SHA-256); returns raw telegram → telegram id."""
    first: dict[bytes, tuple[int, str, bytes, bytes]] = {}  # by digest
    raws: dict[bytes, bytes] = {}  # raw → digest
    for r in readings:
        if r.raw is not None and r.raw not in raws:
            digest = raws[r.raw] = hashlib.sha256(r.raw).digest()
            if digest not in first:
                first[digest] = (r.received_at, r.gateway or "", r.raw, digest)
    if not first:
        return {}
    found: dict[bytes, int] = {}  # digest → id
    if conn.dialect.name == "sqlite":
        found = _insert_telegrams_sqlite(conn, list(first.values()))
    else:
        insert_ignore(conn, "telegrams", ("received_at", "gateway", "raw", "digest"), list(first.values()))
    digests = [d for d in first if d not in found]  # those stored before (all of them, on PostgreSQL)
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    for i in range(0, len(digests), 500):
        part = digests[i : i + 500]
        sql = f"SELECT id, digest FROM telegrams WHERE digest IN ({','.join([mark] * len(part))})"
        found.update({bytes(digest): int(tid) for tid, digest in fetch_all(conn, sql, part)})
    return {raw: found[digest] for raw, digest in raws.items() if digest in found}


def _insert_telegrams_sqlite(conn: Connection, rows: list[tuple[int, str, bytes, bytes]]) -> dict[bytes, int]:
    """New telegrams in statements of many rows; digest → id of those inserted. SQLite gives each new
    row the id one above the largest so far, in the order of the rows, and no one else writes
    within the transaction: when a statement inserted every row, their ids end at the last one
    inserted. When some were stored before (rare: the gateway dropped duplicates already), that
    statement's ids are left to the lookup by digest."""
    raw = conn.connection.driver_connection
    assert raw is not None
    # blobs as bytearray: the driver binds those without looking for an adapter
    values = [(at, gw, bytearray(data), bytearray(digest)) for at, gw, data, digest in rows]
    head = "INSERT OR IGNORE INTO telegrams (received_at, gateway, raw, digest)"
    found: dict[bytes, int] = {}
    with driver_errors(conn):
        for part, inserted, last_id in _sqlite_statements(raw, head, "(?,?,?,?)", values):
            if inserted == len(part) and last_id:
                first_id = last_id - len(part) + 1
                found.update({bytes(row[3]): first_id + k for k, row in enumerate(part)})
    return found


def ingest(
    conn: Connection,
    readings: Sequence[ReadingIn],
    batch_id: int | None = None,
    *,
    now: int | None = None,
    id_cache: dict[Identity, int] | None = None,
) -> IngestResult:
    """Store readings of known meters. Readings of meters not in the register are counted, not stored;
    readings stamped far from the present (`TimeWindow`) are refused and counted."""
    result = IngestResult()
    window = TimeWindow.around(int(time.time()) if now is None else now)
    ids = meter_ids(conn, (r.identity for r in readings), id_cache)
    known: list[tuple[int, ReadingIn]] = []
    for r in readings:
        if not (window.holds(r.measured_at) and window.holds(r.received_at)):
            result.bad_time += 1
            continue
        mid = ids.get(r.identity)
        if mid is None:
            result.unknown_meter += 1
            result.unknown_meters.add(r.identity)
            continue
        known.append((mid, r))
    telegrams = telegram_ids(conn, [r for _, r in known])
    rows: list[tuple[Any, ...]] = []
    for mid, r in known:
        telegram_id = telegrams.get(r.raw) if r.raw is not None else None
        source = r.source if r.source in SOURCES else "radio"
        rows.append(
            (
                mid,
                r.measured_at,
                r.received_at,
                r.total_m3,
                r.registers,
                r.rssi_dbm,
                source,
                r.gateway,
                telegram_id,
                batch_id,
                r.alarms,
                r.reading_key,
                r.dedup_cell,
                r.dedup_cell_offset,
            )
        )
    result.inserted = insert_rows(conn, rows)
    if result.inserted < len(rows):
        result.conflicts = keep_conflicts(conn, rows, window.latest - TimeWindow.AHEAD_S)
    result.duplicates = len(rows) - result.inserted - result.conflicts
    return result


def keep_conflicts(conn: Connection, rows: Sequence[tuple[Any, ...]], now: int) -> int:
    """Rows (COLUMNS order) not stored because their key was, with another total or other alarms: kept
    in reading_conflicts for review (the stored one stays). Returns how many are new conflicts. Looked
    for only when some rows of a batch were not new, so a batch of new readings costs nothing here."""
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    by_time: dict[tuple[int, int], tuple[Any, ...]] = {}
    by_key: dict[int, list[tuple[Any, ...]]] = {}
    cols = "meter_id, measured_at, total_m3, alarms, gateway, reading_key, dedup_cell, dedup_cell_offset"
    for i in range(0, len(rows), 400):
        part = rows[i : i + 400]
        pairs = ",".join([f"({mark},{mark})"] * len(part))
        found = fetch_all(conn, f"SELECT {cols} FROM readings WHERE (meter_id, measured_at) IN (VALUES {pairs})",
                          [x for r in part for x in (r[0], r[1])])  # fmt: skip
        keys = [r[11] for r in part if r[11] is not None]
        if keys:
            found += fetch_all(conn, f"SELECT {cols} FROM readings WHERE reading_key IN ({','.join([mark] * len(keys))})", keys)
        for s in found:
            by_time[(int(s[0]), int(s[1]))] = s
            if s[5] is not None:
                by_key.setdefault(int(s[5]), []).append(s)
    conflicts: list[tuple[Any, ...]] = []
    for r in rows:
        stored = by_time.get((r[0], r[1]))
        if stored is None and r[11] is not None:
            stored = next((s for s in by_key.get(r[11], []) if s[6] == r[12] or s[7] == r[13]), None)
        if stored is None or (stored[2] == r[3] and int(stored[3]) == r[10]):
            continue  # stored now, or the same reading again
        digest = hashlib.sha256(f"{r[0]}|{r[1]}|{r[3]!r}|{r[10]}".encode()).digest()
        conflicts.append((r[0], r[1], now, r[2], r[7], r[6], r[3], r[10], stored[2], int(stored[3]), stored[4], digest))
    columns = ("meter_id", "measured_at", "found_at", "received_at", "gateway", "source", "total_m3", "alarms",
               "stored_total_m3", "stored_alarms", "stored_gateway", "digest")  # fmt: skip
    return insert_ignore(conn, "reading_conflicts", columns, conflicts) if conflicts else 0
