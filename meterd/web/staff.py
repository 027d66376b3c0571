"""Staff pages (role `staff`): find a premises or meter, see its raw readings and anomalies, confirm or
reject a flagged reading. Every view of a tenant's data and every decision goes to the audit log."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import or_, select, update

from meterd.ids import meter_label
from meterd.spreadsheet import local_number as number
from meterd.store.accounts import AccountView, audit, audit_log
from meterd.store.models import Anomaly, Assignment, Meter, Premises, Reading
from meterd.validate.model import alarm_names
from meterd.web.deps import StoreDep
from meterd.web.i18n import alarm_terms, local_date, local_time, medium, term
from meterd.web.pages import Csrf
from meterd.web.rendering import render
from meterd.web.security import client_address, csrf_ok, page_lang, staff_only

router = APIRouter(include_in_schema=False, prefix="/staff")
DAY = 86400


@router.get("", response_class=HTMLResponse)
def search(request: Request, store: StoreDep, q: str = "") -> Response:
    account = staff_only(request)
    if not isinstance(account, AccountView):
        return account
    lang = page_lang(request, account)
    q = q.strip()[:64]
    results: list[dict[str, Any]] = []
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        with store.begin() as conn:
            rows = conn.execute(
                select(Premises.code, Premises.address)
                .outerjoin(Assignment, Assignment.premises_id == Premises.id)
                .outerjoin(Meter, Meter.id == Assignment.meter_id)
                .where(or_(Premises.code.ilike(like), Premises.address.ilike(like), Meter.serial.ilike(like)))
                .distinct()
                .order_by(Premises.code)
                .limit(50)
            ).all()
            results = [{"code": c, "address": a} for c, a in rows]
            audit(conn, account, "search", detail=q, address=client_address(request))
    return render(request, "staff_search.html", lang, {"account": account, "q": q, "results": results})


@router.get("/premises/{code}", response_class=HTMLResponse)
def premises(request: Request, store: StoreDep, code: str) -> Response:
    from meterd.store.queries import first_and_last
    from meterd.web.meter_history import reading_text

    account = staff_only(request)
    if not isinstance(account, AccountView):
        return account
    lang = page_lang(request, account)
    now = int(time.time())
    with store.begin() as conn:
        row = conn.execute(select(Premises.id, Premises.address).where(Premises.code == code)).first()
        if row is None:
            return render(request, "staff_search.html", lang, {"account": account, "q": code, "results": []}, 404)
        assignments = conn.execute(
            select(Meter.id, Meter.serial, Meter.medium, Assignment.valid_from, Assignment.valid_to, Meter.manufacturer)
            .join(Meter, Meter.id == Assignment.meter_id)
            .where(Assignment.premises_id == row[0])
            .order_by(Assignment.valid_from)
        ).all()
        meters = []
        for mid, serial, med, start, end, maker in assignments:
            readings = conn.execute(
                select(Reading.measured_at, Reading.received_at, Reading.total_m3, Reading.source, Reading.gateway,
                       Reading.rssi_dbm, Reading.alarms)
                .where(Reading.meter_id == mid, Reading.measured_at >= max(start, now - 30 * DAY))
                .where(Reading.measured_at < (end if end is not None else now + DAY))
                .order_by(Reading.measured_at.desc())
                .limit(48)
            ).all()  # fmt: skip
            anomalies = conn.execute(
                select(Anomaly.id, Anomaly.flag, Anomaly.severity, Anomaly.start_at, Anomaly.end_at, Anomaly.reason,
                       Anomaly.review, Anomaly.reviewed_by, Anomaly.reason_pl, Anomaly.review_comment)
                .where(Anomaly.meter_id == mid, Anomaly.end_at >= start)
                .where(Anomaly.start_at < (end if end is not None else now + DAY))
                .order_by(Anomaly.start_at.desc())
                .limit(100)
            ).all()  # fmt: skip
            first, last = first_and_last(conn, mid, start, end)
            meters.append({
                "first": reading_text(first, lang), "last": reading_text(last, lang),
                "id": mid, "serial": serial, "label": meter_label(maker, serial), "medium": medium(lang, med), "from": local_date(start, lang),
                "to": local_date(end, lang) if end is not None else None,
                "readings": [{"at": local_time(r[0], lang), "received": local_time(r[1], lang),
                              "value": "—" if r[2] is None else number(lang, r[2]), "source": term(lang, r[3]),
                              "gateway": r[4] or "", "rssi": "" if r[5] is None else f"{r[5]:.0f}",
                              "alarms": alarm_terms(lang, alarm_names(r[6] or 0))}
                             for r in readings],
                "anomalies": [{"id": a[0], "flag": term(lang, a[1]), "severity": term(lang, a[2]),
                               "from": local_time(a[3], lang), "to": local_time(a[4], lang),
                               "reason": a[8] if lang == "pl" and a[8] else a[5], "review": a[6], "by": a[7],
                               "comment": a[9] or ""} for a in anomalies],
            })  # fmt: skip
        audit(conn, account, "view_premises", premises=code, address=client_address(request))
    return render(request, "staff_premises.html", lang,
                  {"account": account, "code": code, "address": row[1], "meters": meters})  # fmt: skip


@router.post("/anomalies/{anomaly_id}")
def review(request: Request, store: StoreDep, anomaly_id: int, decision: Annotated[str, Form(max_length=16)],
           comment: Annotated[str, Form(max_length=300)] = "", csrf: Csrf = "") -> Response:  # fmt: skip
    """Confirm or reject an anomaly with a comment, or undo the review; each goes to the audit log.
    A rejected leak no longer shows on the tenant's page; undone, it shows again."""
    account = staff_only(request)
    if not isinstance(account, AccountView):
        return account
    if not csrf_ok(request, csrf) or decision not in ("confirmed", "rejected", "undo"):
        return HTMLResponse("<!doctype html><title>403</title><p>Formularz wygasł / the form expired</p>", status_code=403)
    comment = " ".join(comment.split())  # one line, no control characters
    with store.begin() as conn:
        row = conn.execute(
            select(Anomaly.flag, Anomaly.start_at, Meter.serial, Premises.code, Anomaly.review)
            .join(Meter, Meter.id == Anomaly.meter_id)
            .outerjoin(Assignment, (Assignment.meter_id == Meter.id) & (Assignment.valid_from <= Anomaly.start_at)
                       & ((Assignment.valid_to.is_(None)) | (Assignment.valid_to > Anomaly.start_at)))
            .outerjoin(Premises, Premises.id == Assignment.premises_id)
            .where(Anomaly.id == anomaly_id)
        ).first()  # fmt: skip
        if row is None:
            return HTMLResponse("<!doctype html><title>404</title><p>Nie ma takiej anomalii / no such anomaly</p>",
                                status_code=404)  # fmt: skip
        what = f"#{anomaly_id} {row[0]} {local_time(row[1], 'en')}"
        if decision == "undo":
            conn.execute(update(Anomaly).where(Anomaly.id == anomaly_id).values(
                review=None, reviewed_by=None, reviewed_at=None, review_comment=None, acknowledged=False))  # fmt: skip
            audit(conn, account, "review_undone", premises=row[3] or "", meter=row[2],
                  detail=f"{what} ({row[4] or '—'}){': ' + comment if comment else ''}", address=client_address(request))
        else:
            conn.execute(update(Anomaly).where(Anomaly.id == anomaly_id).values(
                review=decision, reviewed_by=account.login, reviewed_at=int(time.time()), acknowledged=True,
                review_comment=comment or None))  # fmt: skip
            audit(conn, account, decision, premises=row[3] or "", meter=row[2],
                  detail=f"{what}{': ' + comment if comment else ''}", address=client_address(request))
    return RedirectResponse(f"/staff/premises/{row[3]}" if row[3] else "/staff", status_code=303)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, store: StoreDep, premises: str | None = None) -> Response:
    account = staff_only(request)
    if not isinstance(account, AccountView):
        return account
    lang = page_lang(request, account)
    with store.begin() as conn:
        rows = audit_log(conn, premises=premises[:64] if premises else None, limit=300)
        audit(conn, account, "view_audit", premises=premises[:64] if premises else "", address=client_address(request))
    entries = [{"at": local_time(r.at, lang), "actor": r.actor, "role": term(lang, r.role), "action": term(lang, r.action),
                "premises": r.premises,
                "meter": r.meter, "detail": r.detail} for r in rows]  # fmt: skip
    return render(request, "staff_audit.html", lang, {"account": account, "entries": entries})


@router.get("/incoming", response_class=HTMLResponse)
def incoming(request: Request, store: StoreDep) -> Response:
    """Readings whose key was stored before with another value (conflicts, the first stays) and
    readings or messages the central ingesters refused, newest first."""
    from meterd.store.central import conflict_rows, refused_rows

    account = staff_only(request)
    if not isinstance(account, AccountView):
        return account
    lang = page_lang(request, account)
    with store.begin() as conn:
        conflicts, refused = conflict_rows(conn)[-300:], refused_rows(conn)[-300:]
        audit(conn, account, "view_incoming", address=client_address(request))

    def value(total: float | None, alarms: int, gateway: str | None) -> str:
        names = alarm_terms(lang, alarm_names(alarms))
        shown = "—" if total is None else number(lang, total) + " m³"
        return f"{shown}{f' ({names})' if names else ''}, {gateway or '—'}"

    rows = [{"found": local_time(c.found_at, lang), "meter": c.serial, "measured": local_time(c.measured_at, lang),
             "stored": value(c.stored_total_m3, c.stored_alarms, c.stored_gateway),
             "arrived": value(c.total_m3, c.alarms, c.gateway)} for c in reversed(conflicts)]  # fmt: skip
    refusals = [{"at": local_time(r.at, lang), "gateway": r.gateway, "seq": r.seq, "reason": r.reason,
                 "message": r.message, "content": r.content[:300], "kept": r.kept} for r in reversed(refused)]  # fmt: skip
    return render(request, "staff_incoming.html", lang, {"account": account, "conflicts": rows, "refused": refusals})

