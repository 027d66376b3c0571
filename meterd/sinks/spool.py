"""A bounded on-disk spool of the readings a gateway forwards, in its data directory.

Each reading gets its `seq` here: a number that grows by one per reading and is never handed out
twice, also across restarts and after the spool was emptied (SQLite's AUTOINCREMENT). A reading is
in the spool (committed and synced to disk) before it counts as accepted, and leaves it only when the
central store says it has committed it (`remove_upto`). A full spool drops its oldest readings (they
stay in the gateway's own store) and counts them. It is an SQLite file of its own (`spool.sqlite`)
with synchronous=FULL: a power cut loses nothing that was accepted. Two threads use it (the sinks'
thread appends, the publisher reads and removes): each gets its own connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from meterd.errors import MeterdError

SPOOL_FILE = "spool.sqlite"


class SpoolError(MeterdError):
    code = "spool_error"


@dataclass(frozen=True, slots=True)
class Spooled:
    seq: int
    payload: bytes  # the reading's JSON object, without its seq


class Spool:
    def __init__(self, directory: Path, max_readings: int = 1_000_000) -> None:
        self.path = Path(directory) / SPOOL_FILE
        self.max_readings = max_readings
        self._local = threading.local()
        self._lock = threading.Lock()
        self.dropped = 0  # since this process opened the spool
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            # `topic` is kept for spools written by earlier versions (a topic per reading); unused now
            conn.execute("CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "topic TEXT NOT NULL DEFAULT '', payload BLOB NOT NULL)")  # fmt: skip
            conn.execute("CREATE TABLE IF NOT EXISTS spool_totals (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            conn.commit()
            self.path.chmod(0o600)
            self._count = int(conn.execute("SELECT count(*) FROM spool").fetchone()[0])
        except (sqlite3.Error, OSError) as e:
            raise SpoolError(f"spool {self.path}: {e}") from None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
        return conn

    def __len__(self) -> int:
        return self._count

    def append(self, payloads: Sequence[bytes]) -> int:
        """Keep readings (synced to disk when this returns); the oldest go when the spool is full.
        Returns how many went."""
        if not payloads:
            return 0
        conn = self._conn()
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO spool (topic, payload) VALUES ('', ?)", [(p,) for p in payloads])
                over = self._count + len(payloads) - self.max_readings
                if over > 0:
                    conn.execute("DELETE FROM spool WHERE seq IN (SELECT seq FROM spool ORDER BY seq LIMIT ?)", (over,))
                    conn.execute(
                        "INSERT INTO spool_totals VALUES ('dropped', ?) "
                        "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                        (over,),
                    )
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise SpoolError(f"spool {self.path}: {e}") from None
            dropped = max(over, 0)
            self._count += len(payloads) - dropped
            self.dropped += dropped
            return dropped

    def after(self, seq: int, limit: int) -> list[Spooled]:
        """Up to `limit` readings after `seq`, oldest first."""
        rows = self._conn().execute("SELECT seq, payload FROM spool WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
        return [Spooled(int(s), bytes(p)) for s, p in rows.fetchall()]

    def remove_upto(self, seq: int) -> int:
        """Readings up to `seq` leave the spool (the central store has them); returns how many."""
        conn = self._conn()
        with self._lock:
            try:
                removed = max(int(conn.execute("DELETE FROM spool WHERE seq <= ?", (seq,)).rowcount), 0)
            except sqlite3.Error as e:
                raise SpoolError(f"spool {self.path}: {e}") from None
            self._count -= removed
            return removed

    def first_seq(self) -> int:
        """The oldest reading's seq; when the spool is empty, the seq the next reading will get."""
        row = self._conn().execute("SELECT min(seq) FROM spool").fetchone()
        return int(row[0]) if row and row[0] is not None else self.last_issued() + 1

    def last_issued(self) -> int:
        """The highest seq ever handed out (0 before the first reading)."""
        row = self._conn().execute("SELECT seq FROM sqlite_sequence WHERE name = 'spool'").fetchone()
        return int(row[0]) if row else 0

    def renumber_after(self, seq: int) -> None:
        """Move every reading's seq above `seq`, and the numbering with it: the central side has
        committed numbers this spool never handed out (it was deleted or restored from an old copy)."""
        conn = self._conn()
        with self._lock:
            shift = seq - self.first_seq() + 1
            if shift <= 0:
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
                # two steps, so that no new number collides with one not yet moved
                conn.execute("UPDATE spool SET seq = -seq")
                conn.execute("UPDATE spool SET seq = -seq + ?", (shift,))
                conn.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) + ? WHERE name = 'spool'", (seq - shift, shift))
                conn.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'spool', ? "
                             "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'spool')", (seq,))  # fmt: skip
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise SpoolError(f"spool {self.path}: {e}") from None

    def dropped_total(self) -> int:
        """Readings dropped because the spool was full, over the spool's whole life."""
        row = self._conn().execute("SELECT value FROM spool_totals WHERE name = 'dropped'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
