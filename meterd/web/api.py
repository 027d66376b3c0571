"""The JSON API of the account view under /api/v1/ (OpenAPI at /openapi.json): sessions, the account,
and a tenant's premises with their meters, readings, use, notices and prepaid credit.

A tenant sees only the premises of its tenancies, each only over its period: any other premises is
answered 404, exactly as one that does not exist. Every data request needs a session, from the login's
cookie or as `Authorization: Bearer TOKEN`; without one it is answered 401."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from meterd.reading import iso
from meterd.store.accounts import AccountView, end_session
from meterd.web import accounts, data
from meterd.web.data import premises_addresses
from meterd.web.deps import PortalDep, StoreDep
from meterd.web.rendering import attachment
from meterd.web.security import (
    bearer_or_cookie,
    csrf_token,
    current,
    delete_session_cookie,
    require_api_csrf,
    set_session_cookie,
)

DAY = 86400
router = APIRouter()


class LoginIn(BaseModel):
    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    token: str
    csrf: str = Field(description="for X-CSRF-Token when the cookie, not the token, authenticates a change")


class LinkIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)


class TenancyOut(BaseModel):
    start: str = Field(alias="from")
    to: str | None
    model_config = {"populate_by_name": True}


class PremisesOut(BaseModel):
    id: str
    address: str
    tenancies: list[TenancyOut]


class AccountOut(BaseModel):
    login: str
    email: str
    lang: str
    consent_notices: bool
    consent_at: str | None


class ConsentIn(BaseModel):
    consent: bool


class MeterOut(BaseModel):
    meter_id: str
    medium: str
    installed_from: str
    installed_to: str | None
    last_reading_at: str | None
    last_total_m3: float | None


class ReadingOut(BaseModel):
    meter_id: str
    medium: str
    measured_at: str
    total_m3: float | None
    source: str
    estimated: bool


class CreditOut(BaseModel):
    meter_id: str
    credit: float
    measured_at: str
    valve: Literal["open", "closed"] | None = Field(None, description="where the meter's vendor profile finds it, else null")
    tamper: bool | None = None
    low_credit: bool | None = Field(None, description="the meter's own low-credit flag, where its profile finds it")
    volume_credit_m3: float | None = None
    last_topup: float | None = None


class ConsumptionOut(BaseModel):
    start: str = Field(alias="from")
    to: str
    m3: dict[str, float] | None = Field(description="null: no reading of the flat's meters before or during the period")
    last_year: dict[str, float] | None = Field(description="the same period a year earlier; null outside the tenancy or without a meter then")
    model_config = {"populate_by_name": True}


class NoticeOut(BaseModel):
    kind: Literal["leak", "meter_alarm", "missing", "estimated"]
    meter_id: str
    medium: str
    severity: str
    since: str
    until: str | None
    text: str


def _when(text: str | None, default: int, name: str) -> int:
    if text is None:
        return default
    from meterd.times import parse_time

    try:
        t = parse_time(text)
    except (ValueError, OverflowError):
        raise HTTPException(422, f"{name}: not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    if not 946_684_800 <= t <= int(time.time()) + 366 * DAY:
        raise HTTPException(422, f"{name}: outside 2000 to a year from now")
    return t


def span(start: str | None, end: str | None, days: int, end_default: int) -> tuple[int, int]:
    """[from, to) of a request: `to` defaults to `end_default`, `from` to `days` before `to`."""
    t_end = _when(end, end_default, "to")
    t_start = _when(start, t_end - days * DAY, "from")
    if t_end <= t_start:
        raise HTTPException(422, "from must lie before to")
    if t_end - t_start > 5 * 366 * DAY:
        raise HTTPException(422, "at most five years at once")
    return t_start, t_end


Account = Annotated[AccountView, Depends(current)]
From = Annotated[str | None, Query(alias="from", max_length=40)]
To = Annotated[str | None, Query(alias="to", max_length=40)]


def as_json(rows: list[dict[str, object]]) -> Response:
    """A list answered as JSON directly: the endpoints that return many rows skip building a pydantic
    object per row (their response_model still documents them in the OpenAPI)."""
    import orjson

    return Response(orjson.dumps(rows), media_type="application/json")


def own(account: AccountView, pid: str) -> list[data.Period]:
    """The account's periods of the premises; 404 (as for a premises that does not exist) if none."""
    periods = account.periods(pid)
    if not periods:
        raise HTTPException(404, "no such premises")
    return periods


@router.post("/api/v1/login", response_model=TokenOut, tags=["session"])
def api_login(request: Request, response: Response, body: LoginIn, store: StoreDep) -> TokenOut:
    token = accounts.login(store, request, body.login, body.password)
    set_session_cookie(request, response, token)
    return TokenOut(token=token, csrf=csrf_token(request, token))

@router.post("/api/v1/logout", status_code=204, tags=["session"])
def api_logout(request: Request, account: Account, store: StoreDep) -> Response:
    require_api_csrf(request)
    token, _ = bearer_or_cookie(request)
    with store.begin() as conn:
        end_session(conn, token or "")
    response = Response(status_code=204)
    delete_session_cookie(request, response)
    return response

@router.post("/api/v1/login-link", status_code=202, tags=["session"])
def api_login_link(request: Request, body: LinkIn, store: StoreDep) -> dict[str, str]:
    """E-mail a one-time login link to the account with this address (the first login, or a
    forgotten password). The answer is the same, and as quick, whether or not the address is known
    and whether or not mail can be sent now: the mail is queued and sent out of band."""
    accounts.send_login_link(store, request, body.email)
    return {"detail": "if the address is known, a login link is on its way"}

@router.get("/api/v1/account", response_model=AccountOut, tags=["account"])
def api_account(account: Account) -> AccountOut:
    return _account(account)


def _account(account: AccountView) -> AccountOut:
    return AccountOut(login=account.login, email=account.email, lang=account.lang,
                      consent_notices=account.consent_notices,
                      consent_at=data.iso_or_none(account.consent_at))  # fmt: skip

@router.put("/api/v1/account/consent", response_model=AccountOut, tags=["account"])
def api_consent(request: Request, account: Account, body: ConsentIn, store: StoreDep) -> AccountOut:
    """Give (true) or withdraw (false) consent to notices by e-mail."""
    require_api_csrf(request)
    accounts.change_consent(store, request, account, body.consent)
    return _account(current(request))

@router.get("/api/v1/premises", response_model=list[PremisesOut], tags=["premises"])
def api_premises(account: Account, store: StoreDep) -> list[PremisesOut]:
    addresses = premises_addresses(store, account.premises)
    return [
        PremisesOut(id=code, address=addresses.get(code, ""),
                    tenancies=[TenancyOut(start=iso(a), to=None if b >= 2**62 else iso(b))
                               for a, b in account.periods(code)])
        for code in account.premises
    ]  # fmt: skip

@router.get("/api/v1/premises/{pid}/meters", response_model=list[MeterOut], tags=["premises"])
def api_meters(pid: str, account: Account, store: StoreDep) -> list[MeterOut]:
    """The meters that hung in the flat during the tenancy, oldest first per medium (the swap history)."""
    periods = own(account, pid)
    with store.begin() as conn:
        rows = data.meters(conn, pid, periods, int(time.time()))
    return [MeterOut(meter_id=m.meter_id, medium=m.medium, installed_from=iso(m.installed_from),
                     installed_to=data.iso_or_none(m.installed_to), last_reading_at=data.iso_or_none(m.last_at),
                     last_total_m3=m.last_m3) for m in rows]  # fmt: skip

@router.get("/api/v1/premises/{pid}/readings", response_model=list[ReadingOut], tags=["premises"])
def api_readings(pid: str, account: Account, store: StoreDep, start: From = None, end: To = None) -> Response:
    periods = own(account, pid)
    t_start, t_end = span(start, end, 92, int(time.time()) + 1)
    with store.begin() as conn:
        rows = data.readings(conn, pid, periods, t_start, t_end)
    return as_json([{"meter_id": r.meter_id, "medium": r.medium, "measured_at": iso(r.measured_at),
                     "total_m3": r.total_m3, "source": r.source, "estimated": r.estimated} for r in rows])  # fmt: skip

@router.get("/api/v1/premises/{pid}/readings.csv", tags=["premises"], response_class=Response,
         responses={200: {"content": {"text/csv": {}}}})  # fmt: skip
def api_readings_csv(pid: str, account: Account, store: StoreDep, start: From = None, end: To = None,
                     dialect: Literal["plain", "pl"] = "plain") -> Response:  # fmt: skip
    """The tenant's own readings as CSV (meter_id,medium,measured_at,total_m3,source,estimated);
    `dialect=pl` for Polish Excel (semicolon, decimal comma, BOM, CRLF, local times), as the Polish
    pages link it."""
    import io

    from meterd.spreadsheet import dialect as sheet_of

    periods = own(account, pid)
    t_start, t_end = span(start, end, 366, int(time.time()) + 1)
    with store.begin() as conn:
        rows = data.readings(conn, pid, periods, t_start, t_end)
    sheet = sheet_of(dialect)
    buf = io.StringIO()
    w = sheet.writer(buf)
    w.writerow(("meter_id", "medium", "measured_at", "total_m3", "source", "estimated"))
    for r in rows:
        w.writerow((r.meter_id, r.medium, sheet.time(r.measured_at), sheet.number(r.total_m3), r.source,
                    "yes" if r.estimated else "no"))  # fmt: skip
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": attachment(f"odczyty-{pid}.csv")})  # fmt: skip

@router.get("/api/v1/premises/{pid}/consumption", response_model=list[ConsumptionOut], tags=["premises"],
         response_model_by_alias=True)  # fmt: skip
def api_consumption(pid: str, account: Account, store: StoreDep, period: Literal["month", "day"] = "month",
                    start: From = None, end: To = None) -> Response:  # fmt: skip
    """Use per local month or day, summed over the meters that hung in the flat (across a swap, the
    old meter's use up to it plus the new one's after), with the same period a year earlier."""
    periods = own(account, pid)
    t_start, t_end = span(start, end, 396 if period == "month" else 31, int(time.time()))
    with store.begin() as conn:
        rows = data.use(conn, pid, periods, t_start, t_end, period)
    return as_json([{"from": iso(r.start), "to": iso(r.end), "m3": r.m3 if r.has_data else None,
                    "last_year": r.year_ago} for r in rows])  # fmt: skip

@router.get("/api/v1/premises/{pid}/notices", response_model=list[NoticeOut], tags=["premises"])
def api_notices(pid: str, account: Account, store: StoreDep, portal: PortalDep,
                lang: Literal["pl", "en"] = "pl") -> list[NoticeOut]:  # fmt: skip
    """Current notices: suspected leak, meter alarm, missing readings, estimated values."""
    from meterd.web.i18n import notice_text

    periods = own(account, pid)
    with store.begin() as conn:
        rows = data.notices(conn, pid, periods, int(time.time()), portal.missing_days)
    return [NoticeOut(kind=n.kind, meter_id=n.meter, medium=n.medium, severity=n.severity,  # type: ignore[arg-type]
                      since=iso(n.since), until=data.iso_or_none(n.until), text=notice_text(lang, n))
            for n in rows]  # fmt: skip

@router.get("/api/v1/premises/{pid}/prepaid", response_model=list[CreditOut], tags=["premises"])
def api_prepaid(pid: str, account: Account, store: StoreDep) -> list[CreditOut]:
    """What each prepaid meter of the premises reported last: credit, and valve, tamper, low-credit
    flag, volume credit and last top-up where its vendor profile finds them (empty for ordinary meters)."""
    from meterd.store.prepaid import latest_state
    from meterd.store.queries import premises_id, segments

    periods = own(account, pid)
    now = int(time.time())
    out = []
    with store.begin() as conn:
        pidn = premises_id(conn, pid)
        for a, b in data.clip(periods, now - 366 * DAY, now + 1):
            for seg in segments(conn, pidn, a, b):
                found = latest_state(conn, seg.serial)
                if found is not None and a <= found[1] < b:
                    st = found[0]
                    out.append(CreditOut(meter_id=seg.serial, credit=st.credit, measured_at=iso(found[1]),
                                         valve=st.valve, tamper=st.tamper, low_credit=st.low_credit_flag,  # type: ignore[arg-type]
                                         volume_credit_m3=st.volume_credit, last_topup=st.last_topup))  # fmt: skip
    return out
