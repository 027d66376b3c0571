"""Mail sent out of band: a request (a login link asked for by address) is queued in the store and
answered at once; a worker (`meterd serve`'s, or `meterd notices send`) sends it, and tries again
later when the mail server does not take it (after 1, 2, 4 ... 60 minutes, given up after MAX_TRIES).
A row is claimed before it is sent, so two server processes never send it twice."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from meterd.store.models import QueuedMail

CLAIM_S = 300  # a claimed row is free again after this long (its worker died)
MAX_TRIES = 10


@dataclass(frozen=True, slots=True)
class Queued:
    id: int
    kind: str
    address: str
    tries: int
    next_at: int


def enqueue(conn: Connection, kind: str, address: str, now: int) -> None:
    conn.execute(insert(QueuedMail).values(kind=kind, address=address[:254], created_at=now, next_at=now, tries=0))


def due(conn: Connection, now: int, limit: int = 50) -> list[Queued]:
    rows = conn.execute(
        select(QueuedMail.id, QueuedMail.kind, QueuedMail.address, QueuedMail.tries, QueuedMail.next_at)
        .where(QueuedMail.done_at.is_(None), QueuedMail.next_at <= now)
        .order_by(QueuedMail.next_at)
        .limit(limit)
    ).all()
    return [Queued(int(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in rows]


def claim(conn: Connection, item: Queued, now: int) -> bool:
    """Take the row for sending; False when another worker took it first."""
    taken = conn.execute(
        update(QueuedMail)
        .where(QueuedMail.id == item.id, QueuedMail.next_at == item.next_at, QueuedMail.done_at.is_(None))
        .values(next_at=now + CLAIM_S)
    ).rowcount
    return taken == 1


def finish(conn: Connection, item: Queued, now: int, note: str = "") -> None:
    conn.execute(update(QueuedMail).where(QueuedMail.id == item.id).values(done_at=now, error=note[:300]))


def again_later(conn: Connection, item: Queued, now: int, error: str) -> None:
    tries = item.tries + 1
    if tries >= MAX_TRIES:
        finish(conn, item, now, f"given up after {tries} tries: {error}")
        return
    wait = min(3600, 60 * 2 ** (tries - 1))
    conn.execute(update(QueuedMail).where(QueuedMail.id == item.id)
                 .values(tries=tries, next_at=now + wait, error=error[:300]))  # fmt: skip


def waiting(conn: Connection) -> int:
    from sqlalchemy import func

    return int(conn.execute(select(func.count()).select_from(QueuedMail).where(QueuedMail.done_at.is_(None))).scalar() or 0)
