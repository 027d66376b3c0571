"""Hearings in the store: what every gateway and walk heard of each meter per day (meterd.coverage),
written by the gateway's own store and by the central ingester, read by coverage reports, planned
walks and the staff pages."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, delete, func, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from meterd.coverage.hearing import Hearing, HearingKind, day_of
from meterd.coverage.report import Coverage, HearingRow, RegisterMeter, coverage
from meterd.store.ingest import fetch_all
from meterd.store.models import Assignment, Building, Meter, Premises, Reading
from meterd.store.models import Hearing as HearingTable

RADIO_KINDS = ("radio", "walkby")  # meters that send by radio (wired and prepaid ones hang on a bus)


def put_hearings(conn: Connection, hearings: Sequence[Hearing]) -> None:
    """Store hearings; a day's totals sent again replace the stored ones when they are not smaller
    (a resend, or the running totals of a later moment)."""
    if not hearings:
        return
    table = cast(Table, HearingTable.__table__)
    insert = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    stmt = insert.on_conflict_do_update(
        index_elements=["serial", "manufacturer", "gateway", "day"],
        set_={"kind": insert.excluded.kind, "telegrams": insert.excluded.telegrams,
              "rssi_median_dbm": insert.excluded.rssi_median_dbm, "last_at": insert.excluded.last_at},
        where=insert.excluded.telegrams >= table.c.telegrams,
    )  # fmt: skip
    latest: dict[tuple[str, str, str, int], Hearing] = {}
    for h in hearings:  # one row per key and statement (PostgreSQL refuses to update a row twice)
        key = (h.serial, h.manufacturer, h.gateway, h.day)
        if key not in latest or h.telegrams >= latest[key].telegrams:
            latest[key] = h
    rows = [{"serial": h.serial, "manufacturer": h.manufacturer, "gateway": h.gateway[:64], "day": h.day,
             "kind": h.kind.value, "telegrams": h.telegrams, "rssi_median_dbm": h.rssi_median_dbm,
             "last_at": h.last_at} for h in latest.values()]  # fmt: skip
    for i in range(0, len(rows), 2000):
        conn.execute(stmt, rows[i : i + 2000])


def own_hearings(conn: Connection, gateway: str, since_day: int) -> list[Hearing]:
    """A gateway's stored hearings from `since_day` on (to count on from after a restart)."""
    t = HearingTable
    rows = conn.execute(
        select(t.manufacturer, t.serial, t.day, t.kind, t.telegrams, t.rssi_median_dbm, t.last_at)
        .where(t.gateway == gateway, t.day >= since_day)
    ).all()
    return [Hearing(gateway, HearingKind(kind), maker, serial, day, n, rssi, last)
            for maker, serial, day, kind, n, rssi, last in rows]  # fmt: skip


def register_meters(conn: Connection, now: int, building: str | None = None) -> list[RegisterMeter]:
    """Radio meters hanging in a flat now, in walking order: building, address, meter."""
    q = (
        select(Meter.id, Meter.serial, Meter.manufacturer, Premises.code, Building.code, Premises.address, Meter.medium)
        .join(Assignment, Assignment.meter_id == Meter.id)
        .join(Premises, Premises.id == Assignment.premises_id)
        .join(Building, Building.id == Premises.building_id)
        .where(Meter.kind.in_(RADIO_KINDS), Assignment.valid_from <= now,
               or_(Assignment.valid_to.is_(None), Assignment.valid_to > now))
        .order_by(Building.code, Premises.address, Premises.code, Meter.serial, Meter.manufacturer)
    )  # fmt: skip
    if building is not None:
        q = q.where(Building.code == building)
    seen: set[int] = set()
    out = []
    for mid, serial, maker, premises, bcode, address, medium in conn.execute(q).all():
        if mid not in seen:
            seen.add(mid)
            out.append(RegisterMeter(mid, serial, maker, premises, bcode, address, medium))
    return out


def hearing_rows(conn: Connection, since: int) -> list[HearingRow]:
    """The stored hearings of the days from `since` (an epoch time; its whole day counts) on, days of
    one meter and gateway with the same median RSSI added up (their weighted median is the same, and a
    month of a meter's days has a few distinct medians, not thirty)."""
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    sql = ("SELECT serial, manufacturer, gateway, kind, SUM(telegrams), rssi_median_dbm, MAX(last_at) "
           f"FROM hearings WHERE day >= {mark} GROUP BY serial, manufacturer, gateway, kind, rssi_median_dbm")  # fmt: skip
    return fetch_all(conn, sql, [day_of(since)])  # type: ignore[return-value]


def store_coverage(conn: Connection, since: int, *, now: int | None = None, building: str | None = None) -> Coverage:
    """Coverage of the register's radio meters from `since` on."""
    now = int(time.time()) if now is None else now
    return coverage(register_meters(conn, now, building), hearing_rows(conn, since))


def delivered_since(conn: Connection, meter_ids: Iterable[int], since: int) -> set[int]:
    """Meters of `meter_ids` with a reading a gateway delivered (source radio) received since `since`:
    heard, also where the store has no hearings of them (a store from before hearings were kept)."""
    wanted = sorted(set(meter_ids))
    found: set[int] = set()
    for i in range(0, len(wanted), 500):
        part = wanted[i : i + 500]
        found |= set(conn.execute(
            select(Reading.meter_id).where(Reading.meter_id.in_(part), Reading.source == "radio",
                                           Reading.received_at >= since).distinct()
        ).scalars())  # fmt: skip
    return found


def last_readings(conn: Connection, meter_ids: Iterable[int]) -> dict[int, tuple[float | None, int]]:
    """Each meter's latest stored reading with a total: (total_m3, measured_at)."""
    wanted = sorted(set(meter_ids))
    out: dict[int, tuple[float | None, int]] = {}
    for i in range(0, len(wanted), 500):
        part = wanted[i : i + 500]
        newest = conn.execute(
            select(Reading.meter_id, func.max(Reading.measured_at))
            .where(Reading.meter_id.in_(part), Reading.total_m3.is_not(None))
            .group_by(Reading.meter_id)
        ).all()
        if newest:
            rows = conn.execute(
                select(Reading.meter_id, Reading.total_m3, Reading.measured_at)
                .where(tuple_(Reading.meter_id, Reading.measured_at).in_([(int(m), int(t)) for m, t in newest]))
            ).all()
            out.update({int(m): (total, int(t)) for m, total, t in rows})
    return out


@dataclass(frozen=True, slots=True)
class PlannedStop:
    meter: RegisterMeter
    previous_reading: float | None
    previous_at: int | None


def plan_unheard(conn: Connection, since: int, *, now: int, building: str | None = None) -> tuple[int, list[PlannedStop]]:
    """(radio meters considered, the stops of a walk to those no gateway heard since `since`) in walking
    order. Heard is a gateway's hearing, or a reading a gateway delivered (stores from before hearings)."""
    cov = store_coverage(conn, since, now=now, building=building)
    candidates = [m for m in cov.meters if not m.gateways]
    delivered = delivered_since(conn, [m.meter.id for m in candidates], since)
    unheard = [m.meter for m in candidates if m.meter.id not in delivered]
    last = last_readings(conn, [m.id for m in unheard])
    stops = []
    for m in unheard:
        total, at = last.get(m.id, (None, None))
        stops.append(PlannedStop(m, total, at))
    return len(cov.meters), stops


def forget_hearings(conn: Connection, before: int, *, count_only: bool = False) -> int:
    """Hearings of the days before the one of `before` (an epoch time): how many, removed unless
    `count_only` (coverage looks back weeks; a year of hearings of 40,000 meters is 30 million rows)."""
    t = HearingTable
    day = day_of(before)
    if count_only:
        return int(conn.execute(select(func.count()).select_from(t).where(t.day < day)).scalar() or 0)
    return int(conn.execute(delete(t).where(t.day < day)).rowcount or 0)
