"""The central store's side of the gateways' batches: which seqs of each gateway are committed, and what
was refused. Kept in the store, so that every ingester agrees on what a gateway may drop.

A gateway numbers its readings (seq); batches may be committed out of order (two ingesters share
them), so the store keeps the contiguous committed seq per gateway and the ranges committed above
it, merged as the gaps fill. The gateway's row is locked while a transaction moves it, so two
ingesters never miss each other's ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from meterd.store.ingest import bulk_insert, insert_ignore
from meterd.store.models import GatewaySeq, GatewaySeqRange, ReadingConflict, Rejected


def runs(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted seqs as contiguous ranges (lo, hi), merged."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def merge(committed: int, ranges: Iterable[tuple[int, int]]) -> tuple[int, list[tuple[int, int]]]:
    """The contiguous committed seq after adding `ranges`, and the ranges still above it (merged)."""
    left: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if hi <= committed:
            continue
        if lo <= committed + 1 and not left:
            committed = max(committed, hi)
        elif left and lo <= left[-1][1] + 1:
            left[-1] = (left[-1][0], max(left[-1][1], hi))
        else:
            left.append((lo, hi))
    return committed, left


def commit_seqs(conn: Connection, gateway: str, seqs: Sequence[int], first: int | None, now: int) -> int:
    """Record seqs of a gateway as committed (with the transaction they are part of); `first` is the
    gateway's own word that nothing below it waits any more. Returns the contiguous committed seq."""
    insert_ignore(conn, "gateway_seqs", ("gateway", "committed", "updated_at"), [(gateway, 0, now)])
    row = conn.execute(select(GatewaySeq.committed).where(GatewaySeq.gateway == gateway).with_for_update()).first()
    assert row is not None
    before = int(row[0])
    stored = [(int(lo), int(hi)) for lo, hi in conn.execute(
        select(GatewaySeqRange.lo, GatewaySeqRange.hi).where(GatewaySeqRange.gateway == gateway)).all()]  # fmt: skip
    start = max(before, first - 1) if first is not None else before
    committed, left = merge(start, [*stored, *runs(seqs)])
    if left != stored:
        conn.execute(delete(GatewaySeqRange).where(GatewaySeqRange.gateway == gateway))
        if left:
            conn.execute(insert(GatewaySeqRange), [{"gateway": gateway, "lo": lo, "hi": hi} for lo, hi in left])
    if committed != before:
        conn.execute(update(GatewaySeq).where(GatewaySeq.gateway == gateway).values(committed=committed, updated_at=now))
    return committed


def committed_seq(conn: Connection, gateway: str) -> int:
    return int(conn.execute(select(GatewaySeq.committed).where(GatewaySeq.gateway == gateway)).scalar() or 0)


@dataclass(frozen=True, slots=True)
class RefusedRow:
    at: int
    gateway: str
    seq: int | None
    reason: str
    message: str
    content: str
    kept: bool = False  # stored all the same, only noted


def keep_refused(conn: Connection, rows: Sequence[RefusedRow]) -> None:
    if rows:
        bulk_insert(conn, "rejected", ("at", "gateway", "seq", "reason", "message", "content", "kept"),
                    [(r.at, r.gateway, r.seq, r.reason, r.message[:300], r.content, r.kept) for r in rows])  # fmt: skip


def refused_rows(conn: Connection, since: int = 0) -> list[RefusedRow]:
    q = select(Rejected.at, Rejected.gateway, Rejected.seq, Rejected.reason, Rejected.message, Rejected.content,
               Rejected.kept)  # fmt: skip
    rows = conn.execute(q.where(Rejected.at >= since).order_by(Rejected.at, Rejected.id)).all()
    return [RefusedRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]


def meter_buildings(conn: Connection, meters: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The building each meter (manufacturer, serial) hangs in now, as readings are matched to meters:
    the maker's meter, else the register's of that serial without a maker (meters not in the register,
    or not hung, are left out)."""
    from meterd.store.models import Assignment, Building, Meter, Premises

    wanted = sorted(set(meters))
    serials = sorted({serial for _, serial in wanted})
    by_meter: dict[tuple[str, str], str] = {}
    for i in range(0, len(serials), 500):
        q = (
            select(Meter.manufacturer, Meter.serial, Building.code)
            .join(Assignment, (Assignment.meter_id == Meter.id) & Assignment.valid_to.is_(None))
            .join(Premises, Premises.id == Assignment.premises_id)
            .join(Building, Building.id == Premises.building_id)
            .where(Meter.serial.in_(serials[i : i + 500]))
        )
        by_meter.update({(maker, serial): code for maker, serial, code in conn.execute(q).all()})
    found: dict[tuple[str, str], str] = {}
    for maker, serial in wanted:
        code = by_meter.get((maker, serial)) or by_meter.get(("", serial))
        if code is not None:
            found[(maker, serial)] = code
    return found


@dataclass(frozen=True, slots=True)
class ConflictRow:
    serial: str
    measured_at: int
    found_at: int
    gateway: str | None
    source: str
    total_m3: float | None
    alarms: int
    stored_total_m3: float | None
    stored_alarms: int
    stored_gateway: str | None


def conflict_rows(conn: Connection, since: int = 0) -> list[ConflictRow]:
    from meterd.store.models import Meter

    q = (
        select(Meter.serial, ReadingConflict.measured_at, ReadingConflict.found_at, ReadingConflict.gateway,
               ReadingConflict.source, ReadingConflict.total_m3, ReadingConflict.alarms,
               ReadingConflict.stored_total_m3, ReadingConflict.stored_alarms, ReadingConflict.stored_gateway)
        .join(Meter, Meter.id == ReadingConflict.meter_id)
        .where(ReadingConflict.found_at >= since)
        .order_by(ReadingConflict.found_at, ReadingConflict.id)
    )  # fmt: skip
    return [
        ConflictRow(r[0], int(r[1]), int(r[2]), r[3], r[4], r[5], int(r[6]), r[7], int(r[8]), r[9])
        for r in conn.execute(q).all()
    ]
