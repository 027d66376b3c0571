"""Readings tenants report (DESIGN of the account view: meters no receiver reads, or a disputed reading):
the API and the page form, the photo (JPEG/PNG up to 5 MB, shown only to staff and the tenant), and the
staff's accept or reject with a comment. A reading the meter's history rules out is refused with the
reason in the tenant's language; an accepted one counts in consumption with source `tenant`."""

from __future__ import annotations

import math
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from meterd.spreadsheet import local_number, parse_number
from meterd.store import Store
from meterd.store.accounts import AccountView, audit
from meterd.store.tenant_readings import (
    MAX_PHOTO_BYTES,
    Implausible,
    Reported,
    ReviewError,
    Status,
    check_plausible,
    meter_of,
    one,
    photo,
    photo_type,
    reported,
    review,
    submit,
)
from meterd.web.deps import StoreDep
from meterd.web.i18n import local_date
from meterd.web.security import client_address, csrf_ok, current, lookup, require_api_csrf, staff_only

router = APIRouter()
Account = Annotated[AccountView, Depends(current)]
DAY = 86_400

REASONS: dict[str, tuple[str, str]] = {
    "below_last": ("Odczyt {total} m³ jest niższy niż ostatni odczyt tego wodomierza ({last} m³ z {at}). "
                   "Sprawdź numer wodomierza i cyfry.",
                   "The reading {total} m³ is below this meter's last reading ({last} m³ on {at}). "
                   "Check the meter's number and the digits."),
    "above_q3": ("Odczyt {total} m³ jest wyższy, niż ten wodomierz mógł zmierzyć od ostatniego odczytu ({last} m³ z "
                 "{at}): najwyżej {most} m³. Sprawdź przecinek i cyfry.",
                 "The reading {total} m³ is more than this meter can measure since its last reading ({last} m³ on "
                 "{at}): at most {most} m³. Check the decimal comma and the digits."),
    "above_later": ("Odczyt {total} m³ jest wyższy niż późniejszy odczyt tego wodomierza ({later} m³).",
                    "The reading {total} m³ is above a later reading of this meter ({later} m³)."),
    "unknown_meter": ("W tym lokalu nie było w tym dniu wodomierza {meter}.",
                      "No meter {meter} hung in this flat on that day."),
    "bad_time": ("Data odczytu musi być z ostatniego roku, nie z przyszłości (RRRR-MM-DD).",
                 "The reading's date must lie within the last year, not in the future (YYYY-MM-DD)."),
    "bad_value": ("Podaj stan wodomierza w m³, np. 123,456.", "Give the meter's reading in m³, e.g. 123.456."),
    "bad_photo": ("Zdjęcie musi być plikiem JPEG lub PNG, najwyżej 5 MB.", "The photo must be a JPEG or PNG file of at "
                  "most 5 MB."),
    "ok": ("Dziękujemy: odczyt czeka na sprawdzenie przez administrację.",
           "Thank you: the reading waits for the office to check it."),
}  # fmt: skip


# the same, said without the numbers (the page's form comes back with the reason's code only)
SHORT: dict[str, tuple[str, str]] = {
    "below_last": ("Odczyt jest niższy niż ostatni odczyt tego wodomierza. Sprawdź wybrany wodomierz i cyfry.",
                   "The reading is below this meter's last reading. Check the chosen meter and the digits."),
    "above_q3": ("Odczyt jest wyższy, niż ten wodomierz mógł zmierzyć od ostatniego odczytu. Sprawdź przecinek i cyfry.",
                 "The reading is more than this meter can measure since its last reading. Check the decimal comma "
                 "and the digits."),
    "above_later": ("Odczyt jest wyższy niż późniejszy odczyt tego wodomierza.",
                    "The reading is above a later reading of this meter."),
    "unknown_meter": ("W tym lokalu nie było w tym dniu takiego wodomierza.", "No such meter hung in this flat on that day."),
}  # fmt: skip


def reason(lang: str, code: str, **values: object) -> str:
    """The reason in the tenant's language, with its numbers; without them, the short form."""
    texts = REASONS[code] if values or code not in SHORT else SHORT[code]
    return texts[0 if lang == "pl" else 1].format(**values)


class Refused(Exception):
    def __init__(self, code: str, **values: object) -> None:
        super().__init__(code)
        self.code, self.values = code, values


class ReportIn(BaseModel):
    meter_id: str = Field(max_length=20, description="the meter's serial as on its dial, or MAKER:SERIAL")
    total_m3: float = Field(description="the reading in m3")
    measured_at: str | None = Field(None, max_length=40, description="YYYY-MM-DD or ISO 8601; default now")


class ReportedOut(BaseModel):
    id: int
    meter_id: str
    manufacturer: str
    medium: str
    total_m3: float
    measured_at: str
    submitted_at: str
    source: Literal["tenant"] = "tenant"
    status: Literal["pending", "accepted", "rejected"]
    photo: bool
    comment: str | None


def _out(r: Reported) -> ReportedOut:
    from meterd.reading import iso

    return ReportedOut(id=r.id, meter_id=r.serial, manufacturer=r.manufacturer, medium=r.medium, total_m3=r.total_m3,
                       measured_at=iso(r.measured_at), submitted_at=iso(r.submitted_at), status=r.status.value,
                       photo=r.has_photo, comment=r.review_comment)  # fmt: skip


def _when(text: str | None, now: int) -> int:
    from meterd.times import parse_time

    if not text:
        return now
    try:
        at = parse_time(text if "T" in text else text + "T12:00:00+01:00")
    except (ValueError, OverflowError):
        raise Refused("bad_time") from None
    if not now - 366 * DAY <= at <= now + 300:
        raise Refused("bad_time")
    return at


def _report(request: Request, store: Store, account: AccountView, pid: str, meter: str, total: float,
            when: str | None, picture: bytes | None) -> Reported:  # fmt: skip
    """Check and keep a tenant's reading; Refused with the reason's code and values."""
    lang = account.lang
    if not math.isfinite(total) or not 0 <= total < 1e8:
        raise Refused("bad_value")
    if picture is not None and (len(picture) > MAX_PHOTO_BYTES or photo_type(picture) is None):
        raise Refused("bad_photo")
    now = int(time.time())
    at = _when(when, now)
    if not any(a <= at < b for a, b in account.periods(pid)):
        raise HTTPException(404, "no such premises")  # not the account's flat then: as for any other flat
    from meterd.store.queries import NotFound, premises_id

    with store.begin() as conn:
        try:
            flat = premises_id(conn, pid)
        except NotFound:
            raise HTTPException(404, "no such premises") from None
        found = meter_of(conn, flat, meter, at)
        if found is None:
            raise Refused("unknown_meter", meter=meter[:20])
        meter_id, q3 = found
        try:
            check_plausible(conn, meter_id, q3, total, at)
        except Implausible as e:
            values = {k: local_number(lang, float(str(v))) if k in ("last", "most", "later")
                      else local_date(int(str(v)), lang) for k, v in e.values.items()}  # fmt: skip
            raise Refused(e.code, total=local_number(lang, total), **values) from None
        rid = submit(conn, premises_id=flat, meter_id=meter_id, account_id=account.id, total=total, at=at, now=now,
                     photo=picture)  # fmt: skip
        audit(conn, account, "tenant_reported", premises=pid, meter=meter[:32],
              detail=f"#{rid} {total} m3{' (photo)' if picture else ''}", address=client_address(request))  # fmt: skip
        kept = one(conn, rid)
    assert kept is not None
    return kept


@router.post("/api/v1/premises/{pid}/readings", status_code=201, response_model=ReportedOut, tags=["premises"],
             responses={422: {"description": "refused: the reason in the account's language"}})  # fmt: skip
def api_report(request: Request, store: StoreDep, pid: str, account: Account, body: ReportIn) -> ReportedOut | JSONResponse:
    """Report a reading of one of the flat's meters (one no receiver reads, or a disputed one): stored as
    `pending` with `source` `tenant` until staff accept it. A value below the meter's last reading, or
    beyond what its Q3 allows since then, is refused (422) with the reason in the account's language."""
    require_api_csrf(request)
    if not account.periods(pid):
        raise HTTPException(404, "no such premises")
    try:
        return _out(_report(request, store, account, pid, body.meter_id, body.total_m3, body.measured_at, None))
    except Refused as e:
        return JSONResponse({"detail": reason(account.lang, e.code, **e.values), "code": e.code}, status_code=422)


@router.get("/api/v1/premises/{pid}/reported", response_model=list[ReportedOut], tags=["premises"])
def api_reported(request: Request, store: StoreDep, pid: str, account: Account) -> list[ReportedOut]:
    """The readings this account reported for the flat, newest first, with their review."""
    if not account.periods(pid):
        raise HTTPException(404, "no such premises")
    with store.begin() as conn:
        rows = reported(conn, premises=pid)
    return [_out(r) for r in rows if r.login == account.login]


@router.get("/api/v1/premises/{pid}/reported/{rid}/photo", tags=["premises"], response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}})  # fmt: skip
def api_photo(request: Request, store: StoreDep, pid: str, rid: int, account: Account) -> Response:
    """The photo of a reading this account reported (404 for anyone else's)."""
    with store.begin() as conn:
        r = one(conn, rid)
        found = photo(conn, rid) if r is not None and r.premises == pid and r.login == account.login else None
    if found is None:
        raise HTTPException(404, "no such photo")
    return Response(found[0], media_type=found[1], headers={"Cache-Control": "no-store"})


@router.post("/premises/{pid}/report", include_in_schema=False)
async def page_report(request: Request, store: StoreDep, pid: str, meter_id: Annotated[str, Form(max_length=20)],
                      total_m3: Annotated[str, Form(max_length=20)], csrf: Annotated[str, Form(max_length=100)] = "",
                      measured_at: Annotated[str, Form(max_length=40)] = "",
                      photo_file: Annotated[UploadFile | None, File(alias="photo")] = None) -> Response:  # fmt: skip
    """The page's form (multipart, the photo optional): back to the page with the outcome in words."""
    from urllib.parse import quote

    account = lookup(request)
    if account is None:
        return RedirectResponse("/", status_code=303)
    if not csrf_ok(request, csrf):
        return RedirectResponse("/?error=csrf", status_code=303)
    picture = None
    if photo_file is not None and photo_file.filename:
        picture = await photo_file.read(MAX_PHOTO_BYTES + 1)
        if not picture:
            picture = None
    try:
        value = parse_number(total_m3)
    except ValueError:
        value = float("nan")
    try:
        _report(request, store, account, pid, meter_id, value, measured_at or None, picture)
        code = "ok"
    except Refused as e:
        code = e.code
    except HTTPException:
        return RedirectResponse("/", status_code=303)
    return RedirectResponse(f"/?report={quote(code)}#report-{quote(pid)}", status_code=303)


@router.get("/staff/tenant-readings/{rid}/photo", include_in_schema=False)
def staff_photo(request: Request, store: StoreDep, rid: int) -> Response:
    account = staff_only(request)
    if not isinstance(account, AccountView):
        return account
    with store.begin() as conn:
        found = photo(conn, rid)
        r = one(conn, rid)
        if found is not None and r is not None:
            audit(conn, account, "view_photo", premises=r.premises, meter=r.serial, detail=f"#{rid}",
                  address=client_address(request))  # fmt: skip
    if found is None:
        raise HTTPException(404, "no such photo")
    return Response(found[0], media_type=found[1], headers={"Cache-Control": "no-store"})


@router.post("/staff/tenant-readings/{rid}", include_in_schema=False)
def staff_review(request: Request, store: StoreDep, rid: int, decision: Annotated[str, Form(max_length=16)],
                 csrf: Annotated[str, Form(max_length=100)] = "",
                 comment: Annotated[str, Form(max_length=300)] = "") -> Response:  # fmt: skip
    """Accept (stored as a reading of source `tenant`) or reject a reported reading, with a comment."""
    from fastapi.responses import HTMLResponse

    account = staff_only(request)
    if not isinstance(account, AccountView):
        return account
    if not csrf_ok(request, csrf) or decision not in ("accepted", "rejected"):
        return HTMLResponse("<!doctype html><title>403</title><p>Formularz wygasł / the form expired</p>", status_code=403)
    comment = " ".join(comment.split())
    with store.begin() as conn:
        try:
            done = review(conn, rid, Status(decision), account.login, comment, int(time.time()))
        except ReviewError as e:
            return HTMLResponse(f"<!doctype html><title>409</title><p>{e.message}</p>", status_code=409)
        audit(conn, account, f"tenant_reading_{decision}", premises=done.premises, meter=done.serial,
              detail=f"#{rid} {done.total_m3} m3{': ' + comment if comment else ''}", address=client_address(request))  # fmt: skip
    return RedirectResponse("/staff/anomalies", status_code=303)
