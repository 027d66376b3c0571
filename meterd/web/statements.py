"""Monthly consumption information: for a flat and a past month, each medium's meter with its
month-end reading, the month's use, the month before and the same month a year earlier. The tenant's
page `/statement/{premises}/{YYYY-MM}` shows it; `meterd notices send` e-mails it once a month to
tenants who consented (remotely read meters owe tenants this information every month)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Connection, select

from meterd.ids import meter_label
from meterd.spreadsheet import local_number
from meterd.store.models import Assignment, Meter, Reading
from meterd.store.queries import premises_id
from meterd.web import data
from meterd.web.deps import StoreDep
from meterd.web.i18n import LOCAL, local_date, medium, t
from meterd.web.security import lookup, page_lang

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Line:
    medium: str
    meters: str  # the meter(s) in place at the month's end, `APA 31000099`
    month_end_m3: float | None
    month_end_at: int | None
    use_m3: float | None
    last_month_m3: float | None
    year_ago_m3: float | None


@dataclass(frozen=True)
class Statement:
    premises: str
    year: int
    month: int
    start: int
    end: int
    lines: list[Line]

    @property
    def key(self) -> str:
        return f"statement:{self.premises}:{self.year:04d}-{self.month:02d}"


def month_bounds(year: int, month: int) -> tuple[int, int]:
    start = datetime(year, month, 1, tzinfo=LOCAL)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=LOCAL)
    return int(start.timestamp()), int(end.timestamp())


def previous_month(now: int) -> tuple[int, int]:
    d = datetime.fromtimestamp(now, LOCAL)
    return (d.year - 1, 12) if d.month == 1 else (d.year, d.month - 1)


def statement(conn: Connection, code: str, periods: list[data.Period], year: int, month: int) -> Statement | None:
    """The statement of a month the periods cover (at its end), or None."""
    start, end = month_bounds(year, month)
    if not any(a < end <= b for a, b in periods):
        return None
    py, pm = (year - 1, 12) if month == 1 else (year, month - 1)
    before, _ = month_bounds(py, pm)
    rows = data.use(conn, code, periods, before, end, "month")
    this = next((r for r in rows if r.start == start), None)
    prev = next((r for r in rows if r.start == before), None)
    pid = premises_id(conn, code)
    hanging = conn.execute(
        select(Meter.id, Meter.serial, Meter.manufacturer, Meter.medium)
        .join(Assignment, Assignment.meter_id == Meter.id)
        .where(Assignment.premises_id == pid, Assignment.valid_from < end,
               (Assignment.valid_to.is_(None)) | (Assignment.valid_to >= end))
        .order_by(Meter.medium, Meter.serial)
    ).all()  # fmt: skip
    lines = []
    for mid, serial, maker, med in hanging:
        last = conn.execute(
            select(Reading.total_m3, Reading.measured_at)
            .where(Reading.meter_id == mid, Reading.measured_at < end, Reading.total_m3.is_not(None))
            .order_by(Reading.measured_at.desc()).limit(1)
        ).first()  # fmt: skip
        has = this is not None and this.has_data
        lines.append(Line(
            str(med), meter_label(maker or "", serial), None if last is None else float(last[0] or 0.0),
            None if last is None else int(last[1]),
            this.m3.get(med) if has and this is not None else None,
            prev.m3.get(med) if prev is not None and prev.has_data else None,
            (this.year_ago or {}).get(med) if has and this is not None and this.year_ago else None,
        ))  # fmt: skip
    return Statement(code, year, month, start, end, lines)


def mail_text(lang: str, s: Statement, address: str, link: str) -> str:
    """The statement as the e-mail's text (Polish or English), with the link to the page."""
    def m3(v: float | None) -> str:
        return "—" if v is None else f"{local_number(lang, v)} m³"

    month = f"{s.month:02d}.{s.year}" if lang == "pl" else f"{s.year}-{s.month:02d}"
    head = (f"Informacja o zużyciu wody w lokalu {s.premises} ({address}) za {month}." if lang == "pl"
            else f"Water use of flat {s.premises} ({address}) in {month}.")  # fmt: skip
    out = [head, ""]
    for line in s.lines:
        when = "" if line.month_end_at is None else f" ({local_date(line.month_end_at, lang)})"
        if lang == "pl":
            out.append(f"{medium(lang, line.medium)}, wodomierz {line.meters}: stan na koniec miesiąca {m3(line.month_end_m3)}"
                       f"{when}; zużycie {m3(line.use_m3)}; miesiąc wcześniej {m3(line.last_month_m3)}; "
                       f"rok wcześniej {m3(line.year_ago_m3)}.")  # fmt: skip
        else:
            out.append(f"{medium(lang, line.medium)}, meter {line.meters}: month-end reading {m3(line.month_end_m3)}{when}; "
                       f"use {m3(line.use_m3)}; the month before {m3(line.last_month_m3)}; a year earlier "
                       f"{m3(line.year_ago_m3)}.")  # fmt: skip
    out += ["", ("Szczegóły: " if lang == "pl" else "Details: ") + link]
    return "\n".join(out) + "\n"


@router.get("/statement/{pid}/{month}", response_class=HTMLResponse)
def statement_page(request: Request, store: StoreDep, pid: str, month: str) -> Response:
    from meterd.web.rendering import render

    account = lookup(request)
    if account is None:
        return RedirectResponse("/", status_code=303)
    lang = page_lang(request, account)
    try:
        year, mon = int(month[:4]), int(month[5:7])
        if len(month) != 7 or month[4] != "-" or not 1 <= mon <= 12 or not 2000 <= year <= 2200:
            raise ValueError(month)
    except ValueError:
        return HTMLResponse("<!doctype html><title>404</title><p>Nie ma takiego miesiąca / no such month</p>", status_code=404)
    periods = account.periods(pid)
    with store.begin() as conn:
        found = statement(conn, pid, periods, year, mon) if periods else None
    if found is None:
        return HTMLResponse("<!doctype html><title>404</title><p>Brak zestawienia / no statement</p>", status_code=404)

    def m3(v: float | None) -> str:
        return "—" if v is None else local_number(lang, v)

    y, m = year, mon
    months = []
    for _ in range(12):  # the year of statements before this one, for the links
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        months.append((f"{y:04d}-{m:02d}", f"{m:02d}.{y}" if lang == "pl" else f"{y:04d}-{m:02d}"))
    return render(request, "statement.html", lang, {
        "account": account, "pid": pid, "title": t(lang, "statement_title", month=f"{mon:02d}.{year}" if lang == "pl" else month),
        "lines": [{"medium": medium(lang, x.medium), "meters": x.meters, "end": m3(x.month_end_m3),
                   "end_at": local_date(x.month_end_at, lang) if x.month_end_at else "—", "use": m3(x.use_m3),
                   "prev": m3(x.last_month_m3), "ago": m3(x.year_ago_m3)} for x in found.lines],
        "months": [{"key": k, "label": label} for k, label in months
                   if any(a < month_bounds(int(k[:4]), int(k[5:]))[1] for a, _ in periods)],
    })  # fmt: skip
