"""A bounded on-disk spool of MQTT messages waiting for the broker, in the gateway's data directory.

A message is in the spool (committed and synced to disk) before it counts as accepted, and leaves it
only when the broker acknowledged it; messages go out in the order they came in. A full spool drops
its oldest messages (their readings stay in the gateway's own store) and counts them. It is an SQLite
file of its own (`spool.sqlite`) with synchronous=FULL: a power cut loses nothing that was accepted.
Two threads use it (the gateway writes, the publisher reads and deletes): each gets its own connection.
Sequence numbers only grow (AUTOINCREMENT): an emptied spool must not hand out a number the publisher
has already passed.
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
    topic: str
    payload: bytes


class Spool:
    def __init__(self, directory: Path, max_messages: int = 1_000_000) -> None:
        self.path = Path(directory) / SPOOL_FILE
        self.max_messages = max_messages
        self._local = threading.local()
        self._lock = threading.Lock()
        self.dropped = 0  # since this process opened the spool
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            conn.execute("CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL)")
            conn.execute("CREATE TABLE IF NOT EXISTS spool_totals (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            conn.commit()
            self.path.chmod(0o600)
        except (sqlite3.Error, OSError) as e:
            raise SpoolError(f"spool {self.path}: {e}") from None
        self._count = int(self._conn().execute("SELECT count(*) FROM spool").fetchone()[0])

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

    def append(self, messages: Sequence[tuple[str, bytes]]) -> int:
        """Keep messages (synced to disk when this returns); the oldest go when the spool is full.
        Returns how many went."""
        if not messages:
            return 0
        conn = self._conn()
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO spool (topic, payload) VALUES (?, ?)", messages)
                over = self._count + len(messages) - self.max_messages
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
            self._count += len(messages) - dropped
            self.dropped += dropped
            return dropped

    def after(self, seq: int, limit: int) -> list[Spooled]:
        """Up to `limit` messages after `seq`, oldest first."""
        rows = self._conn().execute(
            "SELECT seq, topic, payload FROM spool WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [Spooled(int(s), str(t), bytes(p)) for s, t, p in rows]

    def remove(self, seqs: Sequence[int]) -> None:
        """Messages the broker acknowledged."""
        if not seqs:
            return
        conn = self._conn()
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            removed = 0
            for i in range(0, len(seqs), 500):
                part = list(seqs[i : i + 500])
                cur = conn.execute(f"DELETE FROM spool WHERE seq IN ({','.join('?' * len(part))})", part)
                removed += max(cur.rowcount, 0)
            conn.execute("COMMIT")
            self._count -= removed

    def last_seq(self) -> int:
        """The sequence number of the newest message in the spool (0 when it is empty)."""
        row = self._conn().execute("SELECT max(seq) FROM spool").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def dropped_total(self) -> int:
        """Messages dropped because the spool was full, over the spool's whole life."""
        row = self._conn().execute("SELECT value FROM spool_totals WHERE name = 'dropped'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
