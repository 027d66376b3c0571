"""The notices a premises has now, for its tenants: a suspected leak (a leak or burst finding of
`meterd check` that staff did not reject), a meter alarm the meter itself reported, readings that went
missing (a meter in the flat silent for days), and estimated values among recent readings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, select

from meterd.store.models import Anomaly, Reading
from meterd.store.queries import premises_id, segments
from meterd.validate.flags import FLAGS
from meterd.validate.model import alarm_names

DAY = 86400
RECENT_S = 3 * DAY  # a finding that ended longer ago is history, not a notice
ALARM_S = 7 * DAY
ESTIMATE_S = 92 * DAY
KINDS = ("leak", "meter_alarm", "missing", "estimated")
# the flags a tenant hears of as the `leak` notice (the registry says which flags tenants see)
LEAK_FLAGS = tuple(f for f in ("leak", "burst") if FLAGS[f].tenants_see)


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str  # one of KINDS
    premises: str
    meter: str
    medium: str
    since: int  # epoch seconds
    until: int | None  # None: still going on
    severity: str  # info, warning, critical
    days: float = 0.0  # how long it has lasted
    detail: str = ""  # alarm names, comma separated, for meter_alarm; a count for estimated

    @property
    def key(self) -> str:
        """What makes two notices the same notice (e-mailed once a day at most)."""
        return f"{self.kind}:{self.premises}:{self.meter}"


_NEWEST = select(func.max(Reading.measured_at)).where(
    Reading.meter_id == bindparam("mid"), Reading.measured_at < bindparam("end")
)
_LEAKS = (
    select(Anomaly.flag, Anomaly.start_at, Anomaly.end_at, Anomaly.severity)
    .where(Anomaly.meter_id == bindparam("mid"), Anomaly.flag.in_(LEAK_FLAGS))
    .where(Anomaly.end_at >= bindparam("start"), Anomaly.start_at < bindparam("end"))
    .where((Anomaly.review.is_(None)) | (Anomaly.review != "rejected"))
    .order_by(Anomaly.start_at)
)
_ALARMS = (
    select(func.min(Reading.measured_at), func.max(Reading.measured_at))
    .where(Reading.meter_id == bindparam("mid"), Reading.alarms != 0)
    .where(Reading.measured_at >= bindparam("start"), Reading.measured_at < bindparam("end"))
)
_MASK = select(Reading.alarms).where(Reading.meter_id == bindparam("mid"), Reading.measured_at == bindparam("at"))
_ESTIMATED = (
    select(func.count(), func.min(Reading.measured_at), func.max(Reading.measured_at))
    .where(Reading.meter_id == bindparam("mid"), Reading.source == "estimate")
    .where(Reading.measured_at >= bindparam("start"), Reading.measured_at < bindparam("end"))
)


def premises_notices(conn: Connection, code: str, now: int, missing_days: int = 2,
                     start: int = 0, end: int = 2**62) -> list[Notice]:  # fmt: skip
    """Notices of the meters that hang in the flat now (within [start, end) of a tenancy)."""
    pid = premises_id(conn, code)
    hi = min(now, end)
    out: list[Notice] = []
    for seg in segments(conn, pid, max(start, hi - ESTIMATE_S), hi + 1):
        current = seg.end > hi
        newest = conn.execute(_NEWEST, {"mid": seg.meter_id, "end": seg.end}).scalar()
        # a finding that lasted up to the meter's last reading goes on as far as anyone knows
        heard = min(hi, int(newest)) if newest is not None else hi
        findings = conn.execute(_LEAKS, {"mid": seg.meter_id, "start": max(seg.start, heard - RECENT_S), "end": seg.end}).all()
        if findings:
            first, last = min(f[1] for f in findings), max(f[2] for f in findings)
            severity = "critical" if any(f[3] == "critical" or f[0] == "burst" for f in findings) else "warning"
            out.append(Notice("leak", code, seg.serial, seg.medium, first, None if last >= heard - DAY else last,
                              severity, round((last - first) / DAY, 1)))  # fmt: skip
        alarms = conn.execute(_ALARMS, {"mid": seg.meter_id, "start": max(seg.start, heard - ALARM_S), "end": seg.end}).first()
        if alarms is not None and alarms[0] is not None:
            mask = conn.execute(_MASK, {"mid": seg.meter_id, "at": alarms[1]}).scalar_one()
            out.append(Notice("meter_alarm", code, seg.serial, seg.medium, int(alarms[0]), None, "warning",
                              round((int(alarms[1]) - int(alarms[0])) / DAY, 1), ",".join(alarm_names(int(mask)))))  # fmt: skip
        if current:
            since = int(newest) if newest is not None else seg.start
            if hi - since >= missing_days * DAY:
                out.append(Notice("missing", code, seg.serial, seg.medium, since, None, "warning",
                                  round((hi - since) / DAY, 1)))  # fmt: skip
        estimated = conn.execute(_ESTIMATED, {"mid": seg.meter_id, "start": seg.start, "end": min(seg.end, hi + 1)}).first()
        if estimated is not None and estimated[0]:
            out.append(Notice("estimated", code, seg.serial, seg.medium, int(estimated[1]), int(estimated[2]), "info",
                              0.0, str(int(estimated[0]))))  # fmt: skip
    out.sort(key=lambda n: (KINDS.index(n.kind), n.meter))
    return out
