"""The account view as a FastAPI application: the JSON API under /api/v1/ (OpenAPI at /openapi.json)
and the tenant page at /. A tenant sees only the premises of its account: any other premises is
answered 404, exactly as one that does not exist. Every data request needs a session, from the login's
cookie or as `Authorization: Bearer TOKEN`; without one it is answered 401."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from meterd import __version__
from meterd.reading import iso
from meterd.store import Store
from meterd.store.accounts import AccountView, authenticate, end_session, new_session, session_account
from meterd.web.limits import LoginLimiter

COOKIE = "meterd_session"
DAY = 86400
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class LoginIn(BaseModel):
    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    token: str


class PremisesOut(BaseModel):
    id: str
    address: str


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


class ConsumptionOut(BaseModel):
    start: str = Field(alias="from")
    to: str
    m3: dict[str, float]

    model_config = {"populate_by_name": True}


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


def current(request: Request) -> AccountView:
    """The session's account, from the cookie or `Authorization: Bearer`; 401 without a valid one."""
    token = request.cookies.get(COOKIE)
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    if not token or len(token) > 200:
        raise HTTPException(401, "log in first", headers={"WWW-Authenticate": "Bearer"})
    store: Store = request.app.state.store
    with store.begin() as conn:
        account = session_account(conn, token)
    if account is None:
        raise HTTPException(401, "the session has ended: log in again", headers={"WWW-Authenticate": "Bearer"})
    return account


Account = Annotated[AccountView, Depends(current)]


def _span(start: str | None, end: str | None, days: int, end_default: int) -> tuple[int, int]:
    """[from, to) of a request: `to` defaults to `end_default`, `from` to `days` before `to`."""
    t_end = _when(end, end_default, "to")
    return _when(start, t_end - days * DAY, "from"), t_end


def create_app(store: Store) -> FastAPI:
    app = FastAPI(title="meterd account view", version=__version__, docs_url=None, redoc_url=None)
    app.state.store = store
    limiter = LoginLimiter()

    def own(account: AccountView, pid: str) -> str:
        if pid not in account.premises:
            raise HTTPException(404, "no such premises")
        return pid

    def login(request: Request, body: LoginIn) -> str:
        address = request.client.host if request.client else "?"
        keys = (f"login:{body.login.lower()}", f"addr:{address}")
        wait = limiter.retry_after(*keys)
        if wait:
            raise HTTPException(429, f"too many failed logins: try again in {wait} s", headers={"Retry-After": str(wait)})
        with store.begin() as conn:
            account_id = authenticate(conn, body.login, body.password)
            if account_id is None:
                limiter.failed(*keys)
                raise HTTPException(401, "wrong login or password")
            limiter.succeeded(keys[0])
            return new_session(conn, account_id)

    def set_cookie(response: Response, token: str, request: Request) -> None:
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                            max_age=8 * 3600, path="/")  # fmt: skip

    @app.post("/api/v1/login", response_model=TokenOut, tags=["session"])
    def api_login(request: Request, response: Response, body: LoginIn) -> TokenOut:
        token = login(request, body)
        set_cookie(response, token, request)
        return TokenOut(token=token)

    @app.post("/api/v1/logout", status_code=204, tags=["session"])
    def api_logout(request: Request, account: Account) -> Response:
        token = request.cookies.get(COOKIE) or request.headers.get("authorization", "")[7:].strip()
        with store.begin() as conn:
            end_session(conn, token)
        response = Response(status_code=204)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/api/v1/premises", response_model=list[PremisesOut], tags=["premises"])
    def api_premises(account: Account) -> list[PremisesOut]:
        return [PremisesOut(id=code, address=address) for code, address in _premises(store, account)]

    @app.get("/api/v1/premises/{pid}/readings", response_model=list[ReadingOut], tags=["premises"])
    def api_readings(
        pid: str,
        account: Account,
        start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    ) -> list[ReadingOut]:
        code = own(account, pid)
        t_start, t_end = _span(start, end, 92, int(time.time()) + 1)
        return [ReadingOut(**r) for r in _readings(store, code, t_start, t_end)]

    @app.get("/api/v1/premises/{pid}/readings.csv", tags=["premises"], response_class=Response,
             responses={200: {"content": {"text/csv": {}}}})  # fmt: skip
    def api_readings_csv(
        pid: str,
        account: Account,
        start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    ) -> Response:
        """The tenant's own readings as CSV (meter_id,medium,measured_at,total_m3,source)."""
        import csv
        import io

        code = own(account, pid)
        t_start, t_end = _span(start, end, 366, int(time.time()) + 1)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(("meter_id", "medium", "measured_at", "total_m3", "source"))
        for r in _readings(store, code, t_start, t_end):
            w.writerow((r["meter_id"], r["medium"], r["measured_at"], "" if r["total_m3"] is None else r["total_m3"],
                        r["source"]))  # fmt: skip
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="odczyty-{code}.csv"'})  # fmt: skip

    @app.get("/api/v1/premises/{pid}/consumption", response_model=list[ConsumptionOut], tags=["premises"],
             response_model_by_alias=True)  # fmt: skip
    def api_consumption(
        pid: str,
        account: Account,
        period: Literal["month", "day"] = "month",
        start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    ) -> list[ConsumptionOut]:
        code = own(account, pid)
        t_start, t_end = _span(start, end, 396 if period == "month" else 31, int(time.time()))
        if t_end - t_start > 5 * 366 * DAY:
            raise HTTPException(422, "at most five years at once")
        if t_end <= t_start:
            raise HTTPException(422, "from must lie before to")
        return [ConsumptionOut(**r) for r in _consumption(store, code, t_start, t_end, period)]

    @app.get("/api/v1/premises/{pid}/prepaid", response_model=list[CreditOut], tags=["premises"])
    def api_prepaid(pid: str, account: Account) -> list[CreditOut]:
        """The credit each prepaid meter of the premises reported last (empty for ordinary meters)."""
        from meterd.store.prepaid import latest_credit
        from meterd.store.queries import premises_id, segments

        code = own(account, pid)
        now = int(time.time())
        out = []
        with store.begin() as conn:
            for seg in segments(conn, premises_id(conn, code), now - 366 * DAY, now + 1):
                credit = latest_credit(conn, seg.serial)
                if credit is not None:
                    out.append(CreditOut(meter_id=seg.serial, credit=credit[0], measured_at=iso(credit[1])))
        return out

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request) -> Response:
        try:
            account = current(request)
        except HTTPException:
            return TEMPLATES.TemplateResponse(request, "login.html", {"error": request.query_params.get("error")})
        flats: list[dict[str, Any]] = []
        now = int(time.time())
        for code, address in _premises(store, account):
            readings = _readings(store, code, now - 92 * DAY, now + 1)
            latest: dict[str, dict[str, Any]] = {}
            for r in readings:
                latest[r["meter_id"]] = r
            months = _consumption(store, code, now - 396 * DAY, now, "month")
            meters = [latest[m] for m in sorted(latest)]
            flats.append({"code": code, "address": address, "meters": meters, "months": months})
        return TEMPLATES.TemplateResponse(request, "account.html", {"login": account.login, "flats": flats})

    @app.post("/login", include_in_schema=False)
    def page_login(request: Request, login_: Annotated[str, Form(alias="login", max_length=64)],
                   password: Annotated[str, Form(max_length=256)]) -> Response:  # fmt: skip
        try:
            token = login(request, LoginIn(login=login_, password=password))
        except HTTPException as e:
            return RedirectResponse(f"/?error={e.status_code}", status_code=303)
        response = RedirectResponse("/", status_code=303)
        set_cookie(response, token, request)
        return response

    @app.post("/logout", include_in_schema=False)
    def page_logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if token:
            with store.begin() as conn:
                end_session(conn, token)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.exception_handler(Exception)
    def unexpected(_request: Request, _exc: Exception) -> JSONResponse:  # never a traceback to the client
        return JSONResponse({"detail": "internal error"}, status_code=500)

    return app


def _premises(store: Store, account: AccountView) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from meterd.store.models import Premises

    if not account.premises:
        return []
    with store.begin() as conn:
        rows = conn.execute(select(Premises.code, Premises.address).where(Premises.code.in_(account.premises))).all()
    return [(str(c), str(a or "")) for c, a in sorted(rows)]


def _readings(store: Store, code: str, start: int, end: int) -> list[dict[str, Any]]:
    from meterd.store.queries import premises_readings

    with store.begin() as conn:
        rows = premises_readings(conn, code, start, end)
    return [{"meter_id": str(r["meter_id"]), "medium": str(r["medium"]), "measured_at": iso(int(r["measured_at"])),  # type: ignore[call-overload]
             "total_m3": r["total_m3"], "source": str(r["source"]), "estimated": r["source"] == "estimate"}
            for r in rows]  # fmt: skip


def _consumption(store: Store, code: str, start: int, end: int, period: str) -> list[dict[str, Any]]:
    from meterd.store.queries import consumption

    with store.begin() as conn:
        rows = consumption(conn, code, start, end, period)
    out = []
    for r in rows:
        media = {k: float(v) for k, v in r.items() if k not in ("from", "to")}  # type: ignore[arg-type]
        out.append({"from": iso(int(r["from"])), "to": iso(int(r["to"])), "m3": media})  # type: ignore[call-overload]
    return out

