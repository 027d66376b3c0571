"""Readings tenants report: checked against the meter's history and its Q3 when reported, pending until
staff accept (stored as a reading of source `tenant`, counted in consumption) or reject them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Row, Select, insert, or_, select, update

from meterd.errors import MeterdError
from meterd.store.ingest import ReadingIn, ingest
from meterd.store.models import Account, Assignment, Meter, Premises, Reading, TenantReading
from meterd.validate.plausible import SLACK_M3, beyond

MAX_PHOTO_BYTES = 5_000_000  # 5 MB: with the form around it, under the 5 MiB a multipart request may have
PHOTO_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


class Status(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Implausible(MeterdError):
    """A reported reading the meter's history rules out; `code` says why, `values` fill the tenant's text."""

    code = "implausible"

    def __init__(self, code: str, message: str, **values: object) -> None:
        super().__init__(message)
        self.code = code
        self.values = values


class ReviewError(MeterdError):
    code = "review_failed"


def photo_type(data: bytes) -> str | None:
    """`image/jpeg` or `image/png` by the file's own first bytes (never by its name), else None."""
    return next((kind for magic, kind in PHOTO_TYPES.items() if data.startswith(magic)), None)


@dataclass(frozen=True)
class Reported:
    id: int
    premises: str
    meter_id: int
    serial: str
    manufacturer: str
    medium: str
    total_m3: float
    measured_at: int
    submitted_at: int
    status: Status
    has_photo: bool
    login: str
    reviewed_by: str | None
    review_comment: str | None


def check_plausible(conn: Connection, meter_id: int, q3_m3h: float, total: float, at: int) -> None:
    """Implausible unless the value lies between the meter's last stored reading before `at` and that
    reading plus Q3 flowing the whole time since (and not below a later one)."""
    before = conn.execute(
        select(Reading.total_m3, Reading.measured_at)
        .where(Reading.meter_id == meter_id, Reading.measured_at <= at, Reading.total_m3.is_not(None))
        .order_by(Reading.measured_at.desc()).limit(1)
    ).first()  # fmt: skip
    if before is not None:
        last, last_at = float(before[0] or 0.0), int(before[1])
        found = beyond(last, last_at, total, at, q3_m3h, above_slack_m3=SLACK_M3)
        if found is not None and found[0] == "below":
            raise Implausible("below_last", f"{total} m3 is below the last reading, {last} m3", last=last, at=last_at)
        if found is not None:
            most = found[1]
            raise Implausible("above_q3", f"{total} m3 is more than the meter can pass since its last reading "
                              f"({last} m3; at most {most:.3f} m3 at Q3 {q3_m3h} m3/h)", last=last, at=last_at, most=most)  # fmt: skip
    after = conn.execute(
        select(Reading.total_m3).where(Reading.meter_id == meter_id, Reading.measured_at > at,
                                       Reading.total_m3.is_not(None)).order_by(Reading.measured_at).limit(1)
    ).scalar()  # fmt: skip
    if after is not None and total > float(after) + SLACK_M3:
        raise Implausible("above_later", f"{total} m3 is above a later reading, {after} m3", later=float(after))


def submit(conn: Connection, *, premises_id: int, meter_id: int, account_id: int, total: float, at: int, now: int,
           photo: bytes | None = None) -> int:  # fmt: skip
    kind = photo_type(photo) if photo else None
    result = conn.execute(insert(TenantReading).values(
        premises_id=premises_id, meter_id=meter_id, account_id=account_id, total_m3=total, measured_at=at,
        submitted_at=now, status=Status.PENDING.value, photo=photo if kind else None, photo_type=kind))  # fmt: skip
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _query() -> Select[Any]:  # the columns _reported reads, in its order
    t = TenantReading
    return cast(Select[Any], (
        select(t.id, Premises.code, t.meter_id, Meter.serial, Meter.manufacturer, Meter.medium, t.total_m3,
               t.measured_at, t.submitted_at, t.status, t.photo_type.is_not(None), Account.login, t.reviewed_by,
               t.review_comment)
        .join(Premises, Premises.id == t.premises_id)
        .join(Meter, Meter.id == t.meter_id)
        .join(Account, Account.id == t.account_id)
    ))  # fmt: skip


def _reported(row: Row[Any]) -> Reported:
    r: tuple[Any, ...] = tuple(row)
    return Reported(int(r[0]), str(r[1]), int(r[2]), str(r[3]), str(r[4] or ""), str(r[5]), float(r[6]), int(r[7]),
                    int(r[8]), Status(r[9]), bool(r[10]), str(r[11]), r[12], r[13])  # fmt: skip


def reported(conn: Connection, *, premises: str | None = None, status: Status | None = None,
             limit: int = 200) -> list[Reported]:  # fmt: skip
    """Reported readings, newest first: of one premises, or waiting (status) over all."""
    q = _query()
    if premises is not None:
        q = q.where(Premises.code == premises)
    if status is not None:
        q = q.where(TenantReading.status == status.value)
    return [_reported(r) for r in conn.execute(q.order_by(TenantReading.submitted_at.desc()).limit(limit)).all()]


def one(conn: Connection, reading_id: int) -> Reported | None:
    row = conn.execute(_query().where(TenantReading.id == reading_id)).first()
    return _reported(row) if row is not None else None


def photo(conn: Connection, reading_id: int) -> tuple[bytes, str] | None:
    row = conn.execute(select(TenantReading.photo, TenantReading.photo_type).where(TenantReading.id == reading_id)).first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return bytes(row[0]), str(row[1])


def review(conn: Connection, reading_id: int, decision: Status, by: str, comment: str, now: int) -> Reported:
    """Accept (stored as a reading of source `tenant`) or reject a pending reading; ReviewError when it
    is not pending or the store already holds a reading of that meter at that time."""
    found = one(conn, reading_id)
    if found is None:
        raise ReviewError(f"no reported reading {reading_id}")
    if found.status is not Status.PENDING:
        raise ReviewError(f"reported reading {reading_id} was {found.status.value} already")
    if decision is Status.ACCEPTED:
        result = ingest(conn, [ReadingIn(meter=found.serial, manufacturer=found.manufacturer, measured_at=found.measured_at,
                                         received_at=found.submitted_at, total_m3=found.total_m3, source="tenant",
                                         gateway=f"tenant:{found.login}"[:64])], now=now)  # fmt: skip
        if result.inserted != 1:
            raise ReviewError(f"the store holds a reading of meter {found.serial} at that time already")
    conn.execute(update(TenantReading).where(TenantReading.id == reading_id).values(
        status=decision.value, reviewed_by=by[:64], reviewed_at=now, review_comment=comment[:300] or None))  # fmt: skip
    reviewed = one(conn, reading_id)
    assert reviewed is not None
    return reviewed


def meter_of(conn: Connection, premises_id: int, text: str, at: int) -> tuple[int, float] | None:
    """(store id, Q3) of the meter with this serial (or MAKER:SERIAL) that hung in the flat at `at`."""
    from meterd.ids import parse_meter_ref

    try:
        maker, serial = parse_meter_ref(text)
    except ValueError:
        return None
    q = (
        select(Meter.id, Meter.q3_m3h)
        .join(Assignment, Assignment.meter_id == Meter.id)
        .where(Assignment.premises_id == premises_id, Meter.serial == serial, Assignment.valid_from <= at,
               or_(Assignment.valid_to.is_(None), Assignment.valid_to > at))
    )  # fmt: skip
    if maker:
        q = q.where(Meter.manufacturer == maker)
    rows = conn.execute(q).all()
    return (int(rows[0][0]), float(rows[0][1])) if len(rows) == 1 else None
