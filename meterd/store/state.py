"""Decoder state kept across restarts: learned compact-frame formats and mode 7 message counters."""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, select, update

from meterd.store.ingest import insert_ignore
from meterd.store.models import State
from meterd.wmbus import Decoder, SignatureCache

SIGNATURES = "signatures"
COUNTERS = "mode7_counters"


def _get(conn: Connection, name: str) -> object:
    value = conn.execute(select(State.value).where(State.name == name)).scalar()
    return orjson.loads(value) if value else None


def _put(conn: Connection, name: str, value: object) -> None:
    text = orjson.dumps(value).decode()
    if conn.execute(update(State).where(State.name == name).values(value=text)).rowcount == 0:
        insert_ignore(conn, "state", ("name", "value"), [(name, text)])


def restore(conn: Connection, decoder: Decoder) -> None:
    """Teach a new decoder what earlier runs learned (formats) and saw (counters)."""
    formats = _get(conn, SIGNATURES)
    if isinstance(formats, dict):
        for fmt in SignatureCache.from_export(formats).export().values():
            decoder.signatures.learn(bytes.fromhex(fmt))
    counters = _get(conn, COUNTERS)
    if isinstance(counters, dict):
        for meter, counter in counters.items():
            decoder.counters[str(meter)] = max(int(counter), decoder.counters.get(str(meter), -1))


def save(conn: Connection, decoder: Decoder) -> None:
    _put(conn, SIGNATURES, decoder.signatures.export())
    _put(conn, COUNTERS, decoder.counters)
