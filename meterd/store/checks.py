"""Running the validation over the store and keeping its findings as anomalies."""

from __future__ import annotations

import time

import numpy as np
from sqlalchemy import Connection, select

from meterd.store.ingest import insert_ignore
from meterd.store.models import Anomaly, Assignment, Meter, Premises, Reading
from meterd.validate import Findings, Meters, Readings, run_checks

WARM = frozenset({"warm_water", "hot_water"})


def load(conn: Connection, since: int | None = None) -> tuple[Readings, Meters, list[int], np.ndarray]:
    """Readings (ordered by meter and time), the meter table, store ids per meter index, and swaps."""
    meters = conn.execute(
        select(Meter.id, Meter.serial, Meter.q3_m3h, Meter.medium, Meter.schedule).order_by(Meter.id)
    ).all()
    index = {m.id: i for i, m in enumerate(meters)}
    building = dict(
        conn.execute(
            select(Assignment.meter_id, Premises.building_id)
            .join(Premises, Premises.id == Assignment.premises_id)
            .where(Assignment.valid_to.is_(None))
        ).all()
    )
    from meterd.store.models import Building

    names = {int(i): str(c) for i, c in conn.execute(select(Building.id, Building.code)).all()}
    table = Meters(
        [m.serial for m in meters],
        np.array([m.q3_m3h for m in meters], dtype=np.float64),
        np.array([building.get(m.id, -1) for m in meters], dtype=np.int32),
        np.array([1 if m.medium in WARM else 0 for m in meters], dtype=np.int8),
        [m.schedule for m in meters],
        ["" for _ in meters],
        names,
    )
    q = select(Reading.meter_id, Reading.measured_at, Reading.total_m3, Reading.alarms, Reading.received_at)
    if since is not None:
        q = q.where(Reading.measured_at >= since)
    rows = conn.execute(q.order_by(Reading.meter_id, Reading.measured_at)).all()
    readings = Readings(
        np.array([index[r[0]] for r in rows], dtype=np.int32),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] if r[2] is not None else np.nan for r in rows], dtype=np.float64),
        np.array([r[3] for r in rows], dtype=np.uint16),
        np.array([r[4] for r in rows], dtype=np.int64),
    )
    # a meter whose assignment ended was swapped then: drops around that time are not backflow
    ended = conn.execute(select(Assignment.meter_id, Assignment.valid_to).where(Assignment.valid_to.is_not(None))).all()
    started = conn.execute(select(Assignment.meter_id, Assignment.valid_from)).all()
    swaps = np.array([(index[m], t) for m, t in [*ended, *started] if m in index], dtype=np.int64).reshape(-1, 2)
    return readings, table, [m.id for m in meters], swaps


def prepaid_findings(conn: Connection, index: dict[int, int], now: int | None = None) -> Findings:
    """Credit sold and not seen in the meter, and low credit (meterd.validate.prepaid)."""
    from meterd.store.prepaid import credit_readings, sold
    from meterd.validate.prepaid import CreditReadings, TopUps, reconcile

    credit = [(index[m], t, c, v) for m, t, c, v in credit_readings(conn) if m in index]
    topups = [(index[m], t, a) for m, t, a in sold(conn) if m in index]
    if not credit and not topups:
        return Findings()
    c = np.array(credit, dtype=np.float64).reshape(-1, 4)
    s = np.array(topups, dtype=np.float64).reshape(-1, 3)
    return reconcile(
        CreditReadings(c[:, 0].astype(np.int32), c[:, 1].astype(np.int64), c[:, 2], c[:, 3].astype(np.int8)),
        TopUps(s[:, 0].astype(np.int32), s[:, 1].astype(np.int64), s[:, 2]),
        int(time.time()) if now is None else now,
    )


def check_store(conn: Connection, since: int | None = None, save: bool = True) -> tuple[Findings, Meters]:
    readings, meters, ids, swaps = load(conn, since)
    findings = run_checks(readings, meters, swaps=swaps)
    findings.extend(prepaid_findings(conn, {mid: i for i, mid in enumerate(ids)}))
    # a meter taken out of service is silent for a reason
    in_service = set(conn.execute(select(Assignment.meter_id).where(Assignment.valid_to.is_(None))).scalars())
    retired = {i for i, mid in enumerate(ids) if mid not in in_service}
    if retired:
        findings = findings.where(
            [not (f == "missing" and m in retired) for m, f in zip(findings.meter, findings.flag, strict=True)]
        )
    if save and len(findings):
        from meterd.validate.reasons import reason

        now = int(time.time())
        rows = [
            (ids[m], f, sev, s, e, reason(f, d, v, lim)[:300], reason(f, d, v, lim, "pl")[:300], now, False)
            for m, f, sev, s, e, d, v, lim in zip(
                findings.meter, findings.flag, findings.severity, findings.start, findings.end,
                findings.detail, findings.value, findings.limit, strict=True,
            )
            if m >= 0  # a building's finding (its gateway was out) is no meter's anomaly
        ]  # fmt: skip
        insert_ignore(  # the same finding again (meter, flag, start) is kept once
            conn,
            Anomaly.__tablename__,
            ("meter_id", "flag", "severity", "start_at", "end_at", "reason", "reason_pl", "created_at", "acknowledged"),
            rows,
        )
    return findings, meters
