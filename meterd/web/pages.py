"""The tenant pages: login, the one-time link that sets a password, the account page (meters, last
readings, the monthly chart with the year before, notices, the CSV download, consent to e-mail notices),
in Polish or English. Every form carries a CSRF token (meterd.web.security)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from meterd.spreadsheet import local_number as number
from meterd.store.accounts import (
    WeakPassword,
    account_names,
    check_password,
    end_session,
    link_account,
    new_session,
    set_lang,
    set_password,
    use_link,
)
from meterd.web import accounts, data
from meterd.web.chart import Bar, svg
from meterd.web.deps import PortalDep, StoreDep
from meterd.web.i18n import LOCAL, local_date, local_time, medium, notice_text, t
from meterd.web.rendering import render
from meterd.web.security import (
    COOKIE,
    csrf_ok,
    delete_session_cookie,
    lookup,
    page_lang,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)
DAY = 86400
Csrf = Annotated[str, Form(max_length=100)]


def _redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, store: StoreDep, portal: PortalDep) -> Response:
    account = lookup(request)
    lang = page_lang(request, account)
    if account is None:
        return render(request, "login.html", lang, {"error": request.query_params.get("error"),
                                                    "sent": request.query_params.get("sent"),
                                                    "hours": portal.link_hours})  # fmt: skip
    if account.role == "staff" and not account.tenures:
        return _redirect("/staff")
    if request.query_params.get("lang") in ("pl", "en") and request.query_params["lang"] != account.lang:
        with store.begin() as conn:
            set_lang(conn, account.id, request.query_params["lang"])
    from meterd.store.tenant_readings import reported
    from meterd.web.data import premises_addresses
    from meterd.web.statements import previous_month
    from meterd.web.tenant_readings import REASONS, reason

    now = int(time.time())
    last_month = previous_month(now)
    addresses = premises_addresses(store, account.premises)
    flats = []
    with store.begin() as conn:
        for i, code in enumerate(account.premises):
            periods = account.periods(code)
            ended = max(b for _, b in periods)
            until = min(now, ended)
            meters = data.meters(conn, code, periods, now)
            month_start = datetime.fromtimestamp(until, LOCAL).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            first = int(month_start.replace(year=month_start.year - 1).timestamp()) + DAY  # 12 full months + this one
            use = data.use(conn, code, periods, first, until, "month")
            while use and not use[0].has_data:  # months before the flat's first reading: nothing to show
                use = use[1:]
            month_format = "%m.%Y" if lang == "pl" else "%Y-%m"
            bars = [Bar(datetime.fromtimestamp(r.start, LOCAL).strftime(month_format), sum(r.m3.values()) if r.has_data else None,
                        sum(r.year_ago.values()) if r.year_ago is not None else None) for r in use]  # fmt: skip
            media = sorted({k for r in use for k in r.m3}, key=lambda k: (k != "water", k))
            notices = [notice_text(lang, n) for n in data.notices(conn, code, periods, now,
                                                                  portal.missing_days)]  # fmt: skip
            flats.append({
                "code": code, "address": addresses.get(code, ""),
                "ended": local_date(ended, lang) if ended <= now else None,
                "meters": [{"id": m.meter_id, "medium": medium(lang, m.medium),
                            "value": _m3(m.last_m3, lang),
                            "when": local_time(m.last_at, lang) if m.last_at else "—",
                            "installed": local_date(m.installed_from, lang),
                            "removed": local_date(m.installed_to, lang) if m.installed_to else None} for m in meters],
                "chart": "".join(svg(bars, title=t(lang, "chart_label"), this_year=t(lang, "this_year"),
                                     last_year=t(lang, "last_year"), uid=f"{i}{'n' if narrow else 'w'}", narrow=narrow)
                                 for narrow in (False, True)),  # the phone shows the narrow one
                "media": [medium(lang, k) for k in media],
                "bars": [{"label": b.label, "value": _m3(b.value, lang), "ago": _m3(b.year_ago, lang),
                          "by_medium": [_m3(r.m3.get(k), lang) if r.has_data else "—" for k in media],
                          "change": _change(b.value, b.year_ago)} for b, r in zip(bars, use, strict=True)],
                "notices": notices,
                "statement": f"{last_month[0]:04d}-{last_month[1]:02d}",
                "now_meters": [{"id": m.meter_id, "medium": medium(lang, m.medium)} for m in meters
                               if m.installed_to is None],
                "reports": [{"id": r.id, "meter": r.serial, "value": _m3(r.total_m3, lang),
                             "when": local_date(r.measured_at, lang), "status": t(lang, f"report_{r.status.value}"),
                             "comment": r.review_comment or "", "photo": r.has_photo}
                            for r in reported(conn, premises=code) if r.login == account.login][:20],
            })  # fmt: skip
    consent = None
    if account.consent_notices and account.consent_at:
        consent = t(lang, "consent_on", email=account.email, when=local_date(account.consent_at, lang))
    outcome = request.query_params.get("report", "")
    report_message = reason(lang, outcome) if outcome in REASONS else None
    return render(request, "account.html", lang, {"account": account, "flats": flats, "consent": consent,
                                                  "report_message": report_message, "report_ok": outcome == "ok"})  # fmt: skip


def _m3(v: float | None, lang: str) -> str:
    """`167,126` on Polish pages, `167.126` on English ones; a dash for no data."""
    return "—" if v is None else number(lang, v)


def _change(now: float | None, ago: float | None) -> str:
    if now is None or ago is None or ago <= 0:
        return "—"
    return f"{(now - ago) / ago * 100:+.0f} %"


@router.post("/login")
def page_login(request: Request, login_: Annotated[str, Form(alias="login", max_length=64)],
               password: Annotated[str, Form(max_length=256)], store: StoreDep, csrf: Csrf = "") -> Response:  # fmt: skip
    if not csrf_ok(request, csrf):
        return _redirect("/?error=csrf")
    try:
        token = accounts.login(store, request, login_, password)
    except HTTPException as e:
        return _redirect(f"/?error={e.status_code}")
    response = _redirect("/")
    set_session_cookie(request, response, token)
    return response


@router.post("/logout")
def page_logout(request: Request, store: StoreDep, csrf: Csrf = "") -> Response:
    token = request.cookies.get(COOKIE)
    if token and csrf_ok(request, csrf):
        with store.begin() as conn:
            end_session(conn, token)
        response = _redirect("/")
        delete_session_cookie(request, response)
        return response
    return _redirect("/?error=csrf")


@router.post("/consent")
def page_consent(request: Request, consent: Annotated[str, Form(max_length=3)], store: StoreDep,
                 csrf: Csrf = "") -> Response:  # fmt: skip
    account = lookup(request)
    if account is None:
        return _redirect("/")
    if not csrf_ok(request, csrf):
        return _redirect("/?error=csrf")
    try:
        accounts.change_consent(store, request, account, consent == "yes")
    except HTTPException:
        return _redirect("/?error=consent")
    return _redirect("/#consent")


@router.post("/link")
def page_send_link(request: Request, email: Annotated[str, Form(max_length=254)], store: StoreDep,
                   csrf: Csrf = "") -> Response:  # fmt: skip
    if not csrf_ok(request, csrf):
        return _redirect("/?error=csrf")
    try:
        accounts.send_login_link(store, request, email)
    except HTTPException as e:
        return _redirect(f"/?error={e.status_code}")
    return _redirect("/?sent=1")


@router.get("/link/{token}", response_class=HTMLResponse)
def page_link(request: Request, token: str, store: StoreDep) -> Response:
    lang = page_lang(request)
    with store.begin() as conn:
        valid = len(token) <= 100 and link_account(conn, token) is not None
    return render(request, "link.html", lang, {"token": token if valid else None}, 200 if valid else 410)


@router.post("/link/{token}", response_class=HTMLResponse)
def page_link_set(request: Request, token: str, password: Annotated[str, Form(max_length=256)],
                  repeat: Annotated[str, Form(max_length=256)], store: StoreDep, csrf: Csrf = "") -> Response:  # fmt: skip
    lang = page_lang(request)
    if len(token) > 100:
        return render(request, "link.html", lang, {"token": None}, 410)
    if not csrf_ok(request, csrf):
        return render(request, "link.html", lang, {"token": token, "error": t(lang, "bad_form")}, 403)
    if password != repeat:
        return render(request, "link.html", lang, {"token": token, "error": t(lang, "passwords_differ")}, 422)
    with store.begin() as conn:
        aid = link_account(conn, token)
        if aid is None:
            return render(request, "link.html", lang, {"token": None}, 410)
        login, email = account_names(conn, aid)
        try:
            check_password(password, login, email)
        except WeakPassword as e:
            return render(request, "link.html", lang, {"token": token, "error": t(lang, f"password_{e.reason}")}, 422)
        if use_link(conn, token) is None:
            raise HTTPException(410, "the link was used already")
        set_password(conn, aid, password)  # every other session and link of the account ends
        session = new_session(conn, aid)
    response = _redirect("/")
    set_session_cookie(request, response, session)
    return response
