"""Small named values the store keeps for the program: the decoder's learned state (compact-frame
formats, mode 7 counters, passed in and out as plain JSON-able exports) and the KEK check value."""

from __future__ import annotations

from typing import Any, TypedDict

import orjson
from sqlalchemy import Connection, select, update

from meterd.store.ingest import insert_ignore
from meterd.store.models import State

SIGNATURES = "signatures"
COUNTERS = "mode7_counters"


class DecoderState(TypedDict):
    signatures: dict[str, str]  # signature hex → format hex, as SignatureCache.export() gives it
    counters: dict[str, int]  # meter/link path → last mode 7 message counter


def get_state(conn: Connection, name: str) -> Any:
    value = conn.execute(select(State.value).where(State.name == name)).scalar()
    return orjson.loads(value) if value else None


def put_state(conn: Connection, name: str, value: object) -> None:
    text = orjson.dumps(value).decode()
    if conn.execute(update(State).where(State.name == name).values(value=text)).rowcount == 0:
        insert_ignore(conn, "state", ("name", "value"), [(name, text)])


def load_decoder_state(conn: Connection) -> DecoderState:
    formats = get_state(conn, SIGNATURES)
    counters = get_state(conn, COUNTERS)
    return DecoderState(
        signatures={str(k): str(v) for k, v in formats.items()} if isinstance(formats, dict) else {},
        counters={str(k): int(v) for k, v in counters.items()} if isinstance(counters, dict) else {},
    )


def save_decoder_state(conn: Connection, state: DecoderState) -> None:
    put_state(conn, SIGNATURES, state["signatures"])
    put_state(conn, COUNTERS, state["counters"])
