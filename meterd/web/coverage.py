"""The staff's radio coverage pages: `/staff/coverage` (per building the share of meters two gateways
or more hear, those only one hears, those none hears, the weakest links) and the planned walk of the
unheard meters as a route CSV, `/staff/coverage/plan.csv`."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from meterd.ids import meter_label
from meterd.spreadsheet import local_number as number
from meterd.store.accounts import AccountView, audit
from meterd.web.deps import StoreDep
from meterd.web.rendering import render
from meterd.web.security import client_address, page_lang, staff_only

router = APIRouter(include_in_schema=False, prefix="/staff")
DAY = 86_400
def _asked(request: Request, since: str) -> tuple[AccountView, str, str, int, int] | Response:
    """(the staff account, page language, the period as given, in seconds, now); or the answer for
    anyone who is not staff. A period that is not one (`7d`, `36h`) is the default week."""
    from meterd.times import parse_duration

    account = staff_only(request)
    if not isinstance(account, AccountView):
        return account
    since = since[:8]
    try:
        seconds = parse_duration(since)
    except ValueError:
        since, seconds = "7d", 7 * DAY
    return account, page_lang(request, account), since, seconds, int(time.time())


@router.get("/coverage", response_class=HTMLResponse)
def coverage_page(request: Request, store: StoreDep, since: str = "7d") -> Response:
    """Per building: the share of meters two gateways or more hear, those only one hears, those none
    hears, the weakest link; a planned walk of the unheard ones to download."""
    from meterd.store.hearings import store_coverage

    asked = _asked(request, since)
    if isinstance(asked, Response):
        return asked
    account, lang, since, seconds, now = asked
    with store.begin() as conn:
        cov = store_coverage(conn, now - seconds, now=now)
        audit(conn, account, "view_coverage", detail=since, address=client_address(request))

    def rssi(value: float | None) -> str:
        return "—" if value is None else f"{value:.0f}".replace("-", "−")

    buildings = []
    for code, meters in sorted(cov.by_building().items()):
        heard = [m for m in meters if m.best_rssi is not None]
        weakest = min(heard, key=lambda m: m.best_rssi or 0.0) if heard else None
        redundant = sum(m.redundant for m in meters)
        buildings.append({
            "code": code, "meters": len(meters), "redundant": redundant,
            "share": f"{number(lang, 100 * redundant / len(meters), 0)} %",
            "single": sum(len(m.gateways) == 1 for m in meters), "unheard": sum(not m.gateways for m in meters),
            "weakest": "—" if weakest is None else f"{meter_label(weakest.meter.manufacturer, weakest.meter.serial)} "
                                                   f"({rssi(weakest.best_rssi)} dBm)",
        })  # fmt: skip
    ranked = sorted((m for m in cov.meters if m.best_rssi is not None), key=lambda m: m.best_rssi or 0.0)[:20]
    weakest_links = [{"meter": meter_label(m.meter.manufacturer, m.meter.serial), "premises": m.meter.premises,
                      "gateway": m.gateways[0].gateway, "rssi": rssi(m.best_rssi), "gateways": len(m.gateways)}
                     for m in ranked]  # fmt: skip
    unheard = [{"meter": meter_label(m.meter.manufacturer, m.meter.serial), "premises": m.meter.premises,
                "address": m.meter.address, "building": m.meter.building} for m in cov.unheard]  # fmt: skip
    return render(request, "staff_coverage.html", lang, {"account": account, "since": since, "buildings": buildings,
                  "weakest_links": weakest_links, "unheard": unheard})  # fmt: skip


@router.get("/coverage/plan.csv")
def coverage_plan(request: Request, store: StoreDep, since: str = "7d", building: str | None = None, dialect: str | None = None) -> Response:
    """The planned walk of the meters no gateway heard in the period (the CSV `meterd route import`
    takes): in the Polish spreadsheet dialect from Polish pages."""
    import io

    from meterd.coverage.plan_csv import plan_code, write_plan
    from meterd.spreadsheet import dialect as sheet_dialect
    from meterd.store.hearings import plan_unheard
    from meterd.web.rendering import attachment

    asked = _asked(request, since)
    if isinstance(asked, Response):
        return asked
    account, lang, since, seconds, now = asked
    building = building[:64] if building else None
    with store.begin() as conn:
        _, stops = plan_unheard(conn, now - seconds, now=now, building=building)
        audit(conn, account, "plan_walk", detail=f"{since} {building or ''}".strip(), address=client_address(request))
    code = plan_code(now)
    buf = io.StringIO(newline="")
    chosen = dialect if dialect in ("plain", "pl") else ("pl" if lang == "pl" else "plain")
    write_plan(buf, code, stops, sheet_dialect(chosen))
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": attachment(f"{code}.csv"), "Cache-Control": "no-store"})  # fmt: skip
