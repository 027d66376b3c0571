"""A meter's whole history for staff, `/staff/meters/{id}`: where it hung (and the readings it was
taken in and out with), its monthly use as a chart and a table, and every stored reading, paged."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, func, select

from meterd.ids import meter_label
from meterd.spreadsheet import local_number as number
from meterd.store.accounts import AccountView, audit
from meterd.store.models import Assignment, Meter, Premises, Reading
from meterd.store.queries import first_and_last
from meterd.validate.model import alarm_names
from meterd.web.chart import Bar, svg
from meterd.web.deps import StoreDep
from meterd.web.i18n import LOCAL, alarm_terms, local_date, local_time, medium, t, term
from meterd.web.rendering import render
from meterd.web.security import client_address, page_lang, staff_only

router = APIRouter(include_in_schema=False, prefix="/staff")
PAGE = 100


def monthly(conn: Connection, meter_id: int) -> list[tuple[str, float | None]]:
    """Use per local month over the meter's whole history: the month's last total minus the last total
    before it (None for a month without readings)."""
    rows = conn.execute(
        select(Reading.measured_at, Reading.total_m3)
        .where(Reading.meter_id == meter_id, Reading.total_m3.is_not(None))
        .order_by(Reading.measured_at)
    ).all()
    if not rows:
        return []
    last_of: dict[tuple[int, int], float] = {}
    for at, total in rows:
        if total is not None:
            d = datetime.fromtimestamp(int(at), LOCAL)
            last_of[(d.year, d.month)] = float(total)
    (y, m), (y_end, m_end) = min(last_of), max(last_of)
    out: list[tuple[str, float | None]] = []
    previous: float | None = None
    while (y, m) <= (y_end, m_end):
        value = last_of.get((y, m))
        use = None if value is None or previous is None else max(0.0, value - previous)
        out.append((f"{m:02d}.{y}", use))
        if value is not None:
            previous = value
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


@router.get("/meters/{mid}", response_class=HTMLResponse)
def meter_page(request: Request, store: StoreDep, mid: int, page: int = 1) -> Response:
    account = staff_only(request)
    if not isinstance(account, AccountView):
        return account
    lang = page_lang(request, account)
    page = max(1, min(page, 100_000))
    with store.begin() as conn:
        meter = conn.execute(select(Meter.serial, Meter.manufacturer, Meter.medium, Meter.q3_m3h, Meter.kind)
                             .where(Meter.id == mid)).first()  # fmt: skip
        if meter is None:
            return HTMLResponse("<!doctype html><title>404</title><p>Nie ma takiego wodomierza / no such meter</p>",
                                status_code=404)  # fmt: skip
        hung = conn.execute(
            select(Premises.code, Premises.address, Assignment.valid_from, Assignment.valid_to)
            .join(Premises, Premises.id == Assignment.premises_id)
            .where(Assignment.meter_id == mid).order_by(Assignment.valid_from)
        ).all()  # fmt: skip
        places = []
        for code, address, start, end in hung:
            first, last = first_and_last(conn, mid, start, end)
            places.append({"code": code, "address": address, "from": local_date(start, lang),
                           "to": local_date(end, lang) if end is not None else None,
                           "first": reading_text(first, lang), "last": reading_text(last, lang)})  # fmt: skip
        total = conn.execute(select(func.count()).select_from(Reading).where(Reading.meter_id == mid)).scalar() or 0
        rows = conn.execute(
            select(Reading.measured_at, Reading.received_at, Reading.total_m3, Reading.source, Reading.gateway,
                   Reading.rssi_dbm, Reading.alarms)
            .where(Reading.meter_id == mid)
            .order_by(Reading.measured_at.desc()).limit(PAGE).offset((page - 1) * PAGE)
        ).all()  # fmt: skip
        months = monthly(conn, mid)
        audit(conn, account, "view_meter", premises=hung[-1][0] if hung else "", meter=str(meter[0]),
              address=client_address(request))  # fmt: skip
    label = meter_label(meter[1] or "", meter[0])
    bars = [Bar(name, use, None) for name, use in months]
    chart = "".join(svg(bars[-36:], title=t(lang, "monthly"), this_year=t(lang, "use_m3"), last_year=t(lang, "year_ago_m3"),
                        uid=f"m{'n' if narrow else 'w'}", narrow=narrow) for narrow in (False, True)) if bars else ""  # fmt: skip
    pages = max(1, -(-int(total) // PAGE))
    return render(request, "staff_meter.html", lang, {
        "account": account, "label": label, "medium": medium(lang, meter[2]),
        "q3": number(lang, float(meter[3]), 1), "kind": term(lang, meter[4]), "places": places, "chart": chart,
        "months": [{"label": name, "value": "—" if use is None else number(lang, use)} for name, use in months],
        "readings": [{"at": local_time(r[0], lang), "received": local_time(r[1], lang),
                      "value": "—" if r[2] is None else number(lang, r[2]), "source": term(lang, r[3]),
                      "gateway": r[4] or "", "rssi": "" if r[5] is None else f"{r[5]:.0f}",
                      "alarms": alarm_terms(lang, alarm_names(r[6] or 0))} for r in rows],
        "total": total, "page": page, "pages": pages, "mid": mid,
        "now": local_time(int(time.time()), lang),
    })  # fmt: skip


def reading_text(row: Any, lang: str) -> str | None:
    """`123,456 m³ (06.12.2026 07:05)` of a (measured_at, total_m3) row; None for none."""
    if row is None:
        return None
    return f"{number(lang, float(row[1]))} m³ ({local_time(int(row[0]), lang)})"


__all__ = ["monthly", "router"]
