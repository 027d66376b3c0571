"""The staff's worklist, `/staff/anomalies`: findings over all premises, the most severe and newest
first, filtered by flag, severity, building, status and age; each row links to its flat."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, and_, case, func, or_, select

from meterd.ids import meter_label
from meterd.spreadsheet import local_number as number
from meterd.store.accounts import AccountView, audit
from meterd.store.models import Anomaly, Assignment, Building, Meter, Premises
from meterd.store.tenant_readings import Status, reported
from meterd.web.deps import StoreDep
from meterd.web.i18n import days_text, local_date, local_time, medium, term
from meterd.web.rendering import render
from meterd.web.security import client_address, page_lang, staff_only

router = APIRouter(include_in_schema=False, prefix="/staff")
DAY = 86_400
PAGE = 100
STATUSES = ("open", "confirmed", "rejected", "all")
SEVERITIES = ("critical", "warning", "info")
AGES = {"7": 7, "30": 30, "90": 90, "365": 365, "all": None}


@dataclass(frozen=True)
class Filters:
    flag: str | None
    severity: str | None
    building: str | None
    status: str
    age: str
    page: int

    def query(self, **changes: Any) -> str:
        """The URL query of these filters, with changes (the pager's links)."""
        from urllib.parse import urlencode

        values = {"flag": self.flag, "severity": self.severity, "building": self.building, "status": self.status,
                  "age": self.age, "page": self.page, **changes}  # fmt: skip
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def worklist(conn: Connection, f: Filters, now: int) -> tuple[int, list[Any]]:
    """(how many findings match, this page of them): id, flag, severity, start, end, reason, reason_pl,
    review, review comment, meter serial, maker, medium, premises, building."""
    rank = case({"critical": 0, "warning": 1, "info": 2}, value=Anomaly.severity, else_=3)
    placed = and_(Assignment.meter_id == Meter.id, Assignment.valid_from <= Anomaly.start_at,
                  or_(Assignment.valid_to.is_(None), Assignment.valid_to > Anomaly.start_at))  # fmt: skip
    base = (
        select(Anomaly.id)
        .join(Meter, Meter.id == Anomaly.meter_id)
        .outerjoin(Assignment, placed)
        .outerjoin(Premises, Premises.id == Assignment.premises_id)
        .outerjoin(Building, Building.id == Premises.building_id)
    )
    conditions = []
    if f.flag:
        conditions.append(Anomaly.flag == f.flag)
    if f.severity:
        conditions.append(Anomaly.severity == f.severity)
    if f.building:
        conditions.append(Building.code == f.building)
    if f.status == "open":
        conditions.append(Anomaly.review.is_(None))
    elif f.status in ("confirmed", "rejected"):
        conditions.append(Anomaly.review == f.status)
    days = AGES.get(f.age)
    if days is not None:
        conditions.append(Anomaly.end_at >= now - days * DAY)
    total = conn.execute(select(func.count()).select_from(base.where(*conditions).subquery())).scalar() or 0
    rows = conn.execute(
        base.with_only_columns(
            Anomaly.id, Anomaly.flag, Anomaly.severity, Anomaly.start_at, Anomaly.end_at, Anomaly.reason,
            Anomaly.reason_pl, Anomaly.review, Anomaly.review_comment, Meter.serial, Meter.manufacturer,
            Meter.medium, Premises.code, Building.code,
        )
        .where(*conditions)
        .order_by(rank, Anomaly.end_at.desc(), Anomaly.id.desc())
        .limit(PAGE)
        .offset((f.page - 1) * PAGE)
    ).all()  # fmt: skip
    return int(total), list(rows)


@router.get("/anomalies", response_class=HTMLResponse)
def anomalies_page(request: Request, store: StoreDep, flag: str = "", severity: str = "", building: str = "", status: str = "open",
                   age: str = "90", page: int = 1) -> Response:  # fmt: skip
    account = staff_only(request)
    if not isinstance(account, AccountView):
        return account
    lang = page_lang(request, account)
    now = int(time.time())
    f = Filters(flag[:32] or None, severity if severity in SEVERITIES else None, building[:64] or None,
                status if status in STATUSES else "open", age if age in AGES else "90", max(1, min(page, 10_000)))  # fmt: skip
    with store.begin() as conn:
        total, rows = worklist(conn, f, now)
        waiting = reported(conn, status=Status.PENDING) if f.status in ("open", "all") and f.page == 1 else []
        flags = sorted(conn.execute(select(Anomaly.flag).distinct()).scalars())
        buildings = sorted(conn.execute(select(Building.code)).scalars())
        audit(conn, account, "view_worklist", detail=f.query(page=None)[:300], address=client_address(request))
    items = [{
        "flag": term(lang, r[1]), "severity": term(lang, r[2]), "severity_key": r[2], "from": local_time(r[3], lang),
        "to": local_time(r[4], lang), "age": days_text(lang, max(0, now - int(r[4])) / DAY), "reason": (r[6] or r[5]) if lang == "pl" else r[5],
        "status": term(lang, r[7]) if r[7] else ("otwarta" if lang == "pl" else "open"), "comment": r[8] or "",
        "meter": meter_label(r[10] or "", r[9]), "medium": medium(lang, r[11]), "premises": r[12] or "",
        "building": r[13] or "", "since": local_date(r[3], lang),
    } for r in rows]  # fmt: skip
    pages = max(1, -(-total // PAGE))
    reports = [{"id": r.id, "premises": r.premises, "meter": meter_label(r.manufacturer, r.serial),
                "medium": medium(lang, r.medium), "value": number(lang, r.total_m3), "when": local_date(r.measured_at, lang),
                "submitted": local_time(r.submitted_at, lang), "login": r.login, "photo": r.has_photo}
               for r in waiting]  # fmt: skip
    return render(request, "staff_anomalies.html", lang, {
        "account": account, "items": items, "total": total, "reports": reports, "f": f, "flags": [(k, term(lang, k)) for k in flags],
        "buildings": buildings, "severities": [(k, term(lang, k)) for k in SEVERITIES],
        "statuses": [(k, term(lang, k) if k in ("confirmed", "rejected") else
                      {"open": ("otwarte", "open"), "all": ("wszystkie", "all")}[k][0 if lang == "pl" else 1])
                     for k in STATUSES],
        "ages": list(AGES), "pages": pages,
        "prev": f.query(page=f.page - 1) if f.page > 1 else None,
        "next": f.query(page=f.page + 1) if f.page < pages else None,
    })  # fmt: skip
