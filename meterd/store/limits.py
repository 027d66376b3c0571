"""Failed logins kept in the store, so that every server process (`meterd serve --workers N`) counts the
same: a failure is recorded under several keys (the login, the client address, the pair of both) and
counted within a window. Old failures are deleted as new ones come, and the table never holds more
than MAX_ROWS: its size is bounded whatever names an attacker tries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, func, insert, select

from meterd.store.models import LoginFailure

MAX_ROWS = 100_000
KEEP_S = 3600  # the longest window any limit counts in


def counts(conn: Connection, keys: Sequence[str], since: int) -> dict[str, tuple[int, int]]:
    """Per key: (failures since `since`, the oldest of them)."""
    rows = conn.execute(
        select(LoginFailure.key, func.count(), func.min(LoginFailure.at))
        .where(LoginFailure.key.in_(list(keys)), LoginFailure.at >= since)
        .group_by(LoginFailure.key)
    ).all()
    found = {str(k): (int(n), int(oldest)) for k, n, oldest in rows}
    return {k: found.get(k, (0, 0)) for k in keys}


def record(conn: Connection, keys: Sequence[str], now: int) -> None:
    """A failure under each key; failures older than KEEP_S go, and the oldest beyond MAX_ROWS."""
    conn.execute(insert(LoginFailure), [{"key": k[:200], "at": now} for k in keys])
    conn.execute(delete(LoginFailure).where(LoginFailure.at < now - KEEP_S))
    total = int(conn.execute(select(func.count()).select_from(LoginFailure)).scalar() or 0)
    if total > MAX_ROWS:
        cut = conn.execute(select(LoginFailure.id).order_by(LoginFailure.id.desc()).offset(MAX_ROWS).limit(1)).scalar()
        if cut is not None:
            conn.execute(delete(LoginFailure).where(LoginFailure.id <= cut))


def forget(conn: Connection, keys: Sequence[str]) -> None:
    conn.execute(delete(LoginFailure).where(LoginFailure.key.in_(list(keys))))
